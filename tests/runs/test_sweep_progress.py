"""runs/sweep_progress.py: the live view counts the runs by status and keeps
one bar per running run, fed by the executors' events."""
from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console

from runs.sweep import IndexRow
from runs.sweep_progress import SweepProgress, counts_line, metrics_line


def _job(number, name, budget=400):
    return SimpleNamespace(number=number, name=name, run=SimpleNamespace(config=SimpleNamespace(budget=budget)))


def test_the_view_counts_runs_and_draws_a_bar_per_running_run():
    rows = [IndexRow(f"r{i}", "ns", "curling", "ground_truth", i, status=s)
            for i, s in enumerate(["done", "pending", "pending", "pending"])]
    console = Console(file=io.StringIO(), width=150, force_terminal=True, color_system=None)
    view = SweepProgress(console)
    view.begin(rows)
    first, second = _job(2, "ns-curling-seed1"), _job(3, "ns-curling-seed2")
    for job in (first, second):
        rows[job.number - 1].status = "running"
        view.started(job, rows)
    view.progress(first, {"generation": 3, "evaluations": 300, "evaluations_per_s": 1234.5, "coverage": 0.125,
                          "archive_size": 42})
    tasks = {t.description.strip(): t for t in view._progress.tasks}
    assert tasks["runs"].completed == 1 and tasks["runs"].total == 4
    assert tasks["runs"].fields["info"] == "1 done, 2 running, 0 failed, 1 pending"
    assert tasks["ns-curling-seed1"].completed == 300 and tasks["ns-curling-seed1"].total == 400
    assert tasks["ns-curling-seed1"].fields["info"] == "1,234/s  coverage 12.5%  archive 42"
    assert tasks["ns-curling-seed2"].fields["info"] == "starting..."

    rows[1].status = "failed"
    view.finished(first, rows)
    view.note(second, "Ctrl-C: stopping after this generation")
    view.close()
    view.close()  # idempotent
    assert [t.description.strip() for t in view._progress.tasks] == ["runs", "ns-curling-seed2"]
    assert view._progress.tasks[0].fields["info"] == "1 done, 1 running, 1 failed, 1 pending"
    drawn = console.file.getvalue()
    assert "ns-curling-seed2: Ctrl-C: stopping after this generation" in drawn
    assert "1 done, 1 running, 1 failed, 1 pending" in drawn


def test_lines_of_counts_and_metrics():
    rows = [SimpleNamespace(status=s) for s in ["done", "done", "failed", "pending", "running"]]
    assert counts_line(rows) == "2 done, 1 running, 1 failed, 1 pending"
    assert metrics_line({"evaluations": 10}) == ""
    assert metrics_line({"areas_found": 2, "max_reward": 0.5}) == "areas found 2  max reward 0.500"
