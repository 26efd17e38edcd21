"""runs/seeds.py (`divergent sweep --vmap-seeds`): seeds run as one vmapped
program write what separate runs write, bit for bit (NS and MAP-Elites;
SERENE's seeds, which end at different generations, under -m slow); a
stopped or killed batched sweep resumes (batched, alone, after one run
finished on its own, with new seeds); what cannot be vmapped is refused
before anything is written. Every toy test batches 2 seeds: one compiled
program."""
from __future__ import annotations

import json
import os
import signal

import numpy as np
import pandas as pd
import pytest
from jax.experimental import io_callback
from typer.testing import CliRunner

import runs
from qd import algorithms
from runs import cli, loop, seeds, sweep
from runs.config import build
from runs.errors import ConfigError
from tests.runs import toy
from tests.runs.conftest import TOY_SETS
from tests.runs.test_loop import VARYING
from tests.runs.test_resume_algorithms import SETTINGS

REAL = ("task.episode_length=12", "checkpoint_every=4")


def _same_run(a_dir, b_dir):
    """Two run directories hold the same run: archive, extras, metrics (but
    timing) and the newest checkpoint (arrays and manifest, but wall time)."""
    a, b = runs.load(a_dir), runs.load(b_dir)
    assert a.complete and b.complete
    assert sorted(a.archive) == sorted(b.archive)
    for column in a.archive:
        np.testing.assert_array_equal(a.archive[column], b.archive[column], err_msg=column)
    assert sorted(a.extras) == sorted(b.extras)
    for group in a.extras:
        for column in a.extras[group]:
            np.testing.assert_array_equal(a.extras[group][column], b.extras[group][column], err_msg=column)
    pd.testing.assert_frame_equal(a.metrics.drop(columns=VARYING), b.metrics.drop(columns=VARYING))
    assert [p.name for p in a.checkpoints] == [p.name for p in b.checkpoints]
    with np.load(a.checkpoints[-1]) as x, np.load(b.checkpoints[-1]) as y:
        assert sorted(x.files) == sorted(y.files)
        for name in x.files:
            if name != "manifest":
                np.testing.assert_array_equal(x[name], y[name], err_msg=name)
        mx, my = (json.loads(bytes(z["manifest"]).decode()) for z in (x, y))
    for manifest in (mx, my):
        manifest.pop("checksum"), manifest.pop("wall_time")
    assert mx == my  # also every leaf's dtype, weak type and placement: a resume compiles the same step


@pytest.mark.parametrize("name", ["ns", "me"])
def test_seeds_in_one_program_write_what_separate_runs_write(name, tmp_path):
    lines = []
    for out, vmap in (("alone", False), ("one", True)):
        spec = sweep.SweepSpec((name,), (toy.TASK,), (0, 1), 480, (*SETTINGS[name], *REAL), str(tmp_path / out))
        result = sweep.run_sweep(spec, notify=lines.append, vmap_seeds=vmap)
        assert result.count(sweep.DONE) == 2
    assert f"[1,2/2] {name} on {toy.TASK}, seeds 0, 1 (one program): starting" in "\n".join(lines)
    for seed in (0, 1):
        run = f"{name}-{toy.TASK}-seed{seed}"
        _same_run(tmp_path / "alone" / run, tmp_path / "one" / run)


@pytest.mark.slow
def test_serene_seeds_in_one_program_end_at_their_own_generation(tmp_path):
    """SERENE's seeds spend different evaluations per generation, so they end
    at different generations. (Its results are not bit-identical to separate
    runs: rewards differ in the last bit, see runs/seeds.py.)"""
    spec = sweep.SweepSpec(("serene",), (toy.TASK,), (0, 1), 480, (*SETTINGS["serene"], *REAL), str(tmp_path))
    assert sweep.run_sweep(spec, vmap_seeds=True).count(sweep.DONE) == 2
    ends = set()
    for seed in (0, 1):
        metrics = runs.load(tmp_path / f"serene-{toy.TASK}-seed{seed}").metrics
        assert metrics["evaluations"].iloc[-1] >= 480 > metrics["evaluations"].iloc[-2]
        ends.add(int(metrics["generation"].iloc[-1]))
    assert len(ends) == 2, ends


class Killed(BaseException):
    """What a SIGKILL does to the loop: it stops at once, writing nothing more."""


class KillAt(loop.Reporter):
    def __init__(self, at):
        self.at = at

    def update(self, row):
        if row["generation"] == self.at:
            raise Killed


