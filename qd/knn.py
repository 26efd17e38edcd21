"""Exact brute-force k nearest neighbours on device, in bounded memory.

The engine behind novelty (``qd.novelty``) and any other nearest-neighbour
query on descriptors or genomes (e.g. SERENE's distance to the closest other
genome is ``knn(..., k=1)``). Everything is exact brute force with fixed
shapes, so it jits and runs on any accelerator. Memory stays bounded: the
reference set is scanned in blocks of ``block_size`` rows while a running
top-k is carried, and queries may be processed in chunks of
``query_block_size``. Blocks after the last valid row are skipped, so a
fixed-capacity archive costs in proportion to its fill rather than its
capacity.

Within a block, an exact two-stage selection avoids a ``top_k`` over every
distance: the block is cut into groups of 16 consecutive rows, the k groups
with the smallest minimum distance are kept, and the final top-k is taken
over those 16 k candidates. This is exact: any group holding one of the true
k nearest has a minimum no larger than the k-th distance, and if such a
group is not kept, the k kept groups already supply k candidates at least as
close. On a 2-core CPU it is about 2x faster than one ``top_k`` over the
block. Invalid rows enter as an additive +inf penalty and the query's own
row is removed from the candidates only (one extra group is kept for it),
both far cheaper than a [Q, block] select.

Distances: for descriptors of more than 3 dimensions the squared distances
come from the matrix-product form |a|^2 + |b|^2 - 2ab (clamped at 0),
centred on the queries' mean to limit cancellation; for descriptors of at
most 3 dimensions the direct form sum((a - b)^2) is used because a matrix
product with an inner dimension of 2 or 3 wastes the CPU's GEMM (2-2.5x
slower at 100k points in 2-d). The k distances returned are always exact.
Timings: benchmarks/README.md.
"""
from __future__ import annotations

import functools
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

Array = jax.Array
Reference = Union[Array, Tuple[Array, Optional[Array]]]

DEFAULT_K = 15
# Measured on a 2-core CPU with 200 queries (benchmarks/README.md): smaller
# blocks pay the fixed cost of two top_k calls per block more often, larger
# ones fall out of cache; 16384 was best or within noise of it.
DEFAULT_BLOCK_SIZE = 16384
_GROUP = 16
# Without an explicit query_block_size, queries are chunked so that one
# [queries, block] distance tile stays below this many elements (128 MiB).
_MAX_TILE = 1 << 25
_DIRECT_MAX_DIM = 3


class Neighbours(NamedTuple):
    """The k nearest valid reference points of each query.

    Attributes:
        distances: [Q, k] float32 Euclidean distances, ascending; ``inf`` where
            fewer than k valid neighbours exist.
        indices: [Q, k] int32 indices into the concatenation of the reference
            sets, -1 where missing.
        count: [Q] int32 number of valid neighbours found (<= k).
    """

    distances: Array
    indices: Array
    count: Array


