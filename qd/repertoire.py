"""Shared storage for archives: a batch of candidate entries and the cell repertoire.

``Entries`` is what every archive receives (novelty, grid and CVT alike): the
genomes of a batch with their descriptors (the space the archive works in),
ground-truth descriptors (for coverage metrics and plots), rewards and reward
areas.

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

Array = jax.Array

NOT_ADDED = 0
IMPROVED = 1
NEW_CELL = 2


@struct.dataclass
class Entries:
    """A batch of B candidates for an archive; every leaf has leading axis B.

    Attributes:
        genome: [B, D] float32 flat genomes.
        descriptor: [B, k] float32 descriptors in the archive's space.
        gt_descriptor: [B, g] float32 ground-truth descriptors.
        reward: [B] float32 episode returns.
        reward_area: [B] int32 reward area reached, -1 for none.
    """

    genome: Array
    descriptor: Array
    gt_descriptor: Array
    reward: Array
    reward_area: Array

    @property
    def batch_size(self) -> int:
        return self.reward.shape[0]


def make_entries(
    genome: Array,
    descriptor: Array,
    reward: Array,
    *,
    gt_descriptor: Optional[Array] = None,
    reward_area: Optional[Array] = None,
) -> Entries:
    """Builds validated ``Entries``.

    Args:
        genome: [B, D] genomes.
        descriptor: [B, k] descriptors.
        reward: [B] rewards.
        gt_descriptor: [B, g] ground-truth descriptors; defaults to ``descriptor``.
        reward_area: [B] int reward areas; defaults to -1 (none).

    Returns:
        The entries, cast to float32 / int32.

    Raises:
        ValueError: when ranks or batch sizes do not match.
    """
    genome = jnp.asarray(genome, jnp.float32)
    descriptor = jnp.asarray(descriptor, jnp.float32)
    reward = jnp.asarray(reward, jnp.float32)
    gt = descriptor if gt_descriptor is None else jnp.asarray(gt_descriptor, jnp.float32)
    if reward.ndim != 1:
        raise ValueError(f"reward must be 1-d [B], got shape {reward.shape}")
    batch = reward.shape[0]
    area = (
        jnp.full((batch,), -1, jnp.int32)
        if reward_area is None
        else jnp.asarray(reward_area, jnp.int32)
    )
    for name, value, rank in (
        ("genome", genome, 2),
        ("descriptor", descriptor, 2),
        ("gt_descriptor", gt, 2),
        ("reward_area", area, 1),
    ):
        if value.ndim != rank or value.shape[0] != batch:
            want = f"[{batch}, n]" if rank == 2 else f"[{batch}]"
            raise ValueError(f"{name} must have shape {want}, got {value.shape}")
    return Entries(genome, descriptor, gt, reward, area)


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
    """

    genomes: Array
    descriptors: Array
    gt_descriptors: Array
    rewards: Array
    reward_areas: Array
    filled: Array
    centroids: Array

    @property
    def n_cells(self) -> int:
        return self.rewards.shape[0]

    @property
    def size(self) -> Array:
        """Number of filled cells (a traced int32 scalar)."""
        return jnp.sum(self.filled, dtype=jnp.int32)


def empty_repertoire(centroids: Array, genome_size: int, gt_size: int) -> Repertoire:
    """An empty repertoire over the given cell centres.

    Args:
        centroids: [C, k] cell centres.
        genome_size: D, length of a flat genome (>= 1).
        gt_size: g, size of the ground-truth descriptor (>= 1).

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
        genomes=jnp.zeros((n_cells, genome_size), jnp.float32),
        descriptors=jnp.zeros_like(centroids),
        gt_descriptors=jnp.zeros((n_cells, gt_size), jnp.float32),
        rewards=jnp.full((n_cells,), -jnp.inf, jnp.float32),
        reward_areas=jnp.full((n_cells,), -1, jnp.int32),
        filled=jnp.zeros((n_cells,), bool),
        centroids=centroids,
    )


def check_entries(repertoire_or_sizes, entries: Entries) -> None:
    """Raises ValueError if the entries' feature sizes differ from the archive's.

    Args:
        repertoire_or_sizes: anything with ``genomes``, ``descriptors`` and
            ``gt_descriptors`` [n, size] leaves.
        entries: the batch to check.
    """
    for name, stored, given in (
        ("genome", repertoire_or_sizes.genomes, entries.genome),
        ("descriptor", repertoire_or_sizes.descriptors, entries.descriptor),
        ("gt_descriptor", repertoire_or_sizes.gt_descriptors, entries.gt_descriptor),
    ):
        if given.ndim != 2 or given.shape[1] != stored.shape[1]:
            raise ValueError(
                f"entries.{name} has shape {given.shape}, the archive stores "
                f"{name}s of size {stored.shape[1]}"
            )


def finite_entries(entries: Entries) -> Array:
    """[B] bool: True where genome, descriptor, gt descriptor and reward are finite."""
    return (
        jnp.isfinite(entries.reward)
        & jnp.all(jnp.isfinite(entries.descriptor), axis=1)
        & jnp.all(jnp.isfinite(entries.gt_descriptor), axis=1)
        & jnp.all(jnp.isfinite(entries.genome), axis=1)
    )


def resolve_mask(mask: Optional[Array], batch: int, name: str = "mask") -> Array:
    """A [B] bool mask (all True when None); ValueError naming ``name`` on bad shape."""
    if mask is None:
        return jnp.ones((batch,), bool)
    mask = jnp.asarray(mask)
    if mask.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},), got {mask.shape}")
    return mask.astype(bool)


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
    )
    return new, status.astype(jnp.int32)
