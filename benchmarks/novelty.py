"""Novelty + archive insertion per generation: divergent vs pyribs' ProximityArchive.

One generation = novelty (k=15) of 200 query descriptors against the archive,
then insertion of 5 new rows. pyribs does this with a KD-tree
(``ProximityArchive.compute_novelty`` + ``add`` with threshold 0, which
rebuilds its tree); we do it with blocked brute force on device
(``qd.novelty.knn_novelty`` + ``qd.novelty_archive``), all in one jitted step.

Usage:
    python benchmarks/novelty.py [--sizes 1000 10000 100000] [--dims 2 10] [--gens 30]

Prints a markdown table of milliseconds per generation (median over
``--gens`` generations, after a warm-up that compiles).
"""
from __future__ import annotations

import argparse
import functools
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from qd import novelty_archive as na  # noqa: E402
from qd.novelty import DEFAULT_BLOCK_SIZE, knn_novelty  # noqa: E402
from qd.repertoire import make_entries  # noqa: E402

K = 15
QUERIES = 200
ADDED = 5
GENOME = 8


def make_step(block_size: int):
    # The archive is donated so that insertion updates it in place, as a run
    # loop does; without donation every step copies the whole archive.
    @functools.partial(jax.jit, donate_argnums=0)
    def step(archive, queries, key):
        nov = knn_novelty(queries, archive.descriptors, archive.mask, k=K, block_size=block_size)
        mask = na.select_random(key, jnp.ones(QUERIES, bool), ADDED)
        entries = make_entries(jnp.zeros((QUERIES, GENOME)), queries, nov)
        archive, _ = na.insert(archive, entries, mask)
        return archive, nov

    return step


def time_ours(size: int, dim: int, gens: int, capacity: int, block_size: int, rng) -> float:
    archive = na.init(capacity, GENOME, dim)
    fill = make_entries(np.zeros((size, GENOME)), rng.random((size, dim)), np.zeros(size))
    archive, _ = na.insert(archive, fill, None)
    queries = jnp.asarray(rng.random((gens + 3, QUERIES, dim)), jnp.float32)
    keys = jax.random.split(jax.random.key(0), gens + 3)
    step = make_step(block_size)
    for g in range(3):  # compile + warm caches
        archive, nov = step(archive, queries[g], keys[g])
    jax.block_until_ready(nov)
    times = []
    for g in range(3, gens + 3):
        start = time.perf_counter()
        archive, nov = step(archive, queries[g], keys[g])
        jax.block_until_ready((archive, nov))
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def time_pyribs(size: int, dim: int, gens: int, rng) -> float:
    from ribs.archives import ProximityArchive

    archive = ProximityArchive(
        solution_dim=GENOME, measure_dim=dim, k_neighbors=K, novelty_threshold=0.0,
        initial_capacity=size + ADDED * (gens + 3), dtype=np.float32,
    )
    archive.add(np.zeros((size, GENOME)), None, rng.random((size, dim)))
    times = []
    for g in range(gens + 3):
        queries = rng.random((QUERIES, dim)).astype(np.float32)
        start = time.perf_counter()
        archive.compute_novelty(queries)
        pick = rng.choice(QUERIES, ADDED, replace=False)
        archive.add(np.zeros((ADDED, GENOME)), None, queries[pick])
        if g >= 3:
            times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--gens", type=int, default=30)
    parser.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE)
    parser.add_argument(
        "--fixed-capacity", type=int, default=131072,
        help="also time ours in an archive of this capacity (partly filled)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"jax {jax.__version__}, devices {jax.devices()}, block_size {args.block_size}")
    print(
        "| dims | archive size | pyribs ms/gen | ours ms/gen | speedup (pyribs/ours) "
        f"| ours, capacity {args.fixed_capacity} |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for dim in args.dims:
        for size in args.sizes:
            theirs = time_pyribs(size, dim, args.gens, rng)
            ours = time_ours(size, dim, args.gens, size + ADDED * (args.gens + 3), args.block_size, rng)
            fixed = (
                f"{time_ours(size, dim, args.gens, args.fixed_capacity, args.block_size, rng):.2f}"
                if args.fixed_capacity > size + ADDED * (args.gens + 3) else "-"
            )
            print(f"| {dim} | {size} | {theirs:.2f} | {ours:.2f} | {theirs / ours:.1f}x | {fixed} |", flush=True)


if __name__ == "__main__":
    main()
