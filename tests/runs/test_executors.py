"""runs/executors: choosing an executor and its options, on the command line too."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from runs import cli
from runs.errors import ConfigError
from runs.executors import make_executor
from runs.executors.local import LocalExecutor


def test_executor_options_are_checked():
    assert isinstance(make_executor("local"), LocalExecutor)
    assert make_executor("processes", workers=3).workers == 3
    for kwargs, words in [
        (dict(name="slurm"), "unknown executor 'slurm'; valid executors: local, processes, ray"),
        (dict(name="local", workers=2), "--workers 2: only the processes executor"),
        (dict(name="processes", workers=0), "--workers must be at least 1, got 0"),
        (dict(name="processes", ray_gpus_per_run=1), "--ray-gpus-per-run 1: only for --executor ray"),
        (dict(name="ray", ray_cpus_per_run=0), "--ray-cpus-per-run must be above 0, got 0"),
    ]:
        with pytest.raises(ConfigError, match=words.replace("(", r"\(")):
            make_executor(**kwargs)


def test_executor_mistakes_on_the_command_line_are_one_line_and_write_nothing(tmp_path):
    args = ["sweep", "--algos", "ns", "--tasks", "curling", "--seeds", "0", "--out", str(tmp_path / "s")]
    for extra, words in [(["--executor", "mpi"], "valid executors: local, processes, ray"),
                         (["--workers", "two", "--executor", "processes"], "--workers"),
                         (["--ray-gpus-per-run", "1"], "only for --executor ray")]:
        result = CliRunner().invoke(cli.app, [*args, *extra])
        assert result.exit_code == 2, result.output
        assert result.output.startswith("error: ") and words in result.output, result.output
    assert not (tmp_path / "s").exists()
