"""Our PPO and SAC against brax's own trainers on a dense brax task, at
equal environment steps, in one process.

    python benchmarks/rl_parity.py --algorithm ppo --env halfcheetah --backend spring \
        --episode-length 1000 --num-envs 64 --generations 6 --seeds 3
    python benchmarks/rl_parity.py --algorithm sac --env halfcheetah --backend spring \
        --episode-length 1000 --num-envs 16 --generations 6 --seeds 3

Ours (`qd.algorithms.rl.{ppo,sac}.train_episodes`, what a `divergent run
ppo|sac` generation runs) spends `generations x num_envs x episode_length`
environment steps; brax's `agents.ppo.train` / `agents.sac.train` gets the
same `num_timesteps`, the same networks (brax's, same widths), the same
hyperparameters (`--set FIELD=VALUE`, our config's names, which are
brax's) and the same environment (`brax.envs.get_environment`). PPO:
brax's batch_size x num_minibatches = num_envs, one unroll per training
step, as ours. SAC: brax prefills `min_replay_size` transitions with the
initial policy; ours collects them without updating.

Return: both final policies are rolled out by the same code
(`qd.algorithms.rl.episodes`) for `--eval-episodes` episodes, deterministic
(the mean action), and the mean episode return is reported, mean +- std
over seeds. Speed: environment steps per second of training, by wall time
and by the process's CPU time (steadier on a shared machine), compilation
excluded (ours: the generations after the first; brax's: its
'training/sps' of the last of its four training epochs: the first ones
compile). Choose `--generations` a multiple of 4 and `episode_length` a
multiple of 4 x unroll_length, so brax's epochs split the steps exactly.
"""
import argparse
import contextlib
import functools
import io
import time

import _setup  # noqa: F401  (must come before jax)
import jax
import jax.numpy as jnp
import numpy as np
import yaml

with contextlib.redirect_stdout(io.StringIO()):
    from brax import envs
from brax.training.agents.ppo import networks as ppo_networks
from brax.training.agents.ppo import train as ppo_train
from brax.training.agents.sac import networks as sac_networks
from brax.training.agents.sac import train as sac_train

from qd.algorithms.rl import episodes, ppo, sac
from runs.typed import from_plain


def evaluate(env, episode_length: int, act, n: int, key) -> float:
    """Mean return of `n` episodes of `act` (observations, key -> actions)."""
    state = episodes.reset(env, key, n)
    actor = lambda obs, k: (act(obs, k), {})
    state, _, _ = jax.jit(
        lambda s, k: episodes.unroll(env, s, actor, k, episode_length, episode_length)
    )(state, jax.random.fold_in(key, 1))
    return float(jnp.mean(state.returns))


def ours(name, config, env, episode_length, generations, seed, eval_episodes):
    module = ppo if name == "ppo" else sac
    obs, act = int(env.observation_size), int(env.action_size)
    learner = module.init_learner(config, obs, act, jax.random.PRNGKey(seed))
    train = jax.jit(functools.partial(module.train_episodes, config, env, episode_length))
    times, cpu = [], []
    for g in range(generations):
        start, start_cpu = time.perf_counter(), time.process_time()
        learner, state, _, _ = train(learner, jax.random.fold_in(jax.random.PRNGKey(seed + 1000), g))
        jax.block_until_ready(state.returns)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    steps_per_generation = config.num_envs * episode_length
    sps = steps_per_generation * (generations - 1) / sum(times[1:])
    cpu_sps = steps_per_generation * (generations - 1) / sum(cpu[1:])
    policy = module.actor(config, learner, obs, act, deterministic=True)
    ret = evaluate(env, episode_length, lambda o, k: policy(o, k)[0], eval_episodes, jax.random.PRNGKey(77))
    return ret, sps, cpu_sps, int(learner.env_steps)


