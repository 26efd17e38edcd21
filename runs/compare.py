"""Comparing runs: `divergent compare DIR... [--out OUT]`.

    result = compare(["runs_out/sweep"], "runs_out/sweep/comparison")
    result.table      # one row per task, group and metric: median, q1, q3 over seeds
    result.stats      # pairwise one-sided Mann-Whitney U, Holm-corrected (runs.compare_stats)

DIRs are run directories or sweep directories (whose subdirectories are run
directories; `divergent sweep` writes them). Runs are grouped by task and by
algorithm, with the representation when it is not the ground truth
("ns[autoencoder]"); runs of one group whose configs differ in more than
seed, budget and bookkeeping are split, labelled by what differs
("ns (algo.k=10)"). OUT receives:

    table.csv, table.md   median and interquartile range over seeds of each
                          run's final value of every metric of `METRICS`
    stats.csv, stats.md   pairwise tests (`runs.compare_stats`)
    plots/                curves with bands, final-value box plots, the
                          exploitation budget of emitter methods (`runs.compare_plots`)

Only config.yaml and metrics.csv are read (no archive, no JAX), leniently:
any config naming an algorithm and a task will do. Per reward area i the
metrics are ``area{i}_first_found`` (evaluations until first found; -1 never:
such a seed counts as missing in the table, which reports how many seeds
found it and the median over those, and ranks last in the tests) and
``area{i}_max_reward`` (0 until found, as qd.tracker logs it).
"""
from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from runs import compare_stats
from runs.atomic import write_text_atomic
from runs.compare_stats import HIGHER, LOWER
from runs.config import differences, parse_yaml
from runs.errors import ConfigError, RunDirError, RunError
from runs.load import read_metrics
from runs.rundir import CONFIG, read_text
from runs.summary import last_value
from runs.typed import show

__all__ = ["METRICS", "Comparison", "CompareError", "RunData", "better", "collect", "compare", "final_values",
           "group_runs", "table", "tests"]

# Every metric of the table: (label, which values are better, cell format). Per-area
# metrics are named area{i}_<key> and declared by <key>.
METRICS: dict[str, tuple[str, str, str]] = {
    "coverage": ("coverage", HIGHER, "{:.3f}"),
    "explored_coverage": ("explored coverage", HIGHER, "{:.3f}"),
    "uniformity": ("uniformity", HIGHER, "{:.3f}"),
    "areas_found": ("areas found", HIGHER, "{:.3g}"),
    "qd_score": ("QD-score", HIGHER, "{:.4g}"),
    "first_found": ("first find", LOWER, "{:,.0f}"),
    "max_reward": ("max reward", HIGHER, "{:.3f}"),
}
GLOBAL = ("coverage", "explored_coverage", "uniformity", "areas_found", "qd_score")
PER_AREA = ("first_found", "max_reward")
ARROWS = {HIGHER: "↑", LOWER: "↓"}
AREA_COLUMN = re.compile(r"area(\d+)_(first_found|max_reward)$")
# Config keys that do not change what a run is: runs differing only in them share a group.
BOOKKEEPING = ("seed", "budget", "out", "log_every", "checkpoint_every", "keep_checkpoints", "shard")
GROUND_TRUTH = "ground_truth"
DEFAULT_OUT = "comparison"
TABLE_COLUMNS = ("task", "group", "algorithm", "representation", "runs", "metric", "label", "direction", "n",
                 "found", "median", "q1", "q3", "iqr")


class CompareError(RunError):
    """Nothing to compare, or the runs cannot be compared as asked."""


@dataclasses.dataclass(frozen=True)
class RunData:
    """What a comparison reads of one run directory.

    Attributes:
        path: the run directory.
        config: config.yaml as a plain mapping.
        metrics: metrics.csv.
    """

    path: Path
    config: Mapping[str, Any]
    metrics: pd.DataFrame

    @property
    def algorithm(self) -> str:
        return str(self.config["algorithm"])

    @property
    def task(self) -> str:
        return str(self.config["task"])

    @property
    def representation(self) -> str:
        return str(self.config.get("representation") or GROUND_TRUTH)

    @property
    def seed(self) -> Any:
        return self.config.get("seed")

    @property
    def evaluations(self) -> float:
        """Evaluations spent at the last logged row (NaN when not logged)."""
        value = last_value(self.metrics, "evaluations")
        return float("nan") if value is None else value


