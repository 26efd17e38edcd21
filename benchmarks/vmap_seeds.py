"""Seeds in one program (`divergent sweep --vmap-seeds`, runs/seeds.py)
against one run at a time: evaluations per second of S seeds.

    python benchmarks/vmap_seeds.py [--cases ns-curling ns-hardmaze-quick me-redundant_arm]
        [--seeds 8] [--gens 10 3 10] [--repeats 3]

Each case is a preset (runs/presets/) at its own settings. "one at a time" steps
each seed's state with the run loop's jitted step (`runs.loop`, state
donated) for --gens generations, one seed after the other; "batched" steps
the S states stacked on a leading axis with the vmapped step of
`runs.seeds` for the same generations. Both start from the states `init`
returns, are compiled first and waited for; the two take turns --repeats
times so that they see the same machine load, and the ratio of each turn
is reported with their median. Evaluations are counted from the states
(`state.evaluations`), not assumed. "per CPU-second" is the same ratio of
evaluations per second of this process's CPU time (`time.process_time`),
which a machine shared with other jobs disturbs less than wall time.

"seed axis split" is a variant runs/seeds.py does not use (yet): the S seeds
are split over the host devices by one `shard_map` (each device steps its own
seeds with an unsharded evaluator), instead of splitting each generation's
rollouts over the devices and computing the rest of the step on each.
"""
from __future__ import annotations

import argparse
import statistics
import time

import _setup  # noqa: F401  (must come before jax)
import jax
import jax.numpy as jnp
import numpy as np

from runs import loop, preflight, seeds
from runs.config import build

CASES = ("ns-curling", "ns-hardmaze-quick", "me-redundant_arm")
GENS = (10, 3, 10)


def run_case(preset: str, n_seeds: int, gens: int, repeats: int) -> dict:
    configs = [build(preset=preset, seed=s) for s in range(n_seeds)]
    ready = preflight.check(configs[0])
    algo, config = ready.algo, configs[0]
    keys = [jax.random.split(jax.random.PRNGKey(c.seed)) for c in configs]
    init = loop._jitted_init(algo)
    starts = [init(config.algo, ready.pipeline, k[0], budget=config.budget) for k in keys]
    step = loop._jitted_step(algo)
    batched_init = seeds._jitted_init(algo)
    stacked_start = batched_init(config.algo, ready.pipeline, jnp.stack([k[0] for k in keys]), budget=config.budget)
    batched_step = seeds._jitted_step(algo)
    loop_keys = jnp.stack([k[1] for k in keys])

    def one_at_a_time():
        spent = 0
        for start, key in zip(starts, keys):
            state = loop.step_ready(start)
            before = int(state.evaluations)
            for g in range(gens):
                state, _ = step(state, jax.random.fold_in(key[1], g))
            spent += int(jax.block_until_ready(state).evaluations) - before
        return spent

    def batched():
        state = loop.step_ready(stacked_start)
        before = int(np.sum(state.evaluations))
        for g in range(gens):
            state, _ = batched_step(state, loop_keys, np.int32(g))
        return int(np.sum(jax.block_until_ready(state).evaluations)) - before

    # Variant: the seed axis split over the devices (each device steps its own
    # seeds, the evaluator unsharded), instead of each batch's rollouts.
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    mesh = Mesh(np.array(jax.devices()), ("seeds",))
    unsharded = preflight.check(config.replace(shard=False)).pipeline
    split = NamedSharding(mesh, P("seeds"))
    split_start = jax.device_put(batched_init(config.algo, unsharded, jnp.stack([k[0] for k in keys]),
                                              budget=config.budget), split)
    split_step = jax.jit(jax.shard_map(seeds._batched_step(algo), mesh=mesh, in_specs=(P("seeds"), P("seeds"), P()),
                                       out_specs=P("seeds"), check_vma=False), donate_argnums=0)
    split_keys = jax.device_put(loop_keys, split)

    def seed_split():
        state = loop.step_ready(split_start)
        before = int(np.sum(state.evaluations))
        for g in range(gens):
            state, _ = split_step(state, split_keys, np.int32(g))
        return int(np.sum(jax.block_until_ready(state).evaluations)) - before

    one_at_a_time(), batched(), seed_split()  # compile (or load from the cache)
    wall = {"one": [], "batched": [], "split": []}
    cpu = {"one": [], "batched": [], "split": []}
    for _ in range(repeats):
        for name, fn in (("one", one_at_a_time), ("batched", batched), ("split", seed_split)):
            began, began_cpu = time.perf_counter(), time.process_time()
            spent = fn()
            wall[name].append(spent / (time.perf_counter() - began))
            cpu[name].append(spent / (time.process_time() - began_cpu))
    out = {"case": preset, "per_step": config.evaluations_per_step, "episode": ready.task.spec.episode_length}
    for name in ("batched", "split"):
        out[name] = [b / a for a, b in zip(wall["one"], wall[name])]
        out[f"{name}_cpu"] = [b / a for a, b in zip(cpu["one"], cpu[name])]
    out["one_rate"] = statistics.median(wall["one"])
    out["batched_rate"] = statistics.median(wall["batched"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=list(CASES))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--gens", type=int, nargs="+", default=list(GENS),
                        help="generations per seed and turn, one per case (or one for all)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    gens = args.gens * len(args.cases) if len(args.gens) == 1 else args.gens
    print(f"machine: {_setup.machine()}; {args.seeds} seeds; load average {_load()}")
    print()
    print("| preset | evals/step | episode | gens | one at a time, evals/s | batched, evals/s | batched / one "
          "(turns) | median | per CPU-second (median) | seed axis split / one (turns) | median | per CPU-second "
          "(median) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | --- | ---: | ---: |")
    for case, n in zip(args.cases, gens):
        r = run_case(case, args.seeds, n, args.repeats)
        cells = []
        for name in ("batched", "split"):
            cells += [", ".join(f"{x:.2f}" for x in r[name]), f"{statistics.median(r[name]):.2f}x",
                      f"{statistics.median(r[name + '_cpu']):.2f}x"]
        print(f"| {case} | {r['per_step']} | {r['episode']} | {n} | {r['one_rate']:,.0f} | {r['batched_rate']:,.0f} | "
              + " | ".join(cells) + " |", flush=True)
    print(f"\nload average at the end: {_load()}")


def _load() -> str:
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
