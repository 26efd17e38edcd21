"""The hand-designed behaviour descriptor: the task's ground truth (e.g. the
final x, y of the robot, the ball or the end effector). The default of every
algorithm."""
from __future__ import annotations

import dataclasses

import jax

from representations import register
from representations.base import Representation
from tasks.evaluation import Evaluation


@register
@dataclasses.dataclass(frozen=True)
class GroundTruth(Representation):
    """Descriptor = the task's ground-truth descriptor, in its declared bounds."""

    name = "ground_truth"

    @property
    def descriptor_size(self) -> int:
        return self.spec.descriptor_size

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return (self.spec.descriptor_size,)

    def bounds(self):
        return tuple(self.spec.descriptor_low), tuple(self.spec.descriptor_high)

    def features(self, evaluation: Evaluation) -> jax.Array:
        return evaluation.descriptor

    def encode(self, params, features: jax.Array) -> jax.Array:
        del params
        return features