@dataclasses.dataclass(frozen=True)
class Group:
    """The runs of one task and algorithm (and representation, and settings).

    Attributes:
        task: the task's name.
        label: e.g. "ns", "ns[autoencoder]", "ns (algo.k=10)".
        runs: its runs, sorted by seed.
    """

    task: str
    label: str
    runs: tuple[RunData, ...]


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What `compare` wrote.

    Attributes:
        out: the output folder.
        groups: the groups compared.
        table: the table (`TABLE_COLUMNS`, one row per task, group and metric).
        stats: the pairwise tests (`runs.compare_stats.COLUMNS`).
        files: every file written, plots included.
        warnings: one line each: skipped directories, budgets that differ.
    """

    out: Path
    groups: tuple[Group, ...]
    table: pd.DataFrame
    stats: pd.DataFrame
    files: tuple[Path, ...]
    warnings: tuple[str, ...]


def better(metric: str) -> str:
    """Which values of `metric` are better: `HIGHER` or `LOWER`.

    Raises:
        KeyError: a metric `METRICS` does not declare.
    """
    return METRICS[_key(metric)][1]


def label_of(metric: str) -> str:
    """The table's name of `metric` with its arrow, e.g. "area 0 first find ↓"."""
    key = _key(metric)
    match = AREA_COLUMN.match(metric)
    name = f"area {match[1]} {METRICS[key][0]}" if match else METRICS[key][0]
    return f"{name} {ARROWS[METRICS[key][1]]}"


def _key(metric: str) -> str:
    match = AREA_COLUMN.match(metric)
    return match[2] if match else metric


def collect(dirs: Sequence[str | Path], warn: Callable[[str], None]) -> list[RunData]:
    """The runs in `dirs` (run directories, or sweep directories holding them).

    Runs without metrics, and unreadable runs inside a sweep directory, are
    skipped with a warning naming them; a run listed twice is read once.
    When the only run there is skipped, the error says why instead (one line).

    Args:
        dirs: the directories given on the command line.
        warn: called with one line per skipped run.

    Returns:
        The runs that have logged metrics, in the order found.

    Raises:
        RunDirError: a directory that does not exist, is a file, holds no run
            directory, or is a run directory whose config cannot be read.
        CompareError: no directory given, or no run with metrics.
    """
    if not dirs:
        raise CompareError("name at least one run or sweep directory to compare")
    found: dict[Path, RunData] = {}
    skipped: list[str] = []  # warned about once the outcome is known
    for directory in map(Path, dirs):
        if not directory.exists():
            raise RunDirError(f"{directory}: no such directory")
        if not directory.is_dir():
            raise RunDirError(f"{directory} is a file, not a run or sweep directory")
        if (directory / CONFIG).is_file():
            candidates, explicit = [directory], True
        else:
            candidates = sorted(p for p in directory.iterdir() if p.is_dir() and (p / CONFIG).is_file())
            explicit = False
            if not candidates:
                raise RunDirError(f"{directory} is neither a run directory (no {CONFIG}) nor a sweep directory "
                                  f"(none of its folders holds a {CONFIG})")
        for path in candidates:
            if path.resolve() in found:
                continue
            try:
                run = read_run(path)
            except RunError as error:
                if explicit:
                    raise
                skipped.append(f"{path}: {error}")
                continue
            if run.metrics.empty:
                skipped.append(f"{path}: no metrics logged yet (`divergent resume {path}` runs it)")
                continue
            found[path.resolve()] = run
    if not found and len(skipped) == 1:
        raise CompareError(f"nothing to compare: {skipped[0]}")
    for line in skipped:
        warn(f"skipping {line}")
    if not found:
        raise CompareError(f"nothing to compare: no run in {', '.join(map(str, dirs))} has logged metrics")
    return list(found.values())


def read_run(path: Path) -> RunData:
    """config.yaml (as a plain mapping naming an algorithm and a task) and metrics.csv.

    Raises:
        RunDirError: config.yaml or metrics.csv cannot be read, or the config
            names no algorithm or task.
    """
    try:
        config = parse_yaml(read_text(path / CONFIG, RunDirError), str(path / CONFIG))
    except ConfigError as error:
        raise RunDirError(str(error)) from None
    for key in ("algorithm", "task"):
        if not isinstance(config.get(key), str):
            raise RunDirError(f"{path / CONFIG} names no {key} (got {show(config.get(key))})")
    return RunData(path=path, config=config, metrics=read_metrics(path / "metrics.csv"))


