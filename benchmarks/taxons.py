"""TAXONS / STAX on this machine: what the autoencoder costs, and what it finds.

    python benchmarks/taxons.py speed --task curling --budget 4000
    python benchmarks/taxons.py refit --task curling --sizes 500 2000 8000
    python benchmarks/taxons.py coverage --task curling --budget 20000 --seeds 3 \
        --variants ns random taxons nt
    python benchmarks/taxons.py frames --task curling --frames 4 --budget 2000 --max-epochs 10

speed: the same novelty search with the ground-truth descriptor and with the
autoencoder (TAXONS), same budget and seed, timed generation by generation
after compilation; the autoencoder's share of the TAXONS run = (TAXONS time -
ground-truth time) / TAXONS time: rendering every episode, encoding every
batch, refits and re-encoding the archive.

refit: one refit (a fixed number of epochs, no early stop) on N views of the
task, rendered from random policies: seconds per epoch against N.

coverage: ground-truth coverage (archive and every evaluated policy) and
reward areas found at equal budget, mean +- std over seeds, for novelty
search with the hand-made descriptor ("ns"), random search, TAXONS ("taxons":
autoencoder, novelty or surprise), NT ("nt": untrained autoencoder), and
SERENE / STAX ("serene", "stax").

frames: what several views per episode (the autoencoder's `frames`) cost.
(1) Rendering them in the rollout (what the code does) against rendering
them afterwards from a stored state: a batch of 200 episodes rolled out with
1 and with F frames, the render alone of 200 x F states, and the encode of
200 rows; so the cost, per refit, of re-rendering the archive from stored
states instead of encoding stored pixels, and the bytes each stores per
row. (2) A TAXONS generation with F frames against one with 1, same budget
and seed: median generation without a refit, and the whole run after
compile.
"""
import argparse
import time

import _setup  # noqa: F401  (must come before jax)
import jax
import jax.numpy as jnp
import numpy as np

import representations
import tasks
from qd import algorithms, pipeline
from representations.autoencoder import train
from runs.loop import step_ready

VARIANTS = {
    # name: (algorithm, representation, representation_config, algorithm overrides)
    "ns": ("ns", "ground_truth", {}, {}),
    "random": ("random", "ground_truth", {}, {}),
    "taxons": ("ns", "autoencoder", {}, {"selection": "novelty_or_surprise"}),
    "taxo-n": ("ns", "autoencoder", {}, {"selection": "novelty"}),
    "nt": ("ns", "autoencoder", {"trained": False}, {"selection": "novelty"}),
    "serene": ("serene", "ground_truth", {}, {}),
    "stax": ("serene", "autoencoder", {}, {"ns": {"selection": "novelty_or_surprise"}}),
}


def _config(algo, overrides):
    if "ns" in overrides:  # SERENE's nested novelty search
        from qd.algorithms.novelty_search import NoveltySearchConfig

        return algo.config_cls(ns=NoveltySearchConfig(**overrides["ns"]))
    return algo.config_cls(**overrides)


def run(variant: str, task, budget: int, seed: int, rep_overrides: dict) -> dict:
    """One run; returns its last metrics, wall times per generation and refits."""
    name, rep, rep_config, overrides = VARIANTS[variant]
    algo = algorithms.get(name)
    pipe = pipeline.make(task, rep, representation_config={**rep_config, **(rep_overrides if rep != "ground_truth" else {})})
    state = step_ready(algo.init(_config(algo, overrides), pipe, jax.random.PRNGKey(seed), budget=budget))
    step = jax.jit(algo.step, donate_argnums=0)
    base = jax.random.PRNGKey(seed + 10_000)
    times, fits, generation = [], [], 0
    start = time.perf_counter()
    while int(state.evaluations) < budget:
        t = time.perf_counter()
        state, metrics = step(state, jax.random.fold_in(base, generation))
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - t)
        fits.append(int(metrics.get("representation_fits", 0)))
        generation += 1
    row = {k: float(v) for k, v in metrics.items()}
    row.update(variant=variant, seed=seed, seconds=time.perf_counter() - start, times=times, fits=fits)
    return row


