"""What a behaviour representation is: the slot an algorithm's descriptors come from.

A representation turns an episode into a descriptor in two stages:

    features = representation.features(evaluation)      # stored with each policy
    descriptor = representation.encode(params, features)  # recomputable at any time

`features` is what the representation needs of an episode (the final
position, the subsampled trajectory, later the final top-down view as uint8),
kept in every archive row beside the genome. `encode` is a pure function of
the representation's parameters, so after a refit (`fit`) every stored
descriptor is recomputed from the stored features (`qd.refit`) without
re-running a single episode. The parameters live in the algorithm's state
(`RepresentationState`), so they are checkpointed and resumed with it.

The ground truth (`representations.ground_truth`) has no parameters and
encodes the identity; a fixed random projection has its matrix as parameters;
a learned one (PCA, later the TAXONS autoencoder) refits them every
`refit_every` generations. Metrics never use this descriptor: they use the
task's ground truth, which every `Evaluation` keeps.
"""
from __future__ import annotations

import abc
import dataclasses
from typing import Any, ClassVar, Optional

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from tasks.evaluation import Evaluation
from tasks.spec import TaskSpec


@struct.dataclass
class RepresentationState:
    """A representation's parameters inside an algorithm's state.

    Attributes:
        params: the representation's parameters (a pytree; () for none).
        fits: int32 scalar, how many times it was refitted.
    """

    params: Any
    fits: jax.Array


@dataclasses.dataclass(frozen=True)
class Representation(abc.ABC):
    """A behaviour representation of one task (frozen, hashable: it is a static
    field of algorithm states, so equal representations share jitted steps).

    Attributes:
        spec: the task's description.
        config: the representation's settings (its own `Config` dataclass).

    Subclasses set `name`, define `Config`, and implement `descriptor_size`,
    `feature_shape`, `features` and `encode`; learned ones also `fit`.
    """

    spec: TaskSpec
    config: Any

    name: ClassVar[str] = ""
    # Whether `fit` changes anything: only then does an algorithm refit it.
    learned: ClassVar[bool] = False
    # Whether `features` reads `Evaluation.observation` (the rendered view).
    needs_observation: ClassVar[bool] = False
    # Whether `features` reads `Evaluation.trajectory` (a scoring function has none).
    needs_trajectory: ClassVar[bool] = False
    # Whether `surprise` is defined (TAXONS' reconstruction error).
    has_surprise: ClassVar[bool] = False

    @dataclasses.dataclass(frozen=True)
    class Config:
        """No settings."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec.name!r}, {self.config!r})"

    @property
    @abc.abstractmethod
    def descriptor_size(self) -> int:
        """k, the size of a descriptor."""

    @property
    @abc.abstractmethod
    def feature_shape(self) -> tuple[int, ...]:
        """Shape of one policy's features (without the batch axis)."""

    @property
    def feature_dtype(self) -> Any:
        return jnp.float32

    @property
    def observation_frames(self) -> int:
        """Views of each episode `features` reads, where `needs_observation`
        (the evaluator renders that many; 1: the final view only)."""
        return 1

    @property
    def refit_every(self) -> int:
        """Generations between two refits (0: never)."""
        return int(getattr(self.config, "refit_every", 0)) if self.learned else 0

    def refit_due(self, count: jax.Array) -> jax.Array:
        """Whether a refit is due once `count` generations (or exploration
        chunks, for SERENE) are done: every `refit_every` by default."""
        every = max(self.refit_every, 1)
        count = jnp.asarray(count, jnp.int32)
        return (count > 0) & (count % every == 0)

    @property
    def encode_chunk(self) -> Optional[int]:
        """Rows encoded at once when many are (re)encoded; None: all at once."""
        return None

    def surprise(self, params: Any, features: jax.Array) -> jax.Array:
        """[B] how badly the representation explains each row (TAXONS'
        reconstruction error); only where `has_surprise`.

        Raises:
            ValueError: the representation has no surprise.
        """
        raise ValueError(f"representation {self.name!r} has no surprise (use the autoencoder)")

    def bounds(self) -> Optional[tuple[tuple[float, ...], tuple[float, ...]]]:
        """(low, high) of every descriptor, for grid and CVT archives; None
        when the space has no fixed bounds."""
        return None

    def init(self, key: jax.Array) -> Any:
        """The initial parameters (default: none)."""
        del key
        return ()

    @abc.abstractmethod
    def features(self, evaluation: Evaluation) -> jax.Array:
        """[B, *feature_shape] what is kept of each episode."""

    @abc.abstractmethod
    def encode(self, params: Any, features: jax.Array) -> jax.Array:
        """[B, k] float32 descriptors of [B, *feature_shape] features."""

    def fit(self, params: Any, features: jax.Array, mask: jax.Array, key: jax.Array) -> Any:
        """New parameters fitted to the rows of `features` where `mask` is True
        (default: unchanged). Traceable: it runs inside the jitted step."""
        del features, mask, key
        return params

    def init_state(self, key: jax.Array) -> RepresentationState:
        return RepresentationState(params=self.init(key), fits=jnp.zeros((), jnp.int32))


def normalised_trajectory(spec: TaskSpec, trajectory: jax.Array) -> jax.Array:
    """[B, T * 2] trajectory positions mapped to [-1, 1] over the task's world."""
    low = jnp.asarray(spec.world_low, jnp.float32)
    high = jnp.asarray(spec.world_high, jnp.float32)
    unit = 2.0 * (trajectory - low) / (high - low) - 1.0
    return unit.reshape(unit.shape[0], -1)


def trajectory_feature_size(spec: TaskSpec) -> int:
    return 2 * len(spec.trajectory_steps)


def check_size(name: str, value: Any, what: str = "size") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer ({what}), got {value!r}")
    return int(value)
