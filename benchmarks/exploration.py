"""Exploration at equal budget: novelty search against its baselines.

    python benchmarks/exploration.py --task hardmaze --budget 100000 --seeds 5 \
        --algorithms ns random me cmaes
    python benchmarks/exploration.py --task antmaze --task-set episode_length=100 \
        --budget 4000 --seeds 2 --algorithms ns random

For each algorithm and seed, runs the reference configuration until the
budget (in episodes) is spent and reports, as mean +- std over seeds: archive
coverage and the coverage of every evaluated policy on the task's 50x50 grid,
how many seeds found each reward area, the evaluations to first find, and
the best reward reached in each area (0 for a seed that did not find it).
Results are also written as CSV (--csv) for later statistics.

--set overrides an algorithm's config with dotted keys as `divergent run
--set algo.<key>` does, prefixed by the algorithm's name; nested sections
take one more dot (SERENE: `serene.emitters_per_step=1`, `serene.ns.k=10`,
`serene.emitter.kind=cma`, `serene.scheduler.chunk_size=500`).
"""
import argparse
import time

import _setup  # noqa: F401  (must come before jax)
import jax
import numpy as np
import yaml

import tasks
from qd import algorithms as algorithm
from qd import pipeline as qd_pipeline
from runs.loop import own_buffers
from runs.typed import from_plain


def run(name: str, pipeline, budget: int, seed: int, overrides: dict) -> dict:
    algo = algorithm.get(name)
    # As `divergent run` builds it: nested sections from nested mappings,
    # values checked and coerced, unknown keys named.
    config = from_plain(algo.config_cls, overrides.get(name, {}), name)
    state = algo.init(config, pipeline, jax.random.PRNGKey(seed), budget=budget)
    state = own_buffers(state)  # the step donates its state, as in runs/loop.py
    step = jax.jit(algo.step, donate_argnums=0)
    base = jax.random.PRNGKey(seed + 10_000)
    generation = 0
    start = time.perf_counter()
    while int(state.evaluations) < budget:
        state, metrics = step(state, jax.random.fold_in(base, generation))
        generation += 1
    row = {k: float(v) for k, v in metrics.items()}
    row.update(algorithm=name, seed=seed, seconds=time.perf_counter() - start)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hardmaze")
    parser.add_argument("--budget", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--algorithms", nargs="+", default=["ns", "random", "me", "cmaes"])
    parser.add_argument("--csv", default=None)
    parser.add_argument("--set", nargs="*", default=[], metavar="ALGO.FIELD=VALUE",
                        help="config overrides, e.g. serene.emitters_per_step=1 or serene.ns.k=10 "
                        "(values parsed as YAML)")
    parser.add_argument("--task-set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="task config overrides, e.g. episode_length=100 (values parsed as YAML)")
    args = parser.parse_args()
    task_overrides = {}
    for item in args.task_set:
        field, _, value = item.partition("=")
        task_overrides[field] = yaml.safe_load(value)
    task = tasks.make(args.task, **task_overrides)
    pipeline = qd_pipeline.make(task, "ground_truth", shard=True)  # as `divergent run` by default
    n_areas = len(task.spec.reward_areas)
    print(f"machine: {_setup.machine()}; task {args.task} {task_overrides or ''}, budget {args.budget:,} episodes, {args.seeds} seeds")
    overrides: dict = {}
    for item in args.set:
        key, _, value = item.partition("=")
        name, _, field = key.partition(".")
        if name not in args.algorithms or not field:
            parser.error(f"--set {item}: expected ALGO.FIELD=VALUE with ALGO one of {args.algorithms}")
        node = overrides.setdefault(name, {})
        *sections, last = field.split(".")
        for section in sections:  # nested config sections (SERENE's ns, emitter, scheduler)
            node = node.setdefault(section, {})
        node[last] = yaml.safe_load(value)
    rows = []
    for name in args.algorithms:
        for seed in range(args.seeds):
            rows.append(run(name, pipeline, args.budget, seed, overrides))
            r = rows[-1]
            print(
                f"  {name} seed {seed}: coverage {r['coverage']:.3f}, explored {r['explored_coverage']:.3f}, "
                f"areas {int(r['areas_found'])}/{n_areas}, {r['seconds']:.0f}s",
                flush=True,
            )
    header = "| algorithm | archive coverage | explored coverage | " + " | ".join(
        f"area {i} found (evals to first) | area {i} max reward" for i in range(n_areas)
    ) + " |"
    print("\n" + header + "\n|" + "---|" * (3 + 2 * n_areas))
    for name in args.algorithms:
        rs = [r for r in rows if r["algorithm"] == name]
        cov = np.array([r["coverage"] for r in rs])
        exp = np.array([r["explored_coverage"] for r in rs])
        cells = []
        for i in range(n_areas):
            found = [r for r in rs if r[f"area{i}_found"] > 0]
            firsts = [r[f"area{i}_first_found"] for r in found]
            median = f", median {np.median(firsts):,.0f}" if firsts else ""
            cells.append(f"{len(found)}/{len(rs)}{median}")
            best = np.array([r[f"area{i}_max_reward"] for r in rs])  # 0 where not found
            cells.append(f"{best.mean():.3f} +- {best.std():.3f}")
        print(
            f"| {name} | {cov.mean():.3f} +- {cov.std():.3f} | {exp.mean():.3f} +- {exp.std():.3f} | "
            + " | ".join(cells) + " |"
        )
    if args.csv:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
