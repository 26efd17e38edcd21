"""runs/sweep.py: spec parsing and expansion, a Ctrl-C on the toy algorithm,
and one real tiny sweep (ns and random on curling) through `divergent sweep`
then `divergent compare`: a foreign run directory fails without stopping the
others, a re-run skips finished runs and resumes an unfinished one."""
from __future__ import annotations

import os
import signal

import pandas as pd
import pytest
from typer.testing import CliRunner

import runs
from runs import cli, sweep
from runs.config import build, to_yaml
from runs.errors import ConfigError
from runs.loop import Reporter
from tests.runs.conftest import TOY_SETS

CURLING = ["--algos", "ns,random", "--tasks", "curling", "--seeds", "0-1", "--budget", "200",
           "--set", "task.episode_length=20", "--set", "ns:algo.population_size=8", "--set", "ns:algo.k=3",
           "--set", "random:algo.batch_size=8", "--quiet"]


def test_seeds_names_and_spec_keys_are_read_or_refused():
    assert sweep.parse_seeds("0-2,5") == (0, 1, 2, 5)
    assert sweep.parse_seeds([3, "1-2"]) == (3, 1, 2)
    assert sweep.parse_seeds(4) == (4,)
    with pytest.raises(ConfigError, match="reversed"):
        sweep.parse_seeds("3-1")
    with pytest.raises(ConfigError, match="seeds"):
        sweep.parse_seeds("a")
    spec = sweep.make_spec({"algos": "ns, me", "tasks": ["curling"], "seeds": "0-1", "budget": "2e4",
                            "sets": "seed=1"})
    assert (spec.algos, spec.tasks, spec.seeds, spec.budget, spec.sets) == (("ns", "me"), ("curling",), (0, 1),
                                                                            20000, ("seed=1",))
    with pytest.raises(ConfigError, match="unknown key 'algo'"):
        sweep.make_spec({"algo": "ns", "tasks": "curling", "seeds": 0})
    with pytest.raises(ConfigError, match="no tasks given"):
        sweep.make_spec({"algos": "ns", "seeds": 0})


def test_expand_names_runs_scopes_sets_and_checks_every_config(tmp_path):
    spec = sweep.make_spec({"algos": "ns,random,ns[projection]", "tasks": "curling", "seeds": "0-1", "budget": 400,
                            "sets": ["task.episode_length=20", "random:algo.batch_size=8", "projection:rep.size=3"],
                            "out": str(tmp_path / "s")})
    planned = sweep.expand(spec)
    assert [p.name for p in planned] == [
        "ns-curling-seed0", "random-curling-seed0", "ns-curling-projection-seed0",
        "ns-curling-seed1", "random-curling-seed1", "ns-curling-projection-seed1"]
    assert planned[1].config.algo.batch_size == 8 and planned[0].config.task_config.episode_length == 20
    assert planned[2].config.representation == "projection" and planned[2].config.representation_config.size == 3
    assert planned[4].path == tmp_path / "s" / "random-curling-seed1" and planned[4].config.budget == 400
    with pytest.raises(ConfigError, match="random on curling, seed 0: .*population_size"):
        sweep.expand(spec.__class__(("random",), ("curling",), (0,), 400, ("algo.population_size=8",)))
    with pytest.raises(ConfigError, match="'me' names no algorithm, representation or task of this sweep"):
        sweep.expand(spec.__class__(("ns",), ("curling",), (0,), 400, ("me:algo.k=3",)))
    with pytest.raises(ConfigError, match="would share the run directory ns-curling-seed0"):
        sweep.expand(spec.__class__(("ns", "ns"), ("curling",), (0,), 400))
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("args, words", [
    (["--tasks", "curling", "--seeds", "0"], ["no algos given"]),
    (["--algos", "ns", "--tasks", "curling", "--seeds", "x"], ["seeds"]),
    (["--algos", "ns,random", "--tasks", "curling", "--seeds", "0", "--set", "algo.population_size=8"],
     ["random on curling, seed 0", "population_size"]),
    (["nowhere.yaml"], ["sweep spec nowhere.yaml: no such file"]),
])
def test_sweep_mistakes_are_one_error_line_and_write_nothing(tmp_path, args, words):
    result = CliRunner().invoke(cli.app, ["sweep", *args, "--out", str(tmp_path / "s")])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert all(word in lines[0] for word in words), lines[0]
    assert not (tmp_path / "s").exists()


