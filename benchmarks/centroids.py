"""Nearest-centroid lookup: divergent's blocked matrix-product form vs QDax.

1024 descriptors against 10,000 CVT centroids, jitted, median time per call.
QDax 0.5's ``get_cells_indices`` vmaps a broadcast (x - c)^2 per descriptor;
``qd.archives.centroids.nearest_centroid`` uses |c|^2 - 2 x.c with a GEMM, in blocks
of centroids.

Usage:
    python benchmarks/centroids.py [--dims 2 3 10] [--cells 10000] [--batch 1024]

Prints a markdown table of the median milliseconds per call (30 calls after
two warm-up calls), and checks that both give the same cells.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from qd.archives.centroids import DEFAULT_BLOCK_SIZE, nearest_centroid  # noqa: E402


def median_ms(fn, *args, reps: int = 30) -> float:
    jax.block_until_ready(fn(*args))
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    from qdax.core.containers.mapelites_repertoire import get_cells_indices

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 3, 10])
    parser.add_argument("--cells", type=int, default=10000)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--block-sizes", type=int, nargs="+", default=[2048, DEFAULT_BLOCK_SIZE, 10000])
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"jax {jax.__version__}, {os.cpu_count()} CPU cores, {args.batch} descriptors x "
        f"{args.cells} centroids, load average {os.getloadavg()[0]:.1f}"
    )
    header = " | ".join(f"ours, block {b}" for b in args.block_sizes)
    print(f"| dims | QDax ms | {header} | speedup QDax / ours (default block {DEFAULT_BLOCK_SIZE}) |")
    print("|---:|---:|" + "---:|" * len(args.block_sizes) + "---:|")
    qdax_fn = jax.jit(get_cells_indices)
    for dim in args.dims:
        # Uniform centroids stand in for k-means ones: the cost does not depend
        # on where they are.
        centroids = jnp.asarray(rng.random((args.cells, dim)), jnp.float32)
        points = jnp.asarray(rng.random((args.batch, dim)), jnp.float32)
        theirs = median_ms(qdax_fn, points, centroids)
        ours = []
        for block in args.block_sizes:
            fn = jax.jit(lambda p, c, b=block: nearest_centroid(p, c, block_size=b))
            agree = np.mean(np.asarray(fn(points, centroids)) == np.asarray(qdax_fn(points, centroids)))
            assert agree > 0.999, f"cell assignments differ from QDax's ({agree:.4f})"
            ours.append(median_ms(fn, points, centroids))
        cells = " | ".join(f"{t:.2f}" for t in ours)
        if DEFAULT_BLOCK_SIZE in args.block_sizes:
            default = ours[args.block_sizes.index(DEFAULT_BLOCK_SIZE)]
        else:
            default = float("nan")
        print(f"| {dim} | {theirs:.2f} | {cells} | {theirs / default:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
