"""Resume == uninterrupted for every registered algorithm: each run is killed
(no checkpoint written at the kill) at a generation that is not a checkpoint
boundary, resumed from its last periodic checkpoint, and compared with a run
that never stopped: same metrics rows and the same archive and extras, bit
for bit; the uninterrupted run compiles its step once. Small settings on the
cheap toy task."""
from __future__ import annotations

import contextlib
import logging

import jax
import numpy as np
import pandas as pd
import pytest

import runs
from qd import algorithms
from runs import config as C
from runs import loop
from tests.runs import toy
from tests.runs.test_loop import VARYING

SETTINGS = {
    "ns": ["algo.population_size=8", "algo.k=3", "algo.archive_capacity=300"],
    "nsga2": ["algo.population_size=8", "algo.k=3", "algo.archive_capacity=300"],
    "random": ["algo.batch_size=16", "algo.archive_capacity=300"],
    "cmaes": ["algo.population_size=16", "algo.archive_capacity=300"],
    "me": ["algo.batch_size=16", "algo.cells_per_dim=8"],
    "cmame": ["algo.n_emitters=2", "algo.emitter_batch_size=8", "algo.initial_batch=16", "algo.cells_per_dim=8"],
    "pga-me": [
        "algo.batch_size=8", "algo.cells_per_dim=8", "algo.td3.replay_buffer_size=500",
        "algo.td3.critic_hidden_layer_size=[8]", "algo.td3.batch_size=16", "algo.td3.num_critic_training_steps=4",
        "algo.td3.num_pg_training_steps=2",
    ],
    "serene": [
        "algo.ns.population_size=8", "algo.ns.k=3", "algo.ns.archive_capacity=300", "algo.ns.init_std=0.5",
        "algo.scheduler.chunk_size=48", "algo.emitter_capacity=8", "algo.emitters_per_step=2",
        "algo.reward_archive_capacity=200", "algo.history_capacity=32",
    ],
    "ppo": ["algo.num_envs=16", "algo.unroll_length=6", "algo.num_minibatches=2", "algo.num_updates_per_batch=2",
            "algo.policy_hidden=[8]", "algo.value_hidden=[8]", "algo.archive_capacity=300"],
    "sac": ["algo.num_envs=16", "algo.batch_size=16", "algo.min_replay_size=32", "algo.hidden=[8]",
            "algo.max_replay_size=500", "algo.archive_capacity=300"],
}
# sac-seeded replays the archive of an exploration run (the "ns" settings here).
SETTINGS["sac-seeded"] = [*SETTINGS["sac"], "algo.prior_episodes=8"]
KILL_AT, CHECKPOINT_EVERY, BUDGET = 11, 4, 480


@contextlib.contextmanager
def _compiles(name):
    """The lines jax logs while compiling the program `name` within the block."""
    lines = []

    class Handler(logging.Handler):
        def emit(self, record):
            message = record.getMessage()
            if message.startswith(f"Compiling {name} "):
                lines.append(message[:200])

    handler, logger = Handler(logging.WARNING), logging.getLogger("jax")
    logger.addHandler(handler)
    try:
        with jax.log_compiles(True):
            yield lines
    finally:
        logger.removeHandler(handler)


class Killed(BaseException):
    """What a SIGKILL does to the loop: it stops at once, writing nothing more."""


class KillAt(loop.Reporter):
    def __init__(self, at):
        self.at = at

    def update(self, row):
        if row["generation"] == self.at:
            raise Killed


def test_every_registered_algorithm_is_covered():
    builtin = [n for n in algorithms.names() if not n.startswith("toy")]
    assert sorted(builtin) == sorted(SETTINGS)


LEARNED = {  # a learned representation's parameters and stored views (2 frames per episode) resume too
    "ns[autoencoder]": ["representation=autoencoder", "rep.width=4", "rep.latent_size=3", "rep.max_epochs=2",
                        "rep.refit_schedule=every", "rep.refit_every=3", "rep.frames=2",
                        "algo.selection=novelty_or_surprise"],
    # The unstructured archive (AURORA-CSC's) in a learned space: its threshold and
    # controller resume too. PCA, not the autoencoder, keeps its compile cheap.
    "me[unstructured]": ["representation=pca", "rep.size=2", "rep.refit_every=3", "algo.archive=unstructured",
                         "algo.capacity=64", "algo.target_size=16", "algo.threshold=0.05", "algo.csc_every=2"],
}