class _InterruptOnSeed(Reporter):
    """Sends the process a SIGINT (a Ctrl-C) when the run of seed `seed` logs its first row."""

    def __init__(self, seed):
        self.seed = seed
        self.current = None

    def start(self, info):
        self.current = info.config.seed

    def update(self, row):
        if self.current == self.seed and row["generation"] == 1:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_stops_the_sweep_after_a_clean_stop_and_the_index_says_so(tmp_path):
    spec = sweep.SweepSpec(("toy",), ("toy_point",), (0, 1, 2), 64, TOY_SETS, str(tmp_path / "s"))
    lines = []
    result = sweep.run_sweep(spec, notify=lines.append, reporter=lambda: _InterruptOnSeed(1))
    assert result.interrupted
    index = pd.read_csv(tmp_path / "s" / sweep.INDEX, keep_default_na=False)
    assert list(index["status"]) == ["done", "pending", "pending"]
    assert "interrupted (Ctrl-C) at" in index["error"][1]
    assert (tmp_path / "s" / "toy-toy_point-seed1" / "checkpoints").is_dir()
    assert any("interrupted; it resumes on the next sweep" in line for line in lines)
    again = sweep.run_sweep(spec, notify=lines.append)
    assert not again.interrupted and again.count(sweep.DONE) == 3
    assert "1 of 3 runs are done already; skipping them" in lines
    assert runs.load(tmp_path / "s" / "toy-toy_point-seed1").complete


def test_a_tiny_sweep_end_to_end_then_compare(tmp_path):
    out = tmp_path / "sweep"
    invoke = CliRunner().invoke
    foreign = build("random", "curling", seed=5, budget=200, sets=("algo.batch_size=8",))
    (out / "random-curling-seed1").mkdir(parents=True)
    (out / "random-curling-seed1" / "config.yaml").write_text(to_yaml(foreign))

    first = invoke(cli.app, ["sweep", *CURLING, "--out", str(out)])
    assert first.exit_code == 1, first.output
    index = pd.read_csv(out / sweep.INDEX).set_index("run_dir")
    assert dict(index["status"]) == {"ns-curling-seed0": "done", "random-curling-seed0": "done",
                                     "ns-curling-seed1": "done", "random-curling-seed1": "failed"}
    assert "holds a different run (differs in: seed" in index.loc["random-curling-seed1", "error"]
    assert index.loc["ns-curling-seed1", "evaluations"] >= 200 and index.loc["ns-curling-seed0", "wall_time"] > 0
    assert "[3/4] ns on curling, seed 1: done" in first.output  # the failure did not stop the next run
    assert "sweep: 3 done, 1 failed, 0 remaining" in first.output
    assert "failed: random-curling-seed1: " in first.output

    (out / "random-curling-seed1" / "config.yaml").unlink()
    (out / "ns-curling-seed0" / "archive.npz").unlink()  # as if killed after its last checkpoint
    second = invoke(cli.app, ["sweep", str(out / "sweep.yaml"), "--quiet"])
    assert second.exit_code == 0, second.output
    assert "2 of 4 runs are done already; skipping them" in second.output
    assert "ns on curling, seed 0: resuming" in second.output
    assert "random on curling, seed 1: starting" in second.output
    assert set(pd.read_csv(out / sweep.INDEX)["status"]) == {"done"}
    assert all(runs.load(p).complete for p in out.glob("*-seed*"))

    compared = invoke(cli.app, ["compare", str(out)])
    assert compared.exit_code == 0, compared.output
    table = pd.read_csv(out / "comparison" / "table.csv")
    assert set(table["group"]) == {"ns", "random"} and set(table["runs"]) == {2}
    assert (out / "comparison" / "stats.md").is_file()
    assert (out / "comparison" / "plots" / "curling-coverage.png").stat().st_size > 10_000
