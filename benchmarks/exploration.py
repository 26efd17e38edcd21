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

import _setup  # noqa: F401  (must come before jax)
import numpy as np
import yaml

import tasks
from _equal_budget import area_cells, area_header, parse_overrides, run
from qd import pipeline as qd_pipeline


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
    overrides = parse_overrides(args.set, args.algorithms, parser.error)
    rows = []
    for name in args.algorithms:
        for seed in range(args.seeds):
            rows.append(run(name, pipeline, args.budget, seed, overrides)[0])
            r = rows[-1]
            print(
                f"  {name} seed {seed}: coverage {r['coverage']:.3f}, explored {r['explored_coverage']:.3f}, "
                f"areas {int(r['areas_found'])}/{n_areas}, {r['seconds']:.0f}s",
                flush=True,
            )
    header = "| algorithm | archive coverage | explored coverage | " + area_header(n_areas) + " |"
    print("\n" + header + "\n|" + "---|" * (3 + 2 * n_areas))
    for name in args.algorithms:
        rs = [r for r in rows if r["algorithm"] == name]
        cov = np.array([r["coverage"] for r in rs])
        exp = np.array([r["explored_coverage"] for r in rs])
        print(
            f"| {name} | {cov.mean():.3f} +- {cov.std():.3f} | {exp.mean():.3f} +- {exp.std():.3f} | "
            + " | ".join(area_cells(rs, n_areas)) + " |"
        )
    if args.csv:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
