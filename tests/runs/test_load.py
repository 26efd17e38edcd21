"""runs/load.py: `runs.load` on damaged run directories raises the documented
errors (RunDirError, ConfigError), naming the file, and never unpickles."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import runs
from runs import rundir
from runs.errors import ConfigError, RunDirError
from tests.runs.run_fixtures import write_run


def config_yaml(tmp_path):
    return "algorithm: toy\ntask: toy_point\nbudget: 64\nalgo: {poison: true}\n"


@pytest.fixture
def run_dir(tmp_path):
    path = tmp_path / "run"
    write_run(path)
    (path / rundir.CONFIG).write_text(config_yaml(tmp_path))
    return path


def archive_arrays(path):
    with np.load(path / rundir.ARCHIVE) as z:
        return dict(z)


def spoil_archive(how):
    def spoil(path):
        target = path / rundir.ARCHIVE
        if how == "random":
            target.write_bytes(np.random.default_rng(1).bytes(4096))
        elif how == "empty":
            target.write_bytes(b"")
        elif how == "truncated":
            target.write_bytes(target.read_bytes()[:200])
        elif how == "pickle":
            target.write_bytes(pickle.dumps({"genome": [1, 2]}))
        elif how == "npy":
            np.save(target.open("wb"), np.zeros(3))
        elif how == "object":
            np.savez(target, **{**archive_arrays(path), "reward": np.array([None, {}], dtype=object)})
        elif how == "ragged":
            arrays = archive_arrays(path)
            np.savez(target, **{**arrays, "genome": arrays["genome"][:5]})
        elif how == "scalar":
            np.savez(target, **{**archive_arrays(path), "reward": np.float32(1.0)})
        elif how == "folder":
            target.unlink()
            target.mkdir()
    return spoil


@pytest.mark.parametrize(
    "how, words",
    [
        ("random", ["not a NumPy .npz archive"]),
        ("empty", ["not a NumPy .npz archive"]),
        ("truncated", ["truncated or corrupt"]),
        ("pickle", ["not a NumPy .npz archive"]),
        ("npy", ["not a NumPy .npz archive"]),
        ("object", ["pickles", "never writes"]),
        ("ragged", ["disagree in length", "genome 5", "reward 30"]),
        ("scalar", ["disagree in length", "reward scalar"]),
    ],
)
def test_a_damaged_archive_is_a_run_dir_error_naming_it(run_dir, how, words):
    spoil_archive(how)(run_dir)
    with pytest.raises(RunDirError) as caught:
        runs.load(run_dir)
    message = str(caught.value)
    assert f"{rundir.ARCHIVE} in {run_dir}" in message and "allow_pickle" not in message
    assert f"divergent resume {run_dir}" in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "name, error",
    [(rundir.CONFIG, ConfigError), (rundir.METRICS, RunDirError), (rundir.EXTRAS, RunDirError)],
)
def test_a_binary_file_is_named(run_dir, name, error):
    (run_dir / name).write_bytes(b"\x00\xff\xfe\x80binary" * 30)
    with pytest.raises(error) as caught:
        runs.load(run_dir)
    assert str(run_dir / name) in str(caught.value) or f"{name} in {run_dir}" in str(caught.value)


def test_metrics_that_are_not_a_table(run_dir):
    (run_dir / rundir.METRICS).write_text('generation,"evaluations\n1,2\n')
    with pytest.raises(RunDirError, match="not a metrics table"):
        runs.load(run_dir)


@pytest.mark.parametrize("text", ["", "\n", "generation,evaluations\n"])
def test_empty_metrics_load_as_no_rows(run_dir, text):
    (run_dir / rundir.METRICS).write_text(text)
    assert runs.load(run_dir).metrics.empty


def test_a_healthy_run_loads(run_dir):
    run = runs.load(run_dir)
    assert len(run.archive["reward"]) == 30 and len(run.metrics) == 10