def group_runs(runs: Sequence[RunData]) -> list[Group]:
    """Groups runs by task, algorithm and representation, then splits a group
    whose runs differ in settings other than `BOOKKEEPING` (labelled by the
    differing keys).

    Returns:
        The groups, sorted by task then label.
    """
    base: dict[tuple[str, str], list[RunData]] = {}
    for run in runs:
        label = run.algorithm if run.representation == GROUND_TRUTH else f"{run.algorithm}[{run.representation}]"
        base.setdefault((run.task, label), []).append(run)
    groups = []
    for (task, label), members in base.items():
        identities = [{k: v for k, v in r.config.items() if k not in BOOKKEEPING} for r in members]
        keys = sorted({key for other in identities[1:] for key in differences(identities[0], other)})
        split: dict[str, list[RunData]] = {}
        for run, identity in zip(members, identities):
            settings = ", ".join(f"{key}={_dotted(identity, key)}" for key in keys)
            split.setdefault(f"{label} ({settings})" if keys else label, []).append(run)
        for name, group in split.items():
            ordered = sorted(group, key=lambda r: (r.seed if isinstance(r.seed, int) else -1, str(r.path)))
            groups.append(Group(task, name, tuple(ordered)))
    return sorted(groups, key=lambda g: (g.task, g.label))


def _dotted(mapping: Mapping[str, Any], key: str) -> str:
    value: Any = mapping
    for part in key.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return show(value, 40)


def areas_of(runs: Sequence[RunData]) -> list[int]:
    """The reward areas the runs log (area{i}_first_found / _max_reward columns)."""
    return sorted({int(m[1]) for r in runs for c in r.metrics.columns if (m := AREA_COLUMN.match(str(c)))})


def metric_names(runs: Sequence[RunData]) -> list[str]:
    """The metrics of the table for these runs (one task), in table order:
    the global ones any run logs, then per area first find and max reward."""
    names = [m for m in GLOBAL if any(m in r.metrics for r in runs)]
    return names + [f"area{i}_{key}" for i in areas_of(runs) for key in PER_AREA]


def final_values(run: RunData, metrics: Sequence[str]) -> dict[str, float]:
    """A run's final (last logged, finite) value of each metric.

    Returns:
        metric -> value; NaN when the run does not log it; +inf for an
        ``area{i}_first_found`` that is negative (never found).
    """
    out = {}
    for name in metrics:
        value = last_value(run.metrics, name)
        if value is None:
            out[name] = float("nan")
        elif _key(name) == "first_found" and value < 0:
            out[name] = float("inf")
        else:
            out[name] = value
    return out


def table(groups: Sequence[Group]) -> pd.DataFrame:
    """Median and quartiles over each group's runs of every metric.

    For first finds, ``n`` counts the runs that log the area and ``found``
    those that found it; median and quartiles are over the latter. For the
    other metrics ``found`` equals ``n``. Quartiles use linear interpolation
    (numpy's default).

    Returns:
        One row per task, group and metric, columns `TABLE_COLUMNS`.
    """
    rows = []
    for task in dict.fromkeys(g.task for g in groups):
        members = [g for g in groups if g.task == task]
        names = metric_names([r for g in members for r in g.runs])
        for group in members:
            finals = [final_values(r, names) for r in group.runs]
            for name in names:
                values = np.array([f[name] for f in finals])
                logged = values[~np.isnan(values)]
                finite = logged[np.isfinite(logged)]
                q1, median, q3 = np.percentile(finite, [25, 50, 75]) if len(finite) else (np.nan,) * 3
                first = group.runs[0]
                rows.append({
                    "task": task, "group": group.label, "algorithm": first.algorithm,
                    "representation": first.representation, "runs": len(group.runs), "metric": name,
                    "label": label_of(name), "direction": better(name), "n": len(logged), "found": len(finite),
                    "median": median, "q1": q1, "q3": q3, "iqr": q3 - q1,
                })
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def tests(groups: Sequence[Group]) -> pd.DataFrame:
    """Pairwise one-sided Mann-Whitney U tests per task and metric, Holm-corrected
    within each task and metric (`runs.compare_stats.pairwise`)."""
    frames = []
    for task in dict.fromkeys(g.task for g in groups):
        members = [g for g in groups if g.task == task]
        names = metric_names([r for g in members for r in g.runs])
        finals = {g.label: [final_values(r, names) for r in g.runs] for g in members}
        for name in names:
            samples = {label: np.array([f[name] for f in rows]) for label, rows in finals.items()}
            frames.append(compare_stats.pairwise(task, name, better(name), samples))
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(compare_stats.COLUMNS))


def budget_warnings(groups: Sequence[Group]) -> list[str]:
    """One line per group whose runs ended at different evaluation counts."""
    out = []
    for group in groups:
        spent = [r.evaluations for r in group.runs]
        if len(set(spent)) > 1:
            out.append(f"{group.task} / {group.label}: runs ended at different evaluations "
                       f"({min(spent):,.0f} to {max(spent):,.0f}); the table uses each run's final row, "
                       f"the curves the evaluations all runs of the task reached")
    return out


