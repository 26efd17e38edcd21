"""Wall time of one small sweep: the local executor (one run after the
other) against the processes executor (--workers processes at once).

    python benchmarks/sweep_executors.py    # --algo ns --task curling --runs 8 --budget 5000 --workers 2 --repeats 2

Each sweep is a real `divergent sweep ... --quiet` process (seeds 0..runs-1)
in a fresh sweep directory; the wall time includes starting Python, JAX and
the workers. The persistent compile cache (a temporary folder) is warmed
first by one untimed single-run sweep, so every timed sweep loads its
programs from it, as a user's second sweep would. Executors are timed
interleaved (local, processes, local, ...) to share the machine's load
alike. Every sweep's archives are compared with the first local sweep's:
the executors must give the same runs, bit for bit.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def sweep(out: Path, args, seeds: str, executor: str, env: dict) -> float:
    command = [sys.executable, "-m", "runs.cli", "sweep", "--algos", args.algo, "--tasks", args.task,
               "--seeds", seeds, "--budget", str(args.budget), "--out", str(out), "--quiet",
               "--executor", executor]
    if executor == "processes":
        command += ["--workers", str(args.workers)]
    began = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - began


def archives(out: Path) -> dict:
    return {p.parent.name: dict(np.load(p)) for p in sorted(out.glob("*/archive.npz"))}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[r].keys() == b[r].keys() and all(np.array_equal(a[r][k], b[r][k]) for k in a[r]) for r in a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", default="ns")
    parser.add_argument("--task", default="curling")
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--budget", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sweep-bench-") as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, DIVERGENT_JAX_CACHE=str(tmp / "cache"), PYTHONPATH=str(ROOT))
        sweep(tmp / "warm", args, "0", "local", env)
        seeds = f"0-{args.runs - 1}"
        times = {"local": [], "processes": []}
        reference = None
        for repeat in range(args.repeats):
            for executor in times:
                out = tmp / f"{executor}-{repeat}"
                times[executor].append(sweep(out, args, seeds, executor, env))
                found = archives(out)
                reference = reference or found
                assert len(found) == args.runs and same(found, reference), f"{out}: runs differ from local"
    local = min(times["local"])
    print(f"{args.runs} runs of {args.algo} on {args.task}, budget {args.budget:,} each; "
          f"{os.cpu_count()} CPUs; load average (1 min) at the end: {os.getloadavg()[0]:.1f}\n")
    print("| executor | wall time, s (each repeat) | best | runs/min | speed-up |")
    print("| --- | --- | ---: | ---: | ---: |")
    for executor, values in times.items():
        name = executor if executor == "local" else f"processes --workers {args.workers}"
        best = min(values)
        print(f"| {name} | {', '.join(f'{v:.1f}' for v in values)} | {best:.1f} | {60 * args.runs / best:.1f} "
              f"| {local / best:.2f}x |")
    print("\nAll archives identical to the local sweep's: yes")


if __name__ == "__main__":
    main()
