"""CVT-MAP-Elites archive: cells are the Voronoi regions of k-means centroids.

Vassiliades, Chatzilygeroudis & Mouret 2018, "Using centroidal Voronoi
tessellations to scale up the multidimensional archive of phenotypic
elites algorithm", IEEE TEVC 22(4). Centroids come from k-means on points
sampled uniformly in the descriptor box (as in pyribs' ``k_means_centroids``)
and are cached by their parameters. A descriptor belongs to its nearest
centroid (first centroid on exact ties, like ``argmin``). Insertion rules
(ties, NaN, batch conflicts) are those of ``qd.repertoire``.

Nearest-centroid lookup is blocked over centroids (bounded memory) and uses
the matrix-product distance form on centred points, except for descriptors
of at most 3 dimensions where the direct form is faster on CPU; the argmin
runs in two stages (over group minima, then within the best group), which
is what makes it faster than QDax's broadcast ``get_cells_indices`` in low
dimensions too (benchmarks/README.md).
"""
from __future__ import annotations

import functools
import hashlib
import os
from typing import Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from qd.repertoire import Entries, Repertoire, empty_repertoire, insert_by_cell

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


def nearest_centroid(
    descriptors: Array, centroids: Array, *, block_size: int = DEFAULT_BLOCK_SIZE
) -> Array:
    """Index of the nearest centroid of each descriptor.

    Args:
        descriptors: [B, k] points.
        centroids: [C, k] centroids.
        block_size: centroids per block; memory is B x block_size.

    Returns:
        [B] int32 indices (first centroid on exact ties).

    Raises:
        ValueError: on bad shapes or block size.
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
    return _nearest_centroid(descriptors, centroids, block_size)


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


def init(centroids: Array, genome_size: int, gt_size: Optional[int] = None) -> Repertoire:
    """An empty CVT archive over the given centroids.

    Args:
        centroids: [C, k] centroids, e.g. from ``cvt_centroids``.
        genome_size: D, length of a flat genome.
        gt_size: size of the ground-truth descriptor; defaults to k.

    Returns:
        The empty repertoire.

    Raises:
        ValueError: on bad shapes or sizes.
    """
    centroids = jnp.asarray(centroids, jnp.float32)
    if centroids.ndim != 2:
        raise ValueError(f"centroids must be [C, k], got shape {centroids.shape}")
    gt_size = centroids.shape[1] if gt_size is None else gt_size
    return empty_repertoire(centroids, genome_size, gt_size)


@functools.partial(jax.jit, static_argnames="block_size")
def insert(
    repertoire: Repertoire,
    entries: Entries,
    mask: Optional[Array] = None,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
) -> Tuple[Repertoire, Array]:
    """Inserts a batch into the CVT archive (best reward per cell).

    Args:
        repertoire: current state (its centroids define the cells).
        entries: B candidates, descriptors [B, k].
        mask: optional [B] bool; False entries (e.g. invalid rollouts) are skipped.
        block_size: centroids per block of the nearest-centroid search.

    Returns:
        (new repertoire, [B] int32 status: 0 not added, 1 improved, 2 new cell).

    Raises:
        ValueError: on mismatched shapes.
    """
    descriptors = jnp.where(jnp.isfinite(entries.descriptor), entries.descriptor, 0.0)
    cells = nearest_centroid(descriptors, repertoire.centroids, block_size=block_size)
    return insert_by_cell(repertoire, entries, cells, mask)
