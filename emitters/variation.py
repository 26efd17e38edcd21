"""Variation operators on flat genomes: the mutations and crossovers QD uses.

Every operator is a pure function of an explicit PRNG key and a batch of
genomes of shape [B, D] (flat float32 vectors, see docs/architecture.md), and
returns a new batch of the same shape. Arguments are checked at Python level,
so a wrong shape fails at trace time with a message instead of broadcasting
silently.

Reference settings (docs/reference.md): initial genomes N(0, 1) clipped to
[-5, 5]; mutation adds N(0, 0.05) to every gene and clips to [-5, 5].
"""
from __future__ import annotations

import functools
import numbers

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "gaussian_mutation",
    "init_genomes",
    "isoline_variation",
    "polynomial_mutation",
]

DEFAULT_LOW = -5.0
DEFAULT_HIGH = 5.0


# -- argument checks --------------------------------------------------------


def _host_value(x) -> np.ndarray | None:
    """The value of a Python number or NumPy array; None for JAX arrays, whose
    value is either traced or would cost a device-to-host sync to read."""
    if isinstance(x, (numbers.Number, np.ndarray, np.generic)):
        return np.asarray(x)
    return None


def _check_genomes(name: str, genomes) -> None:
    shape = getattr(genomes, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(
            f"{name} must be a [B, D] array of flat genomes, got "
            f"{'a ' + type(genomes).__name__ if shape is None else f'shape {tuple(shape)}'}."
        )
    if not jnp.issubdtype(genomes.dtype, jnp.floating):
        raise ValueError(f"{name} must be a floating-point array, got dtype {genomes.dtype}.")


def _check_bounds(low, high) -> None:
    for label, bound in (("low", low), ("high", high)):
        if bound is not None and not isinstance(bound, numbers.Real):
            raise ValueError(f"{label} must be a real number or None (no clipping), got {bound!r}.")
    if low is not None and high is not None and not low < high:
        raise ValueError(f"low must be < high, got low={low}, high={high}.")


def _check_scale(name: str, value, batch: int | None = None) -> None:
    """A non-negative spread: a scalar, or one value per row when `batch` is given."""
    shape = np.shape(value)
    allowed = [()] if batch is None else [(), (batch,)]
    if shape not in allowed:
        valid = "a scalar" if batch is None else f"a scalar or a [{batch}] array (one per row)"
        raise ValueError(f"{name} must be {valid}, got shape {shape}.")
    concrete = _host_value(value)
    if concrete is not None and np.any(concrete < 0):
        raise ValueError(f"{name} must be >= 0, got {value!r}.")


def _clip(x: jax.Array, low, high) -> jax.Array:
    if low is None and high is None:
        return x
    return jnp.clip(x, low, high)


# -- operators ----------------------------------------------------------------


def init_genomes(
    key: jax.Array,
    n: int,
    genome_size: int,
    *,
    std: float = 1.0,
    low: float | None = DEFAULT_LOW,
    high: float | None = DEFAULT_HIGH,
) -> jax.Array:
    """Samples initial genomes N(0, std^2) clipped to [low, high].

    The reference NS/SERENE code starts from N(0, 1) clipped to [-5, 5].

    Args:
        key: PRNG key.
        n: number of genomes (> 0).
        genome_size: genes per genome (> 0).
        std: standard deviation of each gene (>= 0).
        low: lower clip bound, or None for none.
        high: upper clip bound, or None for none.

    Returns:
        float32 array [n, genome_size].

    Raises:
        ValueError: if `n` or `genome_size` is not a positive int, `std` is
            negative, or `low >= high`.
    """
    for label, value in (("n", n), ("genome_size", genome_size)):
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"{label} must be a positive int, got {value!r}.")
    _check_scale("std", std)
    _check_bounds(low, high)
    return _init_genomes(key, int(n), int(genome_size), std, low, high)


@functools.partial(jax.jit, static_argnums=(1, 2, 4, 5))
def _init_genomes(key, n, genome_size, std, low, high):
    genomes = std * jax.random.normal(key, (n, genome_size), dtype=jnp.float32)
    return _clip(genomes, low, high).astype(jnp.float32)


def gaussian_mutation(
    key: jax.Array,
    genomes: jax.Array,
    *,
    sigma: float | jax.Array = 0.05,
    low: float | None = DEFAULT_LOW,
    high: float | None = DEFAULT_HIGH,
) -> jax.Array:
    """Adds isotropic Gaussian noise to every gene, then clips.

    This is the mutation of the novelty-search reference (sigma 0.05, clip
    [-5, 5]; Lehman & Stanley 2011 use the same operator family). A per-row
    `sigma` lets a batch of emitters with their own step sizes (SERENE's local
    emitters) mutate in one call.

    Args:
        key: PRNG key.
        genomes: [B, D] parent genomes.
        sigma: noise standard deviation, a scalar or a [B] array (one per row);
            must be >= 0.
        low: lower clip bound, or None for none.
        high: upper clip bound, or None for none.

    Returns:
        [B, D] mutated genomes, same dtype as `genomes`.

    Raises:
        ValueError: if `genomes` is not a floating [B, D] array, `sigma` is not
            a scalar or [B] array of non-negative values, or `low >= high`.
    """
    _check_genomes("genomes", genomes)
    _check_scale("sigma", sigma, batch=genomes.shape[0])
    _check_bounds(low, high)
    return _gaussian(key, genomes, jnp.asarray(sigma, genomes.dtype), low, high)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _gaussian(key, genomes, sigma, low, high):
    if sigma.ndim == 1:
        sigma = sigma[:, None]
    noise = jax.random.normal(key, genomes.shape, dtype=genomes.dtype)
    return _clip(genomes + sigma * noise, low, high).astype(genomes.dtype)