# SERENE's gradient emitters (the default ES estimator) hold an optimizer state
# per emitter; a second SERENE compile (~45 s cold on a loaded 2-core machine),
# so on demand (-m slow).
VARIANTS = {"serene[gradient]": ["algo.emitter.kind=gradient"]}


# sac-seeded runs the very step of sac with a prior buffer more, so plain sac's
# resume is an on-demand check (-m slow): its compile would cost CI ~10 s.
# me[unstructured] compiles one more me step (about as long as plain me's entry);
# its alignment through refits is checked in tests/qd/algorithms/test_map_elites.py.
SLOW = {"sac", "serene[gradient]", "me[unstructured]"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
     for n in sorted(SETTINGS) + sorted(LEARNED) + sorted(VARIANTS)],
)
def test_a_killed_run_resumes_to_the_uninterrupted_result(name, tmp_path):
    extra = {**LEARNED, **VARIANTS}.get(name, [])
    learned, name = name in LEARNED, name.split("[")[0]
    sets = [*SETTINGS[name], *extra, f"checkpoint_every={CHECKPOINT_EVERY}", "task.episode_length=12"]
    if name == "sac-seeded":
        prior = C.build("ns", toy.TASK, budget=64, out=str(tmp_path / "prior"),
                        sets=[*SETTINGS["ns"], "task.episode_length=12"])
        loop.start(prior)
        sets.append(f"algo.prior={prior.out}")
    whole = C.build(name, toy.TASK, budget=BUDGET, out=str(tmp_path / "whole"), sets=sets)
    with _compiles("jit(step)") as compiled:
        loop.start(whole)
    # once, or not at all when an earlier test compiled it: a checkpoint's state
    # (every 4 generations) and init's must have the step's own types and shardings
    assert len(compiled) <= 1, compiled
    killed = C.build(name, toy.TASK, budget=BUDGET, out=str(tmp_path / "killed"), sets=sets)
    with pytest.raises(Killed):
        loop.start(killed, reporter=KillAt(KILL_AT))
    assert [p.name for p in runs.load(killed.out).checkpoints][-1] == "ckpt-000000008.npz"
    result = loop.resume(killed.out)
    assert result.status == "complete"
    a, b = runs.load(whole.out), runs.load(killed.out)
    assert sorted(a.archive) == sorted(b.archive)
    for column in a.archive:
        np.testing.assert_array_equal(a.archive[column], b.archive[column], err_msg=column)
    pd.testing.assert_frame_equal(a.metrics.drop(columns=VARYING), b.metrics.drop(columns=VARYING))
    a, b = a.extras, b.extras
    assert sorted(a) == sorted(b)
    for group in a:
        for column in a[group]:
            np.testing.assert_array_equal(a[group][column], b[group][column], err_msg=f"{group}/{column}")
    if name == "serene":
        # The checkpoint resumed from held running emitters and a filled reward archive.
        row = runs.load(whole.out).metrics.set_index("generation").loc[8]
        assert row["reward_archive_size"] > 0 and row["emitters_active"] + row["emitter_candidates"] > 0
        assert row["exploit_evaluations"] > 0  # emitters had stepped (mid-bootstrap or promoted)
    if learned:  # refitted before the checkpoint resumed from, and after it
        fits = runs.load(whole.out).metrics.set_index("generation")["representation_fits"]
        assert 0 < fits.loc[8] < fits.iloc[-1]
    if name.startswith("sac"):  # it had updated before the checkpoint resumed from
        assert runs.load(whole.out).metrics.set_index("generation").loc[8, "updates"] > 0
    if name in ("cmaes", "cmame"):
        assert runs.load(whole.out).archive["genome"].shape[0] > 0
