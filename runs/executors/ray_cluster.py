"""The Ray executor: one Ray task per run, on a Ray cluster.

    ray start --head                                   # on one machine
    ray start --address=HEAD:6379                      # on each of the others
    RAY_ADDRESS=HEAD:6379 divergent sweep ... --executor ray

With $RAY_ADDRESS the sweep connects to that cluster; without it, it starts
a Ray instance on this machine for the sweep's duration. Each run is a task
reserving ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs (Ray sets
CUDA_VISIBLE_DEVICES for them); it sees as many XLA host devices as the
driver, as a run of the local executor would, since only the same device
count gives the same runs bit for bit (see `runs.executors.processes`). Ray
reuses a worker process for runs of equal settings, so they share compiled
programs. The sweep directory must be on a file system every node sees at
the same path (the runs write their directories there; the driver alone
writes index.csv, from what the tasks return). Progress rows travel back
through a `ray.util.queue.Queue`.

Ctrl-C: the first cancels the queued tasks (those runs stay pending) and
interrupts the running ones (`ray.cancel` raises SIGINT's handler in the
task: the run loop stops after its generation with a checkpoint, ignoring
the SIGINTs Ray sends again until the task ends); the second
kills the running tasks' workers (their newest checkpoints stay intact).
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import pickle
import signal
import sys
import threading
import warnings
from pathlib import Path
from typing import Iterator, Optional, Sequence

from runs.errors import RunError
from runs.executors import FAILED, INTERRUPTED, PENDING, Events, Executor, Job, Outcome, execute

__all__ = ["RayExecutor"]

DEVICE_COUNT_FLAG = "--xla_force_host_platform_device_count"
WAIT_S = 0.2  # how often the driver polls the tasks and the progress queue


class RayExecutor(Executor):
    """Runs each job as a Ray task.

    Args:
        cpus_per_run: CPUs each task reserves.
        gpus_per_run: GPUs each task reserves (a fraction shares one).
        address: the cluster; default $RAY_ADDRESS, else a new local instance.
    """

    name = "ray"

    def __init__(self, *, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0, address: Optional[str] = None):
        self.cpus_per_run, self.gpus_per_run, self.address = cpus_per_run, gpus_per_run, address

    def run(self, jobs: Sequence[Job], events: Events, out: Path) -> bool:
        with _connected(self.address or os.environ.get("RAY_ADDRESS") or None):
            return self._run(jobs, events)

    def _run(self, jobs: Sequence[Job], events: Events) -> bool:
        import ray
        from ray.util.queue import Empty, Queue

        from runs.executors.processes import cache_settings

        progress = Queue(actor_options={"num_cpus": 0})
        task = ray.remote(_ray_task).options(num_cpus=self.cpus_per_run, num_gpus=self.gpus_per_run, max_retries=0)
        setup = (cache_settings(), _cpu_key(), _host_device_count())
        refs = {task.remote(pickle.dumps(job), progress, setup): job for job in jobs}
        started: set[int] = set()
        ctrl_c = [0]
        cancelled = 0
        by_number = {job.number: job for job in jobs}

        def drain() -> None:
            try:
                items = progress.get_nowait_batch(progress.qsize())
            except Empty:
                return
            for kind, number, payload in items:
                job = by_number[number]
                if kind == "started":
                    started.add(number)
                    events.started(job)
                elif kind == "progress":
                    events.progress(job, payload)
                else:
                    events.note(job, payload)

        with _count_sigint(ctrl_c):
            while refs:
                if ctrl_c[0] > cancelled:  # 1: interrupt cleanly; 2 and more: kill
                    cancelled = ctrl_c[0]
                    for ref in refs:
                        with contextlib.suppress(Exception):
                            ray.cancel(ref, force=cancelled >= 2)
                ready, _ = ray.wait(list(refs), num_returns=len(refs), timeout=WAIT_S)
                drain()
                for ref in ready:
                    job = refs.pop(ref)
                    outcome = _outcome(ray, ref, job.number in started, bool(ctrl_c[0]))
                    if outcome is not None:
                        events.finished(job, outcome)
                        if outcome.interrupted and not ctrl_c[0]:
                            ctrl_c[0] = 1  # stopped from elsewhere: the sweep stops too
            drain()
        return bool(ctrl_c[0])


def _outcome(ray, ref, started: bool, stopping: bool) -> Optional[Outcome]:
    """The task's outcome; None for a task cancelled before it started."""
    from ray.exceptions import RayError, TaskCancelledError

    try:
        return Outcome(**ray.get(ref))
    except TaskCancelledError:
        return Outcome(PENDING, None, None, INTERRUPTED) if started else None
    except RayError as error:  # the worker died (killed, out of memory) or Ray failed
        if stopping:
            return Outcome(PENDING, None, None, INTERRUPTED) if started else None
        message = " ".join(str(error).split())
        return Outcome(FAILED, None, None, f"Ray: {type(error).__name__}: {message[:400]}")


