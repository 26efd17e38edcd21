"""Novelty search on Kheperax: our adapter against Kheperax's own evaluation.

    python benchmarks/kheperax_ns.py [--maze standard] [--episode-length 1000] [--gens 3] [--repeats 3]

Three pipelines for the same NS (reference settings: 100 parents, 200
offspring per generation), in one process:

- adapter, 1 device: `tasks.make("kheperax_<maze>")`, our rollout
  (vmap + scan) calling Kheperax's step, `shard=False`;
- adapter, all devices: the same, sharded over the host devices
  (`shard=True`, as `divergent run` does; `_setup` makes two);
- kheperax scoring fn: Kheperax's own QDax scoring function
  (`KheperaxTask.create_default_task`) wrapped by
  `tasks.from_scoring_function` (genotype = its MLP's parameters), one device.

Both evaluate the same controller (Kheperax's MLP, 66 genes) for the same
episode length. Timings: `jax.jit(ns.step, donate_argnums=0)` for --gens
generations, compiled first, best of --repeats, the pipelines taking turns so
that they see the same machine load; evaluations/s = 200 * gens / time; the
process CPU time of the same calls is printed too (steadier on a shared
machine).
Also the raw evaluation of one 200-genome batch (no NS).
"""
from __future__ import annotations

import argparse
import time

import _setup  # noqa: F401  (must come before jax)
import jax
import jax.numpy as jnp

import tasks
from qd import algorithms
from qd import pipeline as qd_pipeline
from runs.loop import step_ready


def kheperax_scoring(maze: str, episode_length: int):
    """Kheperax's own scoring function and an example genotype (its MLP's parameters)."""
    task = tasks.make(f"kheperax_{maze}", episode_length=episode_length)  # also gives kheperax its jax aliases
    from kheperax.tasks.config import KheperaxConfig
    from kheperax.tasks.main import KheperaxTask

    config = KheperaxConfig.get_default_for_map(maze)
    config.episode_length = episode_length
    env, network, scoring_fn = KheperaxTask.create_default_task(config, jax.random.PRNGKey(0))
    genotype = network.init(jax.random.PRNGKey(0), jnp.zeros((env.observation_size,)))
    evaluator = tasks.from_scoring_function(
        scoring_fn, genotype=genotype, descriptor_low=task.spec.descriptor_low,
        descriptor_high=task.spec.descriptor_high, name=f"kheperax {maze} scoring_fn",
    )
    return task, evaluator


def best_seconds(fns: dict, repeats: int) -> tuple[dict, dict]:
    """Best wall and best process CPU seconds of each function (after a
    warm-up call each), the functions taking turns. CPU seconds (all threads)
    are the steadier figure on a machine shared with other jobs."""
    for fn in fns.values():
        fn()
    wall, cpu = dict.fromkeys(fns, float("inf")), dict.fromkeys(fns, float("inf"))
    for _ in range(repeats):
        for name, fn in fns.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            wall[name] = min(wall[name], time.perf_counter() - start)
            cpu[name] = min(cpu[name], time.process_time() - start_cpu)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--maze", default="standard")
    parser.add_argument("--episode-length", type=int, default=1000)
    parser.add_argument("--gens", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    task, theirs = kheperax_scoring(args.maze, args.episode_length)
    pipelines = {
        "adapter, 1 device": qd_pipeline.make(task, shard=False),
        f"adapter, {len(jax.devices())} devices": qd_pipeline.make(task, shard=True),
        "kheperax scoring fn, 1 device": qd_pipeline.make(theirs),
    }
    assert len({p.genome_size for p in pipelines.values()}) == 1  # the same controller
    ns = algorithms.get("ns")
    config = ns.config_cls()
    batch = config.offspring
    keys = [jax.random.PRNGKey(g) for g in range(args.gens)]
    genomes = jax.random.normal(jax.random.PRNGKey(1), (batch, pipelines["adapter, 1 device"].genome_size))

    runs, evals = {}, {}
    for name, pipe in pipelines.items():
        state = ns.init(config, pipe, jax.random.PRNGKey(0))
        step = jax.jit(ns.step, donate_argnums=0)

        def run(step=step, state=state):
            s = step_ready(state)
            for key in keys:
                s, _ = step(s, key)
            return jax.block_until_ready(s)

        runs[name] = run
        evaluate = jax.jit(pipe.evaluator)
        evals[name] = lambda evaluate=evaluate: jax.block_until_ready(evaluate(genomes, keys[0]))

    step_s, step_cpu = best_seconds(runs, args.repeats)
    eval_s, _ = best_seconds(evals, args.repeats)
    print(f"{_setup.machine()}; kheperax_{args.maze}, episode {args.episode_length}, NS batch {batch}, "
          f"{args.gens} generations, best of {args.repeats}\n")
    print("| pipeline | NS evals/s | NS ms/generation | NS CPU ms/generation | raw evals/s (one batch) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in pipelines:
        print(f"| {name} | {batch * args.gens / step_s[name]:,.0f} | {1000 * step_s[name] / args.gens:,.0f} "
              f"| {1000 * step_cpu[name] / args.gens:,.0f} | {batch / eval_s[name]:,.0f} |")
    ours, theirs = "adapter, 1 device", "kheperax scoring fn, 1 device"
    print(f"\nadapter / kheperax scoring fn, NS evals/s on one device: {step_s[theirs] / step_s[ours]:.2f} "
          f"(wall), {step_cpu[theirs] / step_cpu[ours]:.2f} (CPU)")


if __name__ == "__main__":
    main()
