"""MAP-Elites throughput: divergent's `me` vs QDax 0.5's `MAPElites`, in one process.

    python benchmarks/map_elites.py [--part arm tasks] [--arm-batches 100 1024]
        [--task-batch 200] [--gens 200] [--task-gens 20] [--repeats 5] [--no-scan]

Both sides run the same loop: uniform selection of 2 x batch parents among the
filled cells, iso+line variation (same sigmas and clip bounds), evaluation,
insertion (best reward per cell), metrics. Same batch size, same cells, same
initial genomes. Evaluations/s = generations x batch / wall time of a Python
loop of jitted generations (compiled first, result waited for, best of
--repeats, ours and QDax alternating so both see the same machine load), and of
the same generations scanned in one jit (QDax's `scan_update` vs `lax.scan`
over `me.step`). ratio = ours / QDax (> 1: we are faster).

Part "arm": QDax's own arm task (`qdax.tasks.arm.arm_scoring_function`, genome
= n joint angles in [0, 1]). Our side is `qd.algorithms.map_elites.step`
unchanged, handed a pipeline whose evaluator (`QDaxArmEvaluator`) calls QDax's
scoring function instead of running an episode. QDax side: `MixingEmitter` with
`isoline_variation` only (variation_percentage=1), `default_qd_metrics`.
Grid 50 x 50 (QDax: `compute_euclidean_centroids`, nearest-centroid lookup;
ours: direct cell index) and CVT 1000 (the same centroids on both sides).

Part "tasks": our redundant_arm (dense reward variant) and hardmaze with
500-step episodes. QDax's `MAPElites` is driven by a scoring function that
calls the evaluator of our `me`'s pipeline (`qd.pipeline.make(task,
"ground_truth", shard=True)`: sharded over the host devices, unless --no-shard).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import time

import _setup  # noqa: F401  (must come before jax)
import jax
import jax.numpy as jnp

from qdax.core.containers.mapelites_repertoire import compute_euclidean_centroids
from qdax.core.emitters.mutation_operators import isoline_variation
from qdax.core.emitters.standard_emitters import MixingEmitter
from qdax.core.map_elites import MAPElites
from qdax.tasks.arm import arm_scoring_function
from qdax.utils.metrics import default_qd_metrics

import representations
import tasks
from emitters import variation
from qd import algorithms as algorithm
from qd import pipeline as qd_pipeline
from tasks.evaluation import Evaluation
from tasks.spec import TaskSpec

ME = algorithm.get("me")


# -- QDax's arm scoring function as the evaluator of our MAP-Elites ------------


@dataclasses.dataclass(frozen=True)
class QDaxArmEvaluator:
    """Evaluates genomes with QDax's arm scoring function (genome = n joint
    angles in [0, 1], descriptor = end effector in [0, 1]^2), no episode."""

    n_joints: int

    @property
    def spec(self) -> TaskSpec:
        return TaskSpec(
            name="qdax_arm", observation_size=1, action_size=self.n_joints, episode_length=1,
            descriptor_low=(0.0, 0.0), descriptor_high=(1.0, 1.0), reward_areas=(),
        )

    @property
    def genome_size(self) -> int:
        return self.n_joints

    def __call__(self, genomes: jax.Array, key: jax.Array) -> Evaluation:
        fitness, descriptor, _ = arm_scoring_function(genomes, key)
        batch = genomes.shape[0]
        return Evaluation(
            reward=fitness,
            reward_area=jnp.full((batch,), -1, jnp.int32),
            descriptor=descriptor,
            trajectory=jnp.zeros((batch, 1, 2)),
            valid=jnp.ones((batch,), bool),
        )


def qdax_arm_pipeline(n_joints: int) -> qd_pipeline.Pipeline:
    evaluator = QDaxArmEvaluator(n_joints)
    return qd_pipeline.Pipeline(evaluator, representations.make("ground_truth", evaluator.spec))


# -- the two sides ------------------------------------------------------------


def make_qdax(config, scoring_fn, qd_offset: float) -> MAPElites:
    variation_fn = functools.partial(
        isoline_variation, iso_sigma=config.iso_sigma, line_sigma=config.line_sigma,
        minval=config.genome_low, maxval=config.genome_high,
    )
    emitter = MixingEmitter(
        mutation_fn=lambda x, key: x, variation_fn=variation_fn,
        variation_percentage=1.0, batch_size=config.batch_size,
    )
    return MAPElites(
        scoring_function=scoring_fn, emitter=emitter,
        metrics_function=functools.partial(default_qd_metrics, qd_offset=qd_offset),
    )


def initial_genomes(config, genome_size: int, key):
    """The genomes `me.init` starts from (same key split), for QDax's init."""
    k_init, _ = jax.random.split(key)
    return variation.init_genomes(
        k_init, config.batch_size, genome_size,
        std=config.init_std, low=config.genome_low, high=config.genome_high,
    )


def loop_seconds(step, state, keys) -> float:
    start = time.perf_counter()
    for key in keys:
        state, _ = step(state, key)
    jax.block_until_ready(state)
    return time.perf_counter() - start


