"""The processes executor: N worker processes on this machine.

Each worker is a fresh Python process (`runs.executors.worker`) that runs
one job after the other, so runs of equal settings in one worker share
their compiled programs, and every worker shares the driver's persistent
compile cache. The machine's devices are split between the workers before
they import JAX (`device_split`): GPUs through CUDA_VISIBLE_DEVICES (whole
GPUs while there are enough, else workers share one GPU without
preallocating its memory); CPU cores by pinning each worker to its share
of them. A worker sees as many XLA host devices as this process (its
XLA_FLAGS are the driver's): a batch sharded over more devices sums in
another order, so only the same device count gives the same runs, bit for
bit, as the local executor (and resumes a run stopped under another
executor as if it had never stopped).

Ctrl-C reaches only the driver (workers run in sessions of their own); the
driver forwards one SIGINT per Ctrl-C: the first stops every running run
after its generation with a checkpoint and no new run starts, the second
aborts the running runs, a third kills the workers. Each worker's stderr is
kept in OUT/logs/worker-N.log.
"""
from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import json
import os
import pickle
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

from runs.errors import RunError
from runs.executors import FAILED, INTERRUPTED, PENDING, Events, Executor, Job, Outcome

__all__ = ["ProcessExecutor", "Slot", "default_workers", "device_split", "visible_gpus"]

LOGS = "logs"
# jax.config settings a worker copies from the driver (the persistent compile cache).
CACHE_SETTINGS = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs",
                  "jax_persistent_cache_min_entry_size_bytes")
LOG_TAIL = 600  # characters of a dead worker's log quoted in the error


@dataclasses.dataclass(frozen=True)
class Slot:
    """One worker's share of the machine.

    Attributes:
        cpus: the cores it is pinned to.
        gpus: the GPU ids it sees (empty: CPU only).
        env: environment variables set for it (CUDA_VISIBLE_DEVICES).
    """

    cpus: tuple[int, ...]
    gpus: tuple[str, ...]
    env: dict


def visible_gpus() -> list[str]:
    """The ids of the NVIDIA GPUs this process may use, without importing JAX
    (which would take the GPUs' memory in the driver): $CUDA_VISIBLE_DEVICES
    when set, else the GPUs `nvidia-smi -L` lists; none when JAX_PLATFORMS is
    "cpu" or there is no nvidia-smi."""
    if os.environ.get("JAX_PLATFORMS", "").strip().lower() == "cpu":
        return []
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        ids = [part.strip() for part in listed.split(",") if part.strip()]
        return [] if ids[:1] == ["-1"] else ids
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        lines = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in lines.splitlines() if l.startswith("GPU "))]


def _cores() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no pinning, but still a device count
        return list(range(os.cpu_count() or 1))


def default_workers() -> int:
    """One worker per GPU, else one per CPU core."""
    return len(visible_gpus()) or len(_cores())


def device_split(workers: int, *, gpus: Optional[Sequence[str]] = None,
                 cores: Optional[Sequence[int]] = None) -> list[Slot]:
    """Splits the devices between `workers` processes.

    Args:
        workers: how many.
        gpus: GPU ids (default `visible_gpus`).
        cores: CPU cores (default: those this process may use).

    Returns:
        One `Slot` per worker: contiguous groups of GPUs and cores when there
        are at least as many as workers, else one each, shared round-robin.
    """
    gpus = list(visible_gpus() if gpus is None else gpus)
    cores = list(_cores() if cores is None else cores)

    def groups(items: list) -> list[tuple]:
        if len(items) >= workers:
            return [tuple(g.tolist()) for g in np.array_split(np.asarray(items, dtype=object), workers)]
        return [(items[i % len(items)],) for i in range(workers)]

    slots = []
    for cpus, gpu_group in zip(groups(cores), groups(gpus) if gpus else [()] * workers):
        env = {}
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(gpu_group)
            if len(gpus) < workers:  # several processes on one GPU: none may take most of its memory
                env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        slots.append(Slot(tuple(int(c) for c in cpus), tuple(str(g) for g in gpu_group), env))
    return slots


def cache_settings() -> dict:
    """The driver's persistent compile cache settings, for the workers ({}
    when JAX is not imported or no cache is set: workers use the default)."""
    jax = sys.modules.get("jax")
    if jax is None or not getattr(jax.config, "jax_compilation_cache_dir", None):
        return {}
    return {name: getattr(jax.config, name) for name in CACHE_SETTINGS}


