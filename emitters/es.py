"""Evolution strategies as pure `init`/`ask`/`tell` functions, through evosax.

A thin functional layer over evosax 0.3.2: the algorithm is chosen by name
from `ES_ALGORITHMS`, the static settings live in a frozen `ESConfig`, and the
evolving state is an `ESState` pytree. Every function takes the config first
and has no Python-side state, so a pool of independent emitters steps together
under `jax.vmap` (SERENE's CMA-ES emitters)::

    config = ESConfig(algorithm="CMA_ES", population_size=12)
    states = jax.vmap(lambda k, m, s: init(config, k, m, s))(keys, means, sigmas)
    genomes, states = jax.vmap(functools.partial(ask, config))(states, ask_keys)
    states = jax.vmap(functools.partial(tell, config))(states, genomes, fitness)

Sign convention: OUR fitness is maximised (rewards, novelty); evosax
minimises, so `tell` hands it the negated fitness and `ESState.best_fitness`
negates back. NaN or -inf fitness ranks worst.

References:
    Hansen 2016, "The CMA Evolution Strategy: A Tutorial", arXiv:1604.00772.
    Salimans et al. 2017, "Evolution Strategies as a Scalable Alternative to
    Reinforcement Learning", arXiv:1703.03864.
    Lange 2023, "evosax: JAX-based Evolution Strategies", GECCO companion.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import numbers
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from evosax.algorithms import distribution_based as _ed
from evosax.core.optimizer import clipup
from flax import struct

__all__ = ["ES_ALGORITHMS", "ESConfig", "ESState", "ask", "init", "tell"]


@dataclasses.dataclass(frozen=True)
class _Algorithm:
    """How the wrapper drives one evosax algorithm.

    Attributes:
        cls: the evosax class.
        reference: the paper, for the docs.
        optimizer: builds the mean optimizer from `ESConfig.learning_rate`;
            None when the algorithm has no learning rate (CMA family).
        schedule_std: evosax 0.3.2 resets `state.std` from a constructor-level
            schedule at every `tell`; the wrapper keeps the per-state sigma
            instead, so each emitter of a vmapped pool has its own.
        even_population: antithetic sampling needs an even population.
    """

    cls: type
    reference: str
    optimizer: Callable[[float], optax.GradientTransformation] | None = None
    schedule_std: bool = False
    even_population: bool = False


ES_ALGORITHMS: dict[str, _Algorithm] = {
    "CMA_ES": _Algorithm(_ed.CMA_ES, "Hansen 2016, arXiv:1604.00772"),
    "Sep_CMA_ES": _Algorithm(_ed.Sep_CMA_ES, "Ros & Hansen 2008, PPSN"),
    "MA_ES": _Algorithm(_ed.MA_ES, "Beyer & Sendhoff 2017, IEEE TEC"),
    "LM_MA_ES": _Algorithm(_ed.LM_MA_ES, "Loshchilov et al. 2017, IEEE TEC"),
    "SNES": _Algorithm(
        _ed.SNES, "Schaul et al. 2011, GECCO", optimizer=lambda lr: optax.sgd(lr)
    ),
    "xNES": _Algorithm(
        _ed.xNES, "Glasmachers et al. 2010, GECCO", optimizer=lambda lr: optax.sgd(lr)
    ),
    "SimpleES": _Algorithm(
        _ed.SimpleES, "Rechenberg 1978", optimizer=lambda lr: optax.sgd(lr)
    ),
    "Open_ES": _Algorithm(
        _ed.Open_ES,
        "Salimans et al. 2017, arXiv:1703.03864",
        optimizer=lambda lr: optax.adam(lr),  # Salimans et al. use Adam.
        schedule_std=True,
        even_population=True,
    ),
    "PGPE": _Algorithm(
        _ed.PGPE,
        "Sehnke et al. 2010, Neural Networks",
        # evosax's default ClipUp keeps max_velocity = 2 * learning_rate.
        optimizer=lambda lr: clipup(learning_rate=lr, max_velocity=2.0 * lr),
        even_population=True,
    ),
}
"""The algorithms `ESConfig.algorithm` may name. Others from evosax are left
out on purpose: they need a key in `tell` (SimulatedAnnealing), learned
weights (LES, EvoTF_ES), or gradients (GuidedES, ASEBO)."""


def _valid_names() -> str:
    return ", ".join(sorted(ES_ALGORITHMS))


@dataclasses.dataclass(frozen=True)
class ESConfig:
    """Static settings of an ES emitter (hashable: pass it as a static arg).

    Attributes:
        algorithm: a key of `ES_ALGORITHMS`, e.g. "CMA_ES".
        population_size: genomes per `ask` (>= 2; even for Open_ES and PGPE).
        sigma0: initial step size used when `init` gets no sigma (> 0).
        low: lower clip bound of asked genomes, or None for none.
        high: upper clip bound of asked genomes, or None for none.
        learning_rate: mean learning rate for the gradient-based algorithms
            (Open_ES: Adam; SNES, xNES, SimpleES: SGD; PGPE: ClipUp). None keeps
            evosax's default; must be None for the CMA family.

    Raises:
        ValueError: on an unknown algorithm or an invalid setting.
    """

    algorithm: str = "CMA_ES"
    population_size: int = 12
    sigma0: float = 0.05
    low: float | None = -5.0
    high: float | None = 5.0
    learning_rate: float | None = None

    def __post_init__(self) -> None:
        if self.algorithm not in ES_ALGORITHMS:
            raise ValueError(
                f"Unknown ES algorithm {self.algorithm!r}; valid names: {_valid_names()}."
            )
        spec = ES_ALGORITHMS[self.algorithm]
        pop = self.population_size
        if not isinstance(pop, numbers.Integral) or isinstance(pop, bool) or pop < 2:
            raise ValueError(f"population_size must be an int >= 2, got {pop!r}.")
        if spec.even_population and pop % 2:
            raise ValueError(
                f"{self.algorithm} samples antithetic pairs: population_size must be "
                f"even, got {pop}."
            )
        if not (isinstance(self.sigma0, numbers.Real) and self.sigma0 > 0):
            raise ValueError(f"sigma0 must be a number > 0, got {self.sigma0!r}.")
        for label, bound in (("low", self.low), ("high", self.high)):
            if bound is not None and not isinstance(bound, numbers.Real):
                raise ValueError(f"{label} must be a number or None, got {bound!r}.")
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ValueError(f"low must be < high, got low={self.low}, high={self.high}.")
        if self.learning_rate is not None:
            if spec.optimizer is None:
                raise ValueError(
                    f"{self.algorithm} has no learning rate; leave learning_rate=None "
                    f"(got {self.learning_rate!r})."
                )
            if not (isinstance(self.learning_rate, numbers.Real) and self.learning_rate > 0):
                raise ValueError(f"learning_rate must be > 0 or None, got {self.learning_rate!r}.")


@struct.dataclass
class ESState:
    """State of one ES emitter (stack them along axis 0 to vmap a pool).

    Attributes:
        inner: the evosax state of the chosen algorithm (its `mean`, `std`,
            covariance, ... in evosax's minimisation convention).
    """

    inner: Any

    @property
    def mean(self) -> jax.Array:
        """Centre of the search distribution, [D]."""
        return self.inner.mean

    @property
    def sigma(self) -> jax.Array:
        """Step size: a scalar for the CMA family and Open_ES, [D] for SNES,
        SimpleES and PGPE (per-gene)."""
        return self.inner.std

    @property
    def best_genome(self) -> jax.Array:
        """Best genome told so far (NaN before the first `tell`), [D]."""
        return self.inner.best_solution

    @property
    def best_fitness(self) -> jax.Array:
        """Best fitness told so far, maximisation sign (-inf before any)."""
        return -self.inner.best_fitness

    @property
    def generation(self) -> jax.Array:
        """Number of `tell` calls so far."""
        return self.inner.generation_counter


@functools.lru_cache(maxsize=None)
def _strategy(config: ESConfig, num_dims: int) -> tuple[Any, Any]:
    """One evosax instance and its default params per (config, genome size).

    Cached because evosax jits its methods with the instance as a static
    argument (hashed by identity): a fresh instance per call would recompile.
    Built under `ensure_compile_time_eval` because evosax computes arrays in
    its constructor and `default_params` (LM_MA_ES even calls `int()` on one);
    made inside a caller's jit they would be tracers, fail, or leak into the
    cache.
    """
    spec = ES_ALGORITHMS[config.algorithm]
    if config.algorithm == "LM_MA_ES" and config.population_size > num_dims:
        # Its path learning rates are c_c,i = lambda / (4^i n) (Loshchilov et
        # al. 2017); above 1 the paths blow up (evosax 0.3.2 returns NaN).
        raise ValueError(
            f"LM_MA_ES needs population_size <= genome size, got population_size="
            f"{config.population_size} for genomes of size {num_dims}; use CMA_ES or "
            "Sep_CMA_ES for small genomes."
        )
    kwargs = {}
    if config.learning_rate is not None:
        kwargs["optimizer"] = spec.optimizer(config.learning_rate)
    with jax.ensure_compile_time_eval():
        strategy = spec.cls(
            population_size=config.population_size,
            solution=np.zeros((num_dims,), np.float32),
            **kwargs,
        )
        return strategy, strategy.default_params


def _check_state(state: ESState) -> int:
    """Returns D; refuses a stacked pool passed without vmap."""
    if not isinstance(state, ESState):
        raise ValueError(f"state must be an ESState, got {type(state).__name__}.")
    shape = jnp.shape(state.inner.mean)
    if len(shape) != 1:
        raise ValueError(
            f"state.mean must be [D], got shape {shape}; for a stacked pool of "
            "states use jax.vmap over init/ask/tell."
        )
    return shape[0]


def init(
    config: ESConfig,
    key: jax.Array,
    mean: jax.Array,
    sigma: float | jax.Array | None = None,
) -> ESState:
    """Starts an ES centred on `mean` with step size `sigma`.

    Args:
        config: static settings.
        key: PRNG key.
        mean: [D] initial centre (e.g. SERENE's emitter ancestor genome).
        sigma: initial step size, a scalar (may be traced, so a vmapped pool can
            start each emitter with its own sigma); None means `config.sigma0`.

    Returns:
        The initial `ESState`.

    Raises:
        ValueError: if `mean` is not a [D] array or `sigma` is not a positive
            scalar.
    """
    mean = jnp.asarray(mean, dtype=jnp.float32)
    if mean.ndim != 1 or mean.shape[0] < 1:
        raise ValueError(f"mean must be a [D] genome with D >= 1, got shape {mean.shape}.")
    sigma = config.sigma0 if sigma is None else sigma
    if jnp.ndim(sigma) != 0:
        raise ValueError(f"sigma must be a scalar, got shape {jnp.shape(sigma)}.")
    if isinstance(sigma, numbers.Real) and not (sigma > 0 and math.isfinite(sigma)):
        raise ValueError(f"sigma must be finite and > 0, got {sigma!r}.")
    return _init(config, key, mean, jnp.asarray(sigma, dtype=jnp.float32))


# The public functions check arguments in Python, then run one jitted body:
# called eagerly that is one dispatch instead of several, and under the
# caller's jit/vmap the inner jit is simply inlined.
@functools.partial(jax.jit, static_argnums=0)
def _init(config: ESConfig, key: jax.Array, mean: jax.Array, sigma: jax.Array) -> ESState:
    strategy, params = _strategy(config, mean.shape[0])
    if hasattr(params, "std_init"):
        params = params.replace(std_init=sigma)
    inner = strategy.init(key, mean, params)
    if ES_ALGORITHMS[config.algorithm].schedule_std:
        inner = inner.replace(std=jnp.broadcast_to(sigma, jnp.shape(inner.std)))
    if config.algorithm == "xNES":
        # evosax 0.3.2 sets both std = sigma and B = sigma * I and samples
        # mean + std * z @ B, i.e. with step sigma^2; xNES factors A = sigma * B
        # with B of unit determinant (Glasmachers et al. 2010), so B = I.
        inner = inner.replace(B=jnp.eye(mean.shape[0], dtype=jnp.float32))
    return ESState(inner=inner)


def ask(config: ESConfig, state: ESState, key: jax.Array) -> tuple[jax.Array, ESState]:
    """Samples a population around the current mean.

    Args:
        config: static settings (the one given to `init`).
        state: the emitter's state.
        key: PRNG key.

    Returns:
        (genomes [population_size, D] float32 clipped to [low, high], new state;
        CMA-ES caches its eigendecomposition in the state).

    Raises:
        ValueError: if `state` is a stacked pool (use jax.vmap).
    """
    _check_state(state)
    return _ask(config, state, key)


@functools.partial(jax.jit, static_argnums=0)
def _ask(config: ESConfig, state: ESState, key: jax.Array) -> tuple[jax.Array, ESState]:
    strategy, params = _strategy(config, state.inner.mean.shape[0])
    genomes, inner = strategy.ask(key, state.inner, params)
    if config.low is not None or config.high is not None:
        genomes = jnp.clip(genomes, config.low, config.high)
    return genomes.astype(jnp.float32), ESState(inner=inner)


def tell(
    config: ESConfig,
    state: ESState,
    genomes: jax.Array,
    fitness: jax.Array,
    key: jax.Array | None = None,
) -> ESState:
    """Updates the search distribution with evaluated genomes.

    Args:
        config: static settings (the one given to `init`).
        state: the state `ask` returned.
        genomes: [population_size, D] the genomes `ask` returned, in the same
            order (MA_ES, LM_MA_ES and xNES update from the noise they kept at
            `ask`; xNES ignores `genomes` beyond tracking the best).
        fitness: [population_size] fitness to MAXIMISE. NaN and -inf rank worst.
        key: PRNG key; the registered algorithms update deterministically, so
            None (a fixed key) is fine.

    Returns:
        The updated state.

    Raises:
        ValueError: if shapes do not match the config and the state.
    """
    num_dims = _check_state(state)
    expected = (config.population_size, num_dims)
    if jnp.shape(genomes) != expected:
        raise ValueError(f"genomes must have shape {expected}, got {jnp.shape(genomes)}.")
    if jnp.shape(fitness) != (config.population_size,):
        raise ValueError(
            f"fitness must have shape ({config.population_size},), got {jnp.shape(fitness)}."
        )
    key = jax.random.key(0) if key is None else key
    return _tell(config, state, genomes, fitness, key)


@functools.partial(jax.jit, static_argnums=0)
def _tell(
    config: ESConfig, state: ESState, genomes: jax.Array, fitness: jax.Array, key: jax.Array
) -> ESState:
    strategy, params = _strategy(config, state.inner.mean.shape[0])
    # evosax minimises; our fitness is maximised, so it gets the negation
    # (ranks, and therefore every update, are mirrored exactly).
    neg_fitness = -jnp.asarray(fitness, dtype=jnp.float32)
    inner, _ = strategy.tell(
        key, jnp.asarray(genomes, jnp.float32), neg_fitness, state.inner, params
    )
    if ES_ALGORITHMS[config.algorithm].schedule_std:
        inner = inner.replace(std=state.inner.std)
    return ESState(inner=inner)
