"""The cell repertoire shared by the structured archives.

``Repertoire`` is the fixed-size state of the structured archives (grid and
CVT MAP-Elites, Mouret & Clune 2015, "Illuminating search spaces by mapping
elites", arXiv:1504.04909): one elite per cell. The two structured archives
differ only in how a descriptor maps to a cell; both then call
``insert_by_cell``.

Insertion rules (shared by grid and CVT):

- An entry is a candidate only if its mask is True and its genome,
  descriptor and reward are all finite (NaN/inf are never inserted).
- Several candidates for one cell: the highest reward wins; among equal
  rewards the first in batch order wins (deterministic, unlike a scatter
  with duplicate indices).
- The winner replaces the occupant only if its reward is strictly higher
  (the occupant keeps the cell on a tie, as in QDax and pyribs).
"""
from __future__ import annotations

from typing import Optional, Tuple

import jax
import jax.numpy as jnp
from flax import struct

from qd import checks
from qd.archives.entries import Entries, check_entries, empty_rows, finite_entries, resolve_mask

Array = jax.Array

NOT_ADDED = 0
IMPROVED = 1
NEW_CELL = 2


@struct.dataclass
class Repertoire:
    """One elite per cell; every per-cell leaf has leading axis C (cells).

    Attributes:
        genomes: [C, D] float32, zeros in empty cells.
        descriptors: [C, k] float32 descriptors of the elites.
        gt_descriptors: [C, g] float32 ground-truth descriptors of the elites.
        rewards: [C] float32, -inf in empty cells.
        reward_areas: [C] int32, -1 in empty cells.
        filled: [C] bool, True where a cell holds an elite.
        centroids: [C, k] float32 cell centres (CVT centroids, grid cell centres).
        features: [C, *F] the elites' representation features (see `Entries`).
    """

    genomes: Array
    descriptors: Array
    gt_descriptors: Array
    rewards: Array
    reward_areas: Array
    filled: Array
    centroids: Array
    features: Array

    @property
    def n_cells(self) -> int:
        return self.rewards.shape[0]

    @property
    def size(self) -> Array:
        """Number of filled cells (a traced int32 scalar)."""
        return jnp.sum(self.filled, dtype=jnp.int32)


def empty_repertoire(
    centroids: Array, genome_size: int, gt_size: int, *, feature_shape: Optional[tuple] = None,
    feature_dtype=jnp.float32,
) -> Repertoire:
    """An empty repertoire over the given cell centres.

    Args:
        centroids: [C, k] cell centres.
        genome_size: D, length of a flat genome (>= 1).
        gt_size: g, size of the ground-truth descriptor (>= 1).
        feature_shape, feature_dtype: of one elite's representation features
            (default: [k] float32, the ground truth's).

    Returns:
        The empty repertoire.

    Raises:
        ValueError: on non-positive sizes or badly shaped centroids.
    """
    centroids = jnp.asarray(centroids, jnp.float32)
    if centroids.ndim != 2 or centroids.shape[0] < 1 or centroids.shape[1] < 1:
        raise ValueError(f"centroids must be a non-empty [C, k] array, got {centroids.shape}")
    checks.positive_ints(genome_size=genome_size, gt_size=gt_size)
    n_cells = centroids.shape[0]
    return Repertoire(
        **empty_rows(n_cells, genome_size, centroids.shape[1], gt_size, feature_shape, feature_dtype),
        rewards=jnp.full((n_cells,), -jnp.inf, jnp.float32),
        reward_areas=jnp.full((n_cells,), -1, jnp.int32),
        filled=jnp.zeros((n_cells,), bool),
        centroids=centroids,
    )


@jax.jit
def insert_by_cell(
    repertoire: Repertoire, entries: Entries, cells: Array, mask: Optional[Array] = None
) -> Tuple[Repertoire, Array]:
    """Inserts entries into given cells, keeping the best reward per cell.

    Follows the rules in the module docstring; batch conflicts are resolved
    with segment maxima as in QDax's ``MapElitesRepertoire.add``.

    Args:
        repertoire: the current repertoire.
        entries: B candidates.
        cells: [B] int cell index of each candidate (out-of-range: not added).
        mask: optional [B] bool, False entries are not candidates.

    Returns:
        The new repertoire, and a [B] int32 status per entry: ``NOT_ADDED``
        (0), ``IMPROVED`` (1, replaced a worse elite) or ``NEW_CELL`` (2).

    Raises:
        ValueError: on mismatched sizes.
    """
    check_entries(repertoire, entries)
    batch = entries.batch_size
    mask = resolve_mask(mask, batch)
    cells = jnp.asarray(cells, jnp.int32)
    if cells.shape != (batch,):
        raise ValueError(f"cells must have shape ({batch},), got {cells.shape}")
    n_cells = repertoire.n_cells
    ok = mask & finite_entries(entries) & (cells >= 0) & (cells < n_cells)
    # Segment n_cells collects the non-candidates and is dropped afterwards.
    seg = jnp.where(ok, cells, n_cells)
    reward = jnp.where(ok, entries.reward, -jnp.inf)
    best = jax.ops.segment_max(reward, seg, num_segments=n_cells + 1)
    is_best = ok & (reward == best[seg])
    order = jnp.arange(batch, dtype=jnp.int32)
    first = jax.ops.segment_min(
        jnp.where(is_best, order, batch), seg, num_segments=n_cells + 1
    )
    winner = is_best & (first[seg] == order)
    safe = jnp.where(ok, cells, 0)
    occupied = repertoire.filled[safe]
    added = winner & (~occupied | (entries.reward > repertoire.rewards[safe]))
    status = jnp.where(added, jnp.where(occupied, IMPROVED, NEW_CELL), NOT_ADDED)
    target = jnp.where(added, cells, n_cells)

    def put(stored, new):
        return stored.at[target].set(new.astype(stored.dtype), mode="drop")

    new = repertoire.replace(
        genomes=put(repertoire.genomes, entries.genome),
        descriptors=put(repertoire.descriptors, entries.descriptor),
        gt_descriptors=put(repertoire.gt_descriptors, entries.gt_descriptor),
        rewards=put(repertoire.rewards, entries.reward),
        reward_areas=put(repertoire.reward_areas, entries.reward_area),
        filled=put(repertoire.filled, jnp.ones((batch,), bool)),
        features=put(repertoire.features, entries.features),
    )
    return new, status.astype(jnp.int32)
