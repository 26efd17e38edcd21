"""Sweeps: many runs, one sweep directory (`divergent sweep`).

    divergent sweep --algos ns,random --tasks curling --seeds 0-2 --budget 20000 --out runs_out/sweep
    divergent sweep sweep.yaml          # the same keys: algos, tasks, seeds, budget, sets, out

A sweep expands to one run per algorithm, task and seed, each a normal run
directory ``OUT/<algo>-<task>[-<rep>]-seed<s>`` whose config is built by
`runs.config.build`, so ``--set`` applies to every run (``--set
NAME:key=value`` only to the runs whose algorithm, representation or task
is NAME; an algorithm written ``ns[pca]`` runs with that representation). Every config
is checked before anything runs. An executor (`runs.executors`) runs the
runs that are not done, in order (seeds outermost, so early results cover
every algorithm): by default one after the other in this process, sharing
compiled programs between runs of equal settings; or in worker processes,
or on Ray.

``OUT/index.csv`` lists every run with its status (done, failed, running,
pending), wall time, evaluations and error; this process alone rewrites it,
atomically, whenever a run starts or ends (whichever executor runs it), so
it is consistent whenever the sweep stops. ``OUT/sweep.yaml`` records the
sweep (``divergent sweep OUT/sweep.yaml`` runs it again). Running a sweep
again skips runs that are complete, resumes unfinished ones
(`runs.loop.resume`) and retries failed ones, whichever executor ran them
before. A failed run is reported and the others go on. Ctrl-C stops the
running runs cleanly (their checkpoints are written; they are pending again)
and ends the sweep.

With ``vmap_seeds`` (``--vmap-seeds``) the runs that differ only by seed run
as one vmapped program in this process (`runs.seeds`), written as the same
run directories; it needs the local executor.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import yaml

from runs.atomic import write_text_atomic
from runs.config import RunConfig, build, differences, parse_set, parse_yaml
from runs.errors import ConfigError, RunDirError, RunError
from runs.rundir import ARCHIVE, CONFIG, METRICS, read_text
from runs.typed import coerce, show, unknown_key_message

__all__ = ["INDEX", "IndexRow", "PlannedRun", "SweepResult", "SweepSpec", "expand", "holds_run", "load_spec",
           "make_spec", "parse_seeds", "read_index", "run_sweep", "status_on_disk"]

INDEX = "index.csv"
SPEC = "sweep.yaml"
DEFAULT_OUT = "runs_out/sweep"
KEYS = ("algos", "tasks", "seeds", "budget", "sets", "out")
DONE, FAILED, RUNNING, PENDING = "done", "failed", "running", "pending"
INDEX_COLUMNS = ("run_dir", "algorithm", "task", "representation", "seed", "status", "wall_time", "evaluations",
                 "error")
ALGO_ENTRY = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[([A-Za-z0-9_.-]+)\])?$")
GROUND_TRUTH = "ground_truth"


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    """What a sweep runs.

    Attributes:
        algos: algorithm names, each optionally with a representation: "ns[pca]".
        tasks: task names.
        seeds: the seeds of every (algorithm, task).
        budget: evaluations per run; None keeps the config default.
        sets: ``key=value`` overrides for every run, or ``NAME:key=value``
            for the runs of algorithm, representation or task NAME.
        out: the sweep directory.
    """

    algos: tuple[str, ...]
    tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    budget: Optional[int] = None
    sets: tuple[str, ...] = ()
    out: str = DEFAULT_OUT

    def to_dict(self) -> dict:
        return {"algos": list(self.algos), "tasks": list(self.tasks), "seeds": list(self.seeds),
                "budget": self.budget, "sets": list(self.sets), "out": self.out}


@dataclasses.dataclass(frozen=True)
class PlannedRun:
    """One run of a sweep.

    Attributes:
        name: its directory's name in the sweep directory.
        config: its checked config (``out`` is the run directory).
    """

    name: str
    config: RunConfig

    @property
    def path(self) -> Path:
        return Path(self.config.out)


@dataclasses.dataclass
class IndexRow:
    """One line of index.csv (see `INDEX_COLUMNS`)."""

    run_dir: str
    algorithm: str
    task: str
    representation: str
    seed: int
    status: str = PENDING
    wall_time: Optional[float] = None
    evaluations: Optional[int] = None
    error: str = ""


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """How a sweep ended.

    Attributes:
        out: the sweep directory.
        rows: index.csv's rows, as last written.
        interrupted: Ctrl-C stopped it.
    """

    out: Path
    rows: tuple[IndexRow, ...]
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)

    @property
    def failed(self) -> list[IndexRow]:
        return [r for r in self.rows if r.status == FAILED]


def parse_seeds(value: Any, key: str = "seeds") -> tuple[int, ...]:
    """Seeds from "0-9", "0,3,7", "0-2,5", an integer or a list of those.

    Raises:
        ConfigError: not integers or ranges, a reversed range, or no seed.
    """
    items = value if isinstance(value, (list, tuple)) else [value]
    seeds: list[int] = []
    for item in items:
        for part in (str(item).split(",") if isinstance(item, str) else [item]):
            text = str(part).strip()
            match = re.fullmatch(r"(\d+)\s*-\s*(\d+)", text)
            if match:
                low, high = int(match[1]), int(match[2])
                if high < low:
                    raise ConfigError(f"{key}: the range {text!r} is reversed (write {high}-{low})")
                seeds.extend(range(low, high + 1))
            elif isinstance(part, str) and not re.fullmatch(r"[+-]?\d+", text):
                raise ConfigError(f"{key}: {text!r} is not a seed; give integers and ranges, e.g. 0-9, 0,3,7 "
                                  "or 0-2,5")
            else:
                seeds.append(coerce(int, part if not isinstance(part, str) else text, key))
    if not seeds:
        raise ConfigError(f"{key}: no seed given (e.g. 0-9 or 0,1,2)")
    return tuple(dict.fromkeys(seeds))


def _names(value: Any, key: str) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else [value]
    names = [part.strip() for item in items for part in (item.split(",") if isinstance(item, str) else [item])]
    if not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{key}: expected names separated by commas (e.g. ns,serene), got {show(value)}")
    return tuple(dict.fromkeys(names))


def load_spec(path: str | Path) -> dict:
    """The mapping a sweep's YAML file holds (checked by `make_spec`).

    Raises:
        ConfigError: the file is missing, unreadable, not YAML, or not a mapping.
    """
    path = Path(path)
    if path.is_dir():
        hint = f"; did you mean {path / SPEC}?" if (path / SPEC).is_file() else ""
        raise ConfigError(f"sweep spec {path} is a directory, not a YAML file{hint}")
    if not path.is_file():
        raise ConfigError(f"sweep spec {path}: no such file")
    return parse_yaml(read_text(path, ConfigError), f"sweep spec {path}")


def make_spec(raw: Mapping[str, Any], source: str = "sweep") -> SweepSpec:
    """Checks a sweep's keys (`KEYS`) and builds its spec.

    Raises:
        ConfigError: an unknown or missing key, or a value of the wrong kind.
    """
    for key in raw:
        if key not in KEYS:
            raise ConfigError(f"{source}: {unknown_key_message(str(key), KEYS)}")
    for key in ("algos", "tasks", "seeds"):
        if raw.get(key) in (None, "", []):
            raise ConfigError(f"{source}: no {key} given (--{key} or `{key}:` in the spec)")
    sets = raw.get("sets") or ()
    sets = (sets,) if isinstance(sets, str) else tuple(sets)
    if not all(isinstance(s, str) for s in sets):
        raise ConfigError(f"{source}: sets must be a list of key=value strings, got {show(raw.get('sets'))}")
    budget = raw.get("budget")
    return SweepSpec(
        algos=_names(raw["algos"], "algos"),
        tasks=_names(raw["tasks"], "tasks"),
        seeds=parse_seeds(raw["seeds"]),
        budget=None if budget is None else coerce(int, budget, "budget"),
        sets=sets,
        out=coerce(str, raw.get("out") or DEFAULT_OUT, "out"),
    )


def expand(spec: SweepSpec) -> list[PlannedRun]:
    """Every run of the sweep with its checked config, seeds outermost.

    Raises:
        ConfigError: a config that fails its checks (naming the run), a
            ``NAME:`` scope naming no algorithm or task of the sweep, or two
            runs that would share a directory.
    """
    entries = []
    for entry in spec.algos:
        match = ALGO_ENTRY.match(entry)
        if not match:
            raise ConfigError(f"algos: {entry!r} is not an algorithm name, nor NAME[REPRESENTATION]")
        entries.append((match[1], match[2]))
    scopes = {name for name, _ in entries} | {rep for _, rep in entries if rep} | set(spec.tasks)
    plain, scoped = [], []
    for item in spec.sets:
        key, sep, _ = item.partition("=")
        scope, colon, _ = key.partition(":")
        if colon and sep:
            if scope.strip() not in scopes:
                raise ConfigError(f"--set {item}: {scope.strip()!r} names no algorithm, representation or task of "
                                  f"this sweep ({', '.join(sorted(scopes))})")
            scoped.append((scope.strip(), item[len(scope) + 1:]))
        else:
            plain.append(item)
    runs, seen = [], {}
    for seed in spec.seeds:
        for task in spec.tasks:
            for algorithm, representation in entries:
                sets = [*plain, *(s for scope, s in scoped if scope in (algorithm, representation, task))]
                if representation:
                    sets.append(f"representation={representation}")
                where = f"{algorithm}{f'[{representation}]' if representation else ''} on {task}, seed {seed}"
                try:
                    config = build(algorithm, task, seed=seed, budget=spec.budget, sets=tuple(sets))
                except ConfigError as error:
                    raise ConfigError(f"{where}: {error}") from None
                rep = "" if config.representation == GROUND_TRUTH else f"-{config.representation}"
                name = f"{algorithm}-{task}{rep}-seed{config.seed}"
                if name in seen:
                    raise ConfigError(f"{where} and {seen[name]} would share the run directory {name}; "
                                      "give each algorithm once")
                seen[name] = where
                runs.append(PlannedRun(name, config.replace(out=str(Path(spec.out) / name))))
    return runs


def status_on_disk(run: PlannedRun) -> str:
    """`DONE` when the run's directory holds this run, its archive and metrics
    reaching the budget; else `PENDING` (not started, unfinished, or a
    directory `run_one` will refuse)."""
    path = run.path
    if not (path / CONFIG).is_file() or not (path / ARCHIVE).is_file():
        return PENDING
    try:
        saved = parse_yaml(read_text(path / CONFIG, ConfigError), str(path / CONFIG))
    except ConfigError:
        return PENDING
    if _changed(saved, run.config):
        return PENDING
    spent = _last_evaluations(path)
    return DONE if spent is not None and spent >= run.config.budget else PENDING


def _changed(saved: Mapping[str, Any], config: RunConfig) -> list[str]:
    """Keys in which a saved config differs from `config` (budget and out aside)."""
    ignore = ("budget", "out")
    return differences({k: v for k, v in saved.items() if k not in ignore}, config.identity())


def _last_evaluations(path: Path) -> Optional[int]:
    from runs.load import read_metrics  # pandas: only when needed
    from runs.summary import last_value

    try:
        value = last_value(read_metrics(path / METRICS), "evaluations")
    except RunError:
        return None
    return None if value is None else int(value)


def _last_wall_time(path: Path) -> Optional[float]:
    from runs.load import read_metrics
    from runs.summary import last_value

    try:
        return last_value(read_metrics(path / METRICS), "wall_time")
    except RunError:
        return None


def run_one(run: PlannedRun, reporter=None):
    """Starts the run, or resumes it when its directory holds it already.

    Returns:
        The loop's `runs.loop.RunResult`.

    Raises:
        RunError: the directory holds another run (or other files), or the
            run fails its checks or its checkpoint.
    """
    from runs import loop  # jax: only when running

    if holds_run(run):
        return loop.resume(run.path, budget=run.config.budget, reporter=reporter)
    return loop.start(run.config, reporter=reporter)


def holds_run(run: PlannedRun) -> bool:
    """True when the run's directory holds this run already (to resume);
    False when it is missing or empty (to start).

    Raises:
        RunDirError: the directory holds another run, an unreadable config,
            or other files.
    """
    path = run.path
    if (path / CONFIG).is_file():
        try:
            saved = parse_yaml(read_text(path / CONFIG, ConfigError), str(path / CONFIG))
        except ConfigError as error:
            raise RunDirError(f"{path} holds a run whose config cannot be read ({error}); move it away") from None
        changed = _changed(saved, run.config)
        if changed:
            raise RunDirError(f"{path} holds a different run (differs in: {', '.join(changed)}); move it away "
                              "or give the sweep another --out")
        return True
    if path.is_dir() and any(path.iterdir()):
        raise RunDirError(f"{path} is not empty and is not a run directory (no {CONFIG}); move its files away "
                          "or give the sweep another --out")
    return False


def write_index(out: Path, rows: Sequence[IndexRow]) -> Path:
    """Writes index.csv atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(INDEX_COLUMNS)
    for row in rows:
        wall = "" if row.wall_time is None else f"{row.wall_time:.1f}"
        writer.writerow([row.run_dir, row.algorithm, row.task, row.representation, row.seed, row.status, wall,
                         "" if row.evaluations is None else row.evaluations, row.error])
    return write_text_atomic(out / INDEX, buffer.getvalue())


