"""A fixed-size pool of SERENE emitters that step together under `vmap`.

The pool holds `capacity` slots of `emitters.local.LocalEmitterState` stacked
on a leading axis, each EMPTY, a CANDIDATE (being bootstrapped) or ACTIVE
(promoted). Shapes never depend on how many emitters exist, so adding,
stepping and ending emitters all jit; a step gathers the chosen slots, asks
them for genomes in one `vmap`, and scatters their told states back.

Which slots step, and what happens when a candidate is judged or an emitter
stagnates, is SERENE's business (`qd.algorithms.serene.algorithm`); this module only stores and
steps emitters and keeps their identity and history.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from qd.algorithms.serene import local_emitters as local

EMPTY, CANDIDATE, ACTIVE = 0, 1, 2


@struct.dataclass
class EmitterPool:
    """The slots of a pool; every leaf has leading axis `capacity`.

    Attributes:
        emitters: stacked `LocalEmitterState`s.
        status: [E] int32, EMPTY / CANDIDATE / ACTIVE.
        ancestor: [E, D] ancestor genomes.
        ancestor_payload: pytree [E, ...] the ancestors' other data.
        ident: [E] int32 serial number of the emitter in the slot (-1 empty).
        created: [E] int32 evaluations spent by the run when it was created.
        next_ident: serial number of the next emitter.
        overflow: candidates dropped because every slot was taken.
    """

    emitters: local.LocalEmitterState
    status: jax.Array
    ancestor: jax.Array
    ancestor_payload: Any
    ident: jax.Array
    created: jax.Array
    next_ident: jax.Array
    overflow: jax.Array

    @property
    def capacity(self) -> int:
        return self.status.shape[0]


def init(
    config: local.LocalEmitterConfig, capacity: int, genome_size: int, payload_row: Any
) -> EmitterPool:
    """An empty pool of `capacity` slots for genomes of `genome_size`.

    Args:
        config: the emitters' settings.
        capacity: number of slots (>= 1).
        genome_size: D.
        payload_row: one agent's payload (no batch axis), the template.

    Raises:
        ValueError: if capacity is not a positive integer.
    """
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"emitter pool capacity must be a positive integer, got {capacity!r}")
    history = config.history_length(genome_size)
    one = local.create(
        config, jax.random.PRNGKey(0), jnp.zeros((genome_size,), jnp.float32), 0.05, payload_row, history
    )
    stack = lambda x: jnp.broadcast_to(x, (capacity,) + jnp.shape(x))  # noqa: E731
    return EmitterPool(
        emitters=jax.tree.map(stack, one),
        status=jnp.full((capacity,), EMPTY, jnp.int32),
        ancestor=jnp.zeros((capacity, genome_size), jnp.float32),
        ancestor_payload=jax.tree.map(stack, payload_row),
        ident=jnp.full((capacity,), -1, jnp.int32),
        created=jnp.zeros((capacity,), jnp.int32),
        next_ident=jnp.zeros((), jnp.int32),
        overflow=jnp.zeros((), jnp.int32),
    )


def add_candidates(
    pool: EmitterPool,
    config: local.LocalEmitterConfig,
    key: jax.Array,
    ancestors: jax.Array,
    payload: Any,
    sigma0: jax.Array,
    mask: jax.Array,
    evaluations: jax.Array,
    ancestor_novelty: jax.Array | None = None,
) -> EmitterPool:
    """Puts the masked ancestors in free slots as CANDIDATE emitters.

    Args:
        ancestors: [N, D] genomes; payload: pytree [N, ...]; sigma0: [N].
        mask: [N] bool, which rows become candidates (in row order).
        evaluations: the run's evaluation count (stamped as creation time).
        ancestor_novelty: [N] novelty threshold of their novel buffers.

    Returns:
        The pool; candidates beyond the free slots are counted in `overflow`.
    """
    n = ancestors.shape[0]
    capacity = pool.capacity
    if ancestor_novelty is None:
        ancestor_novelty = jnp.full((n,), -jnp.inf, jnp.float32)
    free = jnp.nonzero(pool.status == EMPTY, size=capacity, fill_value=capacity)[0]
    rank = jnp.cumsum(mask) - 1
    placed = mask & (rank < jnp.sum(pool.status == EMPTY))
    target = jnp.where(placed, free[jnp.clip(rank, 0, capacity - 1)], capacity)  # out of range = dropped
    history = pool.emitters.values.shape[1]
    payload_row = jax.tree.map(lambda x: x[0], payload)
    fresh = jax.vmap(
        lambda k, a, s, nov: local.create(config, k, a, s, payload_row, history, nov)
    )(jax.random.split(key, n), ancestors, sigma0, ancestor_novelty)
    put = lambda slots, rows: slots.at[target].set(rows, mode="drop")  # noqa: E731
    idents = pool.next_ident + rank
    return pool.replace(
        emitters=jax.tree.map(put, pool.emitters, fresh),
        status=put(pool.status, jnp.full((n,), CANDIDATE, jnp.int32)),
        ancestor=put(pool.ancestor, ancestors),
        ancestor_payload=jax.tree.map(put, pool.ancestor_payload, payload),
        ident=put(pool.ident, idents.astype(jnp.int32)),
        created=put(pool.created, jnp.broadcast_to(evaluations, (n,)).astype(jnp.int32)),
        next_ident=pool.next_ident + jnp.sum(placed, dtype=jnp.int32),
        overflow=pool.overflow + jnp.sum(mask & ~placed, dtype=jnp.int32),
    )


def gather(pool: EmitterPool, slots: jax.Array) -> local.LocalEmitterState:
    """The emitters in `slots` [M], stacked."""
    return jax.tree.map(lambda x: x[slots], pool.emitters)


def scatter(pool: EmitterPool, slots: jax.Array, active: jax.Array, emitters: local.LocalEmitterState) -> EmitterPool:
    """Writes `emitters` [M] back into `slots` where `active` [M] is True."""
    target = jnp.where(active, slots, pool.capacity)
    return pool.replace(
        emitters=jax.tree.map(lambda x, y: x.at[target].set(y, mode="drop"), pool.emitters, emitters)
    )


def ask(config: local.LocalEmitterConfig, emitters: local.LocalEmitterState, key: jax.Array):
    """`local.ask` of M stacked emitters: genomes [M, batch, D], mask [M, batch]."""
    keys = jax.random.split(key, emitters.n_values.shape[0])
    return jax.vmap(lambda s, k: local.ask(config, s, k))(emitters, keys)


def tell(
    config: local.LocalEmitterConfig, emitters: local.LocalEmitterState, genomes, mask, reward, novelty, valid, payload,
    log_prob_grad=None,
):
    """`local.tell` of M stacked emitters (every argument has leading axis M;
    `log_prob_grad` only for gradient emitters)."""
    return jax.vmap(lambda *a: local.tell(config, *a))(
        emitters, genomes, mask, reward, novelty, valid, payload, log_prob_grad
    )


def clear(pool: EmitterPool, slots_mask: jax.Array) -> EmitterPool:
    """Empties the slots where `slots_mask` [E] is True."""
    return pool.replace(
        status=jnp.where(slots_mask, EMPTY, pool.status),
        ident=jnp.where(slots_mask, -1, pool.ident),
    )
