"""PGA-ME: divergent's `pga-me` vs QDax 0.5's PGA-ME, same task and budget, in one process.

    python benchmarks/pga_me.py [--gens 30] [--log-every 5] [--seeds 0 1 2]
        [--batch 100] [--cells 32] [--episode 50] [--critic 64 64]
        [--critic-steps 30] [--pg-steps 10] [--td3-batch 64] [--buffer 200000]

Task: our redundant arm with `step_reward` (every step pays -std(joint
angles) / T: a dense reward whose return is minus the mean spread of the
joint angles; descriptor = final end effector (x, y), grid of cells x cells).

Ours: `qd.algorithms.pga_me` through the run's pipeline (`qd.pipeline.make`,
sharded over the host devices). QDax: `qdax.core.emitters.pga_me_emitter.
PGAMEEmitter` in `qdax.core.map_elites.MAPElites`, driven by a scoring
function that calls the very same evaluator (with transitions) and hands
them over as `QDTransition`s (glue below); its policy network is our
reference controller (`policy.apply(genome, obs)` on a flat genome), so both
sides vary the same genomes. Same settings on both sides: batch, GA share
(0.5), iso+line sigmas and bounds, TD3 settings, the same initial genomes and
grid cells (QDax's Euclidean centroids = our grid). The TD3 settings default
to a CPU-sized version of the reference ones (critic 64x64 instead of
256x256, 30 critic and 10 PG steps instead of 300 and 100, mini-batches of 64
instead of 256): the reference settings cost minutes a generation on 2 CPU
cores. Pass --critic 256 256 --critic-steps 300 --pg-steps 100 --td3-batch 256
for them.

Printed: per seed and logged generation, evaluations, QD-score (sum over
filled cells of reward + pi: the return lies in [-pi, 0]), coverage, max
reward for both, then evaluations/s (wall time of the jitted generations
after compilation, ours and QDax's alternating chunk by chunk so both see the
same machine load).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import time
import types

import _setup  # noqa: F401  (must come before jax)
import jax
import jax.numpy as jnp
import numpy as np

import sys

import qdax.tasks.brax  # noqa: F401  (the real package; only its v1 part is stubbed below)

# QDax 0.5's PGA-ME emitter imports `QDEnv` (for a type annotation) from
# qdax.tasks.brax.v1, which imports brax.v1, gone from brax 0.14 (ours). The
# emitter needs nothing of it but the name: stub those modules.
for _name in ("qdax.tasks.brax.v1", "qdax.tasks.brax.v1.envs", "qdax.tasks.brax.v1.envs.base_env"):
    sys.modules.setdefault(_name, types.ModuleType(_name))
sys.modules["qdax.tasks.brax.v1.envs.base_env"].QDEnv = object

from qdax.core.containers.mapelites_repertoire import compute_euclidean_centroids  # noqa: E402
from qdax.core.emitters.mutation_operators import isoline_variation  # noqa: E402
from qdax.core.emitters.pga_me_emitter import PGAMEConfig, PGAMEEmitter  # noqa: E402
from qdax.core.map_elites import MAPElites  # noqa: E402
from qdax.core.neuroevolution.buffers.buffer import QDTransition  # noqa: E402
from qdax.utils.metrics import default_qd_metrics  # noqa: E402

import tasks  # noqa: E402
from emitters import variation  # noqa: E402
from emitters.td3 import TD3Config  # noqa: E402
from qd import pipeline as qd_pipeline  # noqa: E402
from qd.algorithms import pga_me  # noqa: E402

OFFSET = float(np.pi)  # returns lie in [-pi, 0]
WARMUP = 2  # generations run before timing (compilation)


# -- the glue: our evaluator as a QDax scoring function ---------------------------------


@dataclasses.dataclass(frozen=True)
class PolicyNetwork:
    """Our controller as the `apply(params, obs)` QDax's TD3 losses call
    (params = one flat genome, obs [..., O])."""

    policy: object

    def apply(self, params, obs):
        return self.policy.apply(params, obs)


def scoring_function(evaluator):
    """(genomes, key) -> (fitness, descriptor, {"transitions": QDTransition}) of
    our evaluator (it records transitions)."""

    def score(genomes, key):
        ev = evaluator(genomes, key)
        t = ev.transitions
        zeros = jnp.zeros(t.rewards.shape + (2,))
        transitions = QDTransition(
            obs=t.obs, next_obs=t.next_obs, rewards=t.rewards, dones=t.dones,
            truncations=jnp.zeros_like(t.dones), actions=t.actions, state_desc=zeros, next_state_desc=zeros,
        )
        return ev.reward, ev.descriptor, {"transitions": transitions}

    return score


def qd_score(rewards, filled) -> float:
    return float(np.sum(np.where(filled, np.asarray(rewards) + OFFSET, 0.0)))


def run_seed(seed: int, args) -> list[dict]:
    task = tasks.make("redundant_arm", episode_length=args.episode, step_reward=True)
    pipeline = qd_pipeline.make(task)
    td3 = TD3Config(
        num_critic_training_steps=args.critic_steps, num_pg_training_steps=args.pg_steps,
        replay_buffer_size=args.buffer, critic_hidden_layer_size=tuple(args.critic), batch_size=args.td3_batch,
    )
    config = pga_me.PgaMeConfig(batch_size=args.batch, cells_per_dim=args.cells, td3=td3)
    key = jax.random.PRNGKey(seed)
    ours = jax.jit(pga_me.init, static_argnums=(0, 1))(config, pipeline, key)
    step = jax.jit(pga_me.step, donate_argnums=0)

    # QDax: same genomes, cells, settings.
    evaluator = ours.pipeline.evaluator
    spec = pipeline.spec
    k_init = jax.random.split(key, 3)[0]
    genomes = variation.init_genomes(
        k_init, config.batch_size, pipeline.genome_size, std=config.init_std,
        low=config.genome_low, high=config.genome_high,
    )
    env = types.SimpleNamespace(
        observation_size=spec.observation_size, action_size=spec.action_size, state_descriptor_length=2
    )
    qconfig = PGAMEConfig(
        env_batch_size=config.batch_size, proportion_mutation_ga=config.proportion_mutation_ga,
        num_critic_training_steps=td3.num_critic_training_steps, num_pg_training_steps=td3.num_pg_training_steps,
        replay_buffer_size=td3.replay_buffer_size, critic_hidden_layer_size=td3.critic_hidden_layer_size,
        critic_learning_rate=td3.critic_learning_rate, greedy_learning_rate=td3.greedy_learning_rate,
        policy_learning_rate=td3.policy_learning_rate, noise_clip=td3.noise_clip, policy_noise=td3.policy_noise,
        discount=td3.discount, reward_scaling=td3.reward_scaling, batch_size=td3.batch_size,
        soft_tau_update=td3.soft_tau_update, policy_delay=td3.policy_delay,
    )
    emitter = PGAMEEmitter(
        config=qconfig, policy_network=PolicyNetwork(evaluator.policy), env=env,
        variation_fn=functools.partial(
            isoline_variation, iso_sigma=config.iso_sigma, line_sigma=config.line_sigma,
            minval=config.genome_low, maxval=config.genome_high,
        ),
    )
    qdax = MAPElites(
        scoring_function=scoring_function(evaluator), emitter=emitter,
        metrics_function=functools.partial(default_qd_metrics, qd_offset=OFFSET),
    )
    centroids = compute_euclidean_centroids(
        (config.cells_per_dim,) * 2, minval=spec.descriptor_low, maxval=spec.descriptor_high
    )
    repertoire, emitter_state, _ = qdax.init(genomes, centroids, jax.random.PRNGKey(seed + 1000))
    qstep = jax.jit(qdax.update)

    # Compile both: two generations each, not timed, counted in the budget
    # (QDax's emitter state changes types after its first update, so its
    # second call compiles again).
    t0 = time.perf_counter()
    for g in range(WARMUP):
        ours, _ = step(ours, jax.random.fold_in(key, g))
    jax.block_until_ready(ours)
    compile_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    for g in range(WARMUP):
        repertoire, emitter_state, _ = qstep(repertoire, emitter_state, jax.random.PRNGKey(seed + 2000 + g))
    jax.block_until_ready(repertoire)
    compile_qdax = time.perf_counter() - t0

    rows, wall_ours, wall_qdax, gen = [], 0.0, 0.0, WARMUP
    qkey = jax.random.PRNGKey(seed + 3000)
    while gen < args.gens:
        chunk = min(args.log_every, args.gens - gen)
        t0 = time.perf_counter()
        for g in range(gen, gen + chunk):
            ours, metrics = step(ours, jax.random.fold_in(key, g))
        jax.block_until_ready(ours)
        wall_ours += time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(chunk):
            qkey, k = jax.random.split(qkey)
            repertoire, emitter_state, qmetrics = qstep(repertoire, emitter_state, k)
        jax.block_until_ready(repertoire)
        wall_qdax += time.perf_counter() - t0
        gen += chunk
        r = ours.me.repertoire
        q_filled = np.isfinite(np.asarray(repertoire.fitnesses)).reshape(-1)
        q_fit = np.asarray(repertoire.fitnesses).reshape(-1)
        rows.append(dict(
            seed=seed, generation=gen, evaluations=gen * config.batch_size + config.batch_size,
            ours_qd=qd_score(r.rewards, r.filled), qdax_qd=qd_score(np.where(q_filled, q_fit, 0.0), q_filled),
            ours_cov=float(np.mean(np.asarray(r.filled))), qdax_cov=float(np.mean(q_filled)),
            ours_max=float(np.max(np.where(r.filled, r.rewards, -np.inf))), qdax_max=float(np.max(q_fit)),
            ours_critic=float(metrics["critic_loss"]),
            ours_eps=(gen - WARMUP) * config.batch_size / wall_ours,
            qdax_eps=(gen - WARMUP) * config.batch_size / wall_qdax,
            compile_ours=compile_ours, compile_qdax=compile_qdax,
        ))
        print(" | ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in rows[-1].items()),
              flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gens", type=int, default=30)
    parser.add_argument("--log-every", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--cells", type=int, default=32)
    parser.add_argument("--episode", type=int, default=50)
    parser.add_argument("--critic", type=int, nargs="+", default=[64, 64])
    parser.add_argument("--critic-steps", type=int, default=30)
    parser.add_argument("--pg-steps", type=int, default=10)
    parser.add_argument("--td3-batch", type=int, default=64)
    parser.add_argument("--buffer", type=int, default=200_000)
    args = parser.parse_args()
    print(_setup.machine())
    rows = [row for seed in args.seeds for row in run_seed(seed, args)]
    print("\n| evaluations | QD-score ours | QD-score QDax | coverage ours | coverage QDax | max reward ours | max reward QDax |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for evals in sorted({r["evaluations"] for r in rows}):
        at = [r for r in rows if r["evaluations"] == evals]
        mean = lambda k: np.mean([r[k] for r in at])  # noqa: E731
        print(f"| {evals} | {mean('ours_qd'):.1f} | {mean('qdax_qd'):.1f} | {mean('ours_cov'):.3f} | "
              f"{mean('qdax_cov'):.3f} | {mean('ours_max'):.4f} | {mean('qdax_max'):.4f} |")
    last = [r for r in rows if r["generation"] == args.gens]
    mean = lambda k: np.mean([r[k] for r in last])  # noqa: E731
    print(f"\nevaluations/s after compilation (mean over seeds): ours {mean('ours_eps'):.0f}, "
          f"QDax {mean('qdax_eps'):.0f}, ratio {mean('ours_eps') / mean('qdax_eps'):.2f}; "
          f"first two generations (compile) s: ours {mean('compile_ours'):.1f}, QDax {mean('compile_qdax'):.1f}")


if __name__ == "__main__":
    main()
