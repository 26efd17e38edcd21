"""SERENE's local emitters, one mechanism at a time, with hand-made states."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from qd.algorithms.serene import local_emitters as local

D = 4
PAYLOAD = {"tag": jnp.zeros(())}


def _emitter(config, history=None, sigma0=0.1, ancestor_novelty=-jnp.inf):
    history = history or config.history_length(D)
    return local.create(
        config, jax.random.PRNGKey(0), jnp.zeros(D), sigma0, PAYLOAD, history, ancestor_novelty
    )


def _tell(config, state, genomes, mask, reward, novelty=None, valid=None):
    n = genomes.shape[0]
    novelty = jnp.zeros(n) if novelty is None else novelty
    valid = jnp.ones(n, bool) if valid is None else valid
    return local.tell(config, state, genomes, mask, reward, novelty, valid, {"tag": jnp.arange(n, dtype=jnp.float32)})


def test_history_length_is_the_reference_formula():
    config = local.LocalEmitterConfig()
    assert config.history_length(63) == int(20 * 63 / 6 + 120) == 330
    assert config.history_length(228) == 880
    assert config.batch_size == 12
    assert local.LocalEmitterConfig(kind="cma").batch_size == 6


def test_first_step_evaluates_only_the_initial_population_around_the_ancestor():
    config = local.LocalEmitterConfig()
    state = _emitter(config, sigma0=0.1)
    genomes, mask = local.ask(config, state, jax.random.PRNGKey(1))
    assert genomes.shape == (12, D)
    np.testing.assert_array_equal(mask, [True] * 6 + [False] * 6)
    # Mutants of the ancestor (zeros) with step sigma0.
    assert 0.03 < float(jnp.std(genomes[:6])) < 0.3
    state = _tell(config, state, genomes, mask, jnp.arange(12, dtype=jnp.float32))
    assert int(state.n_values) == 1 and int(state.evaluations) == 6
    np.testing.assert_allclose(state.rewards, np.arange(6))


def test_first_step_evaluates_6_distinct_initial_genomes_once_each():
    # The reference evaluates 6 distinct mutants of the ancestor (step sigma0),
    # not 3 of them twice.
    config = local.LocalEmitterConfig()
    ancestor = jnp.full(D, 1.0)
    state = local.create(config, jax.random.PRNGKey(0), ancestor, 0.1, PAYLOAD, config.history_length(D))
    genomes, mask = local.ask(config, state, jax.random.PRNGKey(1))
    evaluated = np.asarray(genomes)[np.asarray(mask)]
    assert evaluated.shape == (6, D)
    assert len(np.unique(evaluated, axis=0)) == 6
    np.testing.assert_array_equal(evaluated, state.genomes)  # the population `create` sampled
    assert 0.03 < float(np.std(evaluated - np.asarray(ancestor))) < 0.3
    state = _tell(config, state, genomes, mask, jnp.arange(12, dtype=jnp.float32))
    assert int(state.evaluations) == 6
    assert len(np.unique(np.asarray(state.genomes), axis=0)) == 6
    np.testing.assert_array_equal(state.genomes, evaluated)


def test_fitness_emitter_keeps_the_best_6_of_18_by_reward():
    config = local.LocalEmitterConfig()
    state = _emitter(config)
    genomes, mask = local.ask(config, state, jax.random.PRNGKey(1))
    state = _tell(config, state, genomes, mask, jnp.array([1.0, 2, 3, 4, 5, 6] + [0.0] * 6))
    genomes, mask = local.ask(config, state, jax.random.PRNGKey(2))
    assert bool(mask.all())
    offspring_reward = jnp.array([10.0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 8, 0])
    state = _tell(config, state, genomes, mask, offspring_reward)
    np.testing.assert_allclose(sorted(np.asarray(state.rewards)), [4, 5, 6, 8, 9, 10])
    assert int(state.evaluations) == 18 and float(state.best_reward) == 10.0
    # Invalid offspring never survive, whatever their reward.
    genomes, mask = local.ask(config, state, jax.random.PRNGKey(3))
    state2 = _tell(config, state, genomes, mask, jnp.full(12, 100.0), valid=jnp.zeros(12, bool))
    np.testing.assert_allclose(sorted(np.asarray(state2.rewards)), [4, 5, 6, 8, 9, 10])


def test_novelty_emitter_keeps_the_most_novel():
    config = local.LocalEmitterConfig(kind="novelty")
    state = _emitter(config)
    genomes, mask = local.ask(config, state, jax.random.PRNGKey(1))
    state = _tell(config, state, genomes, mask, jnp.zeros(12), novelty=jnp.zeros(12))
    genomes, mask = local.ask(config, state, jax.random.PRNGKey(2))
    novelty = jnp.arange(12, dtype=jnp.float32) + 1
    state = _tell(config, state, genomes, mask, jnp.zeros(12), novelty=novelty)
    np.testing.assert_allclose(sorted(np.asarray(state.novelty)), np.arange(7, 13))


def test_improvement_is_last_three_minus_first_three_clipped_at_zero():
    config = local.LocalEmitterConfig(population_size=2, offspring_per_parent=1)
    state = _emitter(config, history=50)
    rows = [[0.1, 0.1], [0.2, 0.2], [0.3, 0.3], [0.5, 0.5], [0.6, 0.6], [0.7, 0.7]]
    for row in rows:  # feed population rewards directly through the ring
        state = state.replace(
            values=state.values.at[state.n_values].set(jnp.array(row)), n_values=state.n_values + 1
        )
        state = state.replace(init_mean=jnp.where(state.n_values == 3, jnp.mean(state.values[:3]), state.init_mean))
    assert float(local.improvement(config, state)) == pytest.approx(0.6 - 0.2)
    decreasing = state.replace(init_mean=jnp.asarray(5.0))
    assert float(local.improvement(config, decreasing)) == 0.0


def test_improvement_after_a_real_bootstrap():
    config = local.LocalEmitterConfig()
    state = _emitter(config)
    for step in range(6):
        genomes, mask = local.ask(config, state, jax.random.PRNGKey(step))
        state = _tell(config, state, genomes, mask, jnp.full(12, float(step)))
    # rows hold populations of reward 0..5 -> first 3 mean 1, last 3 mean 4
    assert float(local.improvement(config, state)) == pytest.approx(3.0)
    assert int(state.evaluations) == 6 + 5 * 12


def _with_history(config, rows):
    state = _emitter(config, history=40)  # B = 40
    for row in rows:
        state = state.replace(
            values=state.values.at[state.n_values % state.values.shape[0]].set(jnp.full(config.population_size, row)),
            n_values=state.n_values + 1,
        )
    return state


def test_stagnation_rule():
    config = local.LocalEmitterConfig(kind="cma", stagnation_window=20, patience=0)  # the reference rule alone
    # B = 40 rows of history; stagnation is only judged after more than B steps.
    improving = _with_history(config, np.linspace(0, 1, 41))
    assert not bool(local.stagnated(config, improving))
    flat = _with_history(config, np.full(41, 0.5))
    assert bool(local.stagnated(config, flat))  # median(first) >= median(last)
    young = _with_history(config, np.full(40, 0.5))
    assert not bool(local.stagnated(config, young))  # not more than B steps yet
    # Medians improve but the max of the first window is never beaten -> stop.
    rows = np.concatenate([[5.0], np.zeros(19), np.ones(21)])
    assert bool(local.stagnated(config, _with_history(config, rows)))
    # Ring buffer: only the LAST B rows count (early decline is forgotten).
    rows = np.concatenate([np.full(30, 9.0), np.linspace(0, 1, 41)])
    assert not bool(local.stagnated(config, _with_history(config, rows)))


def test_step_cap():
    config = local.LocalEmitterConfig(kind="cma", max_steps=3)
    assert not bool(local.stagnated(config, _with_history(config, [0.0, 1.0])))
    assert bool(local.stagnated(config, _with_history(config, [0.0, 1.0, 2.0])))


def test_reward_archive_offer_first_best_then_only_beaters():
    config = local.LocalEmitterConfig(population_size=3, offspring_per_parent=1)
    state = _emitter(config)
    state = state.replace(rewards=jnp.array([0.2, 0.5, 0.4]), valid=jnp.ones(3, bool))
    mask, state = local.reward_archive_offer(state)
    np.testing.assert_array_equal(mask, [False, True, False])
    state = state.replace(rewards=jnp.array([0.5, 0.7, 0.6]))
    mask, state = local.reward_archive_offer(state)
    np.testing.assert_array_equal(mask, [False, True, True])
    assert float(state.archived_max) == pytest.approx(0.7)
    zero = _emitter(config).replace(rewards=jnp.zeros(3), valid=jnp.ones(3, bool))
    assert not bool(local.reward_archive_offer(zero)[0].any())  # nothing rewarded: nothing offered


def test_novel_buffer_keeps_the_most_novel_beating_the_ancestor():
    config = local.LocalEmitterConfig(novel_to_archive=3)
    state = _emitter(config, ancestor_novelty=5.0)
    genomes, mask = local.ask(config, state, jax.random.PRNGKey(1))
    novelty = jnp.array([1.0, 6, 7, 2, 8, 9] + [100.0] * 6)  # rows 6.. are padding (mask False)
    state = _tell(config, state, genomes, mask, jnp.zeros(12), novelty=novelty)
    np.testing.assert_allclose(sorted(np.asarray(state.novel_novelty)), [7, 8, 9])
    np.testing.assert_allclose(sorted(np.asarray(state.novel_payload["tag"])), [2, 4, 5])


def test_cma_emitter_climbs_a_reward_under_vmap():
    config = local.LocalEmitterConfig(kind="cma")
    target = jnp.array([0.5, -0.5, 0.25, 0.0])
    states = jax.vmap(lambda k, s: local.create(config, k, jnp.zeros(D), s, PAYLOAD, 40))(
        jax.random.split(jax.random.PRNGKey(0), 3), jnp.array([0.1, 0.2, 0.3])
    )

    @jax.jit
    def one(states, key):
        keys = jax.random.split(key, 3)
        genomes, mask = jax.vmap(lambda s, k: local.ask(config, s, k))(states, keys)
        reward = -jnp.sum((genomes - target) ** 2, axis=-1)
        tags = {"tag": jnp.zeros((3, 6))}
        return jax.vmap(lambda *a: local.tell(config, *a))(
            states, genomes, mask, reward, jnp.zeros((3, 6)), jnp.ones((3, 6), bool), tags
        )

    for i in range(60):
        states = one(states, jax.random.PRNGKey(i))
    assert np.all(np.asarray(states.best_reward) > -0.01)
    assert np.all(np.asarray(states.evaluations) == 360)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="kind must be one of fitness, novelty, cma"):
        local.LocalEmitterConfig(kind="fit")
    with pytest.raises(ValueError, match="population_size"):
        local.LocalEmitterConfig(population_size=0)
    with pytest.raises(ValueError, match="bootstrap_steps"):
        local.LocalEmitterConfig(bootstrap_steps=2)


def test_success_rule_grows_the_step_on_success_and_shrinks_it_on_failure():
    config = local.LocalEmitterConfig()
    assert config.sigma_rule == "success"
    mask = jnp.ones(12, bool)
    all_win, none_win = jnp.ones(12, bool), jnp.zeros(12, bool)
    at_target = jnp.arange(12) < 12 * config.success_target
    grow = float(local.adapt_sigma(config, jnp.float32(0.1), all_win, mask))
    shrink = float(local.adapt_sigma(config, jnp.float32(0.1), none_win, mask))
    assert grow == pytest.approx(0.1 * np.exp(1 / 3), rel=1e-5)
    assert shrink == pytest.approx(0.1 * np.exp(-(1 / 3) * 0.2 / 0.8), rel=1e-5)
    # 1/5 of 12 is not a whole number: 3 wins are just above the target.
    assert 0.1 < float(local.adapt_sigma(config, jnp.float32(0.1), at_target, mask)) < 0.1022
    # Padding rows (mask False) do not count; the step stays within [sigma_min, gene range].
    assert float(local.adapt_sigma(config, jnp.float32(0.1), all_win, jnp.arange(12) < 6)) == pytest.approx(grow)
    assert float(local.adapt_sigma(config, jnp.float32(1e-4), none_win, mask)) == pytest.approx(config.sigma_min)
    assert float(local.adapt_sigma(config, jnp.float32(9.9), all_win, mask)) == pytest.approx(10.0)


def test_success_rule_in_tell_counts_mutants_that_beat_their_own_parent():
    config = local.LocalEmitterConfig()
    state = _emitter(config, sigma0=0.1)
    genomes, mask = local.ask(config, state, jax.random.PRNGKey(1))
    state = _tell(config, state, genomes, mask, jnp.arange(12, dtype=jnp.float32))  # parents: rewards 0..5
    assert float(state.sigma) == pytest.approx(0.1)  # the initial evaluation adapts nothing
    genomes, mask = local.ask(config, state, jax.random.PRNGKey(2))
    # Rows 2i and 2i+1 are the mutants of parent i (reward i): 5 of the 12 beat their parent by 0.5
    # (all but the last parent's first mutant), although 8 of them beat the worst parent.
    reward = jnp.repeat(jnp.arange(6, dtype=jnp.float32), 2) + jnp.array([0.5, -1.0] * 5 + [-1.0, -1.0])
    stepped = _tell(config, state, genomes, mask, reward)
    expected = local.adapt_sigma(config, jnp.float32(0.1), (jnp.arange(12) % 2 == 0) & (jnp.arange(12) < 10),
                                 jnp.ones(12, bool))
    assert float(stepped.sigma) == pytest.approx(float(expected)) and float(stepped.sigma) > 0.1
    fixed = local.LocalEmitterConfig(sigma_rule="fixed")
    assert float(_tell(fixed, state, genomes, mask, reward).sigma) == pytest.approx(0.1)


def test_success_rule_climbs_far_closer_than_the_fixed_step():
    # A needle: reward 1 - distance to a target 0.3 away, from a step of 0.3 (sigma0 of a
    # distant ancestor). The fixed step keeps overshooting; the adapted one closes in.
    target = jnp.array([0.2, -0.1, 0.1, 0.15])

    def climb(config):
        state = _emitter(config, sigma0=0.3)

        @jax.jit
        def one(state, key):
            genomes, mask = local.ask(config, state, key)
            reward = 1.0 - jnp.linalg.norm(genomes - target, axis=-1)
            return _tell(config, state, genomes, mask, reward)

        for i in range(60):
            state = one(state, jax.random.PRNGKey(i))
        return 1.0 - float(state.best_reward)

    adapted, fixed = climb(local.LocalEmitterConfig()), climb(local.LocalEmitterConfig(sigma_rule="fixed"))
    assert adapted < 0.02 and adapted < fixed / 4, (adapted, fixed)


def test_patience_stops_an_emitter_whose_best_has_not_risen():
    config = local.LocalEmitterConfig(kind="cma", patience=5)
    state = _with_history(config, [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    assert not bool(local.stagnated(config, state.replace(best_step=jnp.int32(2))))  # 4 steps without
    assert bool(local.stagnated(config, state.replace(best_step=jnp.int32(1))))  # 5 steps without
    assert not bool(local.stagnated(local.LocalEmitterConfig(kind="cma", patience=0), state))
    # tell moves best_step to the step that raised the best reward, and only then.
    fitness = local.LocalEmitterConfig(patience=5)
    s = _emitter(fitness)
    genomes, mask = local.ask(fitness, s, jax.random.PRNGKey(1))
    s = _tell(fitness, s, genomes, mask, jnp.full(12, 0.5))
    assert int(s.best_step) == 1
    s = _tell(fitness, s, genomes, mask, jnp.full(12, 0.5))
    assert int(s.best_step) == 1 and int(s.n_values) == 2
    s = _tell(fitness, s, genomes, mask, jnp.full(12, 0.6))
    assert int(s.best_step) == 3


def test_step_size_settings_errors_name_the_field():
    with pytest.raises(ValueError, match="sigma_rule must be one of fixed, success, got 'one_fifth'"):
        local.LocalEmitterConfig(sigma_rule="one_fifth")
    with pytest.raises(ValueError, match="success_target must be in"):
        local.LocalEmitterConfig(success_target=1.0)
    with pytest.raises(ValueError, match="patience must be an integer >= 0"):
        local.LocalEmitterConfig(patience=-1)
