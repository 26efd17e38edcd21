"""runs/executors/processes.py: the device split, and the executor for real:
a `divergent sweep --executor processes` subprocess stopped by SIGINT while
both workers are mid-run (the runs checkpoint and become pending; nothing
is half-written), then continued by the local executor: every run, metrics
rows and archive, is the same as a local sweep's, bit for bit."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import pandas as pd
import pytest

from runs import cli, sweep
from runs.executors import Job, Outcome
from runs.executors.local import LocalExecutor
from runs.executors.processes import ProcessExecutor, device_split
from tests.runs.conftest import TOY_SETS
from tests.runs.executors.conftest import ALGOS, NAMES, ROOT, local_reference, logged, toy_spec
from tests.runs.test_loop import assert_same_run

BUDGET = 480  # 60 generations of 8: seconds with TOY_SLEEP_S, so that Ctrl-C lands mid-run


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return local_reference(tmp_path_factory.mktemp("reference") / "s", BUDGET)


def test_device_split_gives_each_worker_its_cores_or_gpus():
    cpu = device_split(2, gpus=[], cores=[0, 1, 2, 3, 4])
    assert [s.cpus for s in cpu] == [(0, 1, 2), (3, 4)] and all(not s.gpus and not s.env for s in cpu)
    assert [s.cpus for s in device_split(3, gpus=[], cores=[0, 1])] == [(0,), (1,), (0,)]
    gpus = device_split(2, gpus=["0", "1", "2", "3"], cores=[0, 1])
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in gpus] == ["0,1", "2,3"]
    assert all("XLA_PYTHON_CLIENT_PREALLOCATE" not in s.env for s in gpus)
    shared = device_split(3, gpus=["5", "7"], cores=[0, 1, 2, 3, 4, 5])
    assert [s.env["CUDA_VISIBLE_DEVICES"] for s in shared] == ["5", "7", "5"]
    assert all(s.env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false" for s in shared)  # two processes on GPU 5


class _KillWorkerOfFirstRun:
    """Events that SIGKILL the (only) worker once the first run logged generation 2."""

    def __init__(self):
        self.finished_runs = {}

    def started(self, job):
        pass

    def progress(self, job, row):
        import psutil  # (installed with ray)

        if job.number == 1 and row.get("generation") == 2:
            for child in psutil.Process().children():
                if "runs.executors.worker" in " ".join(child.cmdline()):
                    child.kill()

    def note(self, job, message):
        pass

    def finished(self, job, outcome):
        self.finished_runs[job.number] = outcome


@pytest.mark.slow
def test_a_worker_that_dies_fails_its_run_and_a_new_one_runs_the_next(tmp_path, monkeypatch):
    """As the out-of-memory killer would: the run is failed, naming the
    worker's log, and a new worker process runs the next run."""
    out = tmp_path / "s"
    out.mkdir()
    jobs = [Job(i + 1, 2, run) for i, run in enumerate(sweep.expand(toy_spec(out, BUDGET))[:2])]
    monkeypatch.setenv("TOY_SLEEP_S", "0.05")
    events = _KillWorkerOfFirstRun()
    assert not ProcessExecutor(1).run(jobs, events, out)
    first, second = events.finished_runs[1], events.finished_runs[2]
    assert first.status == "failed" and "its worker process ended with status -9" in first.error, first
    assert str(out / "logs" / "worker-0.log") in first.error
    assert second == Outcome("done", second.wall_time, BUDGET)


def test_ctrl_c_stops_a_processes_sweep_cleanly_and_the_local_executor_continues_it(tmp_path, reference):
    out = tmp_path / "s"
    env = dict(
        os.environ,
        TOY_SLEEP_S="0.5",  # slow steps (30 s a run), so that Ctrl-C lands mid-run even on a loaded machine
        JAX_PLATFORMS="cpu",
        DIVERGENT_JAX_CACHE=jax.config.jax_compilation_cache_dir or "off",
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",  # cache even quick compiles, as conftest does
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
        PYTHONPATH=str(ROOT),
    )
    program = "import tests.runs.toy; from runs.cli import app; app(prog_name='divergent')"
    args = ["sweep", "--algos", ",".join(ALGOS), "--tasks", "toy_point", "--seeds", "0-1", "--budget", str(BUDGET),
            *(a for s in TOY_SETS for a in ("--set", s)), "--executor", "processes", "--workers", "2",
            "--quiet", "--out", str(out)]
    process = subprocess.Popen([sys.executable, "-c", program, *args], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 150
        while not (_statuses(out) == ["running", "running", "pending", "pending"]  # both workers mid-run
                   and all(logged(out / name) >= 2 for name in NAMES[:2])):
            assert process.poll() is None, process.stdout.read()
            assert time.monotonic() < deadline, f"not there within 150 s: {_statuses(out)}"
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)  # to the driver only, as a terminal's Ctrl-C (workers have own sessions)
        output, _ = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == cli.EXIT_INTERRUPTED, output
    assert "interrupted; run the same sweep again to continue" in output
    index = pd.read_csv(out / sweep.INDEX, keep_default_na=False).set_index("run_dir")
    assert list(index["status"]) == ["pending"] * 4, index
    for name in NAMES[:2]:  # stopped after a generation, with a checkpoint
        assert index.loc[name, "error"].startswith("interrupted (Ctrl-C) at "), index.loc[name, "error"]
        assert any((out / name / "checkpoints").glob("ckpt-*.npz"))
    assert list(index.loc[NAMES[2:], "error"]) == ["", ""]  # never started
    assert not list(out.rglob(".*.tmp")), "a half-written file"
    assert (out / "logs" / "worker-0.log").is_file()

    lines = []
    again = sweep.run_sweep(toy_spec(out, BUDGET), executor=LocalExecutor(), notify=lines.append)
    assert not again.interrupted and again.count(sweep.DONE) == 4, again.rows
    assert sum(" resuming -> " in line for line in lines) == 2, lines
    for name in NAMES:  # (the metrics rows before the stop were logged in the workers)
        assert_same_run(reference / name, out / name)
    index = pd.read_csv(out / sweep.INDEX, keep_default_na=False)
    assert list(index["evaluations"]) == [BUDGET] * 4 and all(index["wall_time"] > 0)


def _statuses(out: Path) -> list:
    try:
        return list(pd.read_csv(out / sweep.INDEX, keep_default_na=False)["status"])
    except (OSError, pd.errors.EmptyDataError, KeyError):
        return []
