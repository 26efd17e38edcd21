"""The `divergent` command line.

    divergent list                                  what can be run
    divergent run ns hardmaze --budget 20000        a run (or --preset NAME)
    divergent run --preset ns-hardmaze --set algo.population_size=64 --seed 3
    divergent resume runs_out/ns-hardmaze-seed0     continue after a stop
    divergent inspect runs_out/ns-hardmaze-seed0    summary and plots
    divergent sweep --algos ns,me --tasks curling --seeds 0-4 --out runs_out/sweep
    divergent sweep ... --executor processes --workers 2   (or --executor ray: one Ray task per run)
    divergent compare runs_out/sweep                table, tests and plots of many runs
    divergent report runs_out/sweep                 the same and an archive explorer, in one HTML page

Mistakes the user can fix (bad config keys or values, unknown names, a
refusing run directory, a bad checkpoint, an unreadable file) print one red
line and exit with status 2, and change nothing on disk. JAX's persistent
compilation cache is on by default (~/.cache/divergent/jax; set
DIVERGENT_JAX_CACHE to move it, or to "off"); it keeps one folder per CPU
type, so a cache shared between machines never hands one a program compiled
for another's instruction set. XLA's own log lines are hidden (set
TF_CPP_MIN_LOG_LEVEL=0 to see them): on every cache hit XLA:CPU logs ~3 KB
"machine type ... doesn't match" lines about tuning flags such as
+prefer-no-gather, which are not CPU features and never differ.
"""
from __future__ import annotations

import errno
import functools
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from typer.core import TyperGroup

try:  # typer >= 0.26 vendors click as typer._click; older ones use click itself
    from typer._click import exceptions as click_errors
except ImportError:  # pragma: no cover
    from click import exceptions as click_errors

from runs.errors import RunDirError, RunError

# XLA's C++ log lines are noise on a terminal: warnings on every compile
# cache hit, and ERROR-level "Target machine feature +prefer-no-gather is not
# supported on the host machine" lines although the cache is per CPU type
# (`cache_folder`) and those tuning flags are no CPU features. Real failures
# still reach the user as Python exceptions. Must be set before jaxlib loads;
# a value the user set wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _split_host_cpu() -> None:
    """Exposes the CPU's cores as separate JAX devices (up to 8), so a run on a
    machine without accelerators shards each batch over them: one XLA program
    uses about one core, and two host devices measured 2.4x on a 2-core CPU.
    Accelerators are unaffected (they are the devices JAX picks first). Must
    run before jax is imported; a device count the user set wins."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        count = max(1, min(os.cpu_count() or 1, 8))
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={count}".strip()


_split_host_cpu()

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # the shell's code for "stopped by Ctrl-C"
DEFAULT_CACHE = "~/.cache/divergent/jax"
MAX_MESSAGE = 1000  # characters of an error line

class _OneLineErrors(TyperGroup):
    """Usage mistakes (an unknown option, a missing argument) print one
    `error:` line too, instead of click's usage box, naming what is wrong and
    where the help is."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click_errors.NoArgsIsHelpError as error:
            error.show()  # bare `divergent`: the help itself
            sys.exit(error.exit_code)
        except click_errors.ClickException as error:
            command = error.ctx.command_path if getattr(error, "ctx", None) is not None else "divergent"
            _print_error(f"{error.format_message().rstrip('.')} (see `{command} --help`)")
            sys.exit(EXIT_USAGE)
        except typer.Abort:  # end of input at a prompt
            _print_error("aborted")
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


