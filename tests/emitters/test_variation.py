"""Tests of emitters/variation.py: statistics, clipping, determinism, checks."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from emitters.variation import (
    gaussian_mutation,
    init_genomes,
    isoline_variation,
    polynomial_mutation,
)

KEY = jax.random.key(0)


# -- gaussian_mutation ---------------------------------------------------------


def test_gaussian_noise_has_requested_mean_and_std():
    genomes = jnp.zeros((2000, 50), jnp.float32)
    out = gaussian_mutation(KEY, genomes, sigma=0.05, low=None, high=None)
    noise = np.asarray(out - genomes)
    assert out.shape == genomes.shape and out.dtype == jnp.float32
    # 1e5 draws: the standard error of the mean is 1.6e-4, of the std 1.1e-4.
    assert abs(noise.mean()) < 1e-3
    assert abs(noise.std() - 0.05) < 1e-3
    assert np.all(noise != 0.0)  # every gene is mutated


def test_gaussian_clips_to_reference_bounds():
    genomes = jnp.full((100, 20), 4.99, jnp.float32).at[:50].set(-4.99)
    out = np.asarray(gaussian_mutation(KEY, genomes, sigma=1.0))
    assert out.min() >= -5.0 and out.max() <= 5.0
    assert np.any(out == 5.0) and np.any(out == -5.0)


def test_gaussian_per_row_sigma():
    sigma = jnp.array([0.0, 0.1, 1.0])
    genomes = jnp.ones((3, 20000), jnp.float32)
    noise = np.asarray(gaussian_mutation(KEY, genomes, sigma=sigma, low=None, high=None) - 1.0)
    assert np.all(noise[0] == 0.0)
    np.testing.assert_allclose(noise[1:].std(axis=1), [0.1, 1.0], rtol=0.03)


def test_gaussian_per_row_sigma_traced_under_jit():
    fn = jax.jit(lambda k, g, s: gaussian_mutation(k, g, sigma=s))
    out = fn(KEY, jnp.zeros((4, 3)), jnp.array([0.0, 0.0, 1.0, 1.0]))
    assert np.all(np.asarray(out[:2]) == 0.0) and np.all(np.asarray(out[2:]) != 0.0)


def test_gaussian_deterministic_per_key():
    genomes = jnp.zeros((100, 20))  # the shape of the clipping test: one compile
    a = gaussian_mutation(jax.random.key(3), genomes)
    b = gaussian_mutation(jax.random.key(3), genomes)
    c = gaussian_mutation(jax.random.key(4), genomes)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(genomes=jnp.zeros(5)), r"\[B, D\].*shape \(5,\)"),
        (dict(genomes=jnp.zeros((2, 3), jnp.int32)), "floating-point"),
        (dict(sigma=jnp.ones(3)), r"sigma must be a scalar or a \[4\] array"),
        (dict(sigma=-0.1), "sigma must be >= 0"),
        (dict(low=1.0, high=1.0), "low must be < high"),
        (dict(low="a"), "low must be a real number or None"),
    ],
)
def test_gaussian_rejects_bad_arguments(kwargs, match):
    args = dict(genomes=jnp.zeros((4, 3)))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        gaussian_mutation(KEY, **args)


# -- isoline_variation ---------------------------------------------------------


def test_isoline_identical_parents_leave_only_iso_noise():
    x = jax.random.normal(jax.random.key(1), (1000, 40))
    out = isoline_variation(KEY, x, x, iso_sigma=0.01, line_sigma=0.5, low=None, high=None)
    noise = np.asarray(out - x)
    assert abs(noise.mean()) < 1e-3
    assert abs(noise.std() - 0.01) < 3e-4


def test_isoline_line_term_moves_along_x2_minus_x1():
    k1, k2 = jax.random.split(jax.random.key(2))
    x1 = jax.random.normal(k1, (4000, 6))
    x2 = jax.random.normal(k2, (4000, 6))
    out = isoline_variation(KEY, x1, x2, iso_sigma=0.0, line_sigma=0.1, low=None, high=None)
    step, direction = np.asarray(out - x1), np.asarray(x2 - x1)
    # One coefficient per pair: the step is parallel to x2 - x1.
    coef = (step * direction).sum(1) / (direction * direction).sum(1)
    np.testing.assert_allclose(step, coef[:, None] * direction, atol=1e-5)
    assert abs(coef.mean()) < 0.01
    assert abs(coef.std() - 0.1) < 0.005


def test_isoline_zero_sigmas_return_x1_and_clip():
    x1 = jnp.full((3, 4), 1.0)
    x2 = jnp.full((3, 4), 2.0)
    np.testing.assert_array_equal(isoline_variation(KEY, x1, x2, iso_sigma=0.0, line_sigma=0.0), x1)
    far = isoline_variation(KEY, x1, x1 + 1000.0, iso_sigma=0.0, line_sigma=1.0, low=-5.0, high=5.0)
    assert np.all(np.abs(np.asarray(far)) <= 5.0)


def test_isoline_deterministic_per_key():
    x1, x2 = jnp.zeros((3, 4)), jnp.ones((3, 4))
    np.testing.assert_array_equal(
        isoline_variation(jax.random.key(7), x1, x2), isoline_variation(jax.random.key(7), x1, x2)
    )
    assert not np.allclose(
        isoline_variation(jax.random.key(7), x1, x2), isoline_variation(jax.random.key(8), x1, x2)
    )


def test_isoline_matches_qdax():
    qdax_ops = pytest.importorskip("qdax.core.emitters.mutation_operators")
    x1, x2 = jnp.zeros((3, 4)), jnp.ones((3, 4))
    key = jax.random.key(9)
    ours = isoline_variation(key, x1, x2, iso_sigma=0.01, line_sigma=0.1, low=-5.0, high=5.0)
    theirs = qdax_ops.isoline_variation(x1, x2, key, 0.01, 0.1, -5.0, 5.0)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)


def test_isoline_rejects_bad_arguments():
    with pytest.raises(ValueError, match="same shape"):
        isoline_variation(KEY, jnp.zeros((2, 3)), jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="line_sigma must be >= 0"):
        isoline_variation(KEY, jnp.zeros((2, 3)), jnp.zeros((2, 3)), line_sigma=-1.0)
    with pytest.raises(ValueError, match="x2 must be a"):
        isoline_variation(KEY, jnp.zeros((2, 3)), jnp.zeros(3))


# -- init_genomes --------------------------------------------------------------


def test_init_genomes_reference_distribution():
    g = np.asarray(init_genomes(KEY, 1000, 63))
    assert g.shape == (1000, 63) and g.dtype == np.float32
    assert abs(g.mean()) < 0.01 and abs(g.std() - 1.0) < 0.01
    wide = np.asarray(init_genomes(KEY, 1000, 63, std=10.0))
    assert wide.min() == -5.0 and wide.max() == 5.0


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((0, 5), {}, "n must be a positive int"),
        ((3, 2.5), {}, "genome_size must be a positive int"),
        ((3, 5), {"std": -1.0}, "std must be >= 0"),
        ((3, 5), {"low": 5.0, "high": -5.0}, "low must be < high"),
    ],
)
def test_init_genomes_rejects_bad_arguments(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        init_genomes(KEY, *args, **kwargs)


# -- polynomial_mutation -------------------------------------------------------


def test_polynomial_mutation_count_and_bounds():
    genomes = init_genomes(KEY, 1000, 63)
    out = np.asarray(polynomial_mutation(jax.random.key(5), genomes, proportion=0.5, eta=5.0))
    changed = (out != np.asarray(genomes)).sum(axis=1)
    assert np.all(changed == 31)  # int(0.5 * 63), exactly, in every genome
    assert out.min() >= -5.0 and out.max() <= 5.0
    with pytest.raises(ValueError, match=r"proportion must be in \[0, 1\]"):
        polynomial_mutation(KEY, genomes, proportion=1.5)
