"""Pareto dominance on device: domination counts, non-dominated sorting and
crowding distance (Deb et al. 2002, "A fast and elitist multiobjective
genetic algorithm: NSGA-II", IEEE TEC 6(2)).

Every function takes objectives of shape [N, M] that are MAXIMISED, and an
optional bool ``mask`` [N]. Row j dominates row i when it is at least as good
in every objective and strictly better in one. Masked-out rows are dominated
by nothing, dominate nothing, and get the worst rank (N), so fixed-size
batches with padding or invalid rollouts sort without special cases. NaN
compares false both ways, so a NaN row neither dominates nor is dominated;
mask such rows.

Everything is O(N^2 M) memory and jit-able with fixed shapes: the domination
matrix is built once and fronts are peeled off it in a ``lax.while_loop``.
For the population sizes of NSGA-II (a few hundred) that is a few
milliseconds on CPU.
"""
from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from qd.archives.entries import resolve_mask

Array = jax.Array

__all__ = ["crowding_distance", "domination_counts", "domination_matrix", "front_ranks", "sort_order"]


def _check_objectives(objectives) -> Array:
    objectives = jnp.asarray(objectives)
    if objectives.ndim != 2 or objectives.shape[1] < 1:
        raise ValueError(f"objectives must have shape [N, M] with M >= 1, got {objectives.shape}")
    if not jnp.issubdtype(objectives.dtype, jnp.floating):
        objectives = objectives.astype(jnp.float32)
    return objectives


def domination_matrix(objectives: Array, mask: Optional[Array] = None) -> Array:
    """[N, N] bool, entry [i, j] True when row j dominates row i.

    Args:
        objectives: [N, M] objectives to maximise.
        mask: optional [N] bool; masked-out rows neither dominate nor are dominated.

    Returns:
        The domination matrix (False on the diagonal).

    Raises:
        ValueError: if objectives are not [N, M] or the mask is not [N].
    """
    objectives = _check_objectives(objectives)
    return _domination_matrix(objectives, resolve_mask(mask, objectives.shape[0]))


# Public functions check shapes in Python, then run one jitted body: one
# dispatch when called eagerly, simply inlined under the caller's jit.
@jax.jit
def _domination_matrix(objectives: Array, mask: Array) -> Array:
    row = objectives[:, None, :]  # i
    col = objectives[None, :, :]  # j
    dominates = jnp.all(col >= row, axis=-1) & jnp.any(col > row, axis=-1)
    return dominates & mask[:, None] & mask[None, :]


def domination_counts(objectives: Array, mask: Optional[Array] = None) -> Array:
    """How many valid rows dominate each row (0 = on the first front).

    Args:
        objectives: [N, M] objectives to maximise.
        mask: optional [N] bool. Masked-out rows are dominated by nothing, so
            their count is 0 too: combine the result with ``mask`` to find
            the valid non-dominated rows.

    Returns:
        [N] int32 counts.

    Raises:
        ValueError: if objectives are not [N, M] or the mask is not [N].
    """
    return jnp.sum(domination_matrix(objectives, mask), axis=1, dtype=jnp.int32)


def front_ranks(objectives: Array, mask: Optional[Array] = None) -> Array:
    """Exact non-dominated sorting: the index of each row's front (0 = best).

    Front 0 holds the valid rows no valid row dominates; front r + 1 those
    dominated only by rows of fronts <= r (NSGA-II's fast non-dominated sort,
    Deb et al. 2002, section III-A). The fronts are peeled off a domination
    matrix in a ``lax.while_loop``, one matrix-vector product per front.

    Args:
        objectives: [N, M] objectives to maximise.
        mask: optional [N] bool; masked-out rows get rank N (worse than any front).

    Returns:
        [N] int32 front index.

    Raises:
        ValueError: if objectives are not [N, M] or the mask is not [N].
    """
    objectives = _check_objectives(objectives)
    return _front_ranks(objectives, resolve_mask(mask, objectives.shape[0]))


@jax.jit
def _front_ranks(objectives: Array, mask: Array) -> Array:
    n = objectives.shape[0]
    dominated_by = _domination_matrix(objectives, mask).astype(jnp.int32)  # [i, j]: j dominates i
    counts = jnp.sum(dominated_by, axis=1, dtype=jnp.int32)

    def cond(carry):
        _, remaining, _, _ = carry
        return jnp.any(remaining)

    def body(carry):
        ranks, remaining, counts, rank = carry
        front = remaining & (counts == 0)
        ranks = jnp.where(front, rank, ranks)
        # Removing the front lowers the count of every row it dominated.
        counts = counts - dominated_by @ front.astype(jnp.int32)
        return ranks, remaining & ~front, counts, rank + 1

    init = (jnp.full((n,), n, jnp.int32), mask, counts, jnp.zeros((), jnp.int32))
    ranks, _, _, _ = jax.lax.while_loop(cond, body, init)
    return ranks


