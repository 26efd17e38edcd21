"""Novelty + archive insertion per generation: divergent vs pyribs' ProximityArchive.

One generation = novelty (k=15) of 200 query descriptors against the archive,
then insertion of 5 new rows. pyribs does this with a KD-tree
(``ProximityArchive.compute_novelty`` + ``add`` with threshold 0, which
rebuilds its tree); we do it with blocked brute force on device
(``qd.novelty.knn_novelty`` + ``qd.archives.novelty``), all in one jitted step.

Usage:
    python benchmarks/novelty.py [--sizes 1000 10000 100000] [--dims 2 10] [--gens 40]

Prints a markdown table of milliseconds per generation as "median (minimum)"
over ``--gens`` generations, after a warm-up that compiles, with the two
libraries interleaved generation by generation so that both see the same
machine load. The last column times ours in a fixed 131072-row archive
holding the same number of rows (cost follows the fill, block by block).
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

from qd.archives import novelty as na  # noqa: E402
from qd.novelty import DEFAULT_BLOCK_SIZE, knn_novelty  # noqa: E402
from qd.archives.entries import make_entries  # noqa: E402

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


class Ours:
    """Our archive filled with ``size`` rows, advanced one generation per call."""

    def __init__(self, size: int, dim: int, capacity: int, block_size: int, rng):
        archive = na.init(capacity, GENOME, dim)
        fill = make_entries(np.zeros((size, GENOME)), rng.random((size, dim)), np.zeros(size))
        self.archive, _ = na.insert(archive, fill, None)
        self.step = make_step(block_size)
        self.key = jax.random.key(0)
        self.dim = dim
        for _ in range(3):  # compile and warm caches
            self(rng.random((QUERIES, dim)).astype(np.float32))

    def __call__(self, queries) -> float:
        queries = jnp.asarray(queries)
        self.key, key = jax.random.split(self.key)
        jax.block_until_ready((queries, key))
        start = time.perf_counter()
        self.archive, nov = self.step(self.archive, queries, key)
        jax.block_until_ready((self.archive, nov))
        return time.perf_counter() - start


class Pyribs:
    """pyribs' ProximityArchive filled with ``size`` rows."""

    def __init__(self, size: int, dim: int, gens: int, rng):
        from ribs.archives import ProximityArchive

        self.archive = ProximityArchive(
            solution_dim=GENOME, measure_dim=dim, k_neighbors=K, novelty_threshold=0.0,
            initial_capacity=size + ADDED * (gens + 3), dtype=np.float32,
        )
        self.archive.add(np.zeros((size, GENOME)), None, rng.random((size, dim)))
        self.rng = rng

    def __call__(self, queries) -> float:
        start = time.perf_counter()
        self.archive.compute_novelty(queries)
        pick = self.rng.choice(QUERIES, ADDED, replace=False)
        self.archive.add(np.zeros((ADDED, GENOME)), None, queries[pick])
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--dims", type=int, nargs="+", default=[2, 10])
    parser.add_argument("--gens", type=int, default=40)
    parser.add_argument("--block-size", type=int, default=DEFAULT_BLOCK_SIZE)
    parser.add_argument(
        "--fixed-capacity", type=int, default=131072,
        help="also time ours in an archive of this capacity (partly filled)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(
        f"jax {jax.__version__}, {os.cpu_count()} CPU cores, {jax.devices()[0].platform}, "
        f"block_size {args.block_size}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        "| dims | archive size | pyribs ms/gen | ours ms/gen | speedup pyribs/ours "
        f"| ours in a {args.fixed_capacity}-row archive |"
    )
    print("|---:|---:|---:|---:|---:|---:|")
    for dim in args.dims:
        for size in args.sizes:
            runners = {
                "pyribs": Pyribs(size, dim, args.gens, rng),
                "ours": Ours(size, dim, size + ADDED * (args.gens + 3), args.block_size, rng),
            }
            if args.fixed_capacity > size + ADDED * (args.gens + 3):
                runners["fixed"] = Ours(size, dim, args.fixed_capacity, args.block_size, rng)
            times = {name: [] for name in runners}
            # Interleaved, so that both libraries see the same machine load.
            for _ in range(args.gens):
                queries = rng.random((QUERIES, dim)).astype(np.float32)
                for name, run in runners.items():
                    times[name].append(run(queries))
            med = {name: 1e3 * float(np.median(t)) for name, t in times.items()}
            low = {name: 1e3 * float(np.min(t)) for name, t in times.items()}
            fixed = f"{med['fixed']:.2f} ({low['fixed']:.2f})" if "fixed" in med else "-"
            print(
                f"| {dim} | {size} | {med['pyribs']:.2f} ({low['pyribs']:.2f}) | "
                f"{med['ours']:.2f} ({low['ours']:.2f}) | {med['pyribs'] / med['ours']:.1f}x "
                f"({low['pyribs'] / low['ours']:.1f}x) | {fixed} |",
                flush=True,
            )

if __name__ == "__main__":
    main()
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
