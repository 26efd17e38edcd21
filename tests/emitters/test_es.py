"""Tests of emitters/es.py: maximisation, vmapped pools, registry and checks."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from emitters import es

TARGET = 3.0


def sphere(genomes):
    """Maximised at genomes == TARGET, where it is 0."""
    return -jnp.sum((genomes - TARGET) ** 2, axis=-1)


def run(config, key, mean, sigma, generations):
    """init, then `generations` ask/tell rounds in one scan."""
    init_key, loop_key = jax.random.split(key)
    state = es.init(config, init_key, mean, sigma)

    def generation(state, key):
        genomes, state = es.ask(config, state, key)
        return es.tell(config, state, genomes, sphere(genomes)), None

    state, _ = jax.lax.scan(generation, state, jax.random.split(loop_key, generations))
    return state


def first_ask_and_run(config, key, genome_size, sigma, generations):
    """The first population asked (to check sigma) and the state after a run."""
    state = es.init(config, key, jnp.zeros(genome_size), sigma)
    genomes, _ = es.ask(config, state, key)
    return genomes, run(config, key, jnp.zeros(genome_size), sigma, generations)


def test_cma_es_maximises_sphere_in_10d():
    config = es.ESConfig(algorithm="CMA_ES", population_size=12, sigma0=1.0)
    genomes, state = jax.jit(
        lambda k: first_ask_and_run(config, k, 10, None, 250)
    )(jax.random.key(0))
    assert abs(float(jnp.std(genomes)) - 1.0) < 0.25  # config.sigma0 when sigma is None
    np.testing.assert_allclose(state.mean, TARGET, atol=1e-2)
    # The maximisation sign survives evosax's minimisation.
    assert -1e-3 < float(state.best_fitness) <= 0.0
    np.testing.assert_allclose(state.best_genome, TARGET, atol=0.05)
    assert int(state.generation) == 250


def test_vmapped_pool_matches_separate_runs():
    """A pool stepped by vmap(ask)/vmap(tell), as SERENE's emitter pool does,
    equals the same emitters run one by one."""
    config = es.ESConfig(algorithm="CMA_ES", population_size=6)
    keys = jax.random.split(jax.random.key(1), 4)
    means = jnp.stack([jnp.full(5, v) for v in (0.0, 1.0, -2.0, 4.0)])
    sigmas = jnp.array([0.05, 0.3, 1.0, 0.5])
    generations = 12

    @jax.jit
    def pool(keys, means, sigmas):
        init_keys, loop_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
        states = jax.vmap(functools.partial(es.init, config))(init_keys, means, sigmas)
        ask = jax.vmap(functools.partial(es.ask, config))
        tell = jax.vmap(functools.partial(es.tell, config))

        def generation(states, keys):
            genomes, states = ask(states, keys)
            assert genomes.shape == (4, 6, 5)
            return tell(states, genomes, sphere(genomes)), None

        step_keys = jax.vmap(lambda k: jax.random.split(k, generations), out_axes=1)(loop_keys)
        return jax.lax.scan(generation, states, step_keys)[0]

    pooled = pool(keys, means, sigmas)
    np.testing.assert_array_equal(pooled.generation, [generations] * 4)
    single = jax.jit(functools.partial(run, config, generations=generations))
    for i in range(4):
        alone = single(keys[i], means[i], sigmas[i])
        for a, b in zip(jax.tree.leaves(alone), jax.tree.leaves(pooled)):
            np.testing.assert_allclose(b[i], a, rtol=1e-4, atol=1e-5)


# CMA_ES is covered by the 10-d test above; one compilation less.
@pytest.mark.parametrize("algorithm", sorted(set(es.ES_ALGORITHMS) - {"CMA_ES"}))
def test_every_registered_algorithm_samples_sigma_and_improves(algorithm):
    lr = {"Open_ES": 0.05, "PGPE": 0.1}.get(algorithm)
    config = es.ESConfig(algorithm=algorithm, population_size=16, learning_rate=lr)
    genomes, state = jax.jit(
        lambda k: first_ask_and_run(config, k, 16, 0.2, 20)
    )(jax.random.key(0))
    # Each emitter's own sigma is honoured (catches evosax's xNES sigma^2).
    assert abs(float(jnp.std(genomes)) - 0.2) < 0.03
    assert float(sphere(state.mean)) > 0.9 * float(sphere(jnp.zeros(16)))
    if algorithm == "Open_ES":  # fixed sigma: not reset by evosax's schedule
        np.testing.assert_allclose(state.sigma, 0.2)


def test_lm_ma_es_refuses_population_above_genome_size():
    config = es.ESConfig(algorithm="LM_MA_ES", population_size=8)
    with pytest.raises(ValueError, match="population_size <= genome size.*size 4"):
        es.init(config, jax.random.key(0), jnp.zeros(4))


# The small tests share one config and genome size so they share compilations.
SMALL = es.ESConfig(population_size=6)


def test_asked_genomes_are_clipped():
    state = es.init(SMALL, jax.random.key(0), jnp.full(3, 4.9), 50.0)
    genomes, _ = es.ask(SMALL, state, jax.random.key(1))
    assert float(genomes.min()) == -5.0 and float(genomes.max()) == 5.0


def test_nan_fitness_ranks_worst():
    state = es.init(SMALL, jax.random.key(0), jnp.zeros(3), 0.5)
    genomes, state = es.ask(SMALL, state, jax.random.key(1))
    fitness = sphere(genomes).at[0].set(jnp.nan)
    state = es.tell(SMALL, state, genomes, fitness)
    assert np.all(np.isfinite(state.mean))
    assert float(state.best_fitness) == float(jnp.nanmax(fitness))


def test_unknown_algorithm_lists_valid_names():
    with pytest.raises(ValueError, match=r"'CMA_ESS'.*valid names:.*CMA_ES.*Open_ES"):
        es.ESConfig(algorithm="CMA_ESS")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(population_size=1), "population_size must be an int >= 2"),
        (dict(algorithm="Open_ES", population_size=7), "must be even, got 7"),
        (dict(sigma0=0.0), "sigma0 must be a number > 0"),
        (dict(low=2.0, high=1.0), "low must be < high"),
        (dict(learning_rate=0.1), "CMA_ES has no learning rate"),
    ],
)
def test_config_rejects_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        es.ESConfig(**kwargs)


def test_functions_reject_bad_shapes():
    config = SMALL
    with pytest.raises(ValueError, match=r"mean must be a \[D\] genome"):
        es.init(config, jax.random.key(0), jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="sigma must be finite and > 0"):
        es.init(config, jax.random.key(0), jnp.zeros(3), -1.0)
    state = es.init(config, jax.random.key(0), jnp.zeros(3))
    genomes, state = es.ask(config, state, jax.random.key(1))
    with pytest.raises(ValueError, match=r"fitness must have shape \(6,\)"):
        es.tell(config, state, genomes, jnp.zeros(5))
    with pytest.raises(ValueError, match=r"genomes must have shape \(6, 3\)"):
        es.tell(config, state, genomes[:, :2], jnp.zeros(6))
    stacked = jax.tree.map(lambda x: jnp.stack([x, x]), state)
    with pytest.raises(ValueError, match="use jax.vmap"):
        es.ask(config, stacked, jax.random.key(2))
