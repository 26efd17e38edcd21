"""Policies: a flat float32 genome -> a controller mapping observations to actions.

Storage, distances and mutation all work on flat genomes; a policy knows how to
read one. The reference controller is the one of the SERENE/TAXONS/STAX
experiments; `MLPPolicy` wraps any flax module through one `unravel` made once.
"""
from __future__ import annotations

import dataclasses
from typing import Protocol, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


class Policy(Protocol):
    """What the rollout needs of a policy."""

    genome_size: int

    def apply(self, genome: jax.Array, observation: jax.Array) -> jax.Array:
        """Action [action_size] in [-1, 1] for one genome [D] and observation."""

    def init_genomes(self, key: jax.Array, n: int) -> jax.Array:
        """n initial genomes [n, D]."""


def _reference_activation(x):
    return 2.0 * jax.nn.sigmoid(x) - 1.0


@dataclasses.dataclass(frozen=True)
class ReferenceController:
    """Fully connected net of the reference experiments.

    Every layer, the output one too, applies 2*sigmoid(x)-1 and has ONE scalar
    bias shared by its units; observations are fed raw. The genome stores, layer
    by layer, the weight matrix [in, out] row-major then the bias. Initial genes
    are N(0, 1) clipped to [-5, 5] (Paolo et al. 2021, SERENE).

    Attributes:
        layer_sizes: (inputs, hidden..., outputs), e.g. (5, 5, 5, 2) for HardMaze.
        init_low, init_high: clip range of initial genes.
    """

    layer_sizes: tuple[int, ...]
    init_low: float = -5.0
    init_high: float = 5.0

    def __post_init__(self):
        sizes = tuple(int(s) for s in self.layer_sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise ValueError(
                f"layer_sizes must list >= 2 positive sizes (inputs ... outputs), got {self.layer_sizes!r}"
            )
        object.__setattr__(self, "layer_sizes", sizes)

    @property
    def genome_size(self) -> int:
        s = self.layer_sizes
        return sum(a * b + 1 for a, b in zip(s[:-1], s[1:]))

    def apply(self, genome: jax.Array, observation: jax.Array) -> jax.Array:
        x = observation
        offset = 0
        for n_in, n_out in zip(self.layer_sizes[:-1], self.layer_sizes[1:]):
            w = genome[offset : offset + n_in * n_out].reshape(n_in, n_out)
            b = genome[offset + n_in * n_out]
            offset += n_in * n_out + 1
            x = _reference_activation(x @ w + b)
        return x

    def init_genomes(self, key: jax.Array, n: int) -> jax.Array:
        g = jax.random.normal(key, (n, self.genome_size), jnp.float32)
        return jnp.clip(g, self.init_low, self.init_high)


_ACTIVATIONS = {"tanh": nn.tanh, "relu": nn.relu}
_KERNEL_INITS = {"lecun_normal": nn.initializers.lecun_normal, "lecun_uniform": nn.initializers.lecun_uniform}


class _MLP(nn.Module):
    hidden: Sequence[int]
    outputs: int
    activation: str = "tanh"
    kernel_init: str = "lecun_normal"

    @nn.compact
    def __call__(self, x):
        act, init = _ACTIVATIONS[self.activation], _KERNEL_INITS[self.kernel_init]()
        for h in self.hidden:
            x = act(nn.Dense(h, kernel_init=init)(x))
        return nn.tanh(nn.Dense(self.outputs, kernel_init=init)(x))


@dataclasses.dataclass(frozen=True, eq=False)
class MLPPolicy:
    """A standard flax MLP (tanh output layer, per-unit biases).

    Genomes are the flattened flax parameters; initial genomes use the
    kernel initialiser and zero biases, one independent draw per genome.
    `activation="relu", kernel_init="lecun_uniform"` is QDax's policy network
    (`qdax...networks.MLP` with `final_activation=tanh`).

    Attributes:
        observation_size: inputs.
        action_size: outputs.
        hidden: hidden layer widths.
        activation: hidden activation, "tanh" or "relu".
        kernel_init: "lecun_normal" (flax's default) or "lecun_uniform".
    """

    observation_size: int
    action_size: int
    hidden: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    kernel_init: str = "lecun_normal"

    def __post_init__(self):
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; valid: {', '.join(_ACTIVATIONS)}")
        if self.kernel_init not in _KERNEL_INITS:
            raise ValueError(f"unknown kernel_init {self.kernel_init!r}; valid: {', '.join(_KERNEL_INITS)}")
        module = _MLP(hidden=tuple(self.hidden), outputs=self.action_size, activation=self.activation,
                      kernel_init=self.kernel_init)
        params = module.init(jax.random.PRNGKey(0), jnp.zeros((self.observation_size,)))
        flat, unravel = ravel_pytree(params)
        object.__setattr__(self, "_module", module)
        object.__setattr__(self, "_unravel", unravel)
        object.__setattr__(self, "_size", int(flat.shape[0]))

    @property
    def genome_size(self) -> int:
        return self._size

    def apply(self, genome: jax.Array, observation: jax.Array) -> jax.Array:
        return self._module.apply(self._unravel(genome), observation)

    def init_genomes(self, key: jax.Array, n: int) -> jax.Array:
        keys = jax.random.split(key, n)
        x = jnp.zeros((self.observation_size,))
        return jax.vmap(lambda k: ravel_pytree(self._module.init(k, x))[0])(keys)
