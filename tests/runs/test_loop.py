"""runs/loop.py: a full run, Ctrl-C, and resume == uninterrupted."""
from __future__ import annotations

import signal
import threading

import numpy as np
import pandas as pd
import pytest

import runs
from runs import checkpoint, loop, rundir
from runs.errors import CheckpointError

VARYING = ["wall_time", "evaluations_per_s"]  # the only columns timing changes


def assert_same_run(a, b):
    """Same final archive (exactly) and same metrics rows, timing aside."""
    a, b = runs.load(a), runs.load(b)
    assert sorted(a.archive) == sorted(b.archive) == sorted(rundir.ARCHIVE_FIELDS)
    for name in a.archive:
        np.testing.assert_array_equal(a.archive[name], b.archive[name], err_msg=name)
    pd.testing.assert_frame_equal(a.metrics.drop(columns=VARYING), b.metrics.drop(columns=VARYING))


class StopAt(loop.Reporter):
    """Sends this process SIGINT (Ctrl-C) once generation `at` is logged."""

    def __init__(self, at):
        self.at, self.notes = at, []

    def update(self, row):
        if row["generation"] == self.at:
            signal.raise_signal(signal.SIGINT)

    def note(self, message):
        self.notes.append(message)


def test_a_full_run_writes_everything(toy_config):
    config = toy_config(budget=100, sets=["checkpoint_every=4", "log_every=3"])
    result = loop.start(config)
    assert result.status == "complete"
    # init evaluates 8, then 8 per generation; stops at the first >= budget
    assert (result.generation, result.evaluations) == (12, 104)
    assert result.invalid == 13  # the toy poisons one genome per batch (init included)
    run = runs.load(config.out)
    assert run.complete and run.config == config
    assert list(run.metrics["generation"]) == [3, 6, 9, 12]
    assert list(run.metrics["invalid"]) == [4, 7, 10, 13]
    assert list(run.metrics.columns[:4]) == ["generation", "evaluations", "wall_time", "evaluations_per_s"]
    assert {"coverage", "archive_size", "max_reward", "invalid"} <= set(run.metrics)
    assert [p.name for p in run.checkpoints] == ["ckpt-000000008.npz", "ckpt-000000012.npz"]
    assert run.archive["genome"].shape == (result.archive_size, 14)
    assert result.archive_size == int(run.metrics["archive_size"].iloc[-1])


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_ctrl_c_checkpoints_and_resume_matches_an_uninterrupted_run(toy_config):
    whole = toy_config("whole", sets=["checkpoint_every=4"])
    loop.start(whole)

    parted = toy_config("parted", sets=["checkpoint_every=4"])
    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when pytest was started in the background
    stopper = StopAt(6)
    first = loop.start(parted, reporter=stopper)
    assert first.status == "interrupted" and first.generation == 7
    assert "Ctrl-C" in stopper.notes[0]
    assert checkpoint.list_checkpoints(rundir.RunDir(first.run_dir).checkpoints)[-1].name == "ckpt-000000007.npz"
    assert signal.getsignal(signal.SIGINT) is before  # handler restored

    second = loop.resume(parted.out)
    assert second.status == "complete" and second.evaluations == whole.budget
    assert second.invalid == 25
    assert_same_run(whole.out, parted.out)


def test_resume_after_a_crash_drops_later_metrics_rows(toy_config):
    whole = toy_config("whole", sets=["checkpoint_every=4"])
    loop.start(whole)
    crashed = toy_config("crashed", sets=["checkpoint_every=4"])
    loop.start(crashed)
    run = rundir.RunDir(crashed.out)
    # Pretend the process died at generation 22: newest checkpoint is 20,
    # metrics.csv ran ahead to 22 and ends in a half-written row.
    for path in checkpoint.list_checkpoints(run.checkpoints):
        if path.name != "ckpt-000000020.npz":
            path.unlink()
    run.truncate_metrics(22)
    with run.metrics_path.open("a") as f:
        f.write("23,184,1.")
    (run.path / "archive.npz").unlink()
    assert loop.resume(crashed.out).status == "complete"
    assert_same_run(whole.out, crashed.out)


def test_resume_extends_the_budget_like_a_longer_run(toy_config):
    longer = toy_config("longer", budget=320, sets=["checkpoint_every=4"])
    loop.start(longer)
    extended = toy_config("extended", budget=200, sets=["checkpoint_every=4"])
    loop.start(extended)
    done = loop.resume(extended.out)  # nothing left to do
    assert done.status == "complete" and done.generation == 24
    result = loop.resume(extended.out, budget=320)
    assert result.evaluations == 320
    assert runs.load(extended.out).config.budget == 320
    assert_same_run(longer.out, extended.out)


def test_resume_without_a_checkpoint_refuses(toy_config):
    config = toy_config()
    rundir.create(config.out, config)
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        loop.resume(config.out)
