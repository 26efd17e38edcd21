"""runs/seeds.py (`divergent sweep --vmap-seeds`): seeds run as one vmapped
program write what separate runs write, bit for bit (NS, and a toy
algorithm whose seeds end at different generations; MAP-Elites, and SERENE
completing, under -m slow); a
stopped or killed batched sweep resumes (batched, alone, after one run
finished on its own, with new seeds); what cannot be vmapped is refused
before anything is written. Every toy test batches 2 seeds: one compiled
program."""
from __future__ import annotations

import json
import os
import signal

import jax
import jax.numpy as jnp
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
from tests.runs.test_resume_algorithms import SETTINGS, _compiles

REAL = ("task.episode_length=12", "checkpoint_every=4")


def _same_run(a_dir, b_dir, stopped_at=None):
    """Two run directories hold the same run: archive, extras, metrics (but
    timing) and the newest checkpoint (arrays and manifest, but wall time).
    `stopped_at`: a generation at which b was stopped by Ctrl-C and logged a
    row that the uninterrupted a did not log (as runs.loop does)."""
    a, b = runs.load(a_dir), runs.load(b_dir)
    b_metrics = b.metrics
    if stopped_at is not None:
        assert stopped_at not in set(a.metrics["generation"]) and stopped_at in set(b_metrics["generation"])
        b_metrics = b_metrics[b_metrics["generation"] != stopped_at].reset_index(drop=True)
    assert a.complete and b.complete
    assert sorted(a.archive) == sorted(b.archive)
    for column in a.archive:
        np.testing.assert_array_equal(a.archive[column], b.archive[column], err_msg=column)
    assert sorted(a.extras) == sorted(b.extras)
    for group in a.extras:
        for column in a.extras[group]:
            np.testing.assert_array_equal(a.extras[group][column], b.extras[group][column], err_msg=column)
    pd.testing.assert_frame_equal(a.metrics.drop(columns=VARYING), b_metrics.drop(columns=VARYING))
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


# MAP-Elites's compile (~15 s on 2 busy cores) would exceed this file's share of
# the suite's time: it runs with -m slow, as SERENE does.
# random search: its init evaluates nothing, so its state starts on one device
# (and the batched step must still compile once).
@pytest.mark.parametrize("name", ["ns", "random", pytest.param("me", marks=pytest.mark.slow)])
def test_seeds_in_one_program_write_what_separate_runs_write(name, tmp_path):
    lines = []
    for out, vmap in (("alone", False), ("one", True)):
        spec = sweep.SweepSpec((name,), (toy.TASK,), (0, 1), 480, (*SETTINGS[name], *REAL), str(tmp_path / out))
        with _compiles("jit(step)") as compiled:
            result = sweep.run_sweep(spec, notify=lines.append, vmap_seeds=vmap)
        assert result.count(sweep.DONE) == 2
        assert len(compiled) <= 1, compiled  # checkpoints and init hand the step its own types and placement
    assert f"[1,2/2] {name} on {toy.TASK}, seeds 0, 1 (one program): starting" in "\n".join(lines)
    for seed in (0, 1):
        run = f"{name}-{toy.TASK}-seed{seed}"
        _same_run(tmp_path / "alone" / run, tmp_path / "one" / run)


@pytest.mark.slow
def test_serene_seeds_in_one_program_complete(tmp_path):
    """SERENE batched (its explore/exploit branch becomes a select): every seed
    stops at the first generation that reaches the budget. Its results are not
    bit-identical to separate runs (rewards differ in the last bit, see
    runs/seeds.py), so they are not compared."""
    spec = sweep.SweepSpec(("serene",), (toy.TASK,), (0, 1), 480, (*SETTINGS["serene"], *REAL), str(tmp_path))
    assert sweep.run_sweep(spec, vmap_seeds=True).count(sweep.DONE) == 2
    for seed in (0, 1):
        run = runs.load(tmp_path / f"serene-{toy.TASK}-seed{seed}")
        assert run.complete and len(run.archive["reward"]) > 0
        assert run.metrics["evaluations"].iloc[-1] >= 480 > run.metrics["evaluations"].iloc[-2]


class Killed(BaseException):
    """What a SIGKILL does to the loop: it stops at once, writing nothing more."""