def isoline_variation(
    key: jax.Array,
    x1: jax.Array,
    x2: jax.Array,
    *,
    iso_sigma: float = 0.01,
    line_sigma: float = 0.1,
    low: float | None = DEFAULT_LOW,
    high: float | None = DEFAULT_HIGH,
) -> jax.Array:
    """Iso+LineDD variation: isotropic noise plus a random step along x2 - x1.

    `x = x1 + iso_sigma * N(0, I) + line_sigma * N(0, 1) * (x2 - x1)`, with one
    line coefficient per pair (Vassiliades & Mouret 2018, "Discovering the
    elite hypervolume by leveraging interspecies correlation", GECCO). The line
    term exploits the correlation between elites. Same offspring as QDax's
    `isoline_variation` for the same key (but key first, and clipped to
    [-5, 5] by default).

    Args:
        key: PRNG key.
        x1: [B, D] first parents (the ones perturbed).
        x2: [B, D] second parents (they give the direction).
        iso_sigma: isotropic noise standard deviation (>= 0).
        line_sigma: standard deviation of the coefficient along x2 - x1 (>= 0).
        low: lower clip bound, or None for none.
        high: upper clip bound, or None for none.

    Returns:
        [B, D] offspring, same dtype as `x1`.

    Raises:
        ValueError: if `x1`/`x2` are not floating [B, D] arrays of the same
            shape, a sigma is negative or not a scalar, or `low >= high`.
    """
    _check_genomes("x1", x1)
    _check_genomes("x2", x2)
    if x1.shape != x2.shape:
        raise ValueError(f"x1 and x2 must have the same shape, got {x1.shape} and {x2.shape}.")
    _check_scale("iso_sigma", iso_sigma)
    _check_scale("line_sigma", line_sigma)
    _check_bounds(low, high)
    return _isoline(key, x1, x2, iso_sigma, line_sigma, low, high)


@functools.partial(jax.jit, static_argnums=(5, 6))
def _isoline(key, x1, x2, iso_sigma, line_sigma, low, high):
    # Keys are split exactly as QDax does, so both give the same offspring.
    key, line_key = jax.random.split(key)
    (iso_key,) = jax.random.split(key, 1)
    iso_noise = iso_sigma * jax.random.normal(iso_key, x1.shape, dtype=x1.dtype)
    line_noise = line_sigma * jax.random.normal(line_key, (x1.shape[0],), dtype=x1.dtype)[:, None]
    x = x1 + iso_noise + line_noise * (x2 - x1)
    return _clip(x, low, high).astype(x1.dtype)


def polynomial_mutation(
    key: jax.Array,
    genomes: jax.Array,
    *,
    proportion: float = 1.0,
    eta: float = 20.0,
    low: float = DEFAULT_LOW,
    high: float = DEFAULT_HIGH,
) -> jax.Array:
    """Bounded polynomial mutation (Deb & Goyal 1996; Deb 2001, NSGA-II).

    Mutates exactly `int(proportion * D)` genes per genome, chosen uniformly
    without replacement (as QDax's `polynomial_mutation`); the perturbation
    shrinks near the bounds so offspring stay inside [low, high].

    Args:
        key: PRNG key.
        genomes: [B, D] parent genomes, inside [low, high].
        proportion: fraction of genes mutated per genome, in [0, 1].
        eta: distribution index (> 0); larger keeps offspring closer to parents.
        low: lower bound (required: the operator is defined by its bounds).
        high: upper bound.

    Returns:
        [B, D] mutated genomes in [low, high], same dtype as `genomes`.

    Raises:
        ValueError: if `genomes` is not a floating [B, D] array, `proportion`
            is outside [0, 1], `eta <= 0`, or bounds are missing or unordered.
    """
    _check_genomes("genomes", genomes)
    if not 0.0 <= proportion <= 1.0:
        raise ValueError(f"proportion must be in [0, 1], got {proportion!r}.")
    if not eta > 0:
        raise ValueError(f"eta must be > 0, got {eta!r}.")
    if low is None or high is None:
        raise ValueError("polynomial_mutation needs finite low and high bounds, got None.")
    _check_bounds(low, high)
    return _polynomial(key, genomes, int(proportion * genomes.shape[1]), float(eta), low, high)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _polynomial(key, genomes, n_mutated, eta, low, high):
    batch, dims = genomes.shape
    select_key, u_key = jax.random.split(key)
    # Rank of a uniform draw per gene: the n lowest ranks are a uniform choice
    # of n genes without replacement, vectorised over the batch.
    ranks = jnp.argsort(jnp.argsort(jax.random.uniform(select_key, (batch, dims)), axis=1), axis=1)
    mutate = ranks < n_mutated

    x = jnp.clip(genomes, low, high)
    span = high - low
    delta_1 = (x - low) / span
    delta_2 = (high - x) / span
    u = jax.random.uniform(u_key, x.shape, dtype=x.dtype)
    power = 1.0 / (eta + 1.0)
    lower = (2.0 * u + (1.0 - 2.0 * u) * delta_1 ** (eta + 1.0)) ** power - 1.0
    upper = 1.0 - (2.0 * (1.0 - u) + 2.0 * (u - 0.5) * delta_2 ** (eta + 1.0)) ** power
    delta_q = jnp.where(u < 0.5, lower, upper)
    mutated = jnp.clip(x + delta_q * span, low, high)
    return jnp.where(mutate, mutated, genomes).astype(genomes.dtype)
