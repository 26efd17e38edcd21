"""CMA-ME with improvement emitters, on the cheap PointTask."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qd.algorithms import cma_me
from qd.archives.repertoire import IMPROVED, NEW_CELL, NOT_ADDED, empty_repertoire
from tests.tasks.toy import PointTask
from tests.qd.algorithms.pipelines import pipeline_of

CMAME = cma_me.ALGORITHM
# Narrow initial genomes (points that barely move): the archive starts in a
# handful of the 100 cells, so growth is the emitters' doing.
SMALL = dict(n_emitters=3, emitter_batch_size=8, cells_per_dim=10, initial_batch=24, init_std=0.1)


def _run(algo, config, generations, seed=0):
    state = algo.init(config, pipeline_of(PointTask()), jax.random.PRNGKey(seed))
    start = state
    step = jax.jit(algo.step)
    history = []
    for g in range(generations):
        state, metrics = step(state, jax.random.fold_in(jax.random.PRNGKey(seed + 1), g))
        history.append({k: float(v) for k, v in metrics.items()})
    return start, state, history


@pytest.fixture(scope="module")
def run():
    return _run(CMAME, CMAME.config_cls(**SMALL), 20)


def test_budget_is_exact(run):
    start, state, history = run
    assert int(start.evaluations) == 24
    assert CMAME.evaluations_per_step(CMAME.config_cls(**SMALL)) == 24
    assert [m["evaluations"] for m in history] == [24 + 24 * (g + 1) for g in range(20)]
    assert history[-1]["generation"] == 20


def test_emitters_fill_far_more_cells_than_the_initial_archive_and_improve_rewards(run):
    start, state, history = run
    first = int(start.repertoire.size)
    assert first <= 5
    assert history[-1]["archive_size"] > 10 * first
    assert all(b >= a for a, b in zip([m["archive_size"] for m in history], [m["archive_size"] for m in history][1:]))
    # Rewards: the disc is found and the QD score grows.
    assert history[-1]["area0_found"] == 1 and history[-1]["max_reward"] > 0.5
    assert history[-1]["qd_score"] > history[0]["qd_score"]
    snapshot = CMAME.archive(state)
    assert int(snapshot.mask.sum()) == history[-1]["archive_size"]
    assert np.isfinite(np.asarray(state.emitters.mean)).all()


def test_improvement_status_and_value_against_the_archive():
    rep = empty_repertoire(jnp.zeros((4, 2)), 3, 2)
    rep = rep.replace(filled=jnp.array([False, True, True, False]), rewards=jnp.array([-jnp.inf, 0.5, 0.5, -jnp.inf]))
    cells = jnp.array([0, 1, 2, 3, 1])
    reward = jnp.array([0.2, 0.7, 0.4, 0.0, 0.9])
    candidate = jnp.array([True, True, True, True, False])
    status, value = cma_me.improvement(rep, cells, reward, candidate)
    np.testing.assert_array_equal(status, [NEW_CELL, IMPROVED, NOT_ADDED, NEW_CELL, cma_me.INVALID])
    np.testing.assert_allclose(value, [0.2, 0.2, -0.1, 0.0, 0.0], atol=1e-6)


def test_ranking_puts_new_cells_first_then_improvements_then_the_rest():
    status = jnp.array([NOT_ADDED, NEW_CELL, IMPROVED, NEW_CELL, cma_me.INVALID, IMPROVED, NOT_ADDED])
    value = jnp.array([-0.1, 0.1, 0.01, 0.3, 0.0, 0.5, -0.5])
    fitness = np.asarray(cma_me.ranking_fitness(status, value))
    # Best first: new cells by reward (3, 1), improvements by gain (5, 2), the rest (0, 6), invalid (4).
    np.testing.assert_array_equal(np.argsort(-fitness), [3, 1, 5, 2, 0, 6, 4])


def test_an_emitter_that_adds_nothing_restarts_around_an_elite():
    config = CMAME.config_cls(**SMALL)
    state = CMAME.init(config, pipeline_of(PointTask()), jax.random.PRNGKey(0))
    # Make every cell unbeatable: nothing can be added, so every emitter restarts.
    full = state.repertoire.replace(filled=jnp.ones_like(state.repertoire.filled), rewards=jnp.full_like(state.repertoire.rewards, 10.0))
    new_state, metrics = jax.jit(CMAME.step)(state.replace(repertoire=full), jax.random.PRNGKey(1))
    assert int(metrics["restarts"]) == 3 and int(metrics["new_cells"]) == 0
    np.testing.assert_array_equal(new_state.restarts, [1, 1, 1])
    np.testing.assert_allclose(new_state.emitters.sigma, config.sigma0)  # fresh searches at sigma0
    np.testing.assert_array_equal(new_state.emitters.generation, 0)
    # Each new mean is an elite's genome.
    genomes = np.asarray(full.genomes)
    for mean in np.asarray(new_state.emitters.mean):
        assert np.isclose(genomes, mean).all(axis=1).any()


def test_a_collapsed_step_size_restarts_the_emitter():
    config = CMAME.config_cls(**SMALL)
    state = CMAME.init(config, pipeline_of(PointTask()), jax.random.PRNGKey(0))
    inner = state.emitters.inner
    std = inner.std.at[1].set(1e-9)  # emitter 1 has collapsed
    # An empty archive: every offspring lands in a new cell, so no emitter
    # restarts for lack of improvement.
    empty = state.repertoire.replace(filled=jnp.zeros_like(state.repertoire.filled))
    state = state.replace(emitters=state.emitters.replace(inner=inner.replace(std=std)), repertoire=empty)
    new_state, metrics = jax.jit(CMAME.step)(state, jax.random.PRNGKey(1))
    np.testing.assert_array_equal(new_state.restarts, [0, 1, 0])
    assert float(new_state.emitters.sigma[1]) == pytest.approx(config.sigma0)


def test_config_rejects_impossible_values():
    with pytest.raises(ValueError, match="es_algorithm must be one of CMA_ES, Sep_CMA_ES, got 'PGPE'"):
        CMAME.config_cls(es_algorithm="PGPE")
    with pytest.raises(ValueError, match="n_emitters must be a positive integer, got 0"):
        CMAME.config_cls(n_emitters=0)
    with pytest.raises(ValueError, match="emitter_batch_size must be an integer >= 2, got 1"):
        CMAME.config_cls(emitter_batch_size=1)
    with pytest.raises(ValueError, match="sigma0"):
        CMAME.config_cls(sigma0=0.0)
    with pytest.raises(ValueError, match="restart_sigma must be >= 0"):
        CMAME.config_cls(restart_sigma=-1.0)
    assert CMAME.evaluations_per_step(CMAME.config_cls()) == 200


def test_registered_with_a_preset():
    from qd import algorithms as algorithm
    from runs import config as C

    assert algorithm.get("cmame") is CMAME
    built = C.build(preset="cmame-hardmaze")
    assert (built.algorithm, built.task) == ("cmame", "hardmaze")
    assert C.from_yaml(C.to_yaml(built)) == built
