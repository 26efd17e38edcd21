"""Random search and CMA-ES on reward: the baselines novelty search is compared to."""
import jax
import numpy as np

from qd import algorithms as algorithm
from tests.tasks.toy import PointTask
from tests.qd.algorithms.pipelines import pipeline_of


def _run(name, config, task, generations, seed=0):
    algo = algorithm.get(name)
    state = algo.init(config, pipeline_of(task), jax.random.PRNGKey(seed))
    step = jax.jit(algo.step)
    for g in range(generations):
        state, metrics = step(state, jax.random.fold_in(jax.random.PRNGKey(seed + 1), g))
    return state, {k: float(v) for k, v in metrics.items()}


def test_random_search_spends_exactly_its_budget_and_archives_a_subset():
    rs = algorithm.get("random")
    config = rs.config_cls(batch_size=16, archive_per_generation=4, archive_capacity=10)
    state, metrics = _run("random", config, PointTask(), 4)
    assert metrics["evaluations"] == 64 and metrics["generation"] == 4
    # Capacity 10 < 16 wanted: the archive says it is full instead of dropping silently.
    assert metrics["archive_size"] == 10 and metrics["archive_overflow"] == 6


def test_cmaes_improves_the_reward_once_it_finds_the_disc():
    cmaes = algorithm.get("cmaes")
    config = cmaes.config_cls(population_size=16, sigma0=1.0)
    first, m1 = _run("cmaes", config, PointTask(), 1)
    state, m = _run("cmaes", config, PointTask(), 40)
    assert m["area0_found"] == 1
    assert m["area0_max_reward"] > 0.9 > m1["area0_max_reward"]
    assert np.isfinite(np.asarray(state.es_state.mean)).all()


def test_cmaes_restarts_from_a_new_mean_when_its_step_size_collapses():
    cmaes = algorithm.get("cmaes")
    # A restart threshold above sigma0 forces a restart at the first step.
    config = cmaes.config_cls(population_size=16, sigma0=1.0, restart_sigma=2.0)
    state = cmaes.init(config, pipeline_of(PointTask()), jax.random.PRNGKey(0))
    new_state, metrics = jax.jit(cmaes.step)(state, jax.random.PRNGKey(1))
    assert float(metrics["restarted"]) == 1.0
    assert float(new_state.es_state.sigma.max()) == 1.0  # a fresh search, at sigma0
    assert not np.allclose(new_state.es_state.mean, state.es_state.mean)
    no_restart = cmaes.init(cmaes.config_cls(population_size=16, sigma0=1.0), pipeline_of(PointTask()), jax.random.PRNGKey(0))
    _, metrics = jax.jit(cmaes.step)(no_restart, jax.random.PRNGKey(1))
    assert float(metrics["restarted"]) == 0.0
