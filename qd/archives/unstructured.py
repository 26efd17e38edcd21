"""AURORA's unstructured archive: a fixed-capacity container with a distance
threshold `l`, and container size control (CSC) of that threshold.

Cully 2019, "Autonomous skill discovery with quality-diversity and
unsupervised descriptors" (GECCO, arXiv:1905.11874); Grillotti & Cully 2022,
"Unsupervised behaviour discovery with quality-diversity optimisation" (IEEE
TEVC, arXiv:2106.05648; AURORA-CSC). The rules are QDax 0.5's
(``qdax.core.containers.unstructured_repertoire.UnstructuredRepertoire.add``
and ``qdax.core.aurora.AURORA.container_size_control``), checked against it
in the tests; written here over our `Entries` rows (features column, masks,
deterministic ties) instead of QDax's extra-scores dictionary.

Insertion of a batch (distances are Euclidean in descriptor space; "elites"
are the stored rows, "candidates" the valid rows of the batch):

- A candidate whose second-nearest elite is within `l` (distance <= l) is
  rejected: it would sit in a cluster.
- A candidate whose nearest elite is within `l` competes with that elite: it
  replaces it only if its reward is strictly higher.
- Any other candidate is novel: it takes an empty row if one is left (the
  rows are handed out in QDax's processing order, see below); when the
  archive is full it is not added (QDax's container has no rule for that).
- Within the batch, a candidate is dropped if another candidate closer than
  `l` (strictly) has a higher reward. When every candidate of the batch has
  the same reward (a task without reward, or a sparse one before any reward
  is found), QDax breaks the ties with a virtual reward growing along its
  processing order: novel candidates first in batch order, then the others
  by the index of their nearest elite (stable); the later one wins.
- Several candidates for one elite: the highest reward wins (first in batch
  order on a tie, where QDax's scatter picks any), and candidates that were
  dropped by the rules above still take part in this contest, as in QDax.
- Masked rows and rows with a non-finite genome, descriptor or reward are
  never inserted and count as absent (QDax has no mask; it drops NaN
  descriptors).

Re-insertion (`reinsert`): every stored row is inserted as one batch into an
empty archive with the same threshold (QDax's ``repertoire.init``). It
follows a refit (every descriptor was recomputed) and every change of `l`.
Every row is then novel, so a row survives unless another one closer than
`l` is better; survivors stay at their index (as in QDax, whose k-th
candidate takes the k-th empty row), so genome i keeps descriptor i.

Container size control (`container_size_control`, QDax's "CVC"): a
proportional-derivative controller on the archive's size,

    e = size - target;  l <- l + K e + K (e - e_previous)

with QDax's gain K = 1e-5, then a re-insertion under the new `l`. A full
archive (e > 0) makes `l` grow and a sparse one makes it shrink. QDax does
not clamp `l`; neither do we (a negative `l` admits every candidate until
the archive is full, which then raises `l` again).
"""
from __future__ import annotations

from typing import Optional, Tuple

import jax
import jax.numpy as jnp
from flax import struct

from qd import checks, knn
from qd.archives.entries import Entries, check_entries, empty_rows, finite_entries, resolve_mask
from qd.archives.repertoire import IMPROVED, NEW_CELL, NOT_ADDED

Array = jax.Array

# QDax 0.5's `AURORA.container_size_control`: prop_gain = 1 * 10e-6.
CSC_GAIN = 1e-5
# Rows x candidates x descriptor dims per block of the within-batch distances.
_TILE = 1 << 24


@struct.dataclass
class UnstructuredArchive:
    """Up to `capacity` elites at least about `threshold` apart; every per-row
    leaf has leading axis N (capacity).

    Attributes:
        genomes: [N, D] float32, zeros in empty rows.
        descriptors: [N, k] float32 descriptors of the elites.
        gt_descriptors: [N, g] float32 ground-truth descriptors.
        rewards: [N] float32, -inf in empty rows.
        reward_areas: [N] int32, -1 in empty rows.
        filled: [N] bool, True where a row holds an elite.
        features: [N, *F] the elites' representation features (`Entries`).
        threshold: [] float32, the distance threshold `l`.
        csc_error: [] float32, size - target at the last container size
            control (QDax's `previous_error`, the controller's memory).
    """

    genomes: Array
    descriptors: Array
    gt_descriptors: Array
    rewards: Array
    reward_areas: Array
    filled: Array
    features: Array
    threshold: Array
    csc_error: Array

    @property
    def capacity(self) -> int:
        return self.rewards.shape[0]

    @property
    def size(self) -> Array:
        """Number of elites (a traced int32 scalar)."""
        return jnp.sum(self.filled, dtype=jnp.int32)


