"""What the user sees while a sweep runs (`divergent sweep` without --quiet).

One line counts the sweep's runs (done, running, failed, pending) on a bar
of finished runs; under it, one bar per running run: its evaluations
against its budget, the evaluations per second and the metrics
`runs.progress` shows for a single run (coverage, archive, areas found, max
reward). It works the same for every executor: the bars follow the events
the executors send (`runs.executors.Events`), not the runs' own reporters.
"""
from __future__ import annotations

from typing import Optional, Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from runs.progress import SHOWN

__all__ = ["SweepProgress", "counts_line"]

DONE, FAILED, RUNNING, PENDING = "done", "failed", "running", "pending"  # as runs.sweep


def counts_line(rows: Sequence) -> str:
    """"3 done, 1 running, 0 failed, 4 pending" of index rows."""
    count = {status: sum(r.status == status for r in rows) for status in (DONE, RUNNING, FAILED, PENDING)}
    return ", ".join(f"{n} {status}" for status, n in count.items())


def metrics_line(row: dict) -> str:
    """The rate and shown metrics of a metrics row, e.g. "1,204/s  coverage 12.0%"."""
    parts = [f"{row['evaluations_per_s']:,.0f}/s"] if row.get("evaluations_per_s") else []
    parts += [f"{label} {fmt.format(row[key])}" for key, label, fmt in SHOWN if key in row]
    return "  ".join(parts)


class SweepProgress:
    """Live view of a sweep on a rich console.

    Args:
        console: where to draw (and where the sweep's lines are printed, so
            they appear above the bars); default stdout.
    """

    def __init__(self, console: Optional[Console] = None):
        self.console = console or Console()
        self._progress: Optional[Progress] = None
        self._overall = None
        self._bars: dict[int, int] = {}  # job number -> bar

    def begin(self, rows: Sequence) -> None:
        """The sweep starts: `rows` are index.csv's rows (done ones included)."""
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[info]}", style="cyan"),
            console=self.console,
        )
        self._overall = self._progress.add_task("runs", total=len(rows), completed=self._finished(rows),
                                                info=counts_line(rows))
        self._progress.start()

    def started(self, job, rows: Sequence) -> None:
        if self._progress is None:
            return
        self._bars[job.number] = self._progress.add_task(
            f"  {job.name}", total=job.run.config.budget, completed=0, info="starting...")
        self._count(rows)

    def progress(self, job, row: dict) -> None:
        bar = self._bars.get(job.number)
        if self._progress is None or bar is None:
            return
        info = metrics_line(row) or "compiling..."
        self._progress.update(bar, completed=min(row.get("evaluations", 0), job.run.config.budget), info=info)

    def note(self, job, message: str) -> None:
        self.console.print(f"[yellow]{job.name}: {message}[/]")

    def finished(self, job, rows: Sequence) -> None:
        bar = self._bars.pop(job.number, None)
        if self._progress is None:
            return
        if bar is not None:
            self._progress.remove_task(bar)
        self._count(rows)

    def close(self) -> None:
        """Stops drawing (idempotent); the last view stays on the terminal."""
        if self._progress is not None:
            self._progress.stop()

    def _count(self, rows: Sequence) -> None:
        self._progress.update(self._overall, completed=self._finished(rows), info=counts_line(rows))

    @staticmethod
    def _finished(rows: Sequence) -> int:
        return sum(r.status in (DONE, FAILED) for r in rows)
