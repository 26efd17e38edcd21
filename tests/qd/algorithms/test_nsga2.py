"""NSGA-II on (novelty, reward), on the cheap PointTask."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tasks
from qd.algorithms import nsga2
from qd.algorithms import random_search
from qd.novelty import knn_novelty_union
from tests.qd.test_pareto import _reference_crowding, _reference_ranks
from tests.tasks.toy import PointTask
from tests.qd.algorithms.pipelines import pipeline_of

NSGA2 = nsga2.ALGORITHM
SMALL = dict(population_size=12, offspring_per_parent=2, k=5, archive_capacity=200, archive_per_generation=3)


def _run(algo, config, task, generations, seed=0, state=None):
    state = algo.init(config, pipeline_of(task), jax.random.PRNGKey(seed)) if state is None else state
    step = jax.jit(algo.step)
    history = []
    for g in range(generations):
        state, metrics = step(state, jax.random.fold_in(jax.random.PRNGKey(seed + 1), g))
        history.append({k: float(v) for k, v in metrics.items()})
    return state, history


def test_budget_and_archive_follow_novelty_search():
    config = NSGA2.config_cls(**SMALL)
    state = NSGA2.init(config, pipeline_of(PointTask()), jax.random.PRNGKey(0))
    assert int(state.evaluations) == 12
    assert NSGA2.evaluations_per_step(config) == 24
    state, history = _run(NSGA2, config, PointTask(), 3, state=state)
    assert [m["evaluations"] for m in history] == [36, 60, 84]
    assert [m["archive_size"] for m in history] == [3, 6, 9]
    assert history[-1]["generation"] == 3
    snapshot = NSGA2.archive(state)
    assert int(snapshot.mask.sum()) == 9


def test_survivors_are_the_best_of_parents_and_offspring_by_front_then_crowding():
    task = PointTask()
    state, _ = _run(NSGA2, NSGA2.config_cls(**SMALL), task, 2)  # a non-empty archive
    key = jax.random.PRNGKey(7)
    new_state, _ = jax.jit(NSGA2.step)(state, key)

    # Rebuild parents + offspring from scratch: the same genomes, evaluated again.
    offspring = nsga2.breed(state, jax.random.split(key, 3)[0])
    genomes = jnp.concatenate([state.population.genome, offspring])
    evaluation = tasks.rollout(task, genomes, jax.random.PRNGKey(0))
    archive = state.archive
    novelty = knn_novelty_union(
        evaluation.descriptor, [evaluation.descriptor, (archive.descriptors, archive.mask)], k=5,
        self_index=jnp.arange(36),
    )
    objectives = np.stack([np.asarray(novelty), np.asarray(evaluation.reward)], axis=1)
    valid = np.ones(36, bool)
    ranks = _reference_ranks(objectives, valid)
    crowding = _reference_crowding(objectives, ranks, valid)
    best = np.lexsort((np.arange(36), -crowding, ranks))[:12]

    # (jit may fuse the mutation differently: genomes agree to float rounding)
    np.testing.assert_allclose(new_state.population.genome, np.asarray(genomes)[best], atol=1e-6)
    np.testing.assert_array_equal(new_state.rank, ranks[best])
    np.testing.assert_allclose(new_state.crowding, crowding[best], rtol=1e-5)
    # The whole first front survives whenever it fits.
    assert min(12, int((ranks == 0).sum())) == int((np.asarray(new_state.rank) == 0).sum())


def test_the_best_reward_found_is_never_lost():
    state, history = _run(NSGA2, NSGA2.config_cls(**SMALL), PointTask(), 15)
    best = [m["population_max_reward"] for m in history]
    assert all(b >= a for a, b in zip(best, best[1:]))
    assert history[-1]["area0_found"] == 1
    # The highest reward is on the first front's boundary, so it survives.
    assert best[-1] == pytest.approx(history[-1]["area0_max_reward"])


def test_population_spreads_far_beyond_random_search_from_the_same_start():
    # Both start from genomes N(0, 0.1^2), i.e. points that barely move; with
    # the same budget NSGA-II's novelty objective pushes the population out.
    budget_steps = 12
    _, ours = _run(NSGA2, NSGA2.config_cls(**SMALL, init_std=0.1), PointTask(), budget_steps)
    rs = random_search.ALGORITHM
    _, theirs = _run(rs, rs.config_cls(batch_size=24, archive_per_generation=3, init_std=0.1), PointTask(), budget_steps)
    assert ours[-1]["evaluations"] - theirs[-1]["evaluations"] == 12  # NSGA-II's initial population
    assert ours[-1]["explored_coverage"] > 2 * theirs[-1]["explored_coverage"]
    assert ours[-1]["mean_novelty"] > ours[0]["mean_novelty"]


def test_invalid_rollouts_never_survive_nor_enter_the_archive():
    task = PointTask(PointTask.Config(nan_beyond=0.3))
    state, history = _run(NSGA2, NSGA2.config_cls(**SMALL), task, 6)
    assert history[-1]["invalid"] > 0
    assert bool(state.population_valid.all())
    assert np.isfinite(np.asarray(state.population.descriptor)).all()
    size = int(state.archive.size)
    assert np.all(np.asarray(state.archive.gt_descriptors)[:size, 0] <= 0.3 + 1e-6)


def _tournament_counts(rank, crowding, valid, draws=60):
    config = NSGA2.config_cls(population_size=len(rank), offspring_per_parent=2, k=5)
    state = nsga2.Nsga2State(
        population=None,
        population_valid=jnp.asarray(valid),
        novelty=None,
        rank=jnp.asarray(rank, jnp.int32),
        crowding=jnp.asarray(crowding, jnp.float32),
        archive=None,
        tracker=None,
        representation=None,
        config=config,
        pipeline=None,
    )
    keys = jax.random.split(jax.random.PRNGKey(0), draws)
    picks = jax.vmap(lambda k: nsga2.select_parents(state, k))(keys)
    return np.bincount(np.asarray(picks).ravel(), minlength=len(rank)) / picks.size


def test_tournaments_prefer_lower_fronts_then_less_crowded_and_never_invalid_parents():
    # Half on front 0, half on front 1: a front-1 parent wins only against
    # another front-1 parent, i.e. a quarter of the time.
    freq = _tournament_counts([0] * 5 + [1] * 5, np.ones(10), np.ones(10, bool))
    assert 0.18 < freq[5:].sum() < 0.32
    # One front: more crowding distance, more children.
    freq = _tournament_counts(np.zeros(10), [np.inf, 5, 4, 3, 2, 1, 0.5, 0.4, 0.3, 0.2], np.ones(10, bool))
    assert freq[0] > freq[4] > freq[9]
    # An invalid parent (rank 0 left over) only wins a tournament against itself.
    valid = np.ones(10, bool)
    valid[0] = False
    freq = _tournament_counts(np.zeros(10), np.ones(10), valid)
    assert freq[0] < 0.03


def test_every_parent_breeds_with_the_reference_selection():
    config = NSGA2.config_cls(**SMALL, parent_selection="all")
    state = NSGA2.init(config, pipeline_of(PointTask()), jax.random.PRNGKey(0))
    np.testing.assert_array_equal(nsga2.select_parents(state, jax.random.PRNGKey(1)), np.arange(12))


def test_config_rejects_impossible_values():
    with pytest.raises(ValueError, match="parent_selection must be one of tournament, all, got 'roulette'"):
        NSGA2.config_cls(parent_selection="roulette")
    with pytest.raises(ValueError, match="population_size must be a positive integer, got 0"):
        NSGA2.config_cls(population_size=0)
    with pytest.raises(ValueError, match="k"):
        NSGA2.config_cls(population_size=5, offspring_per_parent=1, k=10)
    defaults = NSGA2.config_cls()
    assert (defaults.population_size, defaults.offspring, defaults.k, defaults.archive_per_generation) == (100, 200, 15, 5)


def test_registered_with_a_preset():
    from qd import algorithms as algorithm
    from runs import config as C

    assert algorithm.get("nsga2") is NSGA2
    built = C.build(preset="nsga2-hardmaze")
    assert (built.algorithm, built.task) == ("nsga2", "hardmaze")
    assert C.from_yaml(C.to_yaml(built)) == built
