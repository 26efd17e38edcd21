"""The result of evaluating a batch of genomes (docs/architecture.md)."""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Evaluation:
    """Per-policy results of one batch of episodes; every leaf has leading axis B.

    Attributes:
        reward: episode return [B] float32: the sum of the step rewards (a sparse
            task pays only at the episode's end, so this is that payment).
        reward_area: index of the reward area the episode ended in [B] int32, -1
            for none.
        descriptor: ground-truth behaviour descriptor [B, k] (e.g. final x, y in
            the task's descriptor bounds).
        trajectory: world positions at evenly spaced times [B, T, 2].
        observation: final top-down view [B, 64, 64, 3] in [0, 1], or None when
            the run does not ask for it.
        valid: False where the rollout produced NaN or inf [B] bool. Invalid
            policies must never enter an archive; their reward is 0, their
            reward area -1 and their descriptor the lower bounds.
    """

    reward: jax.Array
    reward_area: jax.Array
    descriptor: jax.Array
    trajectory: jax.Array
    valid: jax.Array
    observation: Optional[jax.Array] = None

    @property
    def batch_size(self) -> int:
        return self.reward.shape[0]


def concatenate(evaluations: list[Evaluation]) -> Evaluation:
    """Joins evaluations along the batch axis."""
    return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=0), *evaluations)
