"""Where a sweep's runs execute: in this process, in worker processes, or on Ray.

    local       one run after the other in this process (the default)
    processes   N fresh Python processes on this machine, splitting its
                devices (GPUs, else CPU cores) between them
    ray         one Ray task per run on a Ray cluster ($RAY_ADDRESS, or a
                local instance started for the sweep)

The sweep (`runs.sweep.run_sweep`, the *driver*) expands the runs, decides
which are done, and hands the others to an executor as `Job`s. The executor
reports back through an `Events` object: a run started, logged a metrics row,
has a note for the user, finished with an `Outcome`. Only the driver writes
index.csv, from those events, so the index means the same whichever executor
ran the runs, and a sweep run again skips and resumes runs whichever
executor ran them before.

Every executor runs a job with `execute` (`runs.sweep.run_one` with a
reporter that forwards progress), so a run is the same run directory with the
same results everywhere. Ctrl-C: the first stops every running run after its
current generation (a checkpoint is written; the run is pending again) and
starts no other; a second aborts the running runs at once (their newest
checkpoint stays intact: every file is written atomically).
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from runs.errors import ConfigError, RunError

__all__ = ["NAMES", "Events", "Executor", "Job", "Outcome", "execute", "make_executor"]

NAMES = ("local", "processes", "ray")
DONE, FAILED, PENDING = "done", "failed", "pending"  # as runs.sweep's index statuses
INTERRUPTED = "interrupted (Ctrl-C)"


@dataclasses.dataclass(frozen=True)
class Job:
    """One run handed to an executor.

    Attributes:
        number: its position in the sweep (1-based), for messages.
        total: the runs in the sweep.
        run: the planned run (`runs.sweep.PlannedRun`: name and checked config).
        resuming: its directory held the run already when the sweep began.
    """

    number: int
    total: int
    run: Any
    resuming: bool = False

    @property
    def name(self) -> str:
        return self.run.name


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How one run ended.

    Attributes:
        status: "done", "failed" or "pending" (stopped by Ctrl-C; it resumes).
        wall_time: seconds (the run's own over all its sessions when it ran).
        evaluations: evaluations spent, when known.
        error: why it failed or stopped.
    """

    status: str
    wall_time: Optional[float] = None
    evaluations: Optional[int] = None
    error: str = ""

    @property
    def interrupted(self) -> bool:
        return self.status == PENDING


class Events:
    """What an executor tells the driver; this base class ignores it all."""

    def started(self, job: Job) -> None:
        """The job's run starts (or resumes)."""

    def progress(self, job: Job, row: dict) -> None:
        """The run logged a metrics row (at start: its generation and evaluations so far)."""

    def note(self, job: Job, message: str) -> None:
        """Something the user should know about the run."""

    def finished(self, job: Job, outcome: Outcome) -> None:
        """The run ended (its files are written)."""


class Executor:
    """Runs jobs, reporting to `events`.

    Subclasses implement `run`; it returns True when Ctrl-C stopped the
    sweep. Jobs it never started get no event and stay pending.
    """

    name = ""

    def run(self, jobs: Sequence[Job], events: Events, out: Path) -> bool:
        raise NotImplementedError


