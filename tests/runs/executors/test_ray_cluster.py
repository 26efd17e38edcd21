"""runs/executors/ray_cluster.py against a real Ray cluster on loopback,
started by this module (`ray start --head --block`, ended with it): a toy
sweep on Ray (every run, metrics rows and archive, the same as a local
sweep's, bit for bit; the index the same but for wall times), then skipped
whole by the local executor; and (-m slow) the same sweep stopped by Ctrl-C
(the running run checkpoints, queued ones are cancelled; all pending), then
run again on Ray to the end.

The module connects to the cluster once (as `RayExecutor` does when not yet
connected), so both sweeps run in the same warm Ray worker processes.
"""
from __future__ import annotations

import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pandas as pd
import pytest

from runs import sweep
from runs.executors.local import LocalExecutor
from runs.executors.ray_cluster import RayExecutor
from tests.runs.executors.conftest import NAMES, ROOT, local_reference, toy_spec
from tests.runs.test_loop import assert_same_run

BUDGET = 240  # 30 generations of 8, each 0.1 s on the cluster (TOY_SLEEP_S), so that Ctrl-C lands mid-run
# Keep Ray on loopback and offline: no usage report, and the node's address is
# 127.0.0.1 (Ray otherwise advertises the machine's network address). No token
# authentication either, whatever ~/.ray/auth_token a local Ray left there
# (`ray start` turns it on when that file exists).
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
START_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """RAY_ADDRESS of a one-node Ray cluster with 4 CPUs on 127.0.0.1."""
    port = _free_port()
    temp = f"/tmp/ray-test-{os.getpid()}-{port}"  # (Ray's socket paths must stay short)
    env = dict(os.environ, **RAY_ENV, PYTHONPATH=str(ROOT), TOY_SLEEP_S="0.1", JAX_PLATFORMS="cpu")
    command = [os.path.join(os.path.dirname(sys.executable), "ray"), "start", "--head", "--block",
               "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=4", "--num-gpus=0",
               "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"]
    head = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in head.stdout], daemon=True).start()
    seen = []
    try:
        deadline = time.monotonic() + START_S
        while not any("Ray runtime started" in line for line in seen):
            assert head.poll() is None and time.monotonic() < deadline, "ray start failed:\n" + "".join(seen)
            try:
                seen.append(lines.get(timeout=0.5))
            except queue.Empty:
                pass
        assert any("127.0.0.1" in line for line in seen if "node IP" in line), "".join(seen)
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**RAY_ENV, "RAY_ADDRESS": f"127.0.0.1:{port}"}.items():
                patch.setenv(name, value)
            import ray._private.ray_constants as constants  # read at import: this process may have imported it

            patch.setattr(constants, "ENABLE_RAY_CLUSTER", False)
            import ray

            ray.init(address=f"127.0.0.1:{port}", log_to_driver=False)
            try:
                yield f"127.0.0.1:{port}"
            finally:
                ray.shutdown()
    finally:
        head.send_signal(signal.SIGTERM)  # `ray start --block` stops the node's processes on SIGTERM
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            head.kill()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    return local_reference(tmp_path_factory.mktemp("reference") / "s", BUDGET)


class _CtrlCOnFirstRow:
    """A sweep display that presses Ctrl-C (SIGINT to this process) when the first run logs a row."""

    def __init__(self):
        self.notes = []

    def begin(self, rows):
        pass

    def started(self, job, rows):
        pass

    def progress(self, job, row):
        if job.number == 1 and row.get("generation", 0) >= 1 and not self.notes:
            self.notes.append("pressed")
            os.kill(os.getpid(), signal.SIGINT)

    def note(self, job, message):
        self.notes.append(message)

    def finished(self, job, rows):
        pass

    def close(self):
        pass


def _assert_equals_the_reference(out, reference):
    for name in NAMES:
        assert_same_run(reference / name, out / name)
    ours, theirs = (pd.read_csv(d / sweep.INDEX, keep_default_na=False) for d in (out, reference))
    pd.testing.assert_frame_equal(ours.drop(columns="wall_time"), theirs.drop(columns="wall_time"))
    assert all(ours["wall_time"] > 0)
    lines = []
    assert sweep.run_sweep(toy_spec(out, BUDGET), executor=LocalExecutor(), notify=lines.append).count("done") == 4
    assert lines == ["4 of 4 runs are done already; skipping them"]


def test_a_ray_sweep_equals_a_local_sweep(cluster, reference, tmp_path):
    out = tmp_path / "s"
    lines = []
    done = sweep.run_sweep(toy_spec(out, BUDGET), executor=RayExecutor(cpus_per_run=2), notify=lines.append)
    assert not done.interrupted and done.count(sweep.DONE) == 4, done.rows
    assert f"[1/4] toy on toy_point, seed 0: starting -> {out / NAMES[0]}" in lines, lines
    _assert_equals_the_reference(out, reference)


# Ctrl-C's timing on a loaded 2-core machine (CI) is what this checks, and it
# costs a second sweep on the cluster: on demand (-m slow).
@pytest.mark.slow
def test_a_ray_sweep_stops_on_ctrl_c_resumes_and_equals_a_local_sweep(cluster, reference, tmp_path):
    out = tmp_path / "s"
    executor = RayExecutor(cpus_per_run=2)  # two runs at once on the 4 CPUs
    stopped = sweep.run_sweep(toy_spec(out, BUDGET), executor=executor, display=_CtrlCOnFirstRow())
    assert stopped.interrupted
    index = pd.read_csv(out / sweep.INDEX, keep_default_na=False).set_index("run_dir")
    assert index.loc[NAMES[0], "status"] == "pending", index.loc[NAMES[0]]
    assert index.loc[NAMES[0], "error"].startswith("interrupted (Ctrl-C) at "), index.loc[NAMES[0], "error"]
    assert any((out / NAMES[0] / "checkpoints").glob("ckpt-*.npz"))  # stopped after a generation
    # the other runs: queued ones cancelled (pending, never begun); one running beside the first
    # was stopped too, or had just ended
    assert set(index["status"]) <= {"pending", "done"}, index
    for name in index.index[index["status"] == "done"]:
        assert_same_run(reference / name, out / name)
    assert "pending" in set(index.loc[NAMES[2:], "status"])
    assert not list(out.rglob(".*.tmp")), "a half-written file"

    lines = []
    again = sweep.run_sweep(toy_spec(out, BUDGET), executor=executor, notify=lines.append)
    assert not again.interrupted and again.count(sweep.DONE) == 4, again.rows
    assert f"[1/4] toy on toy_point, seed 0: resuming -> {out / NAMES[0]}" in lines, lines
    _assert_equals_the_reference(out, reference)
