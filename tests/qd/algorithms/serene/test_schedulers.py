"""qd/schedulers.py: SERENE's meta-schedulers, on hand-made step sequences."""
from __future__ import annotations

import jax
import numpy as np
import pytest

from qd.algorithms.serene import schedulers as S


def run(config, steps, *, gain=0.0, gains=None, seed=0, budget=None):
    """Records `steps` steps of 200 evaluations; returns the phase of each
    step (True = explore) and the final state."""
    state = S.init(config, budget)
    key = jax.random.key(seed)
    phases = []
    record = jax.jit(lambda st, g, k, t: S.record(config, st, 200, g, k, spent_total=t))
    for i in range(steps):
        phases.append(bool(state.exploring))
        g = gain if gains is None else gains(bool(state.exploring))
        state = record(state, g, jax.random.fold_in(key, i), 200 * (i + 1))
    return phases, state


def test_alternating_switches_every_chunk_and_drops_the_overshoot():
    config = S.SchedulerConfig(chunk_size=500)  # 3 steps of 200 close a chunk, 100 over
    phases, state = run(config, 12)
    assert phases == [True] * 3 + [False] * 3 + [True] * 3 + [False] * 3
    np.testing.assert_array_equal(state.chunks, [2, 2])
    np.testing.assert_array_equal(state.evaluations, [1200, 1200])
    assert int(state.chunk_spent) == 0
    metrics = S.summary(state)
    assert int(metrics["explore_evaluations"]) == int(metrics["exploit_evaluations"]) == 1200


def test_the_first_chunk_explores():
    for kind in S.SCHEDULERS:
        assert bool(S.init(S.SchedulerConfig(kind=kind), 1000).exploring)


@pytest.mark.parametrize("probability, explores", [(1.0, True), (0.0, False)])
def test_probability_extremes(probability, explores):
    config = S.SchedulerConfig(kind="probability", chunk_size=200, explore_probability=probability)
    phases, _ = run(config, 20)
    assert phases[0] and all(p == explores for p in phases[1:])


def test_probability_half_explores_about_half_the_chunks():
    config = S.SchedulerConfig(kind="probability", chunk_size=200, explore_probability=0.5)
    phases, _ = run(config, 400)
    assert 0.4 < np.mean(phases) < 0.6


def test_time_based_explores_less_as_the_budget_runs_out():
    config = S.SchedulerConfig(kind="time", chunk_size=200)
    phases, _ = run(config, 600, budget=200 * 600)
    early, late = np.mean(phases[:200]), np.mean(phases[400:])
    assert early > 0.7 and late < 0.3


def test_ucb_prefers_the_phase_that_makes_progress():
    config = S.SchedulerConfig(kind="ucb", chunk_size=200, ucb_exploration=0.5)
    phases, state = run(config, 100, gains=lambda exploring: 0.0 if exploring else 1.0)
    assert np.mean(phases[10:]) < 0.25  # mostly exploiting
    assert float(state.arm_counts[S.EXPLOIT]) > float(state.arm_counts[S.EXPLORE])
    phases, _ = run(config, 100, gains=lambda exploring: 1.0 if exploring else 0.0)
    assert np.mean(phases[10:]) > 0.75


def test_ucb_discount_forgets_old_payoffs():
    config = S.SchedulerConfig(kind="ucb", chunk_size=200, ucb_discount=0.5)
    state = S.init(config)
    record = lambda st, g: S.record(config, st, 200, g, jax.random.key(0), spent_total=0)  # noqa: E731
    state = record(state, 1.0)  # an explore chunk that paid
    np.testing.assert_allclose(state.arm_gains, [1.0, 0.0])
    state = state.replace(exploring=np.asarray(True))
    state = record(state, 0.0)  # and one that did not: the old payoff is halved
    np.testing.assert_allclose(state.arm_counts, [1.5, 0.0])
    np.testing.assert_allclose(state.arm_gains, [0.5, 0.0])


def test_ucb_tries_an_untried_phase_first():
    config = S.SchedulerConfig(kind="ucb", chunk_size=200)
    phases, _ = run(config, 2, gain=1.0)  # exploring paid, but exploiting is untried
    assert phases == [True, False]


def test_force_explore_ends_the_chunk_and_counts_it():
    config = S.SchedulerConfig(chunk_size=1000)
    state = S.init(config).replace(exploring=np.asarray(False))
    state = S.record(config, state, 200, 0.0, jax.random.key(0), spent_total=200)
    state = S.force_explore(config, state)
    assert bool(state.exploring) and int(state.chunk_spent) == 0
    np.testing.assert_array_equal(state.chunks, [0, 1])
    np.testing.assert_array_equal(state.evaluations, [0, 200])


def test_ucb_counts_a_forced_empty_exploitation_chunk():
    # Nothing to exploit: the exploitation chunk is ended at once. UCB must see it
    # as a tried chunk that paid nothing, not keep choosing the "untried" arm.
    config = S.SchedulerConfig(kind="ucb", chunk_size=200)
    record = lambda st, g: S.record(config, st, 200, g, jax.random.key(0), spent_total=0)  # noqa: E731
    state = record(S.init(config), 1.0)  # an explore chunk that paid
    assert not bool(state.exploring)  # exploiting is untried
    state = S.force_explore(config, state)  # ... but there is nothing to exploit
    assert bool(state.exploring)
    np.testing.assert_array_equal(state.chunks, [1, 1])
    np.testing.assert_allclose(state.arm_counts, [0.9, 1.0])
    np.testing.assert_allclose(state.arm_gains, [0.9, 0.0])
    state = record(state, 1.0)  # exploring paid again; exploiting is tried and paid 0
    assert bool(state.exploring)


@pytest.mark.parametrize("field, value, message", [
    ("kind", "greedy", "alternating, probability, time, ucb.*'greedy'"),
    ("chunk_size", 0, "chunk_size must be a positive integer, got 0"),
    ("explore_probability", 1.5, r"explore_probability must be in \[0, 1\]"),
    ("ucb_discount", 0.0, r"ucb_discount must be in \(0, 1\]"),
    ("ucb_exploration", -1.0, "ucb_exploration must be >= 0"),
])
def test_config_errors_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        S.SchedulerConfig(**{field: value})


@pytest.mark.parametrize("budget", [None, 0, -5])
def test_the_time_scheduler_needs_the_runs_budget(budget):
    with pytest.raises(ValueError, match="'time' scheduler needs the run's budget"):
        S.init(S.SchedulerConfig(kind="time"), budget)
