"""Gradient RL against novelty search on a sparse task, at equal episodes.

    python benchmarks/rl_exploration.py --task curling --budget 1024 --seeds 3
    python benchmarks/rl_exploration.py --task hardmaze --budget 512 --seeds 3 --prior-budget 10000

For each seed: novelty search, PPO, SAC and archive-seeded SAC (`sac-seeded`)
spend the same number of episodes (`--budget`); reported as in
`exploration.py`: explored coverage (every training / evaluated episode),
how many seeds found each reward area, the median episodes to the first
find, the best reward per area (0 where not found), and the environment
steps and seconds per run. `sac-seeded`'s prior is the archive of a separate
novelty search run of the same seed with `--prior-budget` episodes, which
are NOT counted in its budget (the question is whether an exploration
archive, once there, makes RL find and reach the reward). Defaults of every
algorithm (PPO: 32 episodes per generation; SAC: 16) unless `--set
ALGO.FIELD=VALUE`.
"""
import argparse

import _setup  # noqa: F401  (must come before jax)
import numpy as np

import tasks
from _equal_budget import area_cells, area_header, parse_overrides, run
from qd import algorithms as algorithm
from qd import pipeline as qd_pipeline

ALGORITHMS = ("ns", "ppo", "sac", "sac-seeded")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="curling")
    parser.add_argument("--budget", type=int, default=1024)
    parser.add_argument("--prior-budget", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS))
    parser.add_argument("--csv", default=None)
    parser.add_argument("--set", nargs="*", default=[], metavar="ALGO.FIELD=VALUE")
    args = parser.parse_args()
    task = tasks.make(args.task)
    pipeline = qd_pipeline.make(task, "ground_truth", shard=True)
    n_areas = len(task.spec.reward_areas)
    print(f"machine: {_setup.machine()}; task {args.task}, budget {args.budget:,} episodes, {args.seeds} seeds, "
          f"prior: NS at {args.prior_budget:,} episodes")
    overrides = parse_overrides(args.set, args.algorithms, parser.error)
    rows = []
    for seed in range(args.seeds):
        prior = None
        if "sac-seeded" in args.algorithms:
            _, ns_state = run("ns", pipeline, args.prior_budget, seed, overrides)
            a = algorithm.get("ns").archive(ns_state)
            mask = np.asarray(a.mask)
            prior = (np.asarray(a.genome)[mask], np.asarray(a.reward)[mask])
            print(f"  prior seed {seed}: {mask.sum()} archived policies, {(prior[1] > 0).sum()} rewarded", flush=True)
        for name in args.algorithms:
            row, _ = run(name, pipeline, args.budget, seed, overrides, prior if name == "sac-seeded" else None)
            rows.append(row)
            print(
                f"  {name} seed {seed}: explored {row['explored_coverage']:.3f}, areas {int(row['areas_found'])}/"
                f"{n_areas}, " + ", ".join(f"area{i} max {row[f'area{i}_max_reward']:.3f}" for i in range(n_areas))
                + f", mean return {row.get('mean_return', float('nan')):.3f}, {row['seconds']:.0f}s",
                flush=True,
            )
    header = "| algorithm | explored coverage | " + area_header(n_areas) + " | last mean return | env steps | seconds |"
    print("\n" + header + "\n|" + "---|" * (5 + 2 * n_areas))
    for name in args.algorithms:
        rs = [r for r in rows if r["algorithm"] == name]
        exp = np.array([r["explored_coverage"] for r in rs])
        cells = area_cells(rs, n_areas)
        ret = np.array([r.get("mean_return", np.nan) for r in rs])
        steps = np.array([r.get("env_steps", r["evaluations"] * task.spec.episode_length) for r in rs])
        secs = np.array([r["seconds"] for r in rs])
        print(f"| {name} | {exp.mean():.3f} +- {exp.std():.3f} | " + " | ".join(cells)
              + f" | {np.nanmean(ret):.3f} | {steps.mean():,.0f} | {secs.mean():.0f} |")
    if args.csv:
        import pandas as pd

        pd.DataFrame(rows).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
