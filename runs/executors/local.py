"""The local executor: one run after the other in this process.

Runs of equal settings share their compiled programs (`runs.loop` caches
the jitted step per algorithm and static config). Ctrl-C reaches the run
loop directly: the run stops after its generation with a checkpoint, and
the sweep ends there.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from runs.executors import Events, Executor, Job, execute

__all__ = ["LocalExecutor"]


class LocalExecutor(Executor):
    """Runs the jobs in order in this process.

    Args:
        reporter: makes an extra `runs.loop.Reporter` for each run (None: none).
    """

    name = "local"

    def __init__(self, reporter: Callable[[], Any] = lambda: None):
        self.reporter = reporter

    def run(self, jobs: Sequence[Job], events: Events, out: Path) -> bool:
        for job in jobs:
            events.started(job)
            outcome = execute(job, events, self.reporter())
            events.finished(job, outcome)
            if outcome.interrupted:
                return True
        return False
