"""Exploration metrics as pure, jit-able functions (docs/reference.md).

- Coverage: fraction of the cells of a grid (50 x 50 by default) over the
  ground-truth descriptor bounds that hold at least one point. Points
  outside the bounds count in the nearest edge cell, as in the grid archive.
- Uniformity: 1 - Jensen-Shannon distance (base 2, so in [0, 1]) between the
  cell histogram and the uniform distribution over the cells, following
  ``scipy.spatial.distance.jensenshannon``; used in Paolo et al. 2021,
  "Sparse reward exploration via novelty search and emitters" (SERENE).
- Time coverage: the coverage of the archive's positions at each recorded
  time of the episode (replaying the archive), showing when in the episode
  the archive's behaviours spread out; TAXONS' "time coverage".
- QD-score: sum over filled cells of (reward - offset), as pyribs' offset.
- Reward areas: found or not, evaluations until first found, max reward and
  number of evaluations ending in each area, accumulated across batches.
"""
from __future__ import annotations

import functools

from typing import Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp
from flax import struct

from qd.archives import grid as grid_archive
from qd.archives.entries import resolve_mask

Array = jax.Array
Cells = Union[int, Sequence[int]]

COVERAGE_CELLS = 50


def cell_histogram(
    points: Array,
    low: Sequence[float],
    high: Sequence[float],
    cells: Cells = COVERAGE_CELLS,
    mask: Optional[Array] = None,
) -> Array:
    """Number of (masked-in, finite) points in each cell of a grid.

    Args:
        points: [N, d] points, e.g. ground-truth descriptors.
        low: d lower bounds (static Python numbers).
        high: d upper bounds.
        cells: cells per dimension, one int or d ints (50 by default).
        mask: optional [N] bool, False points are ignored.

    Returns:
        [prod(cells)] int32 counts, cells in C order (as ``grid_archive``).

    Raises:
        ValueError: on bad bounds, cells or shapes.
    """
    spec, points = _grid_points(points, low, high, cells)
    return _histogram(spec, points, resolve_mask(mask, points.shape[0]))


def _grid_points(points, low, high, cells) -> tuple[grid_archive.GridSpec, Array]:
    """The grid and the [N, d] float32 points, checked against each other."""
    spec = grid_archive.GridSpec(low, high, cells)
    points = jnp.asarray(points, jnp.float32)
    if points.ndim != 2 or points.shape[1] != spec.n_dims:
        raise ValueError(f"points must have shape [N, {spec.n_dims}], got {points.shape}")
    return spec, points


@functools.partial(jax.jit, static_argnums=0)
def _histogram(spec: grid_archive.GridSpec, points: Array, mask: Array) -> Array:
    keep = mask & jnp.all(jnp.isfinite(points), axis=1)
    index = grid_archive.index_of(spec, points)
    return jnp.zeros((spec.n_cells,), jnp.int32).at[index].add(keep.astype(jnp.int32))


def mark_cells(
    hit: Array,
    points: Array,
    low: Sequence[float],
    high: Sequence[float],
    cells: Cells = COVERAGE_CELLS,
    mask: Optional[Array] = None,
) -> Array:
    """``hit | (cell_histogram(points, ...) > 0)``, without the histogram.

    Args:
        hit: [prod(cells)] bool, cells already hit.
        points, low, high, cells, mask: as ``cell_histogram``.

    Returns:
        [prod(cells)] bool, also True in the cells of the (masked-in, finite)
        points.

    Raises:
        ValueError: as ``cell_histogram``, or on a ``hit`` of another size.
    """
    spec, points = _grid_points(points, low, high, cells)
    hit = jnp.asarray(hit, bool)
    if hit.shape != (spec.n_cells,):
        raise ValueError(f"hit must have shape ({spec.n_cells},), got {hit.shape}")
    return _mark(spec, hit, points, resolve_mask(mask, points.shape[0]))


@functools.partial(jax.jit, static_argnums=0)
def _mark(spec: grid_archive.GridSpec, hit: Array, points: Array, mask: Array) -> Array:
    keep = mask & jnp.all(jnp.isfinite(points), axis=1)
    index = jnp.where(keep, grid_archive.index_of(spec, points), spec.n_cells)
    return hit.at[index].set(True, mode="drop")


def coverage(
    points: Array,
    low: Sequence[float],
    high: Sequence[float],
    cells: Cells = COVERAGE_CELLS,
    mask: Optional[Array] = None,
) -> Array:
    """Fraction of grid cells holding at least one point (float32 scalar in [0, 1]).

    Args: as ``cell_histogram``.

    Returns:
        The coverage.

    Raises:
        ValueError: as ``cell_histogram``.
    """
    counts = cell_histogram(points, low, high, cells, mask)
    return jnp.mean(counts > 0, dtype=jnp.float32)


