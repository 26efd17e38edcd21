"""What the QD loop costs on top of simulation: the throughput of an algorithm's
jitted `step` as a fraction of the raw rollout throughput of the same batch.

    python benchmarks/loop_overhead.py [--algos ns me random] [--tasks hardmaze redundant_arm curling]
        [--gens 5 20 20] [--repeats 5] [--ns-archive-fill 0 10000]

raw  = evaluations/s of `tasks.rollout` called in a Python loop on a batch of
       random genomes of the algorithm's batch size (200 = NS's 100 parents
       x 2 offspring), sharded over the host devices as the pipeline (`shard=True`) shards it;
loop = evaluations/s of `jax.jit(algo.step, donate_argnums=0)` called in a
       Python loop (as runs/loop.py does), from the state `algo.init` returns;
fraction = loop / raw (goal >= 0.9).

The "no-rollout" column is the same step in a pipeline whose evaluator
returns a fixed evaluation plus noise instead of rolling out (`FixedEvaluator`):
what the algorithm itself (selection, variation, novelty, archives, metrics)
costs per generation. NS also runs with its archive pre-filled to --ns-archive-fill
rows (random descriptors), as late in a 500k-evaluation run (~12.5k rows).
Timings: compiled first, results waited for, best of --repeats, the three
measurements of a row taking turns so that they see the same machine load.
"""
from __future__ import annotations

import argparse
import dataclasses
import time

import _setup  # noqa: F401  (must come before jax)
import jax
import jax.numpy as jnp

import tasks
from qd import algorithms as algorithm
from qd import pipeline as qd_pipeline
from qd.archives import novelty as novelty_archive
from qd.archives.entries import make_entries
from runs.loop import step_ready
from tasks.evaluation import Evaluation
from tasks.spec import TaskSpec

ALGOS = ("ns", "me", "random")


def best_seconds(fns: dict, repeats: int) -> dict:
    """Best wall time (s) of each no-argument function, after one warm-up call
    each; the functions take turns so that all see the same machine load."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def run_steps(step, state, keys):
    # The steps donate their state, as in runs/loop.py: work on a private copy
    # (one copy per timed run of all the generations, a fraction of a percent).
    state = step_ready(state)
    for key in keys:
        state, _ = step(state, key)
    return jax.block_until_ready(state)


class _Held:
    """Holds a value for a hashable dataclass: equal only to itself (identity),
    so evaluators holding different arrays never share a compiled step."""

    def __init__(self, value):
        self.value = value


@dataclasses.dataclass(frozen=True)
class FixedEvaluator:
    """The no-rollout ablation's evaluator: a constant evaluation of the batch
    with noisy descriptors (so archives still change), no episode run."""

    spec: TaskSpec
    genome_size: int
    evaluation: _Held  # of an Evaluation whose batch is the algorithm's

    def __call__(self, genomes: jax.Array, key: jax.Array) -> Evaluation:
        evaluation = self.evaluation.value
        noise = 0.01 * jax.random.normal(key, evaluation.descriptor.shape)
        return evaluation.replace(descriptor=evaluation.descriptor + noise)


def filled_ns_state(state, rows: int, key):
    """`state` with `rows` random entries appended to its novelty archive."""
    archive = state.archive
    lo = jnp.asarray(state.pipeline.spec.descriptor_low)
    hi = jnp.asarray(state.pipeline.spec.descriptor_high)
    k_g, k_d = jax.random.split(key)
    descriptors = lo + (hi - lo) * jax.random.uniform(k_d, (rows, lo.shape[0]))
    entries = make_entries(
        jax.random.normal(k_g, (rows, archive.genomes.shape[1])), descriptors, jnp.zeros(rows),
        gt_descriptor=descriptors,
    )
    archive, _ = novelty_archive.insert(archive, entries)
    return state.replace(archive=archive)


def measure(name, algo_name, task, gens, repeats, fill=0) -> None:
    algo = algorithm.get(algo_name)
    config = algo.config_cls()
    batch = algo.evaluations_per_step(config)
    devices = jax.devices()
    genomes = task.default_policy().init_genomes(jax.random.PRNGKey(0), batch)
    evaluation = tasks.rollout(task, genomes, jax.random.PRNGKey(1), devices=devices)
    rollout_keys = list(jax.random.split(jax.random.PRNGKey(1), gens))

    def rollouts():  # as many batches as generations, dispatched like the loop
        return jax.block_until_ready([tasks.rollout(task, genomes, k, devices=devices) for k in rollout_keys])

    pipeline = qd_pipeline.make(task, "ground_truth", shard=True)
    fixed = qd_pipeline.Pipeline(
        FixedEvaluator(task.spec, pipeline.genome_size, _Held(evaluation)), pipeline.representation
    )
    state = algo.init(config, pipeline, jax.random.PRNGKey(2))
    if fill:
        state = filled_ns_state(state, fill, jax.random.PRNGKey(3))
    # The same start, stepped with the fixed evaluator (the pipeline is a
    # static field of the state).
    fixed_state = state.replace(pipeline=fixed)
    keys = list(jax.random.split(jax.random.PRNGKey(4), gens))
    # One jitted step serves both states (a trace per pipeline); two steps
    # trace every input signature (the state `init` returns
    # and the one `step` returns differ), so nothing is traced while timed.
    step = jax.jit(algo.step, donate_argnums=0)
    run_steps(step, state, keys[:2])
    run_steps(step, fixed_state, keys[:2])
    best = best_seconds(
        {
            "raw": rollouts,
            "loop": lambda: run_steps(step, state, keys),
            "bare": lambda: run_steps(step, fixed_state, keys),
        },
        repeats,
    )
    raw_s, loop_s, bare_s = (best[name] / gens for name in ("raw", "loop", "bare"))
    raw, loop = batch / raw_s, batch / loop_s
    label = algo_name + (f" (archive {fill})" if fill else "")
    print(
        f"| {name} | {label} | {batch} | {raw:,.0f} | {loop:,.0f} | {loop / raw:.2f} "
        f"| {raw_s * 1e3:.1f} | {loop_s * 1e3:.1f} | {bare_s * 1e3:.2f} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algos", nargs="+", default=["ns", "me", "random"], choices=list(ALGOS))
    parser.add_argument("--tasks", nargs="+", default=["hardmaze", "redundant_arm", "curling"])
    parser.add_argument("--gens", nargs="+", type=int, default=[5, 20, 20], help="generations timed, per task")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ns-archive-fill", nargs="+", type=int, default=[0, 10_000])
    args = parser.parse_args()
    gens = dict(zip(args.tasks, args.gens + args.gens[-1:] * len(args.tasks)))
    print(f"machine: {_setup.machine()}")
    print("| task | algorithm | batch | raw evals/s | loop evals/s | fraction | rollout ms | step ms | no-rollout ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for task_name in args.tasks:
        task = tasks.make(task_name)
        for algo_name in args.algos:
            for fill in args.ns_archive_fill if algo_name == "ns" else [0]:
                measure(task_name, algo_name, task, gens[task_name], args.repeats, fill)


if __name__ == "__main__":
    main()
