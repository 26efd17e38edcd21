"""Env-steps/s of our Brax tasks against Brax's own `ant`, in one process.

    python benchmarks/brax_tasks.py [--backends spring] [--batch 128] [--steps 100] [--repeats 3]

For each backend, the same batch of episodes of the same length through:

- `brax ant + MLP`: `brax.envs.get_environment("ant")` stepped in a jitted
  vmap(scan) by QDax's MLP policy, summing the reward (what QDax's scoring
  function does), no wrapper of ours;
- `ant_omni`: our task (same physics, same policy) through `tasks.rollout`:
  the ratio to the line above is what our wrapper costs;
- `brax ant + ref`: as the first line with the reference 27-10-10-10-8 controller;
- `maze pipeline + ref`: the antmaze system (ant + walls) stepped by Brax's
  `PipelineEnv` in the same kind of scan, no wrapper: the physics of the maze;
- `antmaze`: our task through `tasks.rollout` (reference 29-10-10-10-8
  controller); its ratio to the line above is the wrapper's cost, its ratio
  to `brax ant + ref` the walls' cost.

Timings are the best of `--repeats` after a compile, configurations
interleaved so a busy machine slows all alike; besides wall time, the
process's CPU time (all XLA threads) per run is reported, which a machine
shared with other jobs distorts less.
"""
import argparse
import time

import _setup  # noqa: F401  (must come before jax)
import jax
import jax.numpy as jnp

import tasks
from tasks.antmaze import AntMaze
from tasks.policies import ReferenceController


def brax_scan(env, policy, steps: int, init):
    """Jitted batch of `steps`-step episodes of a Brax env (or a pipeline via `init`)."""

    def episode(genome, key):
        state = init(key)

        def body(carry, _):
            state, total = carry
            state = env.step(state, policy.apply(genome, state.obs))
            return (state, total + state.reward), None

        (state, total), _ = jax.lax.scan(body, (state, jnp.float32(0.0)), None, steps)
        return state.pipeline_state.x.pos[0, :2], total

    return jax.jit(lambda genomes, key: jax.vmap(episode)(genomes, jax.random.split(key, genomes.shape[0])))


class _MazePipeline:
    """The antmaze's physics as a bare env: obs = q, qd; no reward, no clipping."""

    def __init__(self, task: AntMaze):
        self.task = task

    def reset(self, key):
        from brax.envs.base import State

        ps = self.task.init_physics(key)
        return State(ps, jnp.concatenate([ps.q, ps.qd]), jnp.float32(0.0), jnp.float32(0.0))

    def step(self, state, action):
        ps = self.task._env.pipeline_step(state.pipeline_state, action)
        return state.replace(pipeline_state=ps, obs=jnp.concatenate([ps.q, ps.qd]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["spring"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", nargs="+", default=None, help="run only these rows (by label)")
    args = parser.parse_args()
    import brax.envs

    print(f"machine: {_setup.machine()}; batch {args.batch}, {args.steps} steps per episode")
    key = jax.random.PRNGKey(1)
    for backend in args.backends:
        omni = tasks.make("ant_omni", backend=backend, episode_length=args.steps)
        maze = tasks.make("antmaze", backend=backend, episode_length=args.steps)
        ant = brax.envs.get_environment("ant", backend=backend, reset_noise_scale=0.0)
        ref27 = ReferenceController((27, 10, 10, 10, 8))
        mlp, ref29 = omni.default_policy(), maze.default_policy()
        g = lambda p: p.init_genomes(jax.random.PRNGKey(0), args.batch)  # noqa: E731
        pipe = _MazePipeline(maze)
        rows = {
            "brax ant + MLP": (brax_scan(ant, mlp, args.steps, ant.reset), g(mlp)),
            "ant_omni": (lambda x, k: tasks.rollout(omni, x, k), g(mlp)),
            "brax ant + ref": (brax_scan(ant, ref27, args.steps, ant.reset), g(ref27)),
            "maze pipeline + ref": (brax_scan(pipe, ref29, args.steps, pipe.reset), g(ref29)),
            "antmaze": (lambda x, k: tasks.rollout(maze, x, k), g(ref29)),
        }
        if args.only:
            rows = {k: v for k, v in rows.items() if k in args.only}
        best, cpu = {}, {}
        for label, (fn, genomes) in rows.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(genomes, key))
            print(f"  [{backend}] compiled {label} in {time.perf_counter() - start:.0f} s", flush=True)
            best[label] = cpu[label] = float("inf")
        for _ in range(args.repeats):
            for label, (fn, genomes) in rows.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                jax.block_until_ready(fn(genomes, key))
                best[label] = min(best[label], time.perf_counter() - start)
                cpu[label] = min(cpu[label], time.process_time() - start_cpu)
        steps = args.batch * args.steps
        print(f"{'backend':<12}{'configuration':<22}{'env-steps/s':>13}{'env-steps/cpu-s':>17}")
        for label in best:
            print(f"{backend:<12}{label:<22}{steps / best[label]:>13,.0f}{steps / cpu[label]:>17,.0f}")
        for a, b in (("ant_omni", "brax ant + MLP"), ("antmaze", "maze pipeline + ref"),
                     ("antmaze", "brax ant + ref")):
            if a in best and b in best:
                print(f"{backend:<12}ratio {a} / {b}: {best[b] / best[a]:.2f} (wall), {cpu[b] / cpu[a]:.2f} (cpu)")

if __name__ == "__main__":
    main()