class KillAt(loop.Reporter):
    def __init__(self, at):
        self.at = at

    def update(self, row):
        if row["generation"] == self.at:
            raise Killed


def _uneven_step(state, key):
    """The toy step, spending 8 more evaluations in some generations, so that
    seeds reach the budget at different generations (as SERENE's can)."""
    state, metrics = toy.step(state, key)
    extra = 8 * jax.random.bernoulli(jax.random.fold_in(key, 7), 0.3).astype(jnp.int32)
    return state.replace(evaluations=state.evaluations + extra), metrics


UNEVEN = algorithms.register(algorithms.Algorithm(
    name="toy_uneven", config_cls=toy.ToyConfig, init=toy.init, step=_uneven_step, archive=toy.archive,
    evaluations_per_step=lambda c: c.batch_size, description="toy spending more in some generations",
    extras=toy.extras,
))
# Logged every other generation: in between, the loop's evaluation count is an
# estimate (8 a generation, below what is spent), as in a separate run.
TOY = (*TOY_SETS, "checkpoint_every=3", "log_every=2")


def _toy_runs(out, seeds):
    return sweep.SweepSpec(("toy_uneven",), (toy.TASK,), seeds, 200, TOY, str(out))


@pytest.fixture(scope="module")
def alone(tmp_path_factory):
    """Seeds 0-3 of the uneven toy algorithm run one at a time: the reference."""
    out = tmp_path_factory.mktemp("alone")
    sweep.run_sweep(_toy_runs(out, (0, 1, 2, 3)))
    return out


class _CtrlC(loop.Reporter):
    def update(self, row):
        if row["generation"] == 2:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_stops_a_batched_sweep_cleanly_and_it_resumes(alone, tmp_path):
    spec = _toy_runs(tmp_path, (0, 1))
    stopped = sweep.run_sweep(spec, reporter=_CtrlC, vmap_seeds=True)
    assert stopped.interrupted and [r.status for r in stopped.rows] == ["pending", "pending"]
    assert all("interrupted (Ctrl-C) at" in r.error for r in stopped.rows)
    assert all(runs.load(tmp_path / f"toy_uneven-{toy.TASK}-seed{s}").checkpoints[-1].name == "ckpt-000000003.npz"
               for s in (0, 1))  # stopped after generation 3
    assert sweep.run_sweep(spec, vmap_seeds=True).count(sweep.DONE) == 2
    ends = set()
    for seed in (0, 1):
        _same_run(alone / f"toy_uneven-{toy.TASK}-seed{seed}", tmp_path / f"toy_uneven-{toy.TASK}-seed{seed}",
                  stopped_at=3)
        ends.add(int(runs.load(tmp_path / f"toy_uneven-{toy.TASK}-seed{seed}").metrics["generation"].iloc[-1]))
    assert len(ends) == 2, ends  # each seed ended at its own generation


def test_a_killed_batched_sweep_resumes_alone_and_new_seeds_join_batched(alone, tmp_path):
    two = _toy_runs(tmp_path, (0, 1))
    with pytest.raises(Killed):
        sweep.run_sweep(two, reporter=lambda: KillAt(8), vmap_seeds=True)
    path = {s: tmp_path / f"toy_uneven-{toy.TASK}-seed{s}" for s in range(4)}
    assert all([p.name for p in runs.load(path[s]).checkpoints] == ["ckpt-000000003.npz", "ckpt-000000006.npz"]
               for s in (0, 1))
    loop.resume(path[0])  # seed 0 finishes on its own
    lines = []
    four = _toy_runs(tmp_path, (0, 1, 2, 3))
    result = sweep.run_sweep(four, notify=lines.append, vmap_seeds=True)
    assert result.count(sweep.DONE) == 4 and not result.interrupted
    text = "\n".join(lines)
    assert "1 of 4 runs are done already" in text
    assert "[2/4] toy_uneven on toy_point, seed 1: resuming" in text  # from generation 6: alone
    assert "[3,4/4] toy_uneven on toy_point, seeds 2, 3 (one program): starting" in text
    for seed in range(4):
        _same_run(alone / f"toy_uneven-{toy.TASK}-seed{seed}", path[seed])


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