def read_index(out: str | Path) -> list[dict]:
    """index.csv of a sweep directory as a list of rows (column -> text).

    Raises:
        RunDirError: no index.csv, or it cannot be read.
    """
    path = Path(out) / INDEX
    if not path.is_file():
        raise RunDirError(f"{out} is not a sweep directory (no {INDEX})")
    return list(csv.DictReader(io.StringIO(read_text(path, RunDirError))))


def run_sweep(
    spec: SweepSpec,
    *,
    executor=None,
    notify: Callable[[str], None] = lambda line: None,
    reporter: Callable[[], Any] = lambda: None,
    display=None,
    vmap_seeds: bool = False,
) -> SweepResult:
    """Runs every run of the sweep that is not done.

    Args:
        spec: the sweep.
        executor: where the runs execute (`runs.executors`); default the
            local executor: one after the other in this process.
        notify: called with one progress line per event (a run starts, ends,
            fails, is skipped).
        reporter: for the local executor, makes an extra `runs.loop.Reporter`
            for each run (None: none).
        display: a live view (`runs.sweep_progress.SweepProgress`): told
            the rows, then every event; None: none.
        vmap_seeds: run the runs that differ only by seed as one vmapped
            program in this process (`runs.seeds`); a group that cannot be
            vmapped is refused before anything runs. Needs the local executor.

    Returns:
        How the sweep ended; index.csv holds the same rows.

    Raises:
        ConfigError: a run's config fails its checks (nothing is run); with
            `vmap_seeds`, a group that cannot be vmapped.
        RunDirError: the sweep directory cannot be made, or is a run directory.
        RunError: the executor cannot start (e.g. no Ray cluster at $RAY_ADDRESS).
    """
    runs = expand(spec)
    out = Path(spec.out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file, not a sweep directory")
    if (out / CONFIG).is_file():
        raise RunDirError(f"--out {out} is a run directory, not a sweep directory; choose another --out")
    batched = None
    if vmap_seeds:
        from runs import seeds  # jax: only when running
        from runs.executors.local import LocalExecutor

        if executor is not None and not isinstance(executor, LocalExecutor):
            raise ConfigError(f"--vmap-seeds runs each group of seeds as one program in this process, so it needs "
                              f"--executor local, not {getattr(executor, 'name', type(executor).__name__)}")

        batched = seeds.SweepGroups(runs, [status_on_disk(r) for r in runs])  # checks before anything is written
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise RunDirError(f"cannot create --out {out}: {error.strerror or error}") from None
    write_text_atomic(out / SPEC, "# divergent sweep; run it again with: divergent sweep THIS_FILE\n"
                      + yaml.safe_dump(spec.to_dict(), sort_keys=False, default_flow_style=None))
    rows = [IndexRow(r.name, r.config.algorithm, r.config.task, r.config.representation, r.config.seed,
                     status=status_on_disk(r)) for r in runs]
    for run, row in zip(runs, rows):
        if row.status == DONE:
            row.wall_time, row.evaluations = _last_wall_time(run.path), _last_evaluations(run.path)
    write_index(out, rows)
    skipped = sum(r.status == DONE for r in rows)
    if skipped:
        notify(f"{skipped} of {len(rows)} runs are done already; skipping them")
    from runs.executors import Job
    from runs.executors.local import LocalExecutor

    jobs = [Job(number, len(rows), run, resuming=(run.path / CONFIG).is_file())
            for number, (run, row) in enumerate(zip(runs, rows), 1) if row.status != DONE]
    driver = _Driver(rows, out, notify, display)
    executor = executor or LocalExecutor(reporter)
    if batched is not None:
        display = None  # the groups report through `reporter`, not the executors' events
    if display is not None:
        display.begin(rows)
    try:
        if batched is not None:
            interrupted = batched.run(rows, out, notify, reporter)
        else:
            interrupted = executor.run(jobs, driver, out) if jobs else False
    except KeyboardInterrupt:  # Ctrl-C between runs, or while a line was printed
        interrupted = True
        for row in rows:
            if row.status == RUNNING:
                row.status, row.error = PENDING, "interrupted (Ctrl-C)"
        write_index(out, rows)
    finally:
        if display is not None:
            display.close()
    return SweepResult(out=out, rows=tuple(rows), interrupted=interrupted)


class _Driver:
    """The sweep's side of the executors' events (`runs.executors.Events`):
    keeps the rows, rewrites index.csv at every start and end, prints the
    lines and feeds the live display. Executors call it from the thread that
    called `run_sweep` only, so the index has one writer."""

    def __init__(self, rows: Sequence[IndexRow], out: Path, notify: Callable[[str], None], display):
        self.rows, self.out, self.notify, self.display = rows, out, notify, display

    def _row(self, job) -> IndexRow:
        return self.rows[job.number - 1]

    def started(self, job) -> None:
        row = self._row(job)
        self.notify(f"{_what(job)}: {'resuming' if job.resuming else 'starting'} -> {job.run.path}")
        row.status, row.error = RUNNING, ""
        write_index(self.out, self.rows)
        if self.display is not None:
            self.display.started(job, self.rows)

    def progress(self, job, row: dict) -> None:
        if self.display is not None:
            self.display.progress(job, row)

    def note(self, job, message: str) -> None:
        if self.display is not None:
            self.display.note(job, message)
        else:
            self.notify(f"{_what(job)}: {message}")

    def finished(self, job, outcome) -> None:
        row = self._row(job)
        row.status, row.error = outcome.status, outcome.error
        row.wall_time = outcome.wall_time
        if outcome.evaluations is not None:
            row.evaluations = outcome.evaluations
        write_index(self.out, self.rows)
        if self.display is not None:
            self.display.finished(job, self.rows)
        result = {DONE: "done", FAILED: f"FAILED: {row.error}", PENDING: "interrupted; it resumes on the next sweep"}
        wall = "" if row.wall_time is None else f" ({row.wall_time:.1f} s)"
        self.notify(f"{_what(job)}: {result[row.status]}{wall}; {_counts(self.rows)}")


def _what(job) -> str:
    config = job.run.config
    what = f"[{job.number}/{job.total}] {config.algorithm} on {config.task}"
    if config.representation != GROUND_TRUTH:
        what += f" [{config.representation}]"
    return what + f", seed {config.seed}"


def _counts(rows: Sequence[IndexRow]) -> str:
    done = sum(r.status == DONE for r in rows)
    failed = sum(r.status == FAILED for r in rows)
    running = sum(r.status == RUNNING for r in rows)
    return (f"{done} done, {failed} failed, " + (f"{running} running, " if running else "")
            + f"{len(rows) - done - failed - running} remaining")


def spec_from_arguments(path: Optional[str], *, algos: Optional[str], tasks: Optional[str], seeds: Optional[str],
                        budget: Optional[str], sets: Sequence[str], out: Optional[str]) -> SweepSpec:
    """The spec of `divergent sweep [SPEC] [--algos ...]`: the file's keys,
    overridden by the flags given (``--set`` items are added after the file's).

    Raises:
        ConfigError: a bad file or value.
    """
    raw = load_spec(path) if path is not None else {}
    source = f"sweep spec {path}" if path is not None else "sweep"
    for key, value in (("algos", algos), ("tasks", tasks), ("seeds", seeds), ("budget", budget), ("out", out)):
        if value is not None:
            raw[key] = value
    if sets:
        previous = raw.get("sets") or []
        raw["sets"] = [*([previous] if isinstance(previous, str) else previous), *sets]
    for item in raw.get("sets") or []:
        if isinstance(item, str):
            parse_set(item.partition(":")[2] if ":" in item.partition("=")[0] else item)  # syntax, early
    return make_spec(raw, source)
