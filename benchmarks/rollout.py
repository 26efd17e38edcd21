"""Raw rollout throughput of each task: evaluations/s and env-steps/s.

    python benchmarks/rollout.py [--tasks hardmaze curling redundant_arm] [--batches 100 1000]

Each configuration runs full episodes of random reference-controller genomes,
on one device and with the batch sharded over all devices.
"""
import argparse

import _setup  # noqa: F401  (must come before jax)
import jax

import tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", nargs="+", default=["hardmaze", "curling", "redundant_arm"])
    parser.add_argument("--batches", nargs="+", type=int, default=[200, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    devices = jax.devices()
    print(f"machine: {_setup.machine()}")
    print(f"{'task':<15}{'batch':>7}{'devices':>9}{'evals/s':>12}{'env-steps/s':>14}")
    for name in args.tasks:
        task = tasks.make(name)
        for batch in args.batches:
            genomes = task.default_policy().init_genomes(jax.random.PRNGKey(0), batch)
            for devs in ([devices[0]], devices) if len(devices) > 1 else ([devices[0]],):
                seconds = _setup.timed(
                    lambda g: tasks.rollout(task, g, jax.random.PRNGKey(1), devices=devs),
                    genomes,
                    repeats=args.repeats,
                )
                evals = batch / seconds
                print(
                    f"{name:<15}{batch:>7}{len(devs):>9}{evals:>12,.0f}"
                    f"{evals * task.episode_length:>14,.0f}"
                )


if __name__ == "__main__":
    main()
