"""A fixed-capacity log of SERENE's ended emitters, on device.

One row per emitter that left the pool: which reward area its ancestor was
in, when it was created and ended (in run evaluations), what it spent, how
much it improved, the best reward it reached, and how it ended. Rows past the
capacity are counted, not written. `rows` turns it into NumPy columns.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

DISCARDED = 1  # judged after bootstrapping: no improvement
STAGNATED = 2  # stopped by the stagnation rule (or the step cap)
RUNNING = 3  # still in the pool when the log was read (see `rows`)
OUTCOMES = {DISCARDED: "discarded", STAGNATED: "stagnated", RUNNING: "running"}

FIELDS = (
    "ident", "area", "created", "ended", "evaluations", "steps", "improvement", "best_reward", "outcome",
    "ancestor_x", "ancestor_y",
)


@struct.dataclass
class EmitterHistory:
    """Columns of the log ([H] each) and its fill count."""

    ident: jax.Array
    area: jax.Array
    created: jax.Array
    ended: jax.Array
    evaluations: jax.Array
    steps: jax.Array
    improvement: jax.Array
    best_reward: jax.Array
    outcome: jax.Array
    ancestor_x: jax.Array
    ancestor_y: jax.Array
    size: jax.Array
    overflow: jax.Array


def init(capacity: int) -> EmitterHistory:
    i = jnp.zeros((capacity,), jnp.int32)
    f = jnp.zeros((capacity,), jnp.float32)
    zero = jnp.zeros((), jnp.int32)
    return EmitterHistory(
        ident=i, area=i, created=i, ended=i, evaluations=i, steps=i, improvement=f, best_reward=f,
        outcome=i, ancestor_x=f, ancestor_y=f, size=zero, overflow=zero,
    )


def append(history: EmitterHistory, mask: jax.Array, **columns: jax.Array) -> EmitterHistory:
    """Appends the rows where `mask` [M] is True; `columns` are the FIELDS, [M] each."""
    capacity = history.ident.shape[0]
    slot = history.size + jnp.cumsum(mask, dtype=jnp.int32) - 1
    stored = mask & (slot < capacity)
    target = jnp.where(stored, slot, capacity)
    updates = {}
    for name in FIELDS:
        column = getattr(history, name)
        updates[name] = column.at[target].set(jnp.asarray(columns[name]).astype(column.dtype), mode="drop")
    return history.replace(
        **updates,
        size=history.size + jnp.sum(stored, dtype=jnp.int32),
        overflow=history.overflow + jnp.sum(mask & ~stored, dtype=jnp.int32),
    )


def rows(history: EmitterHistory) -> dict[str, np.ndarray]:
    """The written rows as NumPy columns."""
    n = int(history.size)
    return {name: np.asarray(getattr(history, name))[:n] for name in FIELDS}
