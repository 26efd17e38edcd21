"""SERENE's exploitation: the gradient emitter against the evolutionary ones,
from the same rewarded ancestors, at equal exploitation evaluations.

    python benchmarks/serene_gradient.py [--tasks hardmaze curling] [--seeds 0 1 2]
        [--explore 20000] [--ancestors 4] [--evals 600] [--kinds fitness cma gradient]
        [--episode 0] [--set action_std=0.2 learning_rate=0.1] [--cache DIR]

1. Novelty search (reference settings: `qd.algorithms.novelty_search`,
   seeded) explores for --explore evaluations; its rewarded agents are the
   ancestors, up to --ancestors per reward area (the highest rewarded ones,
   which is what SERENE's emitters start from: an agent with reward > 0).
2. Every emitter kind exploits every ancestor alone for --evals evaluations
   (all ancestors stepped together under vmap, as SERENE's pool does), with
   SERENE's settings (`LocalEmitterConfig`; sigma0 = distance of the ancestor
   to its nearest other agent / 3 for the evolutionary kinds).
3. Printed, per task, area and kind: the best reward reached by a genome
   (greedy rollouts only for the gradient emitter, every rollout of the others:
   each describes a genome) after 25%, 50% and 100% of --evals, mean over
   ancestors and seeds, next to the ancestors' own reward.

--cache keeps each exploration's agents in DIR and reuses them (the
exploitation comparisons then skip step 1). --episode shortens the episodes (0: the task's own). --set overrides
`LocalEmitterConfig` fields for every kind (e.g. the gradient emitter's
action_std, learning_rate, gradient_samples).
"""
from __future__ import annotations

import argparse
import functools
import pathlib
import time

import _setup  # noqa: F401  (must come before jax)
import jax
import jax.numpy as jnp
import numpy as np

import tasks
from qd import pipeline as qd_pipeline
from qd.algorithms import novelty_search
from qd.algorithms.serene import algorithm as serene
from qd.algorithms.serene import gradient_emitter
from qd.algorithms.serene import local_emitters as local
from qd.algorithms.serene import pool as pool_mod


def explore(pipeline, seed: int, budget: int):
    """NS for `budget` evaluations; its archive + population as arrays."""
    config = novelty_search.NoveltySearchConfig()
    state = novelty_search.init(config, pipeline, jax.random.PRNGKey(seed))
    step = jax.jit(novelty_search.step)
    g = 0
    while int(state.evaluations) < budget:
        state, _ = step(state, jax.random.fold_in(jax.random.PRNGKey(seed + 1), g))
        g += 1
    snap = novelty_search.archive(state)
    pop = state.population
    keep = np.asarray(snap.mask)
    return dict(
        genome=np.concatenate([np.asarray(snap.genome)[keep], np.asarray(pop.genome)]),
        reward=np.concatenate([np.asarray(snap.reward)[keep], np.asarray(pop.reward)]),
        area=np.concatenate([np.asarray(snap.reward_area)[keep], np.asarray(pop.reward_area)]),
    )


def pick_ancestors(agents: dict, n_areas: int, per_area: int):
    """Up to `per_area` best rewarded agents of each area, and sigma0 of each."""
    rows = []
    for a in range(n_areas):
        idx = np.flatnonzero((agents["area"] == a) & (agents["reward"] > 0))
        rows.extend(idx[np.argsort(-agents["reward"][idx])][:per_area])
    rows = np.asarray(rows, int)
    sigma0 = serene.initial_sigma(jnp.asarray(agents["genome"][rows]), jnp.asarray(agents["genome"]), jnp.asarray(rows))
    return rows, np.asarray(sigma0)


@functools.partial(jax.jit, static_argnums=(0, 1))
def exploitation_step(config, pipeline, emitters, best, key):
    """One step of every emitter [N] (one rollout for all), and the best
    genome reward of each so far."""
    n, b = emitters.n_values.shape[0], config.batch_size
    d = pipeline.genome_size
    k_ask, k_eval = jax.random.split(key)
    genomes, mask = pool_mod.ask(config, emitters, k_ask)
    flat = genomes.reshape(n * b, d)
    if config.kind == "gradient" and config.gradient_estimator == "reinforce":
        std = jnp.tile(jnp.asarray(gradient_emitter.action_std(config)), n)
        ev = pipeline.evaluator.stochastic(flat, k_eval, std)
        describes = mask & (std == 0).reshape(n, b)
        score = ev.log_prob_grad.reshape(n, b, d)
    else:
        ev = pipeline.evaluator(flat, k_eval)
        describes = mask
        score = None
    reward = ev.reward.reshape(n, b)
    valid = ev.valid.reshape(n, b)
    told = pool_mod.tell(config, emitters, genomes, mask, reward, jnp.zeros((n, b)), valid, jnp.zeros((n, b)), score)
    best = jnp.maximum(best, jnp.max(jnp.where(describes & valid, reward, -jnp.inf), axis=1))
    return told, best