def speed(args, task) -> None:
    rep = {"max_epochs": args.max_epochs} if args.max_epochs else {}
    gt = run("ns", task, args.budget, 0, {})
    ae = run("taxons", task, args.budget, 0, rep)
    # Generation 0 compiles; compare the rest.
    t_gt, t_ae = sum(gt["times"][1:]), sum(ae["times"][1:])
    refits = [i for i in range(1, len(ae["fits"])) if ae["fits"][i] > ae["fits"][i - 1]]
    refit_time = sum(ae["times"][i] for i in refits)
    plain = np.median([t for i, t in enumerate(ae["times"][1:], 1) if i not in refits])
    print(f"machine: {_setup.machine()}; {args.task}, budget {args.budget:,}, {len(ae['times'])} generations")
    print("| run | seconds (after compile) | per generation (median) | refits | seconds in refit generations |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| ns, ground truth | {t_gt:.1f} | {np.median(gt['times'][1:]) * 1e3:.0f} ms | - | - |")
    print(f"| taxons, autoencoder | {t_ae:.1f} | {plain * 1e3:.0f} ms | {len(refits)} | {refit_time:.1f} |")
    print(f"\nautoencoder share of the TAXONS run: {(t_ae - t_gt) / t_ae:.0%} "
          f"(refits {refit_time / t_ae:.0%}, render + encode {(t_ae - t_gt - refit_time) / t_ae:.0%})")


def refit(args, task) -> None:
    rep = representations.make("autoencoder", task.spec)
    policy = task.default_policy()
    n_max = max(args.sizes)
    genomes = policy.init_genomes(jax.random.PRNGKey(0), n_max)
    views = []
    for i in range(0, n_max, 500):
        ev = tasks.rollout(task, genomes[i:i + 500], jax.random.PRNGKey(1), with_observation=True)
        views.append(rep.features(ev))
    views = jnp.concatenate(views)[:n_max]
    config = rep.config.__class__(max_epochs=args.epochs, patience=args.epochs + 1)
    fit = jax.jit(lambda p, f, m, k: train(rep.network, config, p, f, m, k))
    params = rep.init(jax.random.PRNGKey(2))
    print(f"machine: {_setup.machine()}; {args.task}, {args.epochs} epochs per refit")
    print("| views | seconds per refit | seconds per epoch |")
    print("| ---: | ---: | ---: |")
    for n in args.sizes:
        mask = jnp.arange(n_max) < n
        jax.block_until_ready(fit(params, views, mask, jax.random.PRNGKey(3)))  # compile (once: same shapes)
        t = time.perf_counter()
        jax.block_until_ready(fit(params, views, mask, jax.random.PRNGKey(4)))
        seconds = time.perf_counter() - t
        print(f"| {n:,} | {seconds:.1f} | {seconds / args.epochs:.2f} |")


def coverage(args, task) -> None:
    n_areas = len(task.spec.reward_areas)
    rep = {"max_epochs": args.max_epochs} if args.max_epochs else {}
    print(f"machine: {_setup.machine()}; {args.task}, budget {args.budget:,}, {args.seeds} seeds")
    rows = []
    for variant in args.variants:
        for seed in range(args.seeds):
            r = run(variant, task, args.budget, seed, rep)
            rows.append(r)
            print(f"  {variant} seed {seed}: coverage {r['coverage']:.3f}, explored {r['explored_coverage']:.3f}, "
                  f"areas {int(r['areas_found'])}/{n_areas}, {r['seconds']:.0f}s", flush=True)
    print("\n| variant | archive coverage | explored coverage | " + " | ".join(
        f"area {i} found | area {i} max reward" for i in range(n_areas)) + " | seconds per run |")
    print("|" + "---|" * (4 + 2 * n_areas))
    for variant in args.variants:
        rs = [r for r in rows if r["variant"] == variant]
        cov, exp = np.array([r["coverage"] for r in rs]), np.array([r["explored_coverage"] for r in rs])
        cells = []
        for i in range(n_areas):
            cells.append(f"{sum(r[f'area{i}_found'] > 0 for r in rs)}/{len(rs)}")
            best = np.array([r[f"area{i}_max_reward"] for r in rs])
            cells.append(f"{best.mean():.3f} +- {best.std():.3f}")
        secs = np.mean([r["seconds"] for r in rs])
        print(f"| {variant} | {cov.mean():.3f} +- {cov.std():.3f} | {exp.mean():.3f} +- {exp.std():.3f} | "
              + " | ".join(cells) + f" | {secs:.0f} |")