TOY = (*TOY_SETS, "checkpoint_every=3")


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """Seeds 0-3 of the toy algorithm run one at a time: the reference."""
    out = tmp_path_factory.mktemp("alone")
    sweep.run_sweep(sweep.SweepSpec(("toy",), (toy.TASK,), (0, 1, 2, 3), 200, TOY, str(out)))
    return out


class _CtrlC(loop.Reporter):
    def update(self, row):
        if row["generation"] == 2:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_stops_a_batched_sweep_cleanly_and_it_resumes(alone, tmp_path):
    spec = sweep.SweepSpec(("toy",), (toy.TASK,), (0, 1), 200, TOY, str(tmp_path))
    stopped = sweep.run_sweep(spec, reporter=_CtrlC, vmap_seeds=True)
    assert stopped.interrupted and [r.status for r in stopped.rows] == ["pending", "pending"]
    assert all("interrupted (Ctrl-C) at 32 evaluations" in r.error for r in stopped.rows)  # after generation 3
    assert all(runs.load(tmp_path / f"toy-{toy.TASK}-seed{s}").checkpoints[-1].name == "ckpt-000000003.npz"
               for s in (0, 1))
    assert sweep.run_sweep(spec, vmap_seeds=True).count(sweep.DONE) == 2
    for seed in (0, 1):
        _same_run(alone / f"toy-{toy.TASK}-seed{seed}", tmp_path / f"toy-{toy.TASK}-seed{seed}")


def test_a_killed_batched_sweep_resumes_alone_and_new_seeds_join_batched(alone, tmp_path):
    two = sweep.SweepSpec(("toy",), (toy.TASK,), (0, 1), 200, TOY, str(tmp_path))
    with pytest.raises(Killed):
        sweep.run_sweep(two, reporter=lambda: KillAt(8), vmap_seeds=True)
    path = {s: tmp_path / f"toy-{toy.TASK}-seed{s}" for s in range(4)}
    assert all([p.name for p in runs.load(path[s]).checkpoints] == ["ckpt-000000003.npz", "ckpt-000000006.npz"]
               for s in (0, 1))
    loop.resume(path[0])  # seed 0 finishes on its own
    lines = []
    four = sweep.SweepSpec(("toy",), (toy.TASK,), (0, 1, 2, 3), 200, TOY, str(tmp_path))
    result = sweep.run_sweep(four, notify=lines.append, vmap_seeds=True)
    assert result.count(sweep.DONE) == 4 and not result.interrupted
    text = "\n".join(lines)
    assert "1 of 4 runs are done already" in text
    assert "[2/4] toy on toy_point, seed 1: resuming" in text  # from generation 6: alone
    assert "[3,4/4] toy on toy_point, seeds 2, 3 (one program): starting" in text
    for seed in range(4):
        _same_run(alone / f"toy-{toy.TASK}-seed{seed}", path[seed])


def _hostside_step(state, key):
    state, metrics = toy.step(state, key)
    io_callback(lambda n: None, None, state.evaluations, ordered=True)  # e.g. a host-side logger
    return state, metrics


HOSTSIDE = algorithms.register(algorithms.Algorithm(
    name="toy_hostside", config_cls=toy.ToyConfig, init=toy.init, step=_hostside_step, archive=toy.archive,
    evaluations_per_step=lambda c: c.batch_size, description="toy with a host callback (not vmappable)",
))


def test_what_cannot_be_vmapped_is_refused_before_anything_is_written(tmp_path):
    result = CliRunner().invoke(cli.app, ["sweep", "--algos", "toy,toy_hostside", "--tasks", toy.TASK, "--seeds",
                                          "0-1", "--budget", "64", "--set", TOY_SETS[0], "--vmap-seeds",
                                          "--out", str(tmp_path / "s"), "--quiet"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --vmap-seeds: the step of 'toy_hostside'"), lines
    assert "cannot be vmapped over seeds" in lines[0] and "ordered IO callback" in lines[0]
    assert "without --vmap-seeds" in lines[0]
    assert not (tmp_path / "s").exists()
    config = build("toy", toy.TASK, budget=64, sets=TOY_SETS)
    with pytest.raises(ConfigError, match=r"would take .* but this device has"):
        seeds.check(config, 1000, memory=seeds.check(config, 1).state_bytes * 10)
    learned = build("toy", toy.TASK, budget=64, sets=(*TOY_SETS, "representation=pca"))
    with pytest.raises(ConfigError, match="'toy' with the learned representation 'pca' cannot run its seeds as one"):
        seeds.check(learned, 2)