def markdown_table(frame: pd.DataFrame) -> str:
    """table.md: per task, one row per group, one column per metric (its arrow
    in the header), cells "median [Q1, Q3]"; first finds add (found/seeds)."""
    lines = ["# Comparison", "",
             "Median [Q1, Q3] over seeds of each run's final value; ↑: higher is better, ↓: lower is better. "
             "First find: evaluations until the reward area was first found, over the seeds that found it "
             "(found/seeds).", ""]
    for task, rows in frame.groupby("task", sort=False):
        metrics = list(dict.fromkeys(rows["metric"]))
        labels = [rows.loc[rows["metric"] == m, "label"].iloc[0] for m in metrics]
        lines += [f"## {task}", "", "| group | runs | " + " | ".join(labels) + " |",
                  "| --- | ---: | " + " | ".join("---:" for _ in labels) + " |"]
        for group, cells in rows.groupby("group", sort=False):
            by_metric = {r.metric: r for r in cells.itertuples()}
            text = [_cell(by_metric[m]) if m in by_metric else "–" for m in metrics]
            lines.append(f"| {_md(group)} | {cells['runs'].iloc[0]} | " + " | ".join(text) + " |")
        lines.append("")
    return "\n".join(lines)


def _cell(row) -> str:
    fmt = METRICS[_key(row.metric)][2]
    if row.found == 0:
        value = "–"
    else:
        value = f"{fmt.format(row.median)} [{fmt.format(row.q1)}, {fmt.format(row.q3)}]"
    if _key(row.metric) == "first_found" and row.n:
        value += f" ({row.found}/{row.n})"
    return value


def markdown_stats(frame: pd.DataFrame, tasks: Sequence[str]) -> str:
    """stats.md: per task and metric, every ordered pair "a better than b?"."""
    lines = ["# Pairwise tests", "",
             f"One-sided Mann-Whitney U per ordered pair (H1: a is better than b; ↑ higher / ↓ lower is better), "
             f"Holm-Bonferroni correction over the pairs of each task and metric; **better** where the adjusted "
             f"p < {compare_stats.ALPHA}. A seed that never found an area ranks last on its first find.", ""]
    for task in tasks:
        rows = frame[frame["task"] == task]
        lines += [f"## {task}", ""]
        if rows.empty:
            lines += ["Only one group (or no shared metric): nothing to test.", ""]
            continue
        lines += ["| metric | a | b | n | U | p | p (Holm) | better |",
                  "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
        for r in rows.itertuples():
            better_cell = f"**{_md(r.better)}**" if r.better else ""
            lines.append(f"| {label_of(r.metric)} | {_md(r.a)} | {_md(r.b)} | {r.n_a}/{r.n_b} | {r.U:g} | "
                         f"{r.p:.3g} | {r.p_adjusted:.3g} | {better_cell} |")
        lines.append("")
    return "\n".join(lines)


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def default_out(dirs: Sequence[str | Path]) -> Path:
    """`<first DIR>/comparison` when the first DIR is a sweep directory, else ./comparison."""
    first = Path(dirs[0]) if dirs else Path(".")
    return first / DEFAULT_OUT if first.is_dir() and not (first / CONFIG).is_file() else Path(DEFAULT_OUT)


def compare(dirs: Sequence[str | Path], out: Optional[str | Path] = None, *, plots: bool = True,
            warn: Optional[Callable[[str], None]] = None) -> Comparison:
    """Reads the runs in `dirs`, groups them and writes the table, the tests
    and the plots into `out`.

    Args:
        dirs: run or sweep directories.
        out: output folder (created); default `default_out(dirs)`.
        plots: draw the plots.
        warn: called with each warning line as it arises (they are also
            returned).

    Returns:
        What was compared and written.

    Raises:
        RunDirError: a directory is missing, a file, or holds no run; `out`
            is a file.
        CompareError: no run with metrics.
    """
    warnings: list[str] = []

    def note(line: str) -> None:
        warnings.append(line)
        if warn is not None:
            warn(line)

    runs = collect(dirs, note)
    out = Path(out) if out is not None else default_out(dirs)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file, not a folder")
    groups = group_runs(runs)
    for line in budget_warnings(groups):
        note(line)
    frame = table(groups)
    stats = tests(groups)
    out.mkdir(parents=True, exist_ok=True)
    files = [
        _write_csv(out / "table.csv", frame),
        write_text_atomic(out / "table.md", markdown_table(frame)),
        _write_csv(out / "stats.csv", stats),
        write_text_atomic(out / "stats.md", markdown_stats(stats, list(dict.fromkeys(g.task for g in groups)))),
    ]
    if plots:
        from runs import compare_plots  # matplotlib: only when drawing

        files += compare_plots.draw(groups, frame, out / "plots")
    return Comparison(out=out, groups=tuple(groups), table=frame, stats=stats, files=tuple(files),
                      warnings=tuple(warnings))


def _write_csv(path: Path, frame: pd.DataFrame) -> Path:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return write_text_atomic(path, buffer.getvalue())
