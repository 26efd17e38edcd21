"""What the user sees while a run runs: a rich progress bar and a summary.

The bar counts evaluations and shows the evaluations per second measured
between two logged generations; under it, whichever of these the algorithm's
metrics hold: coverage, archive size, reward areas found, max reward, and
the invalid (NaN/inf) evaluations so far.
"""
from __future__ import annotations

from typing import Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from runs.loop import Reporter, RunResult, StartInfo

# Metric names shown on the bar, in order, with their labels and formats. The
# algorithms' metrics dicts use these names; others still go to metrics.csv.
SHOWN = (
    ("coverage", "coverage", "{:.1%}"),
    ("archive_size", "archive", "{:,.0f}"),
    ("areas_found", "areas found", "{:.0f}"),
    ("max_reward", "max reward", "{:.3f}"),
)
# Metrics that, once non-zero, mean the archive is full and refuses entries.
FULL_KEYS = ("archive_overflow",)


class _TwoLineProgress(Progress):
    """The bar on one line and the metrics under it, so both fit 80 columns."""

    info = ""

    def get_renderables(self):
        yield self.make_tasks_table(self.tasks)
        if self.info:
            yield Text("  " + self.info, style="cyan", overflow="ellipsis", no_wrap=True)


class RichReporter(Reporter):
    """Progress bar and summary on a rich console.

    Args:
        console: where to draw; default stdout.
    """

    def __init__(self, console: Optional[Console] = None):
        self.console = console or Console()
        self._progress: Optional[Progress] = None
        self._bar = None
        self._generation = 0
        self._warned_full = False

    def start(self, info: StartInfo) -> None:
        config = info.config
        kinds = sorted({d.split(":")[0] for d in info.devices})
        self.console.print(
            f"[bold]{config.algorithm}[/] on [bold]{config.task}[/], seed {config.seed}, "
            f"budget {config.budget:,} evaluations -> {info.run_dir}"
        )
        self.console.print(f"devices: {len(info.devices)} x {'/'.join(kinds)} ({', '.join(info.devices)})")
        if info.resumed_from is not None:
            self.console.print(
                f"resumed from {info.resumed_from.name}: generation {info.generation}, "
                f"{info.evaluations:,} evaluations"
            )
        self._generation = info.generation
        self._progress = _TwoLineProgress(
            TextColumn("gen {task.fields[generation]:>6}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("evals {task.fields[rate]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
        )
        self._progress.info = "compiling..."
        self._progress.start()
        self._bar = self._progress.add_task(
            "run", total=config.budget, completed=min(info.evaluations, config.budget),
            generation=info.generation, rate="",
        )

    def update(self, row: dict) -> None:
        if self._progress is None:
            return
        parts = [f"{label} {fmt.format(row[key])}" for key, label, fmt in SHOWN if key in row]
        if row.get("invalid"):
            parts.append(f"invalid {row['invalid']:,}")
        self._progress.info = "  ".join(parts)
        rate = f"{row['evaluations_per_s']:,.0f}/s" if "evaluations_per_s" in row else ""
        self._progress.update(self._bar, completed=row["evaluations"], generation=row["generation"], rate=rate)
        if not self._warned_full and any(row.get(k) for k in FULL_KEYS):
            self._warned_full = True
            self.note("the archive is full and refuses new policies (see archive_overflow in metrics.csv); "
                "a larger archive capacity (--set algo.archive_capacity=N) keeps them")

    def note(self, message: str) -> None:
        (self._progress.console if self._progress else self.console).print(f"[yellow]{message}[/]")

    def finish(self, result: RunResult) -> None:
        if self._progress is not None:
            self._progress.stop()
        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_row("status", "[green]complete[/]" if result.status == "complete" else "[yellow]interrupted[/]")
        table.add_row("generations", f"{result.generation:,}")
        table.add_row("evaluations", f"{result.evaluations:,}")
        table.add_row("wall time", _duration(result.wall_time))
        table.add_row("archive", f"{result.archive_size:,} policies")
        for key, label, fmt in SHOWN:
            if key in result.last_metrics and key != "archive_size":
                table.add_row(label, fmt.format(result.last_metrics[key]))
        table.add_row("invalid evaluations", f"{result.invalid:,}")
        table.add_row("run directory", str(result.run_dir))
        self.console.print(table)
        if result.status != "complete":
            self.console.print(f"continue it with: divergent resume {result.run_dir}")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