def _python_path() -> str:
    """PYTHONPATH for the workers: this `runs` package's folder first, so they
    import the same code as the driver (a checkout, not another install),
    then the working directory and the driver's own PYTHONPATH."""
    package_root = str(Path(__file__).resolve().parents[2])
    parts = [package_root, os.getcwd(), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return os.pathsep.join(dict.fromkeys(parts))


class _Worker:
    """One worker process and what the driver knows of it."""

    def __init__(self, number: int, slot: Slot, log_path: Path, events: "queue.Queue"):
        self.number, self.slot, self.log_path = number, slot, log_path
        self.job: Optional[Job] = None
        self.started = False  # the job's started event arrived
        self.ready = False
        self.closed = False
        self.done_jobs = 0
        env = {**os.environ, **slot.env, "PYTHONPATH": _python_path(), "PYTHONUNBUFFERED": "1"}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # XLA's cache-hit warnings (see runs.cli); a value set wins
        command = [sys.executable, "-m", "runs.executors.worker", "--jax", json.dumps(cache_settings())]
        if slot.cpus and hasattr(os, "sched_setaffinity"):
            command += ["--cpus", ",".join(map(str, slot.cpus))]
        with open(log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, env=env,
                start_new_session=True, text=True, encoding="utf-8", bufsize=1,
            )
        self.reader = threading.Thread(target=self._read, args=(events,), daemon=True)
        self.reader.start()

    def _read(self, events: "queue.Queue") -> None:
        for line in self.process.stdout:
            try:
                events.put((self, json.loads(line)))
            except json.JSONDecodeError:  # not ours (cannot happen: prints go to stderr); ignored
                continue
        events.put((self, None))  # end of stdout: the process ended

    def send(self, job: Job) -> None:
        self.job, self.started = job, False
        line = json.dumps({"number": job.number, "job": base64.b64encode(pickle.dumps(job)).decode("ascii")}) + "\n"
        try:
            self.process.stdin.write(line)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):  # it died; its end of stdout follows
            pass

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                self.process.stdin.close()

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            os.kill(self.process.pid, signum)

    def log_tail(self) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        text = " ".join(text.split())
        return text[-LOG_TAIL:]


class ProcessExecutor(Executor):
    """Runs the jobs on `workers` worker processes.

    Args:
        workers: how many (default `default_workers`); never more than jobs.
    """

    name = "processes"

    def __init__(self, workers: Optional[int] = None):
        self.workers = workers
        self._requeued: set[int] = set()  # jobs whose worker died before starting them, once

    def run(self, jobs: Sequence[Job], events: Events, out: Path) -> bool:
        todo = collections.deque(jobs)
        count = max(1, min(self.workers or default_workers(), len(jobs)))
        (out / LOGS).mkdir(exist_ok=True)
        inbox: queue.Queue = queue.Queue()
        live: set = set()
        ctrl_c = [0]
        stopping = False
        startup_failure = None
        with _forward_sigint(ctrl_c, live):
            for i, slot in enumerate(device_split(count)):
                live.add(_Worker(i, slot, out / LOGS / f"worker-{i}.log", inbox))
            while live:
                if ctrl_c[0] and not stopping:
                    stopping = True
                for worker in list(live):
                    if worker.ready and worker.job is None:
                        if todo and not stopping:
                            worker.send(todo.popleft())
                        else:
                            worker.close()
                try:
                    worker, event = inbox.get(timeout=0.2)
                except queue.Empty:
                    continue
                if event is None:
                    live.discard(worker)
                    code = worker.process.wait()
                    if not worker.ready and not stopping:
                        startup_failure = startup_failure or (worker, code)
                        ctrl_c[0] = max(ctrl_c[0], 1)
                        _signal_all(live, signal.SIGINT)
                    elif worker.job is not None:
                        self._lost(worker, code, stopping, events, todo, live, inbox)
                    continue
                kind = event["event"]
                if kind == "ready":
                    worker.ready = True
                elif worker.job is None:  # (a late event of no job: ignored)
                    continue
                elif kind == "started":
                    worker.started = True
                    events.started(worker.job)
                elif kind == "progress":
                    events.progress(worker.job, event["row"])
                elif kind == "note":
                    events.note(worker.job, event["message"])
                elif kind == "finished":
                    outcome = Outcome(**event["outcome"])
                    job, worker.job = worker.job, None
                    worker.done_jobs += 1
                    events.finished(job, outcome)
                    if outcome.interrupted and not ctrl_c[0]:  # stopped from elsewhere: the sweep stops too
                        ctrl_c[0] = 1
                        _signal_all(live, signal.SIGINT)
        if startup_failure is not None:
            worker, code = startup_failure
            raise RunError(f"worker process {worker.number} of the processes executor exited with status {code} "
                           f"before it could run anything; the end of {worker.log_path}: {worker.log_tail()}")
        return bool(ctrl_c[0])

    def _lost(self, worker: _Worker, code: int, stopping: bool, events: Events, todo, live, inbox) -> None:
        """A worker ended while it held a job."""
        job, worker.job = worker.job, None
        if not worker.started and job.number not in self._requeued:  # sent, never begun: another worker takes it
            self._requeued.add(job.number)
            todo.appendleft(job)
        else:
            if stopping:
                events.finished(job, Outcome(PENDING, None, None, INTERRUPTED))
            else:
                events.finished(job, Outcome(
                    FAILED, None, None, f"its worker process ended with status {code} "
                    f"(killed, out of memory?); the end of {worker.log_path}: {worker.log_tail()}"))
        if not stopping and todo:  # a worker that ran before: start another in its place
            live.add(_Worker(worker.number, worker.slot, worker.log_path, inbox))


def _signal_all(workers, signum: int) -> None:
    for worker in workers:
        worker.signal(signum)


@contextlib.contextmanager
def _forward_sigint(count: list, live: set) -> Iterator[None]:
    """Counts Ctrl-Cs in `count[0]` and forwards them: SIGINT to the workers
    twice (stop cleanly, then abort), then SIGKILL. Only the main thread can
    install the handler; elsewhere Ctrl-C keeps its default behaviour."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        count[0] += 1
        _signal_all(list(live), signal.SIGINT if count[0] <= 2 else signal.SIGKILL)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