app = typer.Typer(
    name="divergent",
    cls=_OneLineErrors,
    help="Quality-diversity runs in JAX: novelty search, MAP-Elites and friends on sparse-reward tasks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _friendly(command):
    """Turns a RunError into one red line on stderr and exit status 2."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except RunError as error:
            fail(str(error))
        except OSError as error:
            if error.errno not in _DISK_ERRORS:
                raise
            # Writes are atomic (runs.atomic): the files on disk are the last complete ones.
            where = f"{error.filename}: " if error.filename else ""
            fail(f"{where}{error.strerror or error}; the run directory keeps its last complete files")

    return wrapper


# Errors of the disk or of a path the user gave, not of the program: one line
# instead of a traceback.
_DISK_ERRORS = (errno.ENOSPC, errno.EACCES, errno.EPERM, errno.EROFS, errno.EDQUOT, errno.ENAMETOOLONG, errno.ELOOP)


def fail(message: str) -> None:
    """Prints `message` as one red error line and exits with status 2.

    The message is cut to `MAX_MESSAGE` characters and its line breaks
    joined, so it stays one line whatever value it quotes.
    """
    _print_error(message)
    raise typer.Exit(EXIT_USAGE)


def _print_error(message: str) -> None:
    message = " ".join(str(message).split("\n"))
    if len(message) > MAX_MESSAGE:
        message = f"{message[: MAX_MESSAGE - 30]}... ({len(message):,} characters)"
    Console(stderr=True).print(Text(f"error: {message}", style="bold red"), soft_wrap=True)


def _int_option(value: Optional[str], flag: str) -> Optional[int]:
    """An integer flag, read as the config reads numbers (``1e6``, ``500_000``).

    Raises:
        ConfigError: not an integer, naming the flag and the value.
    """
    from runs.typed import coerce

    return None if value is None else coerce(int, value, flag)


def _float_option(value: Optional[str], flag: str) -> Optional[float]:
    """A number flag (``1``, ``0.5``).

    Raises:
        ConfigError: not a number, naming the flag and the value.
    """
    from runs.typed import coerce

    return None if value is None else coerce(float, value, flag)


def enable_compile_cache() -> Optional[str]:
    """Turns on JAX's persistent compilation cache; returns its folder.

    $DIVERGENT_JAX_CACHE wins ("off" or "" disables it); otherwise a cache
    folder configured already (by a test harness, a notebook) is kept;
    otherwise ~/.cache/divergent/jax. The chosen folder gets a subfolder per
    CPU type (`cpu_key`).
    """
    import jax

    env = os.environ.get("DIVERGENT_JAX_CACHE")
    if env is not None and env.strip().lower() in ("", "0", "off", "none", "false"):
        return None
    current = getattr(jax.config, "jax_compilation_cache_dir", None)
    if env is None and current:
        return current
    path = os.path.join(os.path.expanduser(env or DEFAULT_CACHE), cpu_key())
    jax.config.update("jax_compilation_cache_dir", path)
    return path


def cpu_key() -> str:
    """A folder name per CPU type: the architecture and a hash of the CPU's
    feature flags (/proc/cpuinfo on Linux, else the processor's name).

    XLA:CPU compiles for the host's instruction set; a cached program loaded
    on a CPU without those instructions can die with SIGILL. One folder per
    feature set makes a shared cache (a home directory on a cluster) safe.
    """
    import hashlib
    import platform

    features = platform.processor()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.split(":")[0].strip() in ("flags", "Features"):
                    features = " ".join(sorted(line.split(":", 1)[1].split()))
                    break
    except OSError:
        pass
    digest = hashlib.sha256(features.encode()).hexdigest()[:12]
    return f"{platform.machine() or 'cpu'}-{digest}"


@app.command("list")
@_friendly
def list_(
    name: Optional[str] = typer.Argument(
        None, help="An algorithm, task or representation: list every key of its config with its default."
    ),
) -> None:
    """List the algorithms, tasks, representations and presets, one line each;
    with NAME, the config tree of that algorithm, task or representation (the
    keys `--set algo.KEY=...`, `task.KEY`, `rep.KEY` accept)."""
    import representations
    import tasks
    from qd import algorithms

    from runs import presets

    console = Console()
    if name is not None:
        _print_tree(console, name)
        return
    sections = [
        ("algorithms", [(n, algorithms.get(n).description) for n in algorithms.names()]),
        ("tasks", [(n, _first_line(tasks.registry.task_class(n).__doc__)) for n in tasks.names()]),
        ("representations", [(n, representations.describe(n)) for n in representations.names()]),
        ("presets", [(n, presets.describe(n)) for n in presets.names()]),
    ]
    for title, rows in sections:
        table = Table(title=title, title_justify="left", show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        for row_name, description in rows:
            table.add_row(row_name, description or "")
        console.print(table)
        console.print()
    console.print("`divergent list NAME` shows every config key of an algorithm, task or representation.")


def _print_tree(console: Console, name: str) -> None:
    """Prints the dotted keys of NAME's config with their defaults."""
    import dataclasses

    import representations
    import tasks
    from qd import algorithms

    from runs.typed import to_plain

    found = []
    if name in algorithms.names():
        found.append(("algo", algorithms.get(name).config_cls))
    if name in tasks.names():
        found.append(("task", tasks.registry.task_class(name).Config))
    if name in representations.names():
        found.append(("rep", representations.representation_class(name).Config))
    if not found:
        valid = sorted({*algorithms.names(), *tasks.names(), *representations.names()})
        raise RunError(f"unknown name {name!r}; valid names: {', '.join(valid)}")

    def rows(prefix: str, value) -> list[tuple[str, str]]:
        if isinstance(value, dict):
            if not value:
                return [(prefix, "{} (no settings)")]
            return [row for key, v in value.items() for row in rows(f"{prefix}.{key}", v)]
        return [(prefix, repr(value) if isinstance(value, str) else str(value))]

    for section, cls in found:
        table = Table(title=f"{name}: --set {section}.KEY=VALUE", title_justify="left", show_header=False,
                      box=None, pad_edge=False)
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        default = cls() if dataclasses.is_dataclass(cls) else None
        for key, value in rows(section, to_plain(default) if default is not None else {}):
            table.add_row(key, value)
        console.print(table)
        console.print()


@app.command()
@_friendly
def run(
    algorithm: Optional[str] = typer.Argument(None, help="Algorithm name (see `divergent list`); optional with --preset."),
    task: Optional[str] = typer.Argument(None, help="Task name (see `divergent list`); optional with --preset."),
    preset: Optional[str] = typer.Option(None, "--preset", "-p", help="Preset name or path to a YAML config (e.g. a run's config.yaml)."),
    seed: Optional[str] = typer.Option(None, "--seed", metavar="INTEGER", help="PRNG seed (default 0)."),
    budget: Optional[str] = typer.Option(
        None, "--budget", metavar="INTEGER", help="Evaluations (episodes) to spend, e.g. 20000 or 2e4."
    ),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Run directory (default runs_out/ALGO-TASK-seedS)."),
    sets: List[str] = typer.Option(
        [], "--set", "-s", metavar="KEY=VALUE",
        help="Override any config key, e.g. algo.population_size=64, task.episode_length=500, "
        "representation=projection, rep.size=3, log_every=10 (`divergent list NAME` shows every key). Repeatable.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a previous run in --out."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Run ALGORITHM on TASK (or a --preset) until the budget is spent.

    The config is resolved as defaults <- preset <- flags <- --set and checked
    (the task, the algorithm's settings and whether its state fits in memory)
    before anything is written or compiled.

    The run directory gets config.yaml, metrics.csv, checkpoints/, archive.npz
    and plots/. Ctrl-C stops cleanly after writing a checkpoint; `divergent
    resume DIR` continues.
    """
    from runs import config as config_module

    config = config_module.build(
        algorithm, task, preset=preset, seed=_int_option(seed, "--seed"), budget=_int_option(budget, "--budget"),
        out=out, sets=tuple(sets),
    )
    _run_loop(lambda reporter: _loop().start(config, overwrite=overwrite, reporter=reporter), quiet)


@app.command()
@_friendly
def resume(
    run_dir: Path = typer.Argument(..., help="The run directory to continue."),
    budget: Optional[str] = typer.Option(
        None, "--budget", metavar="INTEGER",
        help="New total budget (not the evaluations to add), to extend a finished run.",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or summary."),
) -> None:
    """Continue a stopped or killed run from its newest checkpoint.

    The result is the same as if the run had never stopped; a run killed
    before its first checkpoint starts again from generation 0. Pass --budget
    (the new total) to run a finished run further. A resume that fails changes
    nothing on disk.
    """
    total = _int_option(budget, "--budget")
    _run_loop(lambda reporter: _loop().resume(run_dir, budget=total, reporter=reporter), quiet)


@app.command()
@_friendly
def inspect(
    run_dir: Path = typer.Argument(..., help="The run directory to inspect."),
    replay: bool = typer.Option(True, "--replay/--no-replay",
                                help="Roll the archive out again for the time coverage and the autoencoder's "
                                     "reconstructions (a few generations' worth of evaluations)."),
) -> None:
    """Summarise a run (reward areas found, coverage, time coverage, archive) and draw its plots."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"{run_dir} is a file, not a run directory")
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: no such run directory")
    try:
        from runs import inspect as inspection
    except ModuleNotFoundError as error:
        if error.name != "runs.inspect":
            raise
        fail("`divergent inspect` is not available in this version (runs/inspect.py is missing)")
    summary = inspection.inspect_run(run_dir) if replay else inspection.inspect_run(run_dir, replay=False)
    if summary is not None and hasattr(inspection, "format_summary"):
        Console().print(inspection.format_summary(summary))


@app.command()
@_friendly
def sweep(
    spec: Optional[str] = typer.Argument(
        None, metavar="[SPEC.yaml]", help="A YAML file with the keys algos, tasks, seeds, budget, sets, out "
        "(flags given override it).",
    ),
    algos: Optional[str] = typer.Option(
        None, "--algos", "-a", help="Algorithms, comma-separated; NAME[REP] runs NAME with representation REP."
    ),
    tasks: Optional[str] = typer.Option(None, "--tasks", "-t", help="Tasks, comma-separated."),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="Seeds: 0-9, 0,3,7 or 0-2,5."),
    budget: Optional[str] = typer.Option(
        None, "--budget", metavar="INTEGER", help="Evaluations per run, e.g. 20000 or 2e4."
    ),
    sets: List[str] = typer.Option(
        [], "--set", "-s", metavar="[NAME:]KEY=VALUE",
        help="Override a config key in every run, or with NAME: only in the runs of algorithm, representation "
        "or task NAME "
        "(e.g. random:algo.batch_size=8). Repeatable.",
    ),
    out: Optional[str] = typer.Option(None, "--out", "-o", help="Sweep directory (default runs_out/sweep)."),
    executor: str = typer.Option(
        "local", "--executor", "-e", metavar="local|processes|ray",
        help="Where the runs execute: local (one after the other in this process), processes (--workers "
        "processes splitting this machine's GPUs or CPU cores) or ray (one Ray task per run on the cluster at "
        "$RAY_ADDRESS, else on a local Ray instance; needs Ray: `pip install divergent\\[ray]`).",
    ),
    workers: Optional[str] = typer.Option(
        None, "--workers", "-w", metavar="INTEGER",
        help="Processes of --executor processes (default: one per GPU, else one per CPU core).",
    ),
    ray_cpus: Optional[str] = typer.Option(
        None, "--ray-cpus-per-run", metavar="NUMBER",
        help="CPUs each Ray task reserves (default 1).",
    ),
    ray_gpus: Optional[str] = typer.Option(
        None, "--ray-gpus-per-run", metavar="NUMBER", help="GPUs each Ray task reserves (default 0; 0.5 shares one).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars, only one line per run."),
    vmap_seeds: bool = typer.Option(
        False, "--vmap-seeds", help="Run the runs that differ only by seed as one program vmapped over the seeds, "
        "in this process (--executor local only); same run directories, and the same results for NS and "
        "MAP-Elites (SERENE's differ in the last bits); for accelerators, no faster on a small CPU. Refused before "
        "anything runs for an algorithm that cannot be vmapped and for learned representations.",
    ),
) -> None:
    """Run every algorithm on every task with every seed.

    Each run is a normal run directory OUT/ALGO-TASK[-REP]-seedS; every config
    is checked before the first run starts. OUT/index.csv lists each run's
    status (done, failed, running, pending), wall time and error, rewritten
    whenever a run starts or ends (by this process only, whichever executor
    runs the runs). Running the same sweep again skips finished runs,
    resumes unfinished ones and retries failed ones, whichever executor ran
    them before; a failed run does not stop the others, but the exit status
    is 1. The progress view counts the runs done, running, failed and pending
    and shows a bar per running run.

    Executors: local runs one run after the other here; processes runs
    --workers fresh processes, each with its share of the GPUs (or CPU cores)
    and the shared compile cache (stderr in OUT/logs/); ray runs each run as
    a Ray task (the sweep directory must be on a file system all nodes see).

    Ctrl-C stops every running run cleanly after its current generation (a
    checkpoint is written; index.csv says pending) and starts no other; a
    second Ctrl-C aborts them (their newest checkpoint stays intact). The
    same command continues the sweep.

    With --vmap-seeds the seeds of each algorithm and task run together as
    one program in this process.
    """
    from runs import sweep as sweeps
    from runs.executors import make_executor

    spec_ = sweeps.spec_from_arguments(spec, algos=algos, tasks=tasks, seeds=seeds, budget=budget, sets=sets,
                                       out=out)
    runner = make_executor(executor, workers=_int_option(workers, "--workers"),
                           ray_cpus_per_run=_float_option(ray_cpus, "--ray-cpus-per-run"),
                           ray_gpus_per_run=_float_option(ray_gpus, "--ray-gpus-per-run"))
    console = Console()
    enable_compile_cache()
    display = None
    reporter = lambda: None  # noqa: E731
    if not quiet and vmap_seeds:  # the seed groups report like single runs: one bar for the group
        from runs.progress import RichReporter

        class _GroupReporter(RichReporter):
            def close(self) -> None:  # a group that failed mid-way leaves no live bar behind
                if self._progress is not None:
                    self._progress.stop()  # idempotent

        reporter = lambda: _GroupReporter(console)  # noqa: E731
    elif not quiet:
        from runs.sweep_progress import SweepProgress

        display = SweepProgress(console)
    try:
        result = sweeps.run_sweep(spec_, executor=runner, display=display, reporter=reporter,
                                  notify=lambda line: console.print(Text(line), soft_wrap=True),
                                  vmap_seeds=vmap_seeds)
    except KeyboardInterrupt:  # while the configs were checked, before any run
        Console(stderr=True).print(Text("interrupted before the first run; nothing ran", style="yellow"))
        raise typer.Exit(EXIT_INTERRUPTED) from None
    done, failed = result.count(sweeps.DONE), result.failed
    console.print(Text(f"sweep: {done} done, {len(failed)} failed, {len(result.rows) - done - len(failed)} "
                       f"remaining -> {result.out / sweeps.INDEX}", style="bold"), soft_wrap=True)
    for row in failed:
        Console(stderr=True).print(Text(f"failed: {row.run_dir}: {row.error}", style="red"), soft_wrap=True)
    if result.interrupted:
        Console(stderr=True).print(Text("interrupted; run the same sweep again to continue", style="yellow"))
        raise typer.Exit(EXIT_INTERRUPTED)
    if failed:
        raise typer.Exit(1)


@app.command()
@_friendly
def compare(
    dirs: List[Path] = typer.Argument(
        ..., metavar="DIR...", help="Run directories and/or sweep directories (holding runs)."
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o",
        help="Output folder (default FIRST_DIR/comparison for a sweep directory, else ./comparison).",
    ),
) -> None:
    """Compare runs or sweeps by task and algorithm: tables, tests and plots.

    Writes into --out: table.csv and table.md (median and IQR over seeds of
    each run's final coverage, explored coverage, uniformity, areas found,
    QD-score, first find and max reward per area; arrows say which values are
    better), stats.csv and stats.md (pairwise one-sided Mann-Whitney U tests,
    Holm-corrected per task and metric) and plots/ (curves with IQR bands,
    final-value box plots, exploitation budget per area of emitter methods).
    """
    from runs import compare as comparison

    stderr = Console(stderr=True)
    result = comparison.compare(
        dirs, out, warn=lambda line: stderr.print(Text(f"warning: {line}", style="yellow"), soft_wrap=True)
    )
    runs_ = sum(len(g.runs) for g in result.groups)
    better = result.stats[result.stats["better"] != ""] if len(result.stats) else result.stats
    Console().print(Text(
        f"compared {runs_} runs in {len(result.groups)} groups; {len(better)} significant differences "
        f"(Holm-adjusted p < 0.05) -> {result.out}/table.md, stats.md, plots/ ({len(result.files) - 4} plots)"
    ), soft_wrap=True)


@app.command()
@_friendly
def report(
    dirs: List[Path] = typer.Argument(
        ..., metavar="DIR...", help="Run directories and/or sweep directories (holding runs)."
    ),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o",
        help="The HTML file (default FIRST_DIR/report.html for a sweep directory, else ./report.html).",
    ),
    replays: str = typer.Option(
        "48", "--replays", metavar="N",
        help="Policies per run rolled out again for their trajectories and final views (all of a smaller "
        "archive; else the best of each reward area and the rest spread over the map). 0: none.",
    ),
) -> None:
    """One self-contained HTML page (no network needed): the comparison and an archive explorer.

    The page holds, per task, what `divergent compare` writes (median and IQR
    table, pairwise Mann-Whitney U tests with Holm correction) with the
    curves, box plots and exploitation budgets as interactive Plotly
    figures; and an archive explorer: pick a run (or two side by side), see
    its archive on the task's map, click a policy for its trajectory, final
    top-down view, reward, descriptor and generation found, and the run's
    max reward and exploitation budget per reward area over evaluations.
    Trajectories and views come from replaying up to --replays policies per
    run (jitted, batched; the page says how many).
    """
    from runs import report as reports

    stderr = Console(stderr=True)
    enable_compile_cache()
    result = reports.report(
        dirs, out, replays=_int_option(replays, "--replays"),
        warn=lambda line: stderr.print(Text(f"warning: {line}", style="yellow"), soft_wrap=True),
    )
    Console().print(Text(
        f"report of {len(result.runs)} runs in {result.groups} groups ({result.replayed} policies replayed, "
        f"{result.size / 1e6:.1f} MB) -> {result.out}"
    ), soft_wrap=True)


def _loop():
    # Imported only by the commands that run: `divergent --help` stays fast.
    from runs import loop

    return loop


def _run_loop(start, quiet: bool) -> None:
    enable_compile_cache()
    if quiet:
        reporter = None
    else:
        from runs.progress import RichReporter

        reporter = RichReporter()
    try:
        result = start(reporter)
    except KeyboardInterrupt:
        # Ctrl-C before the loop took over (while compiling) or a second Ctrl-C.
        Console(stderr=True).print(
            Text("interrupted; the newest checkpoint (if any) is intact: `divergent resume DIR`", style="yellow"),
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if result.status != "complete":
        raise typer.Exit(EXIT_INTERRUPTED)


def _first_line(doc: Optional[str]) -> str:
    return (doc or "").strip().splitlines()[0] if (doc or "").strip() else ""


def main() -> None:  # pragma: no cover - `python -m runs.cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