def frames(args, task) -> None:
    import math

    from representations.autoencoder import stack_frames

    f, batch = args.frames, 200
    policy = task.default_policy()
    genomes = policy.init_genomes(jax.random.PRNGKey(0), batch)
    key = jax.random.PRNGKey(1)
    roll = {n: _setup.timed(lambda: tasks.rollout(task, genomes, key, with_observation=True, frames=n))
            for n in (1, f)}
    plain = _setup.timed(lambda: tasks.rollout(task, genomes, key))
    # States to render: the batch's resets, F of each (the render does not depend on the values).
    states = jax.vmap(task.reset)(jax.random.split(key, batch * f)).pipeline_state
    render = jax.jit(jax.vmap(task.render))
    t_render = _setup.timed(render, states)
    state_bytes = sum(math.prod(x.shape[1:]) * x.dtype.itemsize for x in jax.tree.leaves(states))
    ev = tasks.rollout(task, genomes, key, with_observation=True, frames=f)
    rep = representations.make("autoencoder", task.spec, frames=f)
    features = stack_frames(ev.observation, f)
    params = rep.init(jax.random.PRNGKey(2))
    encode = jax.jit(rep.encode)
    t_encode = _setup.timed(encode, params, features)
    print(f"machine: {_setup.machine()}; {args.task}, batch {batch}, {f} frames per episode")
    print("| what | ms |")
    print("| --- | ---: |")
    print(f"| rollout, no view | {plain * 1e3:.1f} |")
    print(f"| rollout, final view (frames=1) | {roll[1] * 1e3:.1f} |")
    print(f"| rollout, {f} frames rendered in it (frames={f}) | {roll[f] * 1e3:.1f} |")
    print(f"| render {batch} x {f} stored states afterwards | {t_render * 1e3:.1f} |")
    print(f"| encode {batch} rows of {f} frames (uint8) | {t_encode * 1e3:.1f} |")
    print(f"\nstored per row: pixels {f * 64 * 64 * 3:,} B; the state that renders them {f * state_bytes:,} B")
    print(f"re-encode after a refit, per row: from pixels {t_encode / batch * 1e6:.0f} us; "
          f"re-rendered from states {(t_encode + t_render) / batch * 1e6:.0f} us "
          f"({(t_encode + t_render) / t_encode:.1f}x)")
    rep_over = {"max_epochs": args.max_epochs} if args.max_epochs else {}
    runs = {n: run("taxons", task, args.budget, 0, {**rep_over, "frames": n}) for n in (1, f)}
    print(f"\nTAXONS, budget {args.budget:,}, {len(runs[1]['times'])} generations of 200")
    print("| frames | median generation without refit (s) | run after compile (s) | refits |")
    print("| ---: | ---: | ---: | ---: |")
    med = {}
    for n, r in runs.items():
        refits = {i for i in range(1, len(r["fits"])) if r["fits"][i] > r["fits"][i - 1]}
        med[n] = np.median([t for i, t in enumerate(r["times"][1:], 1) if i not in refits])
        print(f"| {n} | {med[n]:.2f} | {sum(r['times'][1:]):.1f} | {len(refits)} |")
    print(f"\nF={f} / F=1 per generation: {med[f] / med[1]:.2f}x without refit, "
          f"{sum(runs[f]['times'][1:]) / sum(runs[1]['times'][1:]):.2f}x over the run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["speed", "refit", "coverage", "frames"])
    parser.add_argument("--task", default="curling")
    parser.add_argument("--budget", type=int, default=4000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variants", nargs="+", default=["ns", "random", "taxons", "nt"], choices=list(VARIANTS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[500, 2000, 8000])
    parser.add_argument("--epochs", type=int, default=5, help="refit: epochs timed per refit")
    parser.add_argument("--max-epochs", type=int, default=0, help="autoencoder epochs per refit (0: the reference 100)")
    parser.add_argument("--episode-length", type=int, default=0, help="shorter episodes (0: the task's)")
    parser.add_argument("--frames", type=int, default=4, help="frames: views per episode compared with 1")
    args = parser.parse_args()
    task = tasks.make(args.task, **({"episode_length": args.episode_length} if args.episode_length else {}))
    {"speed": speed, "refit": refit, "coverage": coverage, "frames": frames}[args.part](args, task)


if __name__ == "__main__":
    main()