@contextlib.contextmanager
def _connected(address: Optional[str]) -> Iterator[None]:
    """Connects to the cluster at `address` (None: starts a local instance),
    unless this process is connected already; disconnects afterwards."""
    try:
        import ray
    except ModuleNotFoundError:
        raise RunError("--executor ray needs Ray: pip install 'divergent[ray]' (or \"ray[default]\")") from None
    if ray.is_initialized():
        yield
        return
    try:
        with warnings.catch_warnings():
            # Ray starts its own programs with fork+exec (no Python runs in the child), which JAX's
            # "os.fork() is incompatible with multithreaded code" warning cannot tell apart.
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
            ray.init(address=address or "local", logging_level=logging.WARNING, log_to_driver=False,
                     include_dashboard=False if not address else None)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"the Ray cluster at {address} ($RAY_ADDRESS)" if address else "a local Ray instance"
        text = " ".join(str(error).split())
        if _asks_for_token(error):
            # `ray start` turns token authentication on where ~/.ray/auth_token exists, but a driver
            # given an address uses a token only when told to.
            raise RunError(f"cannot connect to {where}: it asks for a token; run the sweep with "
                           "RAY_AUTH_MODE=token (the token is read from ~/.ray/auth_token or $RAY_AUTH_TOKEN)"
                           ) from None
        raise RunError(f"cannot connect to {where}: {text[:600]}") from None
    try:
        yield
    finally:
        ray.shutdown()


def _asks_for_token(error: BaseException) -> bool:
    """Whether a failed ray.init was refused for want of a token (Ray wraps
    the refusal in the errors it raises, as cause or as text)."""
    seen = 0
    while error is not None and seen < 10:
        if type(error).__name__ == "AuthenticationError" or "InvalidAuthToken" in str(error):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


@contextlib.contextmanager
def _count_sigint(count: list) -> Iterator[None]:
    """Counts Ctrl-Cs in `count[0]` (main thread only; elsewhere the default)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        count[0] += 1

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _host_device_count() -> Optional[int]:
    """The XLA host device count this process's XLA_FLAGS ask for, if any."""
    for flag in os.environ.get("XLA_FLAGS", "").split():
        if flag.startswith(DEVICE_COUNT_FLAG + "="):
            return int(flag.partition("=")[2])
    return None


def _cpu_key() -> str:
    from runs.cli import cpu_key

    return cpu_key()


class _QueueEvents(Events):
    """Events of a task, sent to the driver's queue (started, rows, notes)."""

    def __init__(self, queue):
        self.queue = queue

    def started(self, job: Job) -> None:
        self.queue.put(("started", job.number, None))

    def progress(self, job: Job, row: dict) -> None:
        self.queue.put(("progress", job.number, row))

    def note(self, job: Job, message: str) -> None:
        self.queue.put(("note", job.number, message))


def _ray_task(pickled_job: bytes, queue, setup: tuple) -> dict:
    """One run, in a Ray worker process; returns its `Outcome` as a dict.

    The job comes pickled, so that XLA's host device count is set before
    unpickling it imports JAX (a runtime_env would do it too, but makes Ray
    start new worker processes instead of its prestarted ones).
    """
    settings, driver_cpu, devices = setup
    if "jax" not in sys.modules and devices is not None:
        flags = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(DEVICE_COUNT_FLAG)]
        os.environ["XLA_FLAGS"] = " ".join([*flags, f"{DEVICE_COUNT_FLAG}={devices}"])
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # XLA's cache-hit warnings (see runs.cli)
    job = pickle.loads(pickled_job)
    _configure_cache(settings, driver_cpu)
    events = _QueueEvents(queue)
    events.started(job)
    from ray.exceptions import TaskCancelledError

    from runs.loop import sigint_repeats_ignored

    with sigint_repeats_ignored():
        return dataclasses.asdict(execute(job, events, interrupts=(TaskCancelledError,)))


_configured = []


def _configure_cache(settings: dict, driver_cpu: str) -> None:
    """The driver's compile cache on a node of the driver's CPU type (the same
    folder: one cache on a shared file system); on another CPU type its own
    default cache, since XLA:CPU programs are compiled for one instruction set."""
    if _configured:
        return
    from runs.executors.worker import configure_jax

    configure_jax(settings if settings and _cpu_key() == driver_cpu else {})
    _configured.append(True)
