"""A fixed random projection of the trajectory: a representation that knows
nothing about the task, the control against which learned spaces are judged
(and the simplest way to check that an algorithm works in any space)."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from representations import register
from representations.base import Representation, check_size, normalised_trajectory, trajectory_feature_size
from tasks.evaluation import Evaluation

SOURCES = ("trajectory", "final")


@register
@dataclasses.dataclass(frozen=True)
class Projection(Representation):
    """Descriptor = tanh(W x / sqrt(n)) with W ~ N(0, 1) drawn once from the
    run's key: x is the trajectory (or the final position) mapped to [-1, 1]
    over the world. Bounds [-1, 1]^size."""

    name = "projection"
    needs_trajectory = True

    @dataclasses.dataclass(frozen=True)
    class Config:
        """Projection settings.

        Attributes:
            size: descriptor dimensions (2).
            source: "trajectory" (every recorded position) or "final" (the
                last one).
        """

        size: int = 2
        source: str = "trajectory"

        def __post_init__(self):
            check_size("size", self.size, "descriptor dimensions")
            if self.source not in SOURCES:
                raise ValueError(f"source must be one of {', '.join(SOURCES)}, got {self.source!r}")

    @property
    def descriptor_size(self) -> int:
        return self.config.size

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (trajectory_feature_size(self.spec) if self.config.source == "trajectory" else 2,)

    def bounds(self):
        return (-1.0,) * self.config.size, (1.0,) * self.config.size

    def init(self, key: jax.Array) -> jax.Array:
        return jax.random.normal(key, (self.feature_shape[0], self.config.size), jnp.float32)

    def features(self, evaluation: Evaluation) -> jax.Array:
        x = normalised_trajectory(self.spec, evaluation.trajectory)
        return x if self.config.source == "trajectory" else x[:, -2:]

    def encode(self, params: jax.Array, features: jax.Array) -> jax.Array:
        return jnp.tanh(features @ params / jnp.sqrt(jnp.float32(features.shape[-1])))
