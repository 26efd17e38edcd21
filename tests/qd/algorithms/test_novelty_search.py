import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tasks
from qd import algorithms as algorithm
from qd.algorithms import novelty_search
from qd.novelty import knn_novelty
from tests.tasks.toy import PointTask
from tests.qd.algorithms.pipelines import pipeline_of

NS = algorithm.get("ns")
SMALL = dict(population_size=10, offspring_per_parent=2, k=5, archive_capacity=50, archive_per_generation=3)


def _run(algo, config, task, generations, seed=0):
    state = algo.init(config, pipeline_of(task), jax.random.PRNGKey(seed))
    step = jax.jit(algo.step)
    for g in range(generations):
        state, metrics = step(state, jax.random.fold_in(jax.random.PRNGKey(seed + 1), g))
    return state, metrics


def test_budget_archive_and_survivors_follow_the_reference_scheme():
    task = PointTask()
    config = NS.config_cls(**SMALL)
    state = NS.init(config, pipeline_of(task), jax.random.PRNGKey(0))
    assert int(state.evaluations) == 10
    before = state
    state, metrics = jax.jit(NS.step)(state, jax.random.PRNGKey(1))
    assert int(metrics["evaluations"]) == 10 + 20 == NS.evaluations_per_step(config) + 10
    assert int(state.archive.size) == 3
    # The survivors are the 10 most novel of parents + offspring, novelty being
    # measured against parents + offspring + the archive before insertion.
    parents = before.population.descriptor
    offspring_genomes = state.archive.genomes[:3]
    pool_genomes = jnp.concatenate([before.population.genome, _offspring(before, jax.random.PRNGKey(1))])
    assert any(np.allclose(pool_genomes[i], offspring_genomes[0]) for i in range(30))
    assert state.population.genome.shape == (10, task.default_policy().genome_size)
    ev = tasks.rollout(task, pool_genomes, jax.random.PRNGKey(0))
    novelty = knn_novelty(ev.descriptor, ev.descriptor, k=5, self_index=jnp.arange(30))
    expected = np.sort(np.asarray(novelty))[-10:]
    got = np.sort(np.asarray(knn_novelty(state.population.descriptor, ev.descriptor, k=5, self_index=_rows(state, pool_genomes))))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    del parents


def _offspring(state, key):
    """The offspring `step` makes from `state` with `key` (same key split)."""
    from emitters import variation

    k_mut, _, _ = jax.random.split(key, 3)
    parents = jnp.repeat(state.population.genome, state.config.offspring_per_parent, axis=0)
    return variation.gaussian_mutation(k_mut, parents, sigma=state.config.mutation_sigma)


def _rows(state, pool_genomes):
    """Index in the pool of each survivor (genomes are unique)."""
    d = jnp.linalg.norm(state.population.genome[:, None] - pool_genomes[None], axis=-1)
    return jnp.argmin(d, axis=1).astype(jnp.int32)


def test_invalid_rollouts_never_survive_nor_enter_the_archive():
    task = PointTask(PointTask.Config(nan_beyond=0.3))
    state, metrics = _run(NS, NS.config_cls(**SMALL), task, 6)
    assert int(metrics["invalid"]) > 0
    assert bool(state.population_valid.all())
    assert np.isfinite(np.asarray(state.archive.descriptors)).all()
    assert np.all(np.asarray(state.archive.gt_descriptors)[: int(state.archive.size), 0] <= 0.3 + 1e-6)


def test_config_rejects_impossible_values():
    with pytest.raises(ValueError, match="k"):
        NS.config_cls(population_size=5, offspring_per_parent=1, k=10)
    with pytest.raises(ValueError, match="archive_insertion"):
        NS.config_cls(archive_insertion="best")
    with pytest.raises(ValueError, match="population_size"):
        NS.config_cls(population_size=0)


def test_most_novel_insertion_archives_the_most_novel_offspring():
    config = NS.config_cls(**{**SMALL, "archive_insertion": "most_novel"})
    state, _ = _run(NS, config, PointTask(), 2)  # an archive to measure novelty against
    before = int(state.archive.size)
    new, generation = jax.jit(novelty_search.advance)(state, jax.random.PRNGKey(9))
    n = config.archive_per_generation
    novelty = np.asarray(generation.offspring_novelty)
    archived = np.asarray(new.archive.genomes[before:before + n])
    offspring = np.asarray(generation.offspring.genome)
    rows = [int(np.flatnonzero(np.all(offspring == g, axis=1))[0]) for g in archived]
    # Exactly the n most novel offspring (random insertion would pick others).
    assert sorted(rows) == sorted(np.argsort(-novelty, kind="stable")[:n].tolist())
    assert novelty[rows].min() >= np.delete(novelty, rows).max()


def test_novelty_search_explores_the_hard_maze_more_than_random_search():
    """At equal budget (about 4000 episodes of 600 steps), novelty search's
    evaluated policies cover clearly more of the maze than random search's.
    Over seeds 0-4 this measured 0.31-0.51 against 0.20-0.21."""
    task = tasks.make("hardmaze", episode_length=600)
    ns_config = NS.config_cls(population_size=50, k=10, archive_capacity=200, archive_per_generation=2)
    random = algorithm.get("random")
    rs_config = random.config_cls(batch_size=100, archive_capacity=200, archive_per_generation=2)
    _, ns_metrics = _run(NS, ns_config, task, 40)
    _, rs_metrics = _run(random, rs_config, task, 40)
    assert abs(int(ns_metrics["evaluations"]) - int(rs_metrics["evaluations"])) <= 50
    ns_cov, rs_cov = float(ns_metrics["explored_coverage"]), float(rs_metrics["explored_coverage"])
    assert ns_cov > 1.3 * rs_cov, (ns_cov, rs_cov)
