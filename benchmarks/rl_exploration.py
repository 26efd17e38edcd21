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

ALGORITHMS = ("ns", "ppo", "sac", "sac-seeded")


def run(name: str, pipeline, budget: int, seed: int, overrides: dict, prior=None) -> tuple[dict, object]:
    algo = algorithm.get(name)
    fields = dict(overrides.get(name, {}))
    if name == "sac-seeded":
        fields.setdefault("prior", "(in memory)")
    config = from_plain(algo.config_cls, fields, name)
    extra = {} if prior is None else {"prior": prior}
    state = own_buffers(jax.jit(algo.init, static_argnums=(0, 1))(
        config, pipeline, jax.random.PRNGKey(seed), **extra))
    step = jax.jit(algo.step, donate_argnums=0)
    base = jax.random.PRNGKey(seed + 10_000)
    generation = 0
    start = time.perf_counter()
    while int(state.evaluations) < budget:
        state, metrics = step(state, jax.random.fold_in(base, generation))
        generation += 1
    row = {k: float(v) for k, v in metrics.items() if np.ndim(v) == 0}
    row.update(algorithm=name, seed=seed, seconds=time.perf_counter() - start)
    return row, state


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
    overrides: dict = {}
    for item in args.set:
        key, _, value = item.partition("=")
        name, _, field = key.partition(".")
        overrides.setdefault(name, {})[field] = yaml.safe_load(value)
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
    header = "| algorithm | explored coverage | " + " | ".join(
        f"area {i} found (median episodes to first) | area {i} max reward" for i in range(n_areas)
    ) + " | last mean return | env steps | seconds |"
    print("\n" + header + "\n|" + "---|" * (5 + 2 * n_areas))
    for name in args.algorithms:
        rs = [r for r in rows if r["algorithm"] == name]
        exp = np.array([r["explored_coverage"] for r in rs])
        cells = []
        for i in range(n_areas):
            found = [r for r in rs if r[f"area{i}_found"] > 0]
            firsts = [r[f"area{i}_first_found"] for r in found]
            median = f" ({np.median(firsts):,.0f})" if firsts else ""
            cells.append(f"{len(found)}/{len(rs)}{median}")
            best = np.array([r[f"area{i}_max_reward"] for r in rs])
            cells.append(f"{best.mean():.3f} +- {best.std():.3f}")
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