def init(
    capacity: int, genome_size: int, descriptor_size: int, gt_size: int, threshold: float, *,
    feature_shape: Optional[tuple] = None, feature_dtype=jnp.float32,
) -> UnstructuredArchive:
    """An empty unstructured archive.

    Args:
        capacity: N, the most elites it holds (>= 2: insertion looks at the
            two nearest elites).
        genome_size, descriptor_size, gt_size: D, k and g (>= 1).
        threshold: the initial distance threshold `l` (> 0, finite).
        feature_shape, feature_dtype: of one elite's representation features
            (default: [k] float32, the ground truth's).

    Returns:
        The empty archive (`csc_error` 0).

    Raises:
        ValueError: on bad sizes or threshold.
    """
    checks.positive_ints(genome_size=genome_size, descriptor_size=descriptor_size, gt_size=gt_size)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 2:
        raise ValueError(f"capacity must be an integer >= 2, got {capacity!r}")
    if not (isinstance(threshold, (int, float)) and 0 < float(threshold) < float("inf")):
        raise ValueError(f"threshold must be a positive finite number, got {threshold!r}")
    return UnstructuredArchive(
        **empty_rows(capacity, genome_size, descriptor_size, gt_size, feature_shape, feature_dtype),
        rewards=jnp.full((capacity,), -jnp.inf, jnp.float32),
        reward_areas=jnp.full((capacity,), -1, jnp.int32),
        filled=jnp.zeros((capacity,), bool),
        threshold=jnp.float32(threshold),
        csc_error=jnp.float32(0.0),
    )