def theirs(name, config, env, episode_length, generations, seed, eval_episodes):
    steps = generations * config.num_envs * episode_length
    seen = []
    progress = lambda step, metrics: seen.append((step, time.process_time(), metrics))
    common = dict(
        environment=env, num_timesteps=steps, episode_length=episode_length, num_envs=config.num_envs,
        learning_rate=config.learning_rate, discounting=config.discounting, reward_scaling=config.reward_scaling,
        normalize_observations=config.normalize_observations, seed=seed, num_evals=5, progress_fn=progress,
    )
    if name == "ppo":
        make_policy, params, _ = ppo_train.train(
            **common, unroll_length=config.unroll_length, batch_size=config.num_envs // config.num_minibatches,
            num_minibatches=config.num_minibatches, num_updates_per_batch=config.num_updates_per_batch,
            entropy_cost=config.entropy_cost, gae_lambda=config.gae_lambda,
            clipping_epsilon=config.clipping_epsilon, normalize_advantage=config.normalize_advantage,
            max_grad_norm=config.max_grad_norm or None, run_evals=False,
            network_factory=functools.partial(
                ppo_networks.make_ppo_networks, policy_hidden_layer_sizes=config.policy_hidden,
                value_hidden_layer_sizes=config.value_hidden,
            ),
        )
    else:
        make_policy, params, _ = sac_train.train(
            **common, batch_size=config.batch_size, grad_updates_per_step=config.grad_updates_per_step,
            tau=config.tau, min_replay_size=config.min_replay_size, max_replay_size=config.max_replay_size,
            num_eval_envs=config.num_envs,
            network_factory=functools.partial(sac_networks.make_sac_networks, hidden_layer_sizes=config.hidden),
        )
    policy = make_policy(params, deterministic=True)
    ret = evaluate(env, episode_length, lambda o, k: policy(o, k)[0], eval_episodes, jax.random.PRNGKey(77))
    (s0, c0, _), (s1, c1, last) = seen[-2], seen[-1]
    return ret, float(last["training/sps"]), (s1 - s0) / (c1 - c0), steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", choices=("ppo", "sac"), default="ppo")
    parser.add_argument("--env", default="halfcheetah")
    parser.add_argument("--backend", default="spring")
    parser.add_argument("--episode-length", type=int, default=1000)
    parser.add_argument("--num-envs", type=int, default=None)
    parser.add_argument("--generations", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--eval-episodes", type=int, default=16)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    fields = {k: yaml.safe_load(v) for k, _, v in (s.partition("=") for s in args.set)}
    if args.num_envs:
        fields["num_envs"] = args.num_envs
    cls = ppo.PPOConfig if args.algorithm == "ppo" else sac.SACConfig
    config = from_plain(cls, fields, args.algorithm)
    with contextlib.redirect_stdout(io.StringIO()):
        env = envs.get_environment(args.env, backend=args.backend)
    steps = args.generations * config.num_envs * args.episode_length
    print(f"machine: {_setup.machine()}; {args.algorithm} on {args.env} ({args.backend}), episode "
          f"{args.episode_length}, {steps:,} env steps per run, {args.seeds} seeds; {config}")
    rows = {"ours": [], "brax": []}
    for seed in range(args.seeds):
        for who, fn in (("ours", ours), ("brax", theirs)):
            start = time.perf_counter()
            ret, sps, cpu_sps, done = fn(args.algorithm, config, env, args.episode_length, args.generations,
                                         seed, args.eval_episodes)
            rows[who].append((ret, sps, cpu_sps))
            print(f"  seed {seed} {who}: return {ret:.1f}, {sps:,.0f} env steps/s ({cpu_sps:,.0f} per CPU "
                  f"second), {done:,} steps, "
                  f"{time.perf_counter() - start:.0f}s wall", flush=True)
    print("\n| implementation | return (mean +- std over seeds) | env steps/s (median) | env steps per CPU second "
          "(median) |\n|---|---|---|---|")
    for who, rs in rows.items():
        r = np.array(rs)
        print(f"| {who} | {r[:, 0].mean():.1f} +- {r[:, 0].std():.1f} | {np.median(r[:, 1]):,.0f} | "
              f"{np.median(r[:, 2]):,.0f} |")
    for i, what in ((1, "wall"), (2, "CPU time")):
        ratios = [a[i] / b[i] for a, b in zip(rows["ours"], rows["brax"])]
        print(f"speed ours / brax by {what}, per seed: {', '.join(f'{x:.2f}' for x in ratios)}; "
              f"median {np.median(ratios):.2f}")


if __name__ == "__main__":
    main()
