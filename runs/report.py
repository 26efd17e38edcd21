"""`divergent report DIR... [--out report.html]`: one self-contained HTML page
of runs or sweeps, readable offline.

    result = report(["runs_out/sweep"], "runs_out/sweep/report.html")
    result.runs        # the runs on the page
    result.replayed    # policies rolled out again for the explorer

The page holds, per task, the comparison of `divergent compare` (the table
of medians and quartiles over seeds, the pairwise tests, and the curves, box
plots and exploitation budgets as interactive figures), and an archive
explorer: pick a run (or two side by side), see its archive on the task's
map, click a policy for its trajectory, final top-down view, reward,
descriptor and the generation it was found in, and the run's per-area
history (max reward and, for emitter methods, the evaluations spent on each
area). Trajectories and views are not saved by runs; they are computed here
by replaying a capped sample of each archive (`runs.report_explorer`).

Why Plotly: its whole JavaScript library ships inside the pinned `plotly`
package as one file (`plotly.offline.get_plotlyjs`), so the page embeds it
and needs no network; a figure is a plain JSON spec, so this module writes
the comparison's figures as data and the page's own script (runs/report.js)
builds and redraws the explorer's maps, trajectories and histories on a
click (`Plotly.react`/`restyle`) without a server. Bokeh also inlines its
library, but interaction outside its widgets goes through its document
model and CustomJS callbacks written as strings in Python; matplotlib's
PNGs (`divergent compare`) are not interactive.
"""
from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Callable, Optional, Sequence

from runs.atomic import write_text_atomic
from runs.errors import RunDirError, RunError
from runs.report_explorer import DEFAULT_REPLAYS

__all__ = ["DEFAULT_NAME", "Report", "default_out", "report"]

DEFAULT_NAME = "report.html"


@dataclasses.dataclass(frozen=True)
class Report:
    """What `report` wrote.

    Attributes:
        out: the HTML file.
        runs: run directories on the page.
        groups: groups compared.
        replayed: policies replayed for the explorer, over all runs.
        size: bytes of the page.
        warnings: one line each (also on the page).
    """

    out: Path
    runs: tuple[Path, ...]
    groups: int
    replayed: int
    size: int
    warnings: tuple[str, ...]


def default_out(dirs: Sequence[str | Path]) -> Path:
    """`<first DIR>/report.html` for a sweep directory, else ./report.html."""
    from runs.rundir import CONFIG

    first = Path(dirs[0]) if dirs else Path(".")
    return first / DEFAULT_NAME if first.is_dir() and not (first / CONFIG).is_file() else Path(DEFAULT_NAME)


def report(dirs: Sequence[str | Path], out: Optional[str | Path] = None, *, replays: int = DEFAULT_REPLAYS,
           warn: Optional[Callable[[str], None]] = None,
           progress: Optional[Callable[[str], None]] = None) -> Report:
    """Reads the runs in `dirs` and writes the report page.

    Args:
        dirs: run or sweep directories (as `divergent compare` takes).
        out: the HTML file (default `default_out(dirs)`).
        replays: policies replayed per run for the explorer (0: none).
        warn: called with each warning line as it arises.
        progress: called with one line per run explored.

    Returns:
        What was written.

    Raises:
        RunDirError: a directory is missing, a file, or holds no run; `out` is
            a directory.
        CompareError: no run with metrics.
        ConfigError: `replays` is negative.
    """
    from runs import compare, report_explorer, report_figures, report_page
    from runs.load import load
    from runs.errors import ConfigError

    if replays < 0:
        raise ConfigError(f"--replays must be 0 or more, got {replays}")
    warnings: list[str] = []

    def note(line: str) -> None:
        warnings.append(line)
        if warn is not None:
            warn(line)

    found = compare.collect(dirs, note)
    out = Path(out) if out is not None else default_out(dirs)
    if out.is_dir():
        raise RunDirError(f"--out {out} is a directory; give the HTML file's name (e.g. {out / DEFAULT_NAME})")
    groups = compare.group_runs(found)
    for line in compare.budget_warnings(groups):
        note(line)
    table = compare.table(groups)
    stats = compare.tests(groups)
    figures = report_figures.figures(groups, table)
    maps: dict = {}
    entries, replayed = [], 0
    for group in groups:
        for run_data in group.runs:
            run_id = f"run{len(entries)}"
            label = f"{group.label} on {group.task}, seed {run_data.seed}"
            entry = {"id": run_id, "label": label, "task": group.task, "group": group.label,
                     "algorithm": run_data.algorithm, "path": str(run_data.path), "facts": _facts(run_data),
                     "explorer": None, "missing": None}
            try:
                run = load(run_data.path)
                if not run.archive:
                    entry["missing"] = "no archive.npz yet: the run has not stopped (`divergent resume` ends it)"
                else:
                    lines: list[str] = []
                    entry["explorer"] = report_explorer.run_data(run, label, maps, replays=replays, notes=lines)
                    for line in lines:
                        note(line)
                    replayed += len(entry["explorer"]["replays"])
            except RunError as error:
                entry["missing"] = f"cannot be explored: {error}"
                note(f"{run_data.path}: {error}")
            if progress is not None:
                progress(f"{label}: {len(entry['explorer']['replays']) if entry['explorer'] else 0} policies "
                         "replayed")
            entries.append(entry)
    tasks = list(dict.fromkeys(g.task for g in groups))
    total = sum(len(g.runs) for g in groups)
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = [
        f"{total} runs in {len(groups)} groups on {len(tasks)} task{'s' if len(tasks) != 1 else ''} "
        f"({', '.join(tasks)}), from {', '.join(str(d) for d in dirs)}",
        f"written {when}; up to {replays} policies per run replayed for the explorer ({replayed} in all)",
    ]
    html = report_page.page(
        title=", ".join(tasks), subtitle=subtitle, tasks=tasks,
        groups={t: [g.label for g in groups if g.task == t] for t in tasks}, table=table, stats=stats,
        figures=figures, runs=entries, maps=maps, warnings=warnings)
    if out.parent != Path(""):
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise RunDirError(f"cannot create the folder of --out {out}: {error.strerror or error}") from None
    write_text_atomic(out, html)
    return Report(out=out, runs=tuple(r.path for g in groups for r in g.runs), groups=len(groups),
                  replayed=replayed, size=len(html.encode("utf-8")), warnings=tuple(warnings))


def _facts(run) -> list[tuple[str, str]]:
    """(name, value) pairs shown under a run's name in the explorer."""
    from runs.summary import last_value

    out = []
    for column, name, fmt in (("evaluations", "evaluations", "{:,.0f}"), ("coverage", "coverage", "{:.1%}"),
                              ("explored_coverage", "explored coverage", "{:.1%}"),
                              ("areas_found", "areas found", "{:.0f}"), ("archive_size", "archive", "{:,.0f}")):
        value = last_value(run.metrics, column)
        if value is not None:
            out.append((name, fmt.format(value)))
    return out