def _beaten(descriptors: Array, score: Array, present: Array, threshold: Array) -> Array:
    """[B] bool: another present candidate closer than `threshold` (strictly)
    has a higher score. Blocks of rows bound memory to about `_TILE` floats."""
    batch, dim = descriptors.shape
    index = jnp.arange(batch)

    def row(args):
        d, s, i = args
        # The direct form is exact, which a threshold test wants (the
        # matrix-product form can misplace points on the boundary).
        dist = jnp.sqrt(jnp.sum((descriptors - d) ** 2, axis=-1))
        close = present & (dist < threshold) & (index != i)
        return jnp.any(close & (score > s))

    block = max(1, min(batch, _TILE // max(1, batch * dim)))
    return jax.lax.map(row, (descriptors, score, index), batch_size=block)


@jax.jit
def insert(
    archive: UnstructuredArchive, entries: Entries, mask: Optional[Array] = None
) -> Tuple[UnstructuredArchive, Array]:
    """Inserts a batch by the rules of the module docstring.

    Args:
        archive: the current archive.
        entries: B candidates.
        mask: optional [B] bool; False rows are not candidates.

    Returns:
        The new archive, and a [B] int32 status per entry: ``NOT_ADDED`` (0),
        ``IMPROVED`` (1, replaced its nearest elite) or ``NEW_CELL`` (2, took
        an empty row).

    Raises:
        ValueError: on mismatched sizes.
    """
    check_entries(archive, entries)
    batch, capacity = entries.batch_size, archive.capacity
    l = archive.threshold
    present = resolve_mask(mask, batch) & finite_entries(entries)
    descriptors = jnp.where(present[:, None], entries.descriptor, 0.0)

    nearest = knn.knn(descriptors, (archive.descriptors, archive.filled), k=2)
    d1, d2 = nearest.distances[:, 0], nearest.distances[:, 1]
    near = present & (d1 <= l)
    clustered = d2 <= l

    # QDax's processing order: novel candidates (and absent rows) first, in
    # batch order, then the others by the index of their nearest elite.
    order = jnp.argsort(jnp.where(near, nearest.indices[:, 0], -1), stable=True)
    position = jnp.zeros((batch,), jnp.int32).at[order].set(jnp.arange(batch, dtype=jnp.int32))
    # The k-th novel candidate (in batch order, QDax's order for them) takes
    # the k-th empty row (capacity: none left). QDax counts every candidate
    # that is not near an elite; counting present ones only gives the same
    # rows when nothing is masked, and lets no invalid row waste a free one.
    empty = jnp.nonzero(~archive.filled, size=batch, fill_value=capacity)[0].astype(jnp.int32)
    novel_rank = jnp.cumsum(present & ~near, dtype=jnp.int32) - 1
    target = jnp.where(near, nearest.indices[:, 0], empty[jnp.clip(novel_rank, 0, batch - 1)])

    reward = jnp.where(present, entries.reward, -jnp.inf)
    big = jnp.finfo(jnp.float32).max
    tied = jnp.max(jnp.where(present, reward, -big)) == jnp.min(jnp.where(present, reward, big))
    virtual = jnp.where(tied, position / jnp.maximum(batch - 1, 1), 0.0)
    kept = present & ~clustered & ~_beaten(descriptors, reward + virtual, present, l)

    # One candidate per target: the best reward (kept or not, as in QDax),
    # the first in batch order on a tie; it must beat the row's occupant.
    seg = jnp.where(present, target, capacity)
    best = jax.ops.segment_max(reward, seg, num_segments=capacity + 1)
    is_best = present & (reward == best[seg])
    order_in_batch = jnp.arange(batch, dtype=jnp.int32)
    first = jax.ops.segment_min(jnp.where(is_best, order_in_batch, batch), seg, num_segments=capacity + 1)
    winner = is_best & (first[seg] == order_in_batch)
    safe = jnp.minimum(target, capacity - 1)
    occupied = archive.filled[safe]
    added = kept & winner & (target < capacity) & (reward > jnp.where(occupied, archive.rewards[safe], -jnp.inf))
    status = jnp.where(added, jnp.where(occupied, IMPROVED, NEW_CELL), NOT_ADDED)
    rows = jnp.where(added, target, capacity)

    def put(stored, new):
        return stored.at[rows].set(new.astype(stored.dtype), mode="drop")

    new = archive.replace(
        genomes=put(archive.genomes, entries.genome),
        descriptors=put(archive.descriptors, entries.descriptor),
        gt_descriptors=put(archive.gt_descriptors, entries.gt_descriptor),
        rewards=put(archive.rewards, entries.reward),
        reward_areas=put(archive.reward_areas, entries.reward_area),
        filled=put(archive.filled, jnp.ones((batch,), bool)),
        features=put(archive.features, entries.features),
    )
    return new, status.astype(jnp.int32)


def elites(archive: UnstructuredArchive) -> Entries:
    """Every row of the archive as entries (empty rows included; mask them
    with `archive.filled`)."""
    return Entries(
        genome=archive.genomes,
        descriptor=archive.descriptors,
        gt_descriptor=archive.gt_descriptors,
        reward=archive.rewards,
        reward_area=archive.reward_areas,
        features=archive.features,
    )


def clear(archive: UnstructuredArchive, rows: Optional[Array] = None) -> UnstructuredArchive:
    """The archive with the rows `rows` ([N] bool; default: all) emptied
    (same threshold and controller)."""
    rows = jnp.ones_like(archive.filled) if rows is None else rows
    index = jnp.where(rows, jnp.arange(archive.capacity), archive.capacity)

    def put(stored, value):
        # A scatter of the few emptied rows, not a select over every row: the
        # features column may hold thousands of stored views.
        return stored.at[index].set(jnp.asarray(value, stored.dtype), mode="drop")

    return archive.replace(
        genomes=put(archive.genomes, 0), descriptors=put(archive.descriptors, 0),
        gt_descriptors=put(archive.gt_descriptors, 0), rewards=put(archive.rewards, -jnp.inf),
        reward_areas=put(archive.reward_areas, -1), filled=put(archive.filled, False),
        features=put(archive.features, 0),
    )


def survivors(archive: UnstructuredArchive) -> Array:
    """[N] bool: the rows that a re-insertion keeps.

    Re-inserting every row as one batch into an empty copy (QDax's
    ``repertoire.init`` after a refit or a change of `l`) leaves every
    candidate novel, so a row is kept unless another row closer than `l`
    has a higher reward (or, every reward being equal, a higher index). The
    survivors stay at their index (QDax: the k-th row takes the k-th empty
    row, its own), without a scatter of every row; `insert` of `elites` into
    `clear` keeps the same rows, packed (as the tests check).
    """
    filled = archive.filled
    big = jnp.finfo(jnp.float32).max
    reward = jnp.where(filled, archive.rewards, -jnp.inf)
    tied = jnp.max(jnp.where(filled, reward, -big)) == jnp.min(jnp.where(filled, reward, big))
    position = jnp.arange(archive.capacity) / max(archive.capacity - 1, 1)
    descriptors = jnp.where(filled[:, None], archive.descriptors, 0.0)
    score = reward + jnp.where(tied, position, 0.0)
    return filled & ~_beaten(descriptors, score, filled, archive.threshold)


@jax.jit
def reinsert(archive: UnstructuredArchive) -> UnstructuredArchive:
    """Every elite re-inserted into an empty copy of the archive (after a refit
    recomputed the descriptors, or a change of `l`): the rows `survivors`
    drops are emptied, the others stay at their index."""
    return clear(archive, archive.filled & ~survivors(archive))


def _controlled(archive: UnstructuredArchive, target_size, gain) -> tuple[Array, Array]:
    """(threshold, error) after one step of QDax's controller."""
    error = (archive.size - target_size).astype(jnp.float32)
    threshold = archive.threshold + gain * error + gain * (error - archive.csc_error)
    return threshold.astype(jnp.float32), error


@jax.jit
def container_size_control(
    archive: UnstructuredArchive, target_size: int | Array, gain: float | Array = CSC_GAIN
) -> UnstructuredArchive:
    """QDax's container size control: `l` moved by a proportional-derivative
    step on the size error, then every elite re-inserted under the new `l`.

    Args:
        archive: the archive; its `csc_error` is the previous error.
        target_size: the size to hold.
        gain: K in ``l <- l + K e + K (e - e_previous)`` (QDax: 1e-5).

    Returns:
        The re-inserted archive with the new `threshold` and `csc_error` = e.
    """
    threshold, error = _controlled(archive, target_size, gain)
    return reinsert(archive.replace(threshold=threshold, csc_error=error))


def maintain(
    archive: UnstructuredArchive, *, refitted: Array, control: Array, target_size: int, gain: float = CSC_GAIN
) -> UnstructuredArchive:
    """What follows a generation: a re-insertion after a refit, or else, when
    `control` is due, a container size control (QDax's loop does one or the
    other, never both).

    Only the threshold, the controller's error and the surviving rows come
    out of the conditional, so a generation that does neither copies no row.

    Args:
        archive: the archive after the generation's insertion and refit.
        refitted: [] bool, whether the descriptors were just recomputed.
        control: [] bool, whether the container size control is due.
        target_size, gain: of `container_size_control`.
    """
    control = control & ~refitted

    def redo():
        threshold, error = _controlled(archive, target_size, gain)
        threshold = jnp.where(control, threshold, archive.threshold)
        error = jnp.where(control, error, archive.csc_error)
        return threshold, error, survivors(archive.replace(threshold=threshold))

    threshold, error, keep = jax.lax.cond(
        refitted | control, redo, lambda: (archive.threshold, archive.csc_error, archive.filled)
    )
    return clear(archive.replace(threshold=threshold, csc_error=error), archive.filled & ~keep)


def start_control(archive: UnstructuredArchive, target_size: int | Array) -> UnstructuredArchive:
    """The controller's memory set to the current error (QDax's loop starts
    with ``previous_error = size - target`` after the first batch)."""
    return archive.replace(csc_error=(archive.size - target_size).astype(jnp.float32))
