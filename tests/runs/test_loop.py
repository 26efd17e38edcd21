"""runs/loop.py: a full run, Ctrl-C, and resume == uninterrupted."""
from __future__ import annotations

import signal
import threading

import numpy as np
import pandas as pd
import pytest

import runs
from runs import checkpoint, loop, preflight, rundir
from runs.errors import CheckpointError, ConfigError

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


class StopFrom(StopAt):
    """SIGINT at every logged row from generation `at` on (as Ray re-sends its cancel)."""

    def update(self, row):
        if row["generation"] >= self.at:
            signal.raise_signal(signal.SIGINT)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_repeated_sigints_within_a_ray_task_still_stop_cleanly(toy_config):
    config = toy_config(sets=["checkpoint_every=100", "log_every=1"])
    before = signal.getsignal(signal.SIGINT)
    with loop.sigint_repeats_ignored():
        stopped = loop.start(config, reporter=StopFrom(3))
        signal.raise_signal(signal.SIGINT)  # Ray's retries after the run: ignored too
    assert stopped.status == "interrupted" and stopped.generation == 4  # the generation after the first SIGINT
    assert checkpoint.list_checkpoints(rundir.RunDir(stopped.run_dir).checkpoints)[-1].name == "ckpt-000000004.npz"
    assert signal.getsignal(signal.SIGINT) is before
    with pytest.raises(KeyboardInterrupt):  # outside a task a second Ctrl-C aborts, as before
        loop.resume(config.out, reporter=StopFrom(4))


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


@pytest.mark.parametrize("logged", [0, 3], ids=["nothing-logged", "rows-logged"])
def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_it_from_scratch(toy_config, logged):
    whole = toy_config("whole", sets=["checkpoint_every=4"])
    loop.start(whole)
    killed = toy_config("killed", sets=["checkpoint_every=4"])
    run = rundir.create(killed.out, killed)  # what a run killed while compiling leaves
    if logged:  # ... or killed in its first generations, after logging some rows
        for row in pd.read_csv(run.path.parent / "whole" / rundir.METRICS).head(logged).to_dict("records"):
            run.append_metrics(row)
        with run.metrics_path.open("a") as f:
            f.write("4,40,0.")  # and a half-written one
    reporter = StopAt(at=-1)
    result = loop.resume(killed.out, reporter=reporter)
    assert result.status == "complete"
    assert any("no checkpoint" in note and "generation 0" in note for note in reporter.notes)
    assert_same_run(whole.out, killed.out)


@pytest.mark.parametrize("missing", ["checkpoints", "nothing"])
def test_resume_from_scratch_recreates_a_missing_checkpoints_folder(toy_config, missing):
    config = toy_config()
    run = rundir.create(config.out, config)
    if missing == "checkpoints":
        run.checkpoints.rmdir()
    assert loop.resume(config.out).status == "complete"
    assert checkpoint.list_checkpoints(run.checkpoints)


def test_resume_without_a_checkpoint_but_with_an_archive_refuses(toy_config):
    """Checkpoints deleted by hand after the run wrote its results: starting
    again would replace them, so the user decides."""
    config = toy_config()
    loop.start(config)
    run = rundir.RunDir(config.out)
    for path in checkpoint.list_checkpoints(run.checkpoints):
        path.unlink()
    with pytest.raises(CheckpointError, match="no checkpoint to resume from.*--overwrite"):
        loop.resume(config.out)


@pytest.mark.parametrize("budget", [8, 100, 199])
def test_resume_refuses_a_budget_below_what_was_spent(toy_config, budget):
    config = toy_config(budget=200)
    loop.start(config)
    before = rundir.RunDir(config.out).config_path.read_bytes()
    with pytest.raises(ConfigError, match=f"--budget {budget} is below the 200 evaluations"):
        loop.resume(config.out, budget=budget)
    assert rundir.RunDir(config.out).config_path.read_bytes() == before


def test_start_with_a_config_the_task_refuses_writes_nothing(toy_config, tmp_path, monkeypatch):
    config = toy_config("refused")

    def refuse(*args):
        raise ConfigError("task_config.maze_file: cannot read x")

    monkeypatch.setattr(preflight, "task_of", refuse)
    with pytest.raises(ConfigError, match="maze_file"):
        loop.start(config)
    assert not (tmp_path / "refused").exists()


def test_resume_accepts_the_runs_own_budget_though_the_last_generation_overshot(toy_config):
    config = toy_config(budget=100)  # 8 at init + 8 per generation: stops at 104
    assert loop.start(config).evaluations == 104
    assert loop.resume(config.out, budget=100).evaluations == 104
    with pytest.raises(ConfigError, match="--budget 96 is below the 104 evaluations"):
        loop.resume(config.out, budget=96)
