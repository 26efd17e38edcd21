"""MAP-Elites grid archive: uniform cells over a box in descriptor space.

Mouret & Clune 2015, "Illuminating search spaces by mapping elites"
(arXiv:1504.04909). Cells are numbered in C order (the last descriptor
dimension varies fastest), and a descriptor maps to its cell exactly as in
pyribs' ``GridArchive.index_of``, so archives convert cell for cell.
Descriptors outside the bounds land in the nearest edge cell. Insertion
rules (ties, NaN, batch conflicts) are those of ``qd.archives.repertoire``.

The geometry is a static ``GridSpec`` (hashable, so it can be a static jit
argument); the state is a ``qd.archives.repertoire.Repertoire``.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from qd.archives.entries import Entries
from qd.archives.repertoire import Repertoire, empty_repertoire, insert_by_cell

Array = jax.Array

# pyribs' default: absorbs float error for descriptors exactly on a boundary.
EPSILON = 1e-6


@dataclasses.dataclass(frozen=True)
class GridSpec:
    """Static geometry of a grid.

    Attributes:
        low: lower bound per descriptor dimension.
        high: upper bound per descriptor dimension (> low).
        cells: number of cells per dimension (>= 1).

    Raises:
        ValueError: on mismatched lengths, empty or non-finite bounds, or
            non-positive cell counts.
    """

    low: Tuple[float, ...]
    high: Tuple[float, ...]
    cells: Tuple[int, ...]

    def __post_init__(self):
        low = _as_float_tuple(self.low, "low")
        high = _as_float_tuple(self.high, "high")
        cells = _as_int_tuple(self.cells, len(low))
        if len(high) != len(low) or len(cells) != len(low):
            raise ValueError(
                f"low, high and cells must have the same length, got "
                f"{len(low)}, {len(high)} and {len(cells)}"
            )
        bad = [i for i, (lo, hi) in enumerate(zip(low, high)) if not hi > lo]
        if bad:
            raise ValueError(f"high must exceed low in every dimension; not in {bad}")
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "cells", cells)

    @property
    def n_dims(self) -> int:
        return len(self.low)

    @property
    def n_cells(self) -> int:
        return math.prod(self.cells)


def _as_float_tuple(values, name: str) -> Tuple[float, ...]:
    values = tuple(float(v) for v in np.atleast_1d(np.asarray(values, np.float64)))
    if not values:
        raise ValueError(f"{name} must have at least one dimension")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"{name} must be finite, got {values}")
    return values


def _as_int_tuple(values, n_dims: int) -> Tuple[int, ...]:
    if isinstance(values, (int, np.integer)):
        values = (int(values),) * n_dims
    out = tuple(int(v) for v in values)
    if any(v < 1 or v != float(u) for v, u in zip(out, values)):
        raise ValueError(f"cells must be positive integers, got {tuple(values)}")
    return out


def grid_spec(
    low: Sequence[float], high: Sequence[float], cells: int | Sequence[int]
) -> GridSpec:
    """Builds a ``GridSpec``; ``cells`` may be one int for every dimension."""
    return GridSpec(low, high, cells)


def grid_indices(spec: GridSpec, descriptors: Array) -> Array:
    """[B, n_dims] int32 per-dimension cell coordinates (clipped to the grid)."""
    descriptors = _check_descriptors(spec, descriptors)
    low = jnp.asarray(spec.low, jnp.float32)
    interval = jnp.asarray(spec.high, jnp.float32) - low
    dims = jnp.asarray(spec.cells, jnp.float32)
    scaled = (dims * (descriptors - low) + EPSILON) / interval
    # NaN would make the cast undefined; such rows are never inserted anyway.
    scaled = jnp.where(jnp.isfinite(scaled), scaled, 0.0)
    coords = jnp.floor(jnp.clip(scaled, 0.0, dims - 1.0))
    return coords.astype(jnp.int32)


def index_of(spec: GridSpec, descriptors: Array) -> Array:
    """[B] int32 flat cell index (C order) of each descriptor.

    Args:
        spec: the grid.
        descriptors: [B, n_dims] descriptors.

    Returns:
        Cell indices in [0, spec.n_cells).

    Raises:
        ValueError: if descriptors are not [B, n_dims].
    """
    coords = grid_indices(spec, descriptors)
    strides = np.cumprod((1,) + spec.cells[:0:-1])[::-1].astype(np.int32)
    return jnp.sum(coords * jnp.asarray(strides), axis=1, dtype=jnp.int32)


def cell_centres(spec: GridSpec) -> Array:
    """[n_cells, n_dims] float32 centres of the cells, in flat-index order."""
    axes = [
        np.linspace(lo, hi, n + 1)[:-1] + (hi - lo) / (2 * n)
        for lo, hi, n in zip(spec.low, spec.high, spec.cells)
    ]
    mesh = np.meshgrid(*axes, indexing="ij")
    return jnp.asarray(np.stack([m.ravel() for m in mesh], axis=1), jnp.float32)


def init(spec: GridSpec, genome_size: int, gt_size: Optional[int] = None, **features) -> Repertoire:
    """An empty grid archive.

    Args:
        spec: the grid.
        genome_size: D, length of a flat genome.
        gt_size: size of the ground-truth descriptor; defaults to spec.n_dims.
        **features: ``feature_shape`` and ``feature_dtype`` (`empty_repertoire`).

    Returns:
        The empty repertoire with ``centroids`` = cell centres.

    Raises:
        ValueError: on non-positive sizes.
    """
    if not isinstance(spec, GridSpec):
        raise ValueError(f"spec must be a GridSpec, got {type(spec).__name__}")
    gt_size = spec.n_dims if gt_size is None else gt_size
    return empty_repertoire(cell_centres(spec), genome_size, gt_size, **features)


@functools.partial(jax.jit, static_argnums=0)
def insert(
    spec: GridSpec,
    repertoire: Repertoire,
    entries: Entries,
    mask: Optional[Array] = None,
) -> Tuple[Repertoire, Array]:
    """Inserts a batch into the grid archive (best reward per cell).

    Args:
        spec: the grid the repertoire was made with.
        repertoire: current state.
        entries: B candidates, descriptors [B, spec.n_dims].
        mask: optional [B] bool; False entries (e.g. invalid rollouts) are skipped.

    Returns:
        (new repertoire, [B] int32 status: 0 not added, 1 improved, 2 new cell).

    Raises:
        ValueError: on mismatched shapes or a spec that does not fit the repertoire.
    """
    if repertoire.n_cells != spec.n_cells:
        raise ValueError(
            f"repertoire has {repertoire.n_cells} cells, spec has {spec.n_cells}"
        )
    return insert_by_cell(repertoire, entries, index_of(spec, entries.descriptor), mask)


def _check_descriptors(spec: GridSpec, descriptors) -> Array:
    descriptors = jnp.asarray(descriptors, jnp.float32)
    if descriptors.ndim != 2 or descriptors.shape[1] != spec.n_dims:
        raise ValueError(
            f"descriptors must have shape [B, {spec.n_dims}], got {descriptors.shape}"
        )
    return descriptors