def make_executor(
    name: str,
    *,
    workers: Optional[int] = None,
    ray_cpus_per_run: Optional[float] = None,
    ray_gpus_per_run: Optional[float] = None,
    reporter: Callable[[], Any] = lambda: None,
) -> Executor:
    """The executor NAME (`NAMES`) with its options.

    Args:
        name: "local", "processes" or "ray".
        workers: processes of the "processes" executor (default: one per
            GPU, else one per CPU core).
        ray_cpus_per_run: CPUs a Ray task reserves (default 1).
        ray_gpus_per_run: GPUs a Ray task reserves (default 0; fractions
            share a GPU).
        reporter: for "local", makes each run's extra `runs.loop.Reporter`.

    Raises:
        ConfigError: an unknown name, an option of another executor, or a
            value out of range.
    """
    if name not in NAMES:
        raise ConfigError(f"--executor: unknown executor {name!r}; valid executors: {', '.join(NAMES)}")
    if workers is not None and name != "processes":
        raise ConfigError(f"--workers {workers}: only the processes executor has workers "
                          f"(--executor processes), not {name}")
    ray_options = {"--ray-cpus-per-run": ray_cpus_per_run, "--ray-gpus-per-run": ray_gpus_per_run}
    for flag, value in ray_options.items():
        if value is not None and name != "ray":
            raise ConfigError(f"{flag} {value:g}: only for --executor ray, not {name}")
    if name == "local":
        from runs.executors.local import LocalExecutor

        return LocalExecutor(reporter)
    if name == "processes":
        from runs.executors.processes import ProcessExecutor

        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1, got {workers}")
        return ProcessExecutor(workers)
    from runs.executors.ray_cluster import RayExecutor

    cpus = 1.0 if ray_cpus_per_run is None else ray_cpus_per_run
    gpus = 0.0 if ray_gpus_per_run is None else ray_gpus_per_run
    if cpus <= 0:
        raise ConfigError(f"--ray-cpus-per-run must be above 0, got {cpus:g}")
    if gpus < 0:
        raise ConfigError(f"--ray-gpus-per-run must be 0 or more, got {gpus:g}")
    return RayExecutor(cpus_per_run=cpus, gpus_per_run=gpus)


class _Forward:
    """The loop's reporter (a `runs.loop.Reporter`) during a job: progress
    goes to `events`, and to an optional extra reporter (e.g. a test's)."""

    def __init__(self, job: Job, events: Events, extra: Any):
        self.job, self.events, self.extra = job, events, extra

    def start(self, info) -> None:
        self.events.progress(self.job, {"generation": info.generation, "evaluations": info.evaluations})
        if self.extra is not None:
            self.extra.start(info)

    def update(self, row: dict) -> None:
        self.events.progress(self.job, row)
        if self.extra is not None:
            self.extra.update(row)

    def note(self, message: str) -> None:
        self.events.note(self.job, message)
        if self.extra is not None:
            self.extra.note(message)

    def finish(self, result) -> None:
        if self.extra is not None:
            self.extra.finish(result)


def execute(job: Job, events: Events, extra: Any = None, interrupts: tuple[type, ...] = ()) -> Outcome:
    """Runs (or resumes) one job in this process; never raises for a failed run.

    Args:
        job: the job.
        events: receives the run's progress and notes (not started/finished:
            the executor sends those).
        extra: another reporter to feed (closed afterwards if it has `close`).
        interrupts: exception types that, like KeyboardInterrupt, mean the
            run was stopped, not failed (Ray raises its TaskCancelledError in
            a task cancelled before the run loop took over SIGINT).

    Returns:
        done when the budget is spent; pending when Ctrl-C stopped it
        (checkpointed, or before its loop began); failed with the error's
        message otherwise.
    """
    from runs.sweep import run_one  # jax: only when running
    from runs.typed import shorten

    began = time.perf_counter()
    try:
        result = run_one(job.run, _Forward(job, events, extra))
    except KeyboardInterrupt:  # before the loop took over Ctrl-C (compiling), or a second Ctrl-C
        return Outcome(PENDING, time.perf_counter() - began, None, INTERRUPTED)
    except Exception as error:  # noqa: BLE001 - one failed run must not stop the others
        if isinstance(error, interrupts):
            return Outcome(PENDING, time.perf_counter() - began, None, INTERRUPTED)
        message = str(error) if isinstance(error, RunError) else f"{type(error).__name__}: {error}"
        return Outcome(FAILED, time.perf_counter() - began, None, shorten(" ".join(message.split())))
    finally:
        close = getattr(extra, "close", None)
        if close is not None:
            close()
    if result.status == "complete":
        return Outcome(DONE, result.wall_time, result.evaluations)
    return Outcome(PENDING, result.wall_time, result.evaluations,
                   f"{INTERRUPTED} at {result.evaluations:,} evaluations")