def time_coverage(trajectories: Array, mask: Optional[Array], spec) -> Array:
    """Coverage of the task's coverage grid by the positions at each time.

    Positions are mapped to the descriptor space as the ground-truth
    descriptor maps the final one (`TaskSpec.world_to_descriptor`, linear
    from the world bounds to the first two descriptor bounds), so for tasks
    whose descriptor is the final position the last entry is the archive's
    `coverage`.

    Args:
        trajectories: [N, T, 2] world (x, y) positions, e.g.
            `Evaluation.trajectory` of the replayed archive.
        mask: optional [N] bool, rows to count (e.g. filled and valid).
        spec: the task's `TaskSpec` (static: world and descriptor bounds,
            `grid_shape`).

    Returns:
        [T] float32 coverage in [0, 1] at each time.

    Raises:
        ValueError: trajectories not [N, T, 2], or a mask of another length.
    """
    trajectories = jnp.asarray(trajectories, jnp.float32)
    if trajectories.ndim != 3 or trajectories.shape[2] != 2:
        raise ValueError(f"trajectories must have shape [N, T, 2], got {trajectories.shape}")
    grid = grid_archive.GridSpec(tuple(spec.descriptor_low[:2]), tuple(spec.descriptor_high[:2]),
                                 tuple(spec.grid_shape))
    world = (tuple(map(float, spec.world_low)), tuple(map(float, spec.world_high)))
    return _time_coverage(grid, world, trajectories, resolve_mask(mask, trajectories.shape[0]))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _time_coverage(grid: grid_archive.GridSpec, world, trajectories: Array, mask: Array) -> Array:
    lo_w, hi_w = (jnp.asarray(b, jnp.float32) for b in world)
    lo_d, hi_d = jnp.asarray(grid.low, jnp.float32), jnp.asarray(grid.high, jnp.float32)
    points = lo_d + (trajectories - lo_w) / (hi_w - lo_w) * (hi_d - lo_d)  # [N, T, 2]

    def at(points_t):  # [N, 2] -> coverage
        return jnp.mean(_histogram(grid, points_t, mask) > 0, dtype=jnp.float32)

    return jax.vmap(at, in_axes=1)(points)


@functools.partial(jax.jit, static_argnames="base")
def js_distance(p: Array, q: Array, base: float = 2.0) -> Array:
    """Jensen-Shannon distance between two histograms (jnp port of scipy's).

    Both are normalised to sum to 1; the result is sqrt of the JS divergence
    in log ``base``, so in [0, 1] for base 2.

    Args:
        p: [n] non-negative weights.
        q: [n] non-negative weights.
        base: logarithm base (> 1).

    Returns:
        float32 scalar distance (NaN if a histogram sums to 0, as scipy).

    Raises:
        ValueError: on mismatched shapes or base <= 1.
    """
    p = jnp.asarray(p, jnp.float32)
    q = jnp.asarray(q, jnp.float32)
    if p.ndim != 1 or p.shape != q.shape:
        raise ValueError(f"p and q must be 1-d of equal length, got {p.shape} and {q.shape}")
    if not base > 1.0:
        raise ValueError(f"base must be > 1, got {base}")
    p = p / jnp.sum(p)
    q = q / jnp.sum(q)
    m = 0.5 * (p + q)

    def rel_entr(x, y):
        return jnp.where(x > 0, x * jnp.log(jnp.where(x > 0, x / y, 1.0)), 0.0)

    divergence = 0.5 * jnp.sum(rel_entr(p, m) + rel_entr(q, m)) / jnp.log(base)
    return jnp.sqrt(jnp.maximum(divergence, 0.0))


@functools.partial(jax.jit, static_argnames="hit_cells_only")
def uniformity(counts: Array, *, hit_cells_only: bool = False) -> Array:
    """1 - JS distance (base 2) between a cell histogram and uniform.

    Args:
        counts: [n] cell counts, e.g. from ``cell_histogram``.
        hit_cells_only: compare with the uniform distribution over the cells
            that hold a point rather than over all cells (the reference uses all).

    Returns:
        float32 scalar in [0, 1]; 1 for a perfectly even fill, 0 when empty.
    """
    counts = jnp.asarray(counts, jnp.float32)
    if counts.ndim != 1:
        raise ValueError(f"counts must be 1-d, got shape {counts.shape}")
    reference = (counts > 0) if hit_cells_only else jnp.ones_like(counts)
    reference = reference.astype(jnp.float32)
    nonempty = jnp.sum(counts) > 0
    safe_counts = jnp.where(nonempty, counts, 1.0)
    safe_ref = jnp.where(nonempty, reference, 1.0)
    return jnp.where(nonempty, 1.0 - js_distance(safe_counts, safe_ref), 0.0)