def crowding_distance(objectives: Array, ranks: Array, mask: Optional[Array] = None) -> Array:
    """Crowding distance of each row within its front (Deb et al. 2002, III-B).

    Per objective, the members of a front are sorted by value; the two ends
    get +inf and every other member adds the gap between its two neighbours,
    divided by the front's range in that objective (an objective constant
    over the front adds 0). Equal values keep row order, so ties are
    deterministic. Fronts of one or two rows are all boundary (+inf).

    Args:
        objectives: [N, M] objectives to maximise (finite on valid rows).
        ranks: [N] int front of each row, e.g. from ``front_ranks``; rows
            with equal rank form a front.
        mask: optional [N] bool; masked-out rows get distance 0 and are
            nobody's neighbour.

    Returns:
        [N] float32 crowding distance (larger = less crowded).

    Raises:
        ValueError: if objectives are not [N, M], or ranks or mask are not [N].
    """
    objectives = _check_objectives(objectives).astype(jnp.float32)
    n = objectives.shape[0]
    mask = resolve_mask(mask, n)
    ranks = jnp.asarray(ranks)
    if ranks.shape != (n,):
        raise ValueError(f"ranks must have shape ({n},), got {ranks.shape}")
    return _crowding_distance(objectives, ranks.astype(jnp.int32), mask)


@jax.jit
def _crowding_distance(objectives: Array, ranks: Array, mask: Array) -> Array:
    n = objectives.shape[0]
    # Masked rows form their own segment (n + 1) so they never neighbour a valid row.
    segment = jnp.where(mask, jnp.clip(ranks, 0, n), n + 1)
    index = jnp.arange(n, dtype=jnp.int32)

    def per_objective(values):
        order = jnp.lexsort((index, values, segment))  # by front, then value, then row
        seg = segment[order]
        vals = values[order]
        lo = jax.ops.segment_min(values, segment, num_segments=n + 2)
        hi = jax.ops.segment_max(values, segment, num_segments=n + 2)
        span = (hi - lo)[seg]
        prev_same = jnp.concatenate([jnp.array([False]), seg[1:] == seg[:-1]])
        next_same = jnp.concatenate([seg[1:] == seg[:-1], jnp.array([False])])
        boundary = ~(prev_same & next_same)
        gap = jnp.roll(vals, -1) - jnp.roll(vals, 1)
        interior = jnp.where(span > 0, gap / jnp.where(span > 0, span, 1.0), 0.0)
        sorted_distance = jnp.where(boundary, jnp.inf, interior)
        return jnp.zeros((n,), jnp.float32).at[order].set(sorted_distance)

    distance = jnp.sum(jax.vmap(per_objective, in_axes=1, out_axes=1)(objectives), axis=1)
    return jnp.where(mask, distance, 0.0)


def sort_order(ranks: Array, crowding: Array, mask: Optional[Array] = None) -> Array:
    """Row indices best first by NSGA-II's crowded comparison: lower front,
    then larger crowding distance, then lower row index; masked rows last.

    Args:
        ranks: [N] front of each row.
        crowding: [N] crowding distance.
        mask: optional [N] bool.

    Returns:
        [N] int32 permutation; its first n entries are NSGA-II's n survivors.

    Raises:
        ValueError: if the arrays are not [N].
    """
    ranks = jnp.asarray(ranks)
    n = ranks.shape[0] if ranks.ndim == 1 else -1
    crowding = jnp.asarray(crowding, jnp.float32)
    if ranks.ndim != 1 or crowding.shape != (n,):
        raise ValueError(f"ranks and crowding must both have shape [N], got {ranks.shape} and {crowding.shape}")
    return _sort_order(ranks.astype(jnp.int32), crowding, resolve_mask(mask, n))


@jax.jit
def _sort_order(ranks: Array, crowding: Array, mask: Array) -> Array:
    n = ranks.shape[0]
    index = jnp.arange(n, dtype=jnp.int32)
    key_rank = jnp.where(mask, ranks, n + 1)
    return jnp.lexsort((index, -crowding, key_rank)).astype(jnp.int32)
