"""Novelty: mean distance to the k nearest neighbours.

Lehman & Stanley 2011, "Abandoning objectives: evolution through the search
for novelty alone", Evolutionary Computation 19(2). The novelty of a
behaviour descriptor is the mean Euclidean distance to its k nearest
neighbours in a reference set (population, offspring, novelty archive,
reward archive), excluding the point itself. The neighbours come from the
exact blocked brute force of ``qd.knn``; several reference sets are searched
without concatenating them.
"""
from __future__ import annotations

from typing import Optional, Sequence

import jax
import jax.numpy as jnp

from qd.knn import DEFAULT_BLOCK_SIZE, DEFAULT_K, Neighbours, Reference, knn

Array = jax.Array

__all__ = ["knn_novelty", "knn_novelty_union", "novelty_from_neighbours", "knn", "Neighbours"]


def knn_novelty(
    queries: Array,
    reference: Array,
    reference_mask: Optional[Array] = None,
    *,
    k: int = DEFAULT_K,
    self_index: Optional[Array] = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    query_block_size: Optional[int] = None,
    empty_value: float = 0.0,
) -> Array:
    """Novelty of each query: mean distance to its k nearest valid references.

    With fewer than k valid neighbours the mean is over those available.

    Args:
        queries: [Q, d] descriptors.
        reference: [N, d] descriptors.
        reference_mask: optional [N] bool, False rows are ignored.
        k: number of neighbours, >= 1 (15 in the reference experiments).
        self_index: optional [Q] index of each query's own row in
            ``reference`` (excluded), -1 for none. For a population that is
            also the head of ``reference``, pass ``jnp.arange(Q)``.
        block_size: reference rows per block.
        query_block_size: optional chunking of the queries.
        empty_value: novelty of a query with no valid neighbour at all (use
            ``jnp.inf`` to make it maximally novel, e.g. for threshold
            insertion into an empty archive).

    Returns:
        [Q] float32 novelty.

    Raises:
        ValueError: on bad shapes or sizes.
    """
    neighbours = knn(
        queries,
        (reference, reference_mask),
        k=k,
        self_index=self_index,
        block_size=block_size,
        query_block_size=query_block_size,
    )
    return novelty_from_neighbours(neighbours, empty_value)


def knn_novelty_union(
    queries: Array,
    references: Sequence[Reference],
    *,
    k: int = DEFAULT_K,
    self_index: Optional[Array] = None,
    block_size: int = DEFAULT_BLOCK_SIZE,
    query_block_size: Optional[int] = None,
    empty_value: float = 0.0,
) -> Array:
    """Novelty against a union of reference sets, without concatenating them.

    Typical use (novelty search): ``references = [(pop_and_offspring, None),
    (archive.descriptors, archive_mask), (reward_archive.descriptors,
    reward_mask)]`` with ``self_index = jnp.arange(Q)``.

    Args:
        queries: [Q, d] descriptors.
        references: sequence of ``points`` or ``(points, mask)`` sets.
        k: number of neighbours, >= 1.
        self_index: optional [Q] index into the concatenated sets of each
            query's own entry, -1 for none.
        block_size: reference rows per block.
        query_block_size: optional chunking of the queries.
        empty_value: novelty of a query with no valid neighbour.

    Returns:
        [Q] float32 novelty.

    Raises:
        ValueError: on bad shapes or sizes.
    """
    if not isinstance(references, (list, tuple)) or not references:
        raise ValueError("references must be a non-empty list of reference sets")
    neighbours = knn(
        queries,
        list(references),
        k=k,
        self_index=self_index,
        block_size=block_size,
        query_block_size=query_block_size,
    )
    return novelty_from_neighbours(neighbours, empty_value)


def novelty_from_neighbours(neighbours: Neighbours, empty_value: float = 0.0) -> Array:
    """Mean distance over the valid neighbours; ``empty_value`` if none."""
    found = jnp.isfinite(neighbours.distances)
    total = jnp.sum(jnp.where(found, neighbours.distances, 0.0), axis=1)
    count = neighbours.count
    mean = total / jnp.maximum(count, 1).astype(total.dtype)
    return jnp.where(count > 0, mean, jnp.asarray(empty_value, total.dtype))
