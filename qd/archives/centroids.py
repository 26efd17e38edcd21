"""Centroids of a centroidal Voronoi tessellation and the nearest-centroid
search that maps descriptors to CVT cells (`qd.archives.cvt`).

Vassiliades, Chatzilygeroudis & Mouret 2018, "Using centroidal Voronoi
tessellations to scale up the multidimensional archive of phenotypic
elites algorithm", IEEE TEVC 22(4). Centroids come from k-means on points
sampled uniformly in the descriptor box (as in pyribs' ``k_means_centroids``)
and are cached by their parameters. A descriptor belongs to its nearest
centroid (first centroid on exact ties, like ``argmin``). 
Nearest-centroid lookup is blocked over centroids (bounded memory) and uses
the matrix-product distance form on centred points, except for descriptors
of at most 3 dimensions where the direct form is faster on CPU; the argmin
runs in two stages (over group minima, then within the best group), which
is what makes it faster than QDax's broadcast ``get_cells_indices`` in low
dimensions too (benchmarks/README.md).

In 2 and 3 dimensions a ``CellLookup`` (built once on the host from the
centroids, see ``cell_lookup``) avoids scoring every centroid: a regular grid
of buckets over the descriptor box lists, per bucket, the few centroids that
can be nearest to a point of the bucket, and a descriptor is scored against
its bucket's list only (about 7 centroids instead of 1000). The list of a
bucket holds every centroid whose Voronoi cell can meet the bucket (a
conservative test with a margin), and distances are computed as in the
brute force, so the cell is the same, ties included. A batch with a
descriptor outside the box falls back to the brute force.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
from typing import Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from qd.archives.entries import resolve_mask

Array = jax.Array

# Measured on a 2-core CPU (benchmarks/centroids.py, 1024 descriptors): 4096
# centroids per block was best in 2, 3 and 10 dimensions.
DEFAULT_BLOCK_SIZE = 4096
_DIRECT_MAX_DIM = 3
_GROUP = 16


def cvt_centroids(
    n_cells: int,
    low: Sequence[float],
    high: Sequence[float],
    *,
    n_samples: int = 100_000,
    seed: int = 0,
    cache_dir: Optional[str] = None,
) -> np.ndarray:
    """Centroids of a centroidal Voronoi tessellation of a box, cached.

    k-means (scikit-learn, one Lloyd run from random centres, as pyribs) on
    ``n_samples`` points drawn uniformly in [low, high]. Results are cached in
    memory by (n_cells, low, high, n_samples, seed); with ``cache_dir`` they
    are also stored on disk as ``.npy`` (the caller, i.e. ``runs/``, decides
    where files go).

    Args:
        n_cells: number of centroids (>= 1, <= n_samples).
        low: lower bounds of the descriptor box.
        high: upper bounds (> low).
        n_samples: number of uniform samples clustered.
        seed: seed of the sampling and of k-means.
        cache_dir: optional folder for a disk cache.

    Returns:
        [n_cells, len(low)] float32 centroids (a read-only array).

    Raises:
        ValueError: on bad counts or bounds.
    """
    for name, value in (("n_cells", n_cells), ("n_samples", n_samples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if n_samples < n_cells:
        raise ValueError(f"n_samples ({n_samples}) must be >= n_cells ({n_cells})")
    low_t = tuple(float(v) for v in np.atleast_1d(low))
    high_t = tuple(float(v) for v in np.atleast_1d(high))
    if len(low_t) != len(high_t) or not low_t:
        raise ValueError(
            f"low and high must be non-empty and of equal length, got {low_t}, {high_t}"
        )
    if not all(np.isfinite(low_t + high_t)) or any(h <= l for l, h in zip(low_t, high_t)):
        raise ValueError(f"bounds must be finite with high > low, got {low_t}, {high_t}")
    key = (int(n_cells), low_t, high_t, int(n_samples), int(seed))
    if cache_dir is None:
        return _centroids_in_memory(key)
    digest = hashlib.sha1(repr(key).encode()).hexdigest()[:16]
    path = os.path.join(cache_dir, f"cvt_{n_cells}x{len(low_t)}_{digest}.npy")
    if os.path.exists(path):
        centroids = np.load(path)
        if centroids.shape == (n_cells, len(low_t)):
            return centroids
    centroids = _centroids_in_memory(key)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp.npy"
    np.save(tmp, centroids)
    os.replace(tmp, path)  # atomic, so concurrent runs never read half a file
    return centroids


@functools.lru_cache(maxsize=16)
def _centroids_in_memory(key) -> np.ndarray:
    from sklearn.cluster import KMeans

    n_cells, low, high, n_samples, seed = key
    rng = np.random.default_rng(seed)
    samples = rng.uniform(low, high, size=(n_samples, len(low)))
    kmeans = KMeans(
        n_clusters=n_cells, init="random", n_init=1, algorithm="lloyd", random_state=seed
    ).fit(samples)
    centroids = kmeans.cluster_centers_.astype(np.float32)
    centroids.setflags(write=False)
    return centroids


# A bucket is grown by this fraction of its side on every side when its
# candidates are listed. This covers the float32 rounding of a descriptor's
# bucket (~1e-7 x buckets per dimension, in bucket sides) and of the distances
# that pick the nearest centroid (it adds ~2e-2 bucket sides squared to the
# threshold, against ~1e-7 x buckets per dimension x a few for the rounding).
_LOOKUP_MARGIN = 1e-2


@dataclasses.dataclass(frozen=True, eq=False, repr=False)
class CellLookup:
    """Candidate centroids per bucket of a regular grid over a box (hashable,
    so it can be a static jit argument; equal when built from equal inputs).

    Attributes:
        low: lower corner of the box.
        high: upper corner of the box.
        buckets: buckets per dimension (about square buckets: descriptor
            distances are Euclidean in the descriptor's own units).
        candidates: [prod(buckets), K] int32 centroid indices per bucket (C
            order, last dimension fastest), ascending, padded by repeating the
            bucket's first candidate.
        digest: hash of all of the above.
    """

    low: Tuple[float, ...]
    high: Tuple[float, ...]
    buckets: Tuple[int, ...]
    candidates: np.ndarray
    digest: str

    @property
    def n_dims(self) -> int:
        return len(self.low)

    def __hash__(self) -> int:
        return hash(self.digest)

    def __eq__(self, other) -> bool:
        return isinstance(other, CellLookup) and other.digest == self.digest

    def __repr__(self) -> str:
        return (
            f"CellLookup(buckets={self.buckets}, "
            f"candidates={self.candidates.shape[1]}, digest={self.digest[:12]})"
        )


def cell_lookup(
    centroids,
    low: Sequence[float],
    high: Sequence[float],
    *,
    buckets_per_cell: float = 4.0,
    max_candidates: int = 64,
) -> Optional[CellLookup]:
    """Builds the bucket lookup of ``nearest_centroid`` (host side, NumPy/SciPy).

    A centroid is listed for a bucket when its distance to the (slightly
    grown) bucket is at most the smallest, over all centroids, of the largest
    distance from a centroid to the bucket: any other centroid is farther from
    every point of the bucket than that one.

    Args:
        centroids: [C, k] centroids (concrete values, not traced).
        low: lower bounds of the descriptor box.
        high: upper bounds (> low).
        buckets_per_cell: about this many buckets per centroid.
        max_candidates: give up (None) when a bucket would list more.

    Returns:
        The lookup, or None where it would not pay: k > 3, or too many
        candidates in some bucket.
    """
    c = np.asarray(centroids, np.float32)
    if c.ndim != 2 or c.shape[0] < 1:
        raise ValueError(f"centroids must be a non-empty [C, k] array, got {c.shape}")
    dims = c.shape[1]
    low_a = np.asarray(low, np.float64).reshape(-1)
    high_a = np.asarray(high, np.float64).reshape(-1)
    if low_a.shape != (dims,) or high_a.shape != (dims,):
        raise ValueError(f"low and high must have {dims} values, got {low_a.shape} and {high_a.shape}")
    if not (np.all(np.isfinite(low_a)) and np.all(np.isfinite(high_a)) and np.all(high_a > low_a)):
        raise ValueError(f"bounds must be finite with high > low, got {tuple(low_a)}, {tuple(high_a)}")
    if dims > _DIRECT_MAX_DIM:
        return None
    key = (
        hashlib.sha1(np.ascontiguousarray(c).tobytes()).hexdigest(), c.shape,
        tuple(low_a), tuple(high_a), float(buckets_per_cell), int(max_candidates),
    )
    if key not in _LOOKUPS:
        if len(_LOOKUPS) >= 16:
            _LOOKUPS.clear()
        _LOOKUPS[key] = _build_cell_lookup(c, low_a, high_a, float(buckets_per_cell), int(max_candidates))
    return _LOOKUPS[key]


# Lookups already built, by the digest of their centroids and their settings.
_LOOKUPS: dict = {}


def _build_cell_lookup(c, low_a, high_a, buckets_per_cell, max_candidates) -> Optional[CellLookup]:
    from scipy.spatial import cKDTree

    c = c.astype(np.float64)
    n_cells, dims = c.shape
    side = high_a - low_a
    target = buckets_per_cell * n_cells
    # Square buckets, about `target` of them; a side too short for one
    # bucket gets one, and the others share the rest.
    single = np.zeros(dims, bool)
    while True:
        scale = (target / np.prod(side[~single])) ** (1.0 / np.sum(~single))
        short = ~single & (side * scale < 1.0)
        if not short.any():
            break
        single |= short
    buckets = tuple(1 if one else max(1, int(round(v))) for one, v in zip(single, side * scale))
    width = side / np.asarray(buckets)
    index = np.stack(
        [g.ravel() for g in np.meshgrid(*[np.arange(n) for n in buckets], indexing="ij")], axis=1
    )
    lo = low_a + index * width - _LOOKUP_MARGIN * width
    hi = low_a + (index + 1) * width + _LOOKUP_MARGIN * width
    centre = (lo + hi) / 2
    half_diagonal = np.linalg.norm(hi - lo, axis=1) / 2
    tree = cKDTree(c)
    nearest, _ = tree.query(centre)
    # Every listed centroid lies within this radius of the bucket centre.
    radius = (nearest + 2 * half_diagonal) * (1 + 1e-9) + 1e-12
    near = tree.query_ball_point(centre, radius, return_sorted=True)
    counts = np.fromiter((len(n) for n in near), np.int64, len(near))
    bucket = np.repeat(np.arange(len(near)), counts)  # one row per (bucket, centroid) pair
    cell = np.concatenate([np.asarray(n, np.int64) for n in near])
    p = c[cell]
    min_d = np.sum(np.maximum(np.maximum(lo[bucket] - p, p - hi[bucket]), 0.0) ** 2, axis=1)
    max_d = np.sum(np.maximum(np.abs(p - lo[bucket]), np.abs(p - hi[bucket])) ** 2, axis=1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    threshold = np.minimum.reduceat(max_d, starts)
    keep = min_d <= threshold[bucket] * (1 + 1e-6) + 1e-30
    bucket, cell = bucket[keep], cell[keep]  # still grouped by bucket, cells ascending
    kept = np.bincount(bucket, minlength=len(near))
    width_k = int(kept.max())
    if width_k > max_candidates:
        return None
    first = np.concatenate([[0], np.cumsum(kept)[:-1]])
    column = np.arange(len(cell)) - first[bucket]
    candidates = np.repeat(cell[first][:, None], width_k, axis=1)  # pad: the first candidate
    candidates[bucket, column] = cell
    candidates = candidates.astype(np.int32)
    candidates.setflags(write=False)
    low_t, high_t = tuple(float(v) for v in low_a), tuple(float(v) for v in high_a)
    digest = hashlib.sha1(
        repr((low_t, high_t, buckets, candidates.shape)).encode() + candidates.tobytes()
    ).hexdigest()
    return CellLookup(low_t, high_t, buckets, candidates, digest)


def nearest_centroid(
    descriptors: Array,
    centroids: Array,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    lookup: Optional[CellLookup] = None,
    relevant: Optional[Array] = None,
) -> Array:
    """Index of the nearest centroid of each descriptor.

    Args:
        descriptors: [B, k] points.
        centroids: [C, k] centroids.
        block_size: centroids per block; memory is B x block_size.
        lookup: optional ``cell_lookup`` of these centroids; then a batch
            whose (relevant) descriptors all lie in its box is scored against
            the bucket candidates only (same result).
        relevant: optional [B] bool, rows whose index matters (with a lookup,
            other rows may lie outside the box without forcing the brute
            force; their index is then arbitrary).

    Returns:
        [B] int32 indices (first centroid on exact ties).

    Raises:
        ValueError: on bad shapes or block size, or a lookup of other sizes.
    """
    descriptors = jnp.asarray(descriptors)
    centroids = jnp.asarray(centroids)
    if descriptors.ndim != 2 or centroids.ndim != 2 or descriptors.shape[1] != centroids.shape[1]:
        raise ValueError(
            f"descriptors [B, k] and centroids [C, k] must share k, got "
            f"{descriptors.shape} and {centroids.shape}"
        )
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    if lookup is None:
        return _nearest_centroid(descriptors, centroids, block_size)
    if not isinstance(lookup, CellLookup):
        raise ValueError(f"lookup must be a CellLookup or None, got {type(lookup).__name__}")
    if lookup.n_dims != descriptors.shape[1] or int(lookup.candidates.max()) >= centroids.shape[0]:
        raise ValueError(
            f"lookup was built for {lookup.n_dims}-d centroids and at least "
            f"{int(lookup.candidates.max()) + 1} of them, got {centroids.shape}"
        )
    relevant = resolve_mask(relevant, descriptors.shape[0], "relevant")
    return _nearest_centroid_lookup(descriptors, centroids, relevant, lookup, block_size)


@functools.partial(jax.jit, static_argnums=(3, 4))
def _nearest_centroid_lookup(descriptors, centroids, relevant, lookup: CellLookup, block_size):
    x = descriptors.astype(jnp.float32)
    c = centroids.astype(jnp.float32)
    low = np.asarray(lookup.low, np.float32)
    high = np.asarray(lookup.high, np.float32)
    buckets = np.asarray(lookup.buckets, np.float32)
    margin = np.float32(_LOOKUP_MARGIN) * (high - low) / buckets
    inside = jnp.all((x >= low - margin) & (x <= high + margin), axis=1)

    def by_bucket(x):
        # Same centring and distance form as the brute force, so same values.
        centre = jnp.mean(c, axis=0)
        coords = jnp.floor((x - low) * (buckets / (high - low)))
        coords = jnp.clip(coords, 0, buckets - 1).astype(jnp.int32)
        strides = np.cumprod((1,) + lookup.buckets[:0:-1])[::-1].astype(np.int32)
        bucket = jnp.sum(coords * jnp.asarray(strides), axis=1)
        candidates = jnp.asarray(lookup.candidates)[bucket]  # [B, K]
        scores = jnp.sum(jnp.square((x - centre)[:, None, :] - (c - centre)[candidates]), axis=-1)
        best = jnp.argmin(scores, axis=1)  # candidates ascend: first on ties
        return jnp.take_along_axis(candidates, best[:, None], axis=1)[:, 0]

    # The bucket path runs outside the conditional (so it fuses with its
    # neighbours); the conditional only swaps in the brute force when needed.
    return lax.cond(
        jnp.all(inside | ~relevant),
        lambda x, fast: fast,
        lambda x, fast: _nearest_centroid(x, c, block_size),
        x,
        by_bucket(x),
    )


@functools.partial(jax.jit, static_argnums=2)
def _nearest_centroid(descriptors, centroids, block_size):
    centroids = centroids.astype(jnp.float32)
    # Centring limits the cancellation of |c|^2 - 2xc; |x|^2 is constant per
    # row so it does not change the argmin and is left out.
    centre = jnp.mean(centroids, axis=0)
    x = descriptors.astype(jnp.float32) - centre
    c = centroids - centre

    def scores(block):
        if x.shape[1] <= _DIRECT_MAX_DIM:
            # A GEMM with an inner dimension of 2 or 3 wastes the CPU's
            # vector units; the direct form is faster there (and exact).
            return jnp.sum(jnp.square(x[:, None, :] - block[None, :, :]), axis=-1)
        cross = jnp.matmul(x, block.T, precision=lax.Precision.HIGHEST)
        return jnp.sum(jnp.square(block), axis=1)[None, :] - 2.0 * cross

    n_cells = c.shape[0]
    size = min(block_size, n_cells)
    if size > _GROUP and size < n_cells:
        size = size // _GROUP * _GROUP  # whole groups in every full block
    n_full = n_cells // size

    def step(best, block):
        block_c, start = block
        val, arg = _block_argmin(scores, block_c)
        better = val < best[0]  # strict: the earlier block keeps ties
        return (
            jnp.where(better, val, best[0]),
            jnp.where(better, start + arg, best[1]),
        ), None

    best = (jnp.full((x.shape[0],), jnp.inf, jnp.float32), jnp.zeros((x.shape[0],), jnp.int32))
    if n_full == 1:
        best, _ = step(best, (c[:size], jnp.int32(0)))
    else:
        blocks = (
            c[: n_full * size].reshape(n_full, size, -1),
            jnp.arange(n_full, dtype=jnp.int32) * size,
        )
        best, _ = lax.scan(step, best, blocks)
    if n_full * size < n_cells:
        start = n_full * size
        best, _ = step(best, (c[start:], jnp.int32(start)))
    return best[1]


def _block_argmin(scores, block: Array) -> Tuple[Array, Array]:
    """Row minima and first arg-minima of the [B, W] ``scores(block)``, in two stages.

    The minimum of each group of 16 columns is a plain (vectorised)
    reduction; the slower arg-reduction then runs over W / 16 group minima
    and over the 16 columns of the winning group only. The first group
    holding the minimum, then its first column, is the first column overall.
    Columns left over when W is not a multiple of 16 are scored apart (padding
    the scores would copy them) and lose ties, being later.
    """
    width = block.shape[0]
    main = width // _GROUP * _GROUP if width > 2 * _GROUP else 0
    if not main:
        s = scores(block)
        arg = jnp.argmin(s, axis=1)
        return jnp.take_along_axis(s, arg[:, None], axis=1)[:, 0], arg.astype(jnp.int32)
    s = scores(block[:main])
    grouped = s.reshape(s.shape[0], main // _GROUP, _GROUP)
    group = jnp.argmin(jnp.min(grouped, axis=2), axis=1)
    members = jnp.take_along_axis(grouped, group[:, None, None], axis=1)[:, 0, :]
    inner = jnp.argmin(members, axis=1)
    value = jnp.take_along_axis(members, inner[:, None], axis=1)[:, 0]
    arg = (group * _GROUP + inner).astype(jnp.int32)
    if main < width:
        rest_value, rest_arg = _block_argmin(scores, block[main:])
        later = rest_value < value
        value = jnp.where(later, rest_value, value)
        arg = jnp.where(later, main + rest_arg, arg)
    return value, arg
