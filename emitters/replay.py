"""A fixed-capacity ring buffer of transitions, as a pure pytree.

Off-policy learners (PGA-ME's TD3 critic, `emitters.td3`) store every step
of every evaluated episode here and sample uniform mini-batches. Written here
rather than taken from `brax.training.replay_buffers.UniformSamplingQueue`
because our episodes come as [B, T] blocks with a mask of the steps that
really happened (ended episodes are frozen, invalid rollouts are dropped):
the insertion must compact the masked steps, which brax's queue does not do.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from tasks.evaluation import Transitions


@struct.dataclass
class ReplayBuffer:
    """The stored transitions (leading axis = capacity) and where the next goes.

    Attributes:
        data: `Transitions` [C, ...]; `data.mask` marks the filled rows.
        cursor: row the next transition is written to.
        size: filled rows (<= C).
    """

    data: Transitions
    cursor: jax.Array
    size: jax.Array

    @property
    def capacity(self) -> int:
        return self.data.rewards.shape[0]


def init(capacity: int, observation_size: int, action_size: int) -> ReplayBuffer:
    """An empty buffer of `capacity` transitions.

    Raises:
        ValueError: capacity not a positive integer.
    """
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"replay buffer capacity must be a positive integer, got {capacity!r}")
    zeros = lambda *shape: jnp.zeros((capacity, *shape), jnp.float32)  # noqa: E731
    data = Transitions(
        obs=zeros(observation_size), actions=zeros(action_size), rewards=zeros(), next_obs=zeros(observation_size),
        dones=zeros(), mask=jnp.zeros((capacity,), bool),
    )
    return ReplayBuffer(data=data, cursor=jnp.zeros((), jnp.int32), size=jnp.zeros((), jnp.int32))


def insert(buffer: ReplayBuffer, transitions: Transitions) -> ReplayBuffer:
    """Appends the masked steps of `transitions` (any leading axes, e.g. [B, T]),
    in order, overwriting the oldest ones once full.

    When one batch holds more masked steps than the capacity, only its last
    `capacity` ones are kept (so no two land on the same row).
    """
    flat = jax.tree.map(lambda x: x.reshape((-1, *x.shape[transitions.mask.ndim:])), transitions)
    capacity = buffer.capacity
    mask = flat.mask
    rank = jnp.cumsum(mask, dtype=jnp.int32) - 1
    total = jnp.sum(mask, dtype=jnp.int32)
    keep = mask & (rank >= total - capacity)
    rows = jnp.where(keep, (buffer.cursor + rank) % capacity, capacity)  # out of range: dropped
    data = jax.tree.map(lambda old, new: old.at[rows].set(new.astype(old.dtype), mode="drop"), buffer.data, flat)
    return ReplayBuffer(
        data=data,
        cursor=(buffer.cursor + total) % capacity,
        size=jnp.minimum(buffer.size + total, capacity),
    )


def sample(buffer: ReplayBuffer, key: jax.Array, n: int) -> Transitions:
    """`n` transitions drawn uniformly (with replacement) among the filled rows
    (row 0, zeros, while the buffer is empty)."""
    rows = jax.random.randint(key, (n,), 0, jnp.maximum(buffer.size, 1))
    return jax.tree.map(lambda x: x[rows], buffer.data)
