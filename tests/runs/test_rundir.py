"""runs/rundir.py: layout, refusals, metrics.csv and archive.npz."""
from __future__ import annotations

import numpy as np
import pytest

from runs import rundir
from runs.errors import RunDirError


def test_create_lays_out_the_directory(toy_config):
    config = toy_config()
    run = rundir.create(config.out, config)
    assert run.config_path.is_file() and run.checkpoints.is_dir() and run.plots.is_dir()
    assert run.read_config() == config


def test_same_run_says_resume(toy_config):
    config = toy_config()
    rundir.create(config.out, config)
    with pytest.raises(RunDirError, match=f"already holds this run; use `divergent resume {config.out}`"):
        rundir.create(config.out, config)
    with pytest.raises(RunDirError, match=f"`divergent resume {config.out} --budget 400`"):
        rundir.create(config.out, config.replace(budget=400))


def test_different_run_is_refused_unless_overwrite(toy_config):
    config = toy_config()
    run = rundir.create(config.out, config)
    (run.path / "notes.txt").write_text("mine")
    (run.checkpoints / "ckpt-000000001.npz").write_bytes(b"x")
    other = toy_config(sets=["seed=5", "algo.sigma=0.3"])
    with pytest.raises(RunDirError, match="holds a different run \\(differs in: seed, algo.sigma\\).*--overwrite"):
        rundir.create(other.out, other)
    run = rundir.create(other.out, other, overwrite=True)
    assert run.read_config() == other
    assert not any(run.checkpoints.iterdir())
    assert (run.path / "notes.txt").read_text() == "mine"  # only a run's own files go


def test_non_run_directories_and_files(tmp_path, toy_config):
    config = toy_config()
    busy = tmp_path / "run"
    busy.mkdir()
    (busy / "data.csv").write_text("1")
    with pytest.raises(RunDirError, match="not empty and is not a run directory"):
        rundir.create(busy, config)
    (tmp_path / "file").write_text("")
    with pytest.raises(RunDirError, match="is a file"):
        rundir.create(tmp_path / "file", config)
    with pytest.raises(RunDirError, match="no such run directory"):
        rundir.open_existing(tmp_path / "nowhere")
    with pytest.raises(RunDirError, match="not a run directory"):
        rundir.open_existing(busy)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert rundir.create(empty, config).config_path.is_file()


def test_metrics_append_and_truncate(tmp_path):
    run = rundir.RunDir(tmp_path)
    for g in range(1, 6):
        run.append_metrics({"generation": g, "evaluations": 8 * g, "coverage": g / 3})
    with run.metrics_path.open("a") as f:
        f.write("6,48,0.")  # a row cut by a kill
    assert run.metrics_columns() == ["generation", "evaluations", "coverage"]
    assert run.truncate_metrics(3) == 3
    lines = run.metrics_path.read_text().splitlines()
    assert lines == ["generation,evaluations,coverage", "1,8,0.3333333333333333", "2,16,0.6666666666666666", "3,24,1.0"]
    with pytest.raises(RunDirError, match="columns"):
        run.append_metrics({"generation": 4, "other": 1})


def test_write_archive(tmp_path):
    run = rundir.RunDir(tmp_path)
    run.write_archive({"reward": np.arange(3.0), "genome": np.ones((3, 2))})
    with np.load(run.archive_path) as z:
        np.testing.assert_array_equal(z["reward"], np.arange(3.0))
