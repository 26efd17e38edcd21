#!/usr/bin/env bash
# The comparison a user opens first (benchmarks/comparison/report.html): the
# exploration algorithms on the sparse-reward tasks, 5 seeds, 100,000
# evaluations each, produced by `divergent sweep`, `divergent compare` and
# `divergent report` only. Usage:
#     benchmarks/comparison/run.sh [OUT] [WORKERS] [TASKS]
# e.g. PYTHON=.venv/bin/python benchmarks/comparison/run.sh runs_out/arm100k 2 redundant_arm
# (~28 minutes on 2 CPU cores). The committed report is this for redundant_arm and for curling
# in two directories, then `compare` and `report` given both (benchmarks/README.md, "The
# comparison report"). With TASKS=curling,hardmaze,redundant_arm
# (the default) it is 60 runs, ~10 hours on 2 cores; on a GPU add --vmap-seeds to the sweep
# (benchmarks/README.md, "On an NVIDIA H200").
# The paper's SERENE emitters (serene-TASK-reference presets: fixed step, the
# reference stagnation rule only, one emitter at a time, no per-area cap) are a
# further sweep of serene into its own directory with
#   --set algo.emitter.sigma_rule=fixed --set algo.emitter.patience=0 \
#   --set algo.emitters_per_area=0 --set algo.emitters_per_step=1
# and CMA-NS one with --set algo.emitter.kind=cma; pass those directories to
# compare and report together with OUT.
set -euo pipefail
out=${1:-runs_out/comparison} workers=${2:-2} tasks=${3:-curling,hardmaze,redundant_arm}
divergent="${PYTHON:-python} -m runs.cli"
$divergent sweep --algos serene,ns,me,random --tasks "$tasks" --seeds 0-4 --budget 100000 -q \
    --executor processes --workers "$workers" --out "$out"
$divergent compare "$out" --out "$out/comparison"
$divergent report "$out" --replays 16 --out "$out/report.html"  # 16 replays a run, as the committed page