def knn(
    queries: Array,
    references: Union[Reference, Sequence[Reference]],
    *,
    k: int = DEFAULT_K,
    self_index: Optional[Array] = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    query_block_size: Optional[int] = None,
) -> Neighbours:
    """Exact k nearest neighbours of each query in a union of reference sets.

    The reference sets are never concatenated: each is scanned in turn, and
    indices refer to the virtual concatenation in the order given.

    Args:
        queries: [Q, d] points.
        references: one reference set or a sequence of them; a set is either
            an [N, d] array or a pair ``(points [N, d], mask [N] bool | None)``
            where False rows are ignored (empty archive slots); rows with a
            NaN or inf are ignored too.
        k: number of neighbours, >= 1.
        self_index: optional [Q] int array, the index (into the concatenated
            references) of each query's own entry, which is excluded; -1 for a
            query that is not in the references.
        block_size: reference rows per block (bounds memory to Q x block).
        query_block_size: queries per chunk (bounds memory to
            query_block_size x block_size); by default chunks are only used
            when Q x block_size would exceed 2^25 elements.

    Returns:
        The ``Neighbours`` of each query.

    Raises:
        ValueError: on bad shapes, dimensions or sizes.
    """
    refs = _normalise_references(references)
    queries = _check_points(queries, "queries")
    dim = queries.shape[1]
    for i, (points, mask) in enumerate(refs):
        if points.shape[1] != dim:
            raise ValueError(
                f"reference set {i} has descriptor size {points.shape[1]}, "
                f"queries have {dim}; they must match"
            )
    k = _check_positive_int(k, "k")
    block_size = _check_positive_int(block_size, "block_size")
    n_queries = queries.shape[0]
    if self_index is not None:
        self_index = jnp.asarray(self_index)
        if self_index.shape != (n_queries,):
            raise ValueError(
                f"self_index has shape {self_index.shape}, expected ({n_queries},)"
            )
        if not jnp.issubdtype(self_index.dtype, jnp.integer):
            raise ValueError(f"self_index must be integer, got {self_index.dtype}")
        self_index = self_index.astype(jnp.int32)
    if query_block_size is not None:
        query_block_size = _check_positive_int(query_block_size, "query_block_size")
    else:
        tile = min(block_size, max(points.shape[0] for points, _ in refs))
        if n_queries * tile > _MAX_TILE:
            query_block_size = max(1, _MAX_TILE // tile)
    return _knn(queries, tuple(refs), self_index, k, block_size, query_block_size)


def _normalise_references(references) -> list:
    if isinstance(references, tuple) and len(references) == 2 and (
        references[1] is None or jnp.ndim(references[1]) == 1
    ) and jnp.ndim(references[0]) == 2:
        references = [references]
    elif not isinstance(references, (list, tuple)):
        references = [references]
    out = []
    for i, ref in enumerate(references):
        points, mask = ref if isinstance(ref, tuple) else (ref, None)
        points = _check_points(points, f"reference set {i}")
        if mask is None:
            mask = jnp.ones((points.shape[0],), bool)
        else:
            mask = jnp.asarray(mask)
            if mask.shape != (points.shape[0],):
                raise ValueError(
                    f"mask of reference set {i} has shape {mask.shape}, "
                    f"expected ({points.shape[0]},)"
                )
            mask = mask.astype(bool)
        out.append((points, mask))
    if not out:
        raise ValueError("at least one reference set is required")
    return out


def _check_points(points, name: str) -> Array:
    points = jnp.asarray(points)
    if points.ndim != 2:
        raise ValueError(f"{name} must be a 2-d [n, d] array, got shape {points.shape}")
    if points.shape[1] < 1:
        raise ValueError(f"{name} must have at least one descriptor dimension")
    if not jnp.issubdtype(points.dtype, jnp.floating):
        points = points.astype(jnp.float32)
    return points


def _check_positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _squared_distances(queries: Array, block: Array, penalty: Array) -> Array:
    """[Q, B] squared distances plus a per-row penalty (inf hides a row).

    The form is chosen statically by dimension (module docstring). The mask
    enters as an additive [B] penalty because a [Q, B] select added about a
    third to the step on CPU.
    """
    if queries.shape[1] <= _DIRECT_MAX_DIM:
        diff = queries[:, None, :] - block[None, :, :]
        return jnp.sum(jnp.square(diff), axis=-1) + penalty[None, :]
    q_norm = jnp.sum(jnp.square(queries), axis=1)
    b_norm = jnp.sum(jnp.square(block), axis=1) + penalty
    cross = jnp.matmul(queries, block.T, precision=lax.Precision.HIGHEST)
    return jnp.maximum(q_norm[:, None] + b_norm[None, :] - 2.0 * cross, 0.0)


def _group_size(width: int, n_keep: int) -> int:
    """Rows per group for a block of ``width`` rows; 0 means no grouping.

    16 keeps the group minimum one SIMD-friendly reduction; 8, 24, 32 and 64
    measured within noise of it, odd sizes (e.g. 25, 33) several times slower.
    Below 2 * n_keep groups the two-stage selection does not pay.
    """
    return _GROUP if width > 2 * n_keep * _GROUP else 0


def _block_candidates(
    queries: Array, block: Array, penalty: Array, n_keep: int
) -> Tuple[Array, Array]:
    """Exact candidates for the top ``n_keep`` of one block of B rows.

    Returns ([Q, n] squared distances, [Q, n] block rows): the rows of the
    ``n_keep`` groups with the smallest minimum, plus the < 16 rows left over
    when B is not a multiple of 16 (computed apart: padding the [Q, B]
    distances instead costs a copy that tripled the step), or the whole block
    when it is too small for grouping to pay.
    """
    n_queries, width = queries.shape[0], block.shape[0]
    group = _group_size(width, n_keep)
    main = width // group * group if group else 0
    cands, rows = [], []
    if main:
        d2 = _squared_distances(queries, block[:main], penalty[:main])
        grouped = d2.reshape(n_queries, main // group, group)
        _, best_groups = lax.top_k(-jnp.min(grouped, axis=2), n_keep)
        cand = jnp.take_along_axis(grouped, best_groups[:, :, None], axis=1)
        cols = best_groups[:, :, None] * group + jnp.arange(group, dtype=jnp.int32)
        cands.append(cand.reshape(n_queries, n_keep * group))
        rows.append(cols.reshape(n_queries, n_keep * group))
    if main < width:
        cands.append(_squared_distances(queries, block[main:], penalty[main:]))
        rest = jnp.arange(main, width, dtype=jnp.int32)
        rows.append(jnp.broadcast_to(rest, (n_queries, width - main)))
    if len(cands) == 1:
        return cands[0], rows[0]
    return jnp.concatenate(cands, axis=1), jnp.concatenate(rows, axis=1)


def _scan_reference(
    queries, self_index, points, mask, penalty, offset, carry, k, block_size, centre
):
    """Folds one reference set into the running (squared distance, index) top-k."""
    n_points, dim = points.shape
    if n_points == 0:
        return carry
    # Self-exclusion is applied to the candidates only (cheap), so one extra
    # group is kept: the query's own group may take a slot with its fake 0.
    n_keep = k if self_index is None else k + 1
    size = min(block_size, n_points)
    group = _group_size(size, n_keep)
    if group and size < n_points:
        size = size // group * group  # whole groups in every full block

    def step(running, block):
        block_points, block_penalty, start = block
        block_points = block_points.astype(queries.dtype)
        # Rows hidden by the penalty must not be NaN: NaN + inf is NaN.
        block_points = jnp.where(jnp.isfinite(block_points), block_points, 0.0)
        if centre is not None:
            block_points = block_points - centre
        cand, cols = _block_candidates(queries, block_points, block_penalty, n_keep)
        ids = start + cols
        if self_index is not None:
            cand = jnp.where(ids != self_index[:, None], cand, jnp.inf)
        run_d2, run_idx = running
        all_d2 = jnp.concatenate([run_d2, cand], axis=1)
        all_idx = jnp.concatenate([run_idx, ids], axis=1)
        neg, pos = lax.top_k(-all_d2, k)
        return (-neg, jnp.take_along_axis(all_idx, pos, axis=1)), None

    # Blocks after the last valid row are skipped (a while loop with a data
    # dependent trip count), so a fixed-capacity archive costs in proportion
    # to its fill, not its capacity. The remainder that does not fill a whole
    # block gets one step of its own static width instead of padding (a copy).
    last = jnp.max(jnp.where(mask, jnp.arange(n_points, dtype=jnp.int32), -1))
    n_full = n_points // size
    n_active = jnp.minimum((last + size) // size, n_full)

    def body(state):
        i, running = state
        start = i * size
        block = (
            lax.dynamic_slice_in_dim(points, start, size),
            lax.dynamic_slice_in_dim(penalty, start, size),
            offset + start,
        )
        return i + 1, step(running, block)[0]

    if n_full == 1:
        block = (points[:size], penalty[:size], jnp.int32(offset))
        carry = lax.cond(last >= 0, lambda c: step(c, block)[0], lambda c: c, carry)
    else:
        _, carry = lax.while_loop(lambda state: state[0] < n_active, body, (jnp.int32(0), carry))
    tail = n_full * size
    if tail < n_points:
        block = (points[tail:], penalty[tail:], jnp.int32(offset + tail))
        carry = lax.cond(last >= tail, lambda c: step(c, block)[0], lambda c: c, carry)
    return carry


def _knn_chunk(queries, refs, self_index, k, block_size) -> Neighbours:
    n_queries, dim = queries.shape
    dtype = jnp.promote_types(queries.dtype, jnp.float32)
    queries = queries.astype(dtype)
    # Centring on the queries limits the cancellation of the matrix-product
    # form (the direct form needs none). It is applied block by block so that
    # skipped blocks cost nothing.
    centre = jnp.mean(queries, axis=0) if dim > _DIRECT_MAX_DIM else None
    carry = (
        jnp.full((n_queries, k), jnp.inf, dtype),
        jnp.full((n_queries, k), -1, jnp.int32),
    )
    offset = 0
    for points, mask in refs:
        # A NaN row would poison every group minimum it falls in.
        mask = mask & jnp.all(jnp.isfinite(points), axis=1)
        penalty = jnp.where(mask, jnp.asarray(0.0, dtype), jnp.inf)
        carry = _scan_reference(
            queries if centre is None else queries - centre, self_index, points, mask,
            penalty, offset, carry, k, block_size, centre,
        )
        offset += points.shape[0]
    d2, idx = carry
    found = jnp.isfinite(d2)
    idx = jnp.where(found, idx, -1)
    if centre is None:  # the direct form is exact already
        dist = jnp.where(found, jnp.sqrt(d2), jnp.inf)
        return Neighbours(dist, idx, jnp.sum(found, axis=1, dtype=jnp.int32))
    # Recompute the selected distances exactly: the matrix-product form loses
    # precision to cancellation for close points.
    exact = jnp.zeros((n_queries, k), dtype)
    offset = 0
    for points, _ in refs:
        if points.shape[0] == 0:
            continue
        local = idx - offset
        inside = (local >= 0) & (local < points.shape[0])
        gathered = points.astype(dtype)[jnp.clip(local, 0, points.shape[0] - 1)]
        dist = jnp.sqrt(jnp.sum(jnp.square(gathered - queries[:, None, :]), axis=-1))
        exact = jnp.where(inside, dist, exact)
        offset += points.shape[0]
    exact = jnp.where(found, exact, jnp.inf)
    return Neighbours(exact, idx, jnp.sum(found, axis=1, dtype=jnp.int32))


@functools.partial(jax.jit, static_argnums=(3, 4, 5))
def _knn(queries, refs, self_index, k, block_size, query_block_size) -> Neighbours:
    n_queries = queries.shape[0]
    if query_block_size is None or n_queries <= query_block_size:
        return _knn_chunk(queries, refs, self_index, k, block_size)
    n_chunks = -(-n_queries // query_block_size)
    pad = n_chunks * query_block_size - n_queries
    q = jnp.pad(queries, ((0, pad), (0, 0))).reshape(n_chunks, query_block_size, -1)
    if self_index is None:
        out = lax.map(lambda qs: _knn_chunk(qs, refs, None, k, block_size), q)
    else:
        s = jnp.pad(self_index, (0, pad), constant_values=-1).reshape(n_chunks, -1)
        out = lax.map(lambda qs: _knn_chunk(qs[0], refs, qs[1], k, block_size), (q, s))
    flat = n_chunks * query_block_size
    return jax.tree.map(lambda x: x.reshape((flat,) + x.shape[2:])[:n_queries], out)
