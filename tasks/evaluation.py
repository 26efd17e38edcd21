"""The result of evaluating a batch of genomes (docs/architecture.md)."""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Transitions:
    """Every step of a batch of episodes, for off-policy learners (PGA-ME's
    TD3 critic); leaves have leading axes [B, T] with T the episode length.

    Attributes:
        obs: observation before the step [B, T, O].
        actions: action taken, clipped to [-1, 1] as the task applies it [B, T, A].
        rewards: reward of the step [B, T].
        next_obs: observation after the step [B, T, O].
        dones: 1.0 where the step ended the episode [B, T].
        mask: [B, T] bool, the step really happened (False after the episode
            ended, and for every step of an invalid rollout).
    """

    obs: jax.Array
    actions: jax.Array
    rewards: jax.Array
    next_obs: jax.Array
    dones: jax.Array
    mask: jax.Array


@struct.dataclass
class Evaluation:
    """Per-policy results of one batch of episodes; every leaf has leading axis B.

    Attributes:
        reward: episode return [B] float32: the sum of the step rewards (for
            the sparse tasks, the one paid at the episode's end).
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
        transitions: every step (`Transitions`), or None unless the evaluator
            records them (`Evaluator.with_transitions`).
        log_prob_grad: [B, D] gradient w.r.t. the genome of the log-probability
            of the sampled actions, sum over the episode's steps, for a
            stochastic evaluation (`Evaluator.stochastic`: Gaussian action
            noise); None for the deterministic one.
    """

    reward: jax.Array
    reward_area: jax.Array
    descriptor: jax.Array
    trajectory: jax.Array
    valid: jax.Array
    observation: Optional[jax.Array] = None
    transitions: Optional[Transitions] = None
    log_prob_grad: Optional[jax.Array] = None

    @property
    def batch_size(self) -> int:
        return self.reward.shape[0]


def concatenate(evaluations: list[Evaluation]) -> Evaluation:
    """Joins evaluations along the batch axis."""
    return jax.tree.map(lambda *xs: jnp.concatenate(xs, axis=0), *evaluations)
