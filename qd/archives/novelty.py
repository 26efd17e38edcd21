"""Unstructured novelty archive with a fixed capacity, and its insertion rules.

The archive of novelty search (Lehman & Stanley 2011, "Abandoning
objectives: evolution through the search for novelty alone", Evolutionary
Computation 19(2)): a growing set of past behaviours that novelty is
measured against. Here it is a fixed-capacity buffer with a fill count so it
lives on device and insertion jits. Rows ``[0, size)`` are filled, in
insertion order; each row carries the generation it was added in.

When the archive is full, further candidates are not stored but counted in
``overflow``, which the run loop logs (the archive never drops silently).

Which candidates to insert is decided by a separate mask-producing rule:

- ``select_random``: n uniformly at random (reference: 5 of the offspring
  per generation),
- ``select_most_novel``: the n most novel,
- ``select_by_threshold``: every candidate whose novelty reaches a
  threshold, with the threshold adaptation of pyribs' ``ProximityArchive``
  (multiplicative decay after a number of calls without insertion) and,
  optionally, Lehman & Stanley's increase when too many get in at once.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
from flax import struct

from qd import checks
from qd.archives.entries import Entries, check_entries, empty_rows, finite_entries, resolve_mask

Array = jax.Array


@struct.dataclass
class NoveltyArchive:
    """Fixed-capacity archive; per-row leaves have leading axis C (capacity).

    Attributes:
        genomes: [C, D] float32.
        descriptors: [C, k] float32, the space novelty is computed in.
        gt_descriptors: [C, g] float32 ground-truth descriptors.
        rewards: [C] float32.
        reward_areas: [C] int32, -1 for none (and for empty rows).
        generations: [C] int32 generation stamp of each row, -1 when empty.
        size: int32 scalar, rows filled.
        overflow: int32 scalar, candidates refused because the archive was full.
        n_calls: int32 scalar, number of ``insert`` calls (the default stamp).
        features: [C, *F] representation features of each row (see `Entries`).
    """

    genomes: Array
    descriptors: Array
    gt_descriptors: Array
    rewards: Array
    reward_areas: Array
    generations: Array
    size: Array
    overflow: Array
    n_calls: Array
    features: Array

    @property
    def capacity(self) -> int:
        return self.rewards.shape[0]

    @property
    def mask(self) -> Array:
        """[C] bool, True on filled rows (the ``reference_mask`` for novelty)."""
        return jnp.arange(self.capacity) < self.size

    @property
    def full(self) -> Array:
        """Traced bool scalar: no free row left."""
        return self.size >= self.capacity


def init(
    capacity: int,
    genome_size: int,
    descriptor_size: int,
    gt_size: Optional[int] = None,
    *,
    feature_shape: Optional[tuple] = None,
    feature_dtype=jnp.float32,
) -> NoveltyArchive:
    """An empty archive.

    Args:
        capacity: maximum number of rows (>= 1).
        genome_size: D, flat genome length (>= 1; 0 for an archive of
            episodes rather than genomes, as the RL algorithms keep).
        descriptor_size: k, descriptor size (>= 1).
        gt_size: g, ground-truth descriptor size; defaults to ``descriptor_size``.
        feature_shape, feature_dtype: of one row's representation features
            (default: [k] float32, the ground truth's).

    Returns:
        The empty archive.

    Raises:
        ValueError: if a size is not a positive integer.
    """
    gt_size = descriptor_size if gt_size is None else gt_size
    checks.positive_ints(capacity=capacity, descriptor_size=descriptor_size, gt_size=gt_size)
    if isinstance(genome_size, bool) or not isinstance(genome_size, int) or genome_size < 0:
        raise ValueError(f"genome_size must be a non-negative integer, got {genome_size!r}")
    zero = jnp.zeros((), jnp.int32)
    return NoveltyArchive(
        **empty_rows(capacity, genome_size, descriptor_size, gt_size, feature_shape, feature_dtype),
        rewards=jnp.zeros((capacity,), jnp.float32),
        reward_areas=jnp.full((capacity,), -1, jnp.int32),
        generations=jnp.full((capacity,), -1, jnp.int32),
        size=zero,
        overflow=zero,
        n_calls=zero,
    )


@jax.jit
def insert(
    archive: NoveltyArchive,
    entries: Entries,
    mask: Optional[Array] = None,
    *,
    generation: Optional[Array] = None,
) -> Tuple[NoveltyArchive, Array]:
    """Appends the selected entries, in batch order.

    Entries with a non-finite genome, descriptor or reward are never inserted
    (nor counted as overflow). Selected entries that do not fit are counted
    in ``overflow``.

    Args:
        archive: current state.
        entries: B candidates.
        mask: optional [B] bool from a selection rule (all when None).
        generation: stamp stored with the new rows; defaults to ``n_calls``.

    Returns:
        (new archive, [B] bool: True where the entry was stored).

    Raises:
        ValueError: on mismatched shapes.
    """
    check_entries(archive, entries)
    batch = entries.batch_size
    wanted = resolve_mask(mask, batch) & finite_entries(entries)
    slot = archive.size + jnp.cumsum(wanted, dtype=jnp.int32) - 1
    stored = wanted & (slot < archive.capacity)
    target = jnp.where(stored, slot, archive.capacity)
    stamp = archive.n_calls if generation is None else jnp.asarray(generation, jnp.int32)

    def put(rows, new):
        return rows.at[target].set(new.astype(rows.dtype), mode="drop")

    n_stored = jnp.sum(stored, dtype=jnp.int32)
    new = archive.replace(
        genomes=put(archive.genomes, entries.genome),
        descriptors=put(archive.descriptors, entries.descriptor),
        gt_descriptors=put(archive.gt_descriptors, entries.gt_descriptor),
        rewards=put(archive.rewards, entries.reward),
        reward_areas=put(archive.reward_areas, entries.reward_area),
        generations=put(archive.generations, jnp.broadcast_to(stamp, (batch,))),
        size=archive.size + n_stored,
        overflow=archive.overflow + jnp.sum(wanted, dtype=jnp.int32) - n_stored,
        n_calls=archive.n_calls + 1,
        features=put(archive.features, entries.features),
    )
    return new, stored


def init_like(capacity: int, entries: Entries) -> NoveltyArchive:
    """An empty archive of `capacity` rows shaped for `entries` (any batch size)."""
    return init(
        capacity, entries.genome.shape[1], entries.descriptor.shape[1], entries.gt_descriptor.shape[1],
        feature_shape=entries.features.shape[1:], feature_dtype=entries.features.dtype,
    )


# --------------------------------------------------------------------------
# Selection rules: each returns the [B] bool mask to pass to ``insert``.


def _check_count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    return n


def _top_n_mask(scores: Array, valid: Array, n: int) -> Array:
    """[B] bool marking the n highest scores among valid rows (fewer if fewer valid)."""
    batch = scores.shape[0]
    n = min(n, batch)
    if n == 0:
        return jnp.zeros((batch,), bool)
    _, picked = jax.lax.top_k(jnp.where(valid, scores, -jnp.inf), n)
    chosen = jnp.zeros((batch,), bool).at[picked].set(True)
    return chosen & valid


@functools.partial(jax.jit, static_argnames="n")
def select_random(key: Array, valid: Array, n: int = 5) -> Array:
    """Chooses n of the valid candidates uniformly at random, without replacement.

    Args:
        key: PRNG key.
        valid: [B] bool, only True rows can be chosen (all True for "any").
        n: how many to choose (reference: 5 offspring per generation).

    Returns:
        [B] bool mask with min(n, #valid) True entries.

    Raises:
        ValueError: on negative n or a ``valid`` that is not 1-d.
    """
    n = _check_count(n)
    valid = jnp.asarray(valid)
    if valid.ndim != 1:
        raise ValueError(f"valid must be a 1-d [B] bool array, got shape {valid.shape}")
    valid = valid.astype(bool)
    return _top_n_mask(jax.random.uniform(key, valid.shape), valid, n)


@functools.partial(jax.jit, static_argnames="n")
def select_most_novel(novelty: Array, n: int = 5, valid: Optional[Array] = None) -> Array:
    """Chooses the n valid candidates of highest novelty (earliest on ties).

    Args:
        novelty: [B] novelty of the candidates.
        n: how many to choose.
        valid: optional [B] bool; NaN novelty is never chosen.

    Returns:
        [B] bool mask.

    Raises:
        ValueError: on negative n or bad shapes.
    """
    n = _check_count(n)
    novelty = jnp.asarray(novelty, jnp.float32)
    if novelty.ndim != 1:
        raise ValueError(f"novelty must be 1-d [B], got shape {novelty.shape}")
    valid = resolve_mask(valid, novelty.shape[0], "valid") & ~jnp.isnan(novelty)
    return _top_n_mask(novelty, valid, n)


@dataclasses.dataclass(frozen=True)
class ThresholdConfig:
    """Novelty-threshold insertion (static configuration).

    Attributes:
        initial: starting threshold (> 0).
        decay_rate: if set, in (0, 1]: after ``decay_after`` consecutive calls
            with no insertion, threshold *= decay_rate (pyribs' ProximityArchive).
        decay_after: calls without insertion before a decay (>= 1).
        minimum: the threshold never decays below this (>= 0).
        increase_rate: if set (> 1), threshold *= increase_rate whenever more
            than ``increase_above`` candidates are inserted in one call
            (Lehman & Stanley's adaptation, e.g. 1.2 above 4).
        increase_above: see ``increase_rate`` (>= 0).

    Raises:
        ValueError: on out-of-range values.
    """

    initial: float
    decay_rate: Optional[float] = None
    decay_after: int = 1
    minimum: float = 0.0
    increase_rate: Optional[float] = None
    increase_above: int = 4

    def __post_init__(self):
        if not self.initial > 0:
            raise ValueError(f"initial threshold must be > 0, got {self.initial}")
        if self.decay_rate is not None and not 0.0 < self.decay_rate <= 1.0:
            raise ValueError(f"decay_rate must be in (0, 1], got {self.decay_rate}")
        if not isinstance(self.decay_after, int) or self.decay_after < 1:
            raise ValueError(f"decay_after must be a positive integer, got {self.decay_after}")
        if not self.minimum >= 0.0:
            raise ValueError(f"minimum must be >= 0, got {self.minimum}")
        if self.increase_rate is not None and not self.increase_rate > 1.0:
            raise ValueError(f"increase_rate must be > 1, got {self.increase_rate}")
        if not isinstance(self.increase_above, int) or self.increase_above < 0:
            raise ValueError(
                f"increase_above must be a non-negative integer, got {self.increase_above}"
            )


@struct.dataclass
class ThresholdState:
    """Adaptive threshold: current value and calls since the last insertion."""

    threshold: Array
    calls_without_insert: Array


def init_threshold(config: ThresholdConfig) -> ThresholdState:
    """The initial threshold state of ``config``."""
    return ThresholdState(
        threshold=jnp.asarray(config.initial, jnp.float32),
        calls_without_insert=jnp.zeros((), jnp.int32),
    )


def select_by_threshold(
    novelty: Array,
    state: ThresholdState,
    config: ThresholdConfig,
    valid: Optional[Array] = None,
) -> Tuple[Array, ThresholdState]:
    """Chooses every valid candidate with novelty >= threshold, then adapts it.

    As in pyribs' ``ProximityArchive``, novelty is taken as given (usually
    w.r.t. the archive only, so near-duplicates within one batch all pass);
    compute it with ``empty_value=jnp.inf`` so an empty archive accepts.

    Args:
        novelty: [B] novelty of the candidates.
        state: current threshold state.
        config: static threshold configuration.
        valid: optional [B] bool.

    Returns:
        ([B] bool mask, new state).

    Raises:
        ValueError: on bad shapes.
    """
    novelty = jnp.asarray(novelty, jnp.float32)
    if novelty.ndim != 1:
        raise ValueError(f"novelty must be 1-d [B], got shape {novelty.shape}")
    chosen = resolve_mask(valid, novelty.shape[0], "valid") & (novelty >= state.threshold)
    n_chosen = jnp.sum(chosen, dtype=jnp.int32)
    threshold = state.threshold
    stalled = jnp.where(n_chosen == 0, state.calls_without_insert + 1, 0)
    if config.decay_rate is not None:
        decay = stalled >= config.decay_after
        threshold = jnp.where(
            decay, jnp.maximum(threshold * config.decay_rate, config.minimum), threshold
        )
        stalled = jnp.where(decay, 0, stalled)
    if config.increase_rate is not None:
        threshold = jnp.where(
            n_chosen > config.increase_above, threshold * config.increase_rate, threshold
        )
    return chosen, ThresholdState(threshold.astype(jnp.float32), stalled.astype(jnp.int32))
