"""CVT-MAP-Elites archive: cells are the Voronoi regions of k-means centroids.

Vassiliades, Chatzilygeroudis & Mouret 2018, "Using centroidal Voronoi
tessellations to scale up the multidimensional archive of phenotypic
elites algorithm", IEEE TEVC 22(4). The centroids and the nearest-centroid
search are in `qd.archives.centroids`; insertion rules (ties, NaN, batch
conflicts) are those of `qd.archives.repertoire`.
"""
from __future__ import annotations

import functools
from typing import Optional, Tuple

import jax
import jax.numpy as jnp

from qd.archives.centroids import DEFAULT_BLOCK_SIZE, CellLookup, cell_lookup, cvt_centroids, nearest_centroid
from qd.archives.entries import Entries, resolve_mask
from qd.archives.repertoire import Repertoire, empty_repertoire, insert_by_cell

Array = jax.Array

__all__ = ["CellLookup", "cell_lookup", "cvt_centroids", "init", "insert", "nearest_centroid"]


def init(centroids: Array, genome_size: int, gt_size: Optional[int] = None, **features) -> Repertoire:
    """An empty CVT archive over the given centroids.

    Args:
        centroids: [C, k] centroids, e.g. from ``cvt_centroids``.
        genome_size: D, length of a flat genome.
        gt_size: size of the ground-truth descriptor; defaults to k.
        **features: ``feature_shape`` and ``feature_dtype`` (`empty_repertoire`).

    Returns:
        The empty repertoire.

    Raises:
        ValueError: on bad shapes or sizes.
    """
    centroids = jnp.asarray(centroids, jnp.float32)
    if centroids.ndim != 2:
        raise ValueError(f"centroids must be [C, k], got shape {centroids.shape}")
    gt_size = centroids.shape[1] if gt_size is None else gt_size
    return empty_repertoire(centroids, genome_size, gt_size, **features)


@functools.partial(jax.jit, static_argnames=("block_size", "lookup"))
def insert(
    repertoire: Repertoire,
    entries: Entries,
    mask: Optional[Array] = None,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    lookup: Optional[CellLookup] = None,
) -> Tuple[Repertoire, Array]:
    """Inserts a batch into the CVT archive (best reward per cell).

    Args:
        repertoire: current state (its centroids define the cells).
        entries: B candidates, descriptors [B, k].
        mask: optional [B] bool; False entries (e.g. invalid rollouts) are skipped.
        block_size: centroids per block of the nearest-centroid search.
        lookup: optional ``cell_lookup`` of the repertoire's centroids (faster
            nearest-centroid search in 2-3 dimensions, same cells).

    Returns:
        (new repertoire, [B] int32 status: 0 not added, 1 improved, 2 new cell).

    Raises:
        ValueError: on mismatched shapes.
    """
    finite = jnp.isfinite(entries.descriptor)
    descriptors = jnp.where(finite, entries.descriptor, 0.0)
    # Rows that cannot be inserted need no exact cell (see `nearest_centroid`).
    relevant = jnp.all(finite, axis=1)
    if mask is not None:
        relevant = relevant & resolve_mask(mask, entries.batch_size)
    cells = nearest_centroid(
        descriptors, repertoire.centroids, block_size=block_size, lookup=lookup, relevant=relevant
    )
    return insert_by_cell(repertoire, entries, cells, mask)