def exploit(config, pipeline, ancestors, sigma0, seed: int, evals: int):
    """Steps one emitter per ancestor until each spent `evals`; returns the
    best genome reward so far [steps, N] and the evaluations [steps, N]."""
    n, d = ancestors.shape
    history = config.history_length(d)
    key = jax.random.PRNGKey(seed)
    emitters = jax.vmap(lambda k, a, s: local.create(config, k, a, s, jnp.zeros(()), history))(
        jax.random.split(key, n), jnp.asarray(ancestors), jnp.asarray(sigma0)
    )
    best = jnp.full((n,), -jnp.inf)
    curve, spent = [], []
    step = 0
    while True:
        emitters, best = exploitation_step(config, pipeline, emitters, best, jax.random.fold_in(key, step))
        step += 1
        curve.append(np.asarray(best))
        spent.append(np.asarray(emitters.evaluations))
        if spent[-1].min() >= evals:
            break
    return np.stack(curve), np.stack(spent)


def best_at(curve, spent, evals):
    """Per ancestor: best reward reached within `evals` evaluations."""
    out = []
    for i in range(curve.shape[1]):
        ok = spent[:, i] <= evals
        out.append(curve[ok, i].max() if ok.any() else np.nan)
    return np.asarray(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", nargs="+", default=["hardmaze", "curling"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--explore", type=int, default=20_000)
    parser.add_argument("--ancestors", type=int, default=4)
    parser.add_argument("--evals", type=int, default=600)
    parser.add_argument("--kinds", nargs="+", default=["fitness", "cma", "gradient"])
    parser.add_argument("--episode", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[])
    parser.add_argument("--cache", default="", help="folder keeping each exploration's agents (reused if there)")
    args = parser.parse_args()
    overrides = {}
    for item in args.set:
        name, value = item.split("=")
        overrides[name] = type(getattr(local.LocalEmitterConfig(), name))(value)
    print(_setup.machine())
    marks = (args.evals // 4, args.evals // 2, args.evals)
    print(f"\n| task | area | kind | ancestors | ancestor reward | best @{marks[0]} | best @{marks[1]} | "
          f"best @{marks[2]} | s |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in args.tasks:
        task = tasks.make(name, **({"episode_length": args.episode} if args.episode else {}))
        pipeline = qd_pipeline.make(task)
        n_areas = len(task.spec.reward_areas)
        results = {}  # (area, kind) -> lists
        for seed in args.seeds:
            path = pathlib.Path(args.cache) / f"{name}-{args.episode}-{seed}-{args.explore}.npz" if args.cache else None
            if path is not None and path.exists():
                agents = dict(np.load(path))
            else:
                agents = explore(pipeline, seed, args.explore)
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    np.savez(path, **agents)
            rows, sigma0 = pick_ancestors(agents, n_areas, args.ancestors)
            if len(rows) == 0:
                print(f"<!-- {name} seed {seed}: no reward found in {args.explore} evaluations -->")
                continue
            print(f"<!-- {name} seed {seed}: {len(rows)} ancestors, areas {sorted(set(agents['area'][rows]))} -->",
                  flush=True)
            for kind in args.kinds:
                config = local.LocalEmitterConfig(kind=kind, **overrides)
                start = time.perf_counter()
                curve, spent = exploit(config, pipeline, agents["genome"][rows], sigma0, seed, args.evals)
                seconds = time.perf_counter() - start
                for a in range(n_areas):
                    sel = agents["area"][rows] == a
                    if not sel.any():
                        continue
                    r = results.setdefault((a, kind), {"anc": [], "m": [[], [], []], "s": []})
                    r["anc"].extend(agents["reward"][rows][sel])
                    for j, m in enumerate(marks):
                        r["m"][j].extend(best_at(curve, spent, m)[sel])
                    r["s"].append(seconds)
        for (a, kind), r in sorted(results.items()):
            print(f"| {name} | {a} | {kind} | {len(r['anc'])} | {np.mean(r['anc']):.3f} | "
                  + " | ".join(f"{np.nanmean(v):.3f}" for v in r["m"]) + f" | {np.mean(r['s']):.0f} |", flush=True)


if __name__ == "__main__":
    main()