@jax.jit
def qd_score(rewards: Array, filled: Array, offset: float = 0.0) -> Array:
    """Sum over filled cells of (reward - offset); float32 scalar.

    Args:
        rewards: [C] rewards per cell.
        filled: [C] bool.
        offset: subtracted from every reward (pass the lowest possible reward
            so that filling a cell never lowers the score).
    """
    rewards = jnp.asarray(rewards, jnp.float32)
    filled = jnp.asarray(filled, bool)
    if rewards.shape != filled.shape or rewards.ndim != 1:
        raise ValueError(f"rewards and filled must be [C], got {rewards.shape} and {filled.shape}")
    return jnp.sum(jnp.where(filled, rewards - offset, 0.0))


def max_reward(rewards: Array, filled: Array) -> Array:
    """Best reward over filled cells, 0 for an empty archive; float32 scalar.

    Rewards may be negative (dense-reward tasks pay e.g. -std(joint angles)),
    so empty cells are left out, not counted as 0.

    Args:
        rewards: [C] rewards per cell.
        filled: [C] bool.
    """
    rewards = jnp.asarray(rewards, jnp.float32)
    filled = jnp.asarray(filled, bool)
    return jnp.where(jnp.any(filled), jnp.max(jnp.where(filled, rewards, -jnp.inf)), 0.0)


# --------------------------------------------------------------------------
# Reward areas


@struct.dataclass
class AreaStats:
    """Running per-reward-area statistics; every leaf has leading axis A (areas).

    Attributes:
        found: [A] bool, some valid evaluation ended in the area.
        first_found: [A] int32, evaluations spent (cumulative, at the end of
            the batch that first found the area), -1 until found.
        max_reward: [A] float32, best reward seen in the area, -inf until found.
        count: [A] int32, valid evaluations that ended in the area.
    """

    found: Array
    first_found: Array
    max_reward: Array
    count: Array


def init_area_stats(n_areas: int) -> AreaStats:
    """Empty statistics for ``n_areas`` reward areas (ValueError if n_areas < 1)."""
    if isinstance(n_areas, bool) or not isinstance(n_areas, int) or n_areas < 1:
        raise ValueError(f"n_areas must be a positive integer, got {n_areas!r}")
    return AreaStats(
        found=jnp.zeros((n_areas,), bool),
        first_found=jnp.full((n_areas,), -1, jnp.int32),
        max_reward=jnp.full((n_areas,), -jnp.inf, jnp.float32),
        count=jnp.zeros((n_areas,), jnp.int32),
    )


@functools.partial(jax.jit, static_argnames="n_areas")
def batch_area_stats(
    reward: Array, reward_area: Array, valid: Optional[Array], n_areas: int
) -> Tuple[Array, Array, Array]:
    """Per-area statistics of one batch of evaluations.

    Args:
        reward: [B] rewards.
        reward_area: [B] int area index, -1 (or out of range) for none.
        valid: optional [B] bool; invalid evaluations are ignored.
        n_areas: A.

    Returns:
        (found [A] bool, max reward [A] float32 (-inf if none), count [A] int32).

    Raises:
        ValueError: on bad shapes.
    """
    reward = jnp.asarray(reward, jnp.float32)
    area = jnp.asarray(reward_area, jnp.int32)
    if reward.ndim != 1 or area.shape != reward.shape:
        raise ValueError(f"reward and reward_area must be [B], got {reward.shape} and {area.shape}")
    valid = resolve_mask(valid, reward.shape[0], "valid")
    inside = valid & (area >= 0) & (area < n_areas)
    # Negative ids would wrap around in a scatter; send them to a dropped segment.
    seg = jnp.where(inside, area, n_areas)
    count = jax.ops.segment_sum(inside.astype(jnp.int32), seg, num_segments=n_areas + 1)
    best = jax.ops.segment_max(
        jnp.where(inside & ~jnp.isnan(reward), reward, -jnp.inf), seg, num_segments=n_areas + 1
    )
    return count[:n_areas] > 0, best[:n_areas], count[:n_areas]


@jax.jit
def update_area_stats(
    stats: AreaStats,
    reward: Array,
    reward_area: Array,
    valid: Optional[Array],
    evaluations: Array,
) -> AreaStats:
    """Folds one batch into running statistics.

    Args:
        stats: running statistics.
        reward: [B] rewards of the batch.
        reward_area: [B] int area index, -1 for none.
        valid: optional [B] bool.
        evaluations: total evaluations spent including this batch; stored as
            ``first_found`` for areas found for the first time (a batch runs
            in parallel, so the batch is the resolution).

    Returns:
        The updated statistics.
    """
    n_areas = stats.found.shape[0]
    found, best, count = batch_area_stats(reward, reward_area, valid, n_areas=n_areas)
    newly = found & ~stats.found
    return AreaStats(
        found=stats.found | found,
        first_found=jnp.where(newly, jnp.asarray(evaluations, jnp.int32), stats.first_found),
        max_reward=jnp.maximum(stats.max_reward, best),
        count=stats.count + count,
    )