def compare(label, config, pipeline, scoring_fn, qd_offset, gens, args) -> None:
    """Times ours and QDax's MAP-Elites on one setup and prints a table row."""
    key = jax.random.PRNGKey(0)
    state = ME.init(config, pipeline, key)
    spec = pipeline.spec
    if config.archive == "grid":  # QDax's grid: the cell centres, nearest-centroid lookup
        centroids = compute_euclidean_centroids(
            (config.cells_per_dim,) * 2, minval=spec.descriptor_low, maxval=spec.descriptor_high
        )
    else:  # the very same CVT centroids
        centroids = state.repertoire.centroids
    qdax_me = make_qdax(config, scoring_fn, qd_offset)
    genomes = initial_genomes(config, pipeline.genome_size, key)
    repertoire, emitter_state, _ = jax.jit(qdax_me.init)(genomes, centroids, key)
    qdax_state = (repertoire, emitter_state)

    ours_step = jax.jit(ME.step)
    qdax_update = jax.jit(qdax_me.update)

    def qdax_step(carry, key):
        repertoire, emitter_state, metrics = qdax_update(*carry, key)
        return (repertoire, emitter_state), metrics

    keys = list(jax.random.split(jax.random.PRNGKey(1), gens))
    runs = {"ours": (ours_step, state), "qdax": (qdax_step, qdax_state)}
    if args.scan:
        ours_scan = jax.jit(lambda s, ks: jax.lax.scan(ME.step, s, ks))
        qdax_scan = jax.jit(
            lambda carry, key: jax.lax.scan(qdax_me.scan_update, (*carry, key), None, length=gens)
        )
        stacked = jnp.stack(keys)
        runs["ours scan"] = (lambda s, _: ours_scan(s, stacked), state)
        runs["qdax scan"] = (lambda s, _: qdax_scan(s, keys[0]), qdax_state)
    times = {}
    for name, (step, start) in runs.items():  # compile + one warm run
        step_keys = keys if "scan" not in name else [None]
        loop_seconds(step, start, step_keys[:2])
        times[name] = float("inf")
    for _ in range(args.repeats):  # alternate, so both sides see the same load
        for name, (step, start) in runs.items():
            step_keys = keys if "scan" not in name else [None]
            times[name] = min(times[name], loop_seconds(step, start, step_keys))
    rate = {name: gens * config.batch_size / t for name, t in times.items()}
    row = f"| {label} | {config.batch_size} | {rate['ours']:,.0f} | {rate['qdax']:,.0f} | {rate['ours'] / rate['qdax']:.2f} |"
    if args.scan:
        row += f" {rate['ours scan']:,.0f} | {rate['qdax scan']:,.0f} | {rate['ours scan'] / rate['qdax scan']:.2f} |"
    print(row, flush=True)


def header(scan: bool) -> None:
    cols = "| setup | batch | ours evals/s | QDax evals/s | ratio |"
    sep = "| --- | ---: | ---: | ---: | ---: |"
    if scan:
        cols += " ours scan | QDax scan | ratio scan |"
        sep += " ---: | ---: | ---: |"
    print(cols + "\n" + sep, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", nargs="+", default=["arm", "tasks"], choices=["arm", "tasks"])
    parser.add_argument("--arm-joints", type=int, default=100, help="genome size of QDax's arm")
    parser.add_argument("--arm-batches", nargs="+", type=int, default=[100, 1024])
    parser.add_argument("--archives", nargs="+", default=["grid", "cvt"], choices=["grid", "cvt"])
    parser.add_argument("--task-batch", type=int, default=200)
    parser.add_argument("--hardmaze-steps", type=int, default=500)
    parser.add_argument("--gens", type=int, default=200, help="generations timed on the arm")
    parser.add_argument("--task-gens", type=int, default=20, help="generations timed on our tasks")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-scan", dest="scan", action="store_false")
    parser.add_argument("--no-shard", dest="shard", action="store_false", help="(tasks) one device")
    args = parser.parse_args()
    print(f"machine: {_setup.machine()}")
    archive = dict(grid=dict(archive="grid", cells_per_dim=50), cvt=dict(archive="cvt", n_centroids=1000))
    header(args.scan)
    if "arm" in args.part:
        pipeline = qdax_arm_pipeline(args.arm_joints)
        for batch in args.arm_batches:
            for name in args.archives:
                config = ME.config_cls(
                    batch_size=batch, variation="isoline", iso_sigma=0.005, line_sigma=0.05,
                    genome_low=0.0, genome_high=1.0, init_std=0.5, **archive[name],
                )
                label = f"QDax arm {args.arm_joints}-d, {'grid 50x50' if name == 'grid' else 'CVT 1000'}"
                compare(label, config, pipeline, arm_scoring_function, 1.0, args.gens, args)
    if "tasks" in args.part:
        setups = [
            ("redundant_arm dense", tasks.make("redundant_arm", dense_reward=True), 4.0),
            (f"hardmaze {args.hardmaze_steps} steps", tasks.make("hardmaze", episode_length=args.hardmaze_steps), 0.0),
        ]
        for label, task, offset in setups:
            # Both sides evaluate with the same evaluator (same sharding).
            pipeline = qd_pipeline.make(task, "ground_truth", shard=args.shard)

            def scoring(genomes, key, evaluator=pipeline.evaluator):
                evaluation = evaluator(genomes, key)
                return evaluation.reward, evaluation.descriptor, {}

            for name in args.archives:
                config = ME.config_cls(batch_size=args.task_batch, **archive[name])
                full = f"{label}, {'grid 50x50' if name == 'grid' else 'CVT 1000'}"
                compare(full, config, pipeline, scoring, offset, args.task_gens, args)


if __name__ == "__main__":
    main()
