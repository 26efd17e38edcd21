#!/usr/bin/env bash
# The comparison a user opens first (benchmarks/comparison/report.html): every
# exploration algorithm on the three sparse-reward tasks, 5 seeds, 100,000
# evaluations, produced by `divergent sweep`, `divergent compare` and
# `divergent report` only. Usage:
#     benchmarks/comparison/run.sh [OUT] [WORKERS]
# e.g. PYTHON=.venv/bin/python benchmarks/comparison/run.sh runs_out/comparison 2
# Three sweeps, since a sweep runs each algorithm with one configuration:
#   OUT/main       ns, serene (default), me, random
#   OUT/cma        serene with CMA-ES emitters (CMA-NS)
#   OUT/reference  serene exactly as the paper (the serene-TASK-reference presets'
#                  emitter settings: fixed step, reference stagnation rule only,
#                  one emitter at a time, no per-area cap)
# then one comparison and one report over all three.
set -euo pipefail
out=${1:-runs_out/comparison} workers=${2:-2}
divergent="${PYTHON:-python} -m runs.cli"
common=(--tasks curling,hardmaze,redundant_arm --seeds 0-4 --budget 100000 -q
        --executor processes --workers "$workers")
$divergent sweep --algos ns,serene,me,random "${common[@]}" --out "$out/main"
$divergent sweep --algos serene "${common[@]}" --out "$out/cma" --set algo.emitter.kind=cma
$divergent sweep --algos serene "${common[@]}" --out "$out/reference" \
    --set algo.emitter.sigma_rule=fixed --set algo.emitter.patience=0 \
    --set algo.emitters_per_area=0 --set algo.emitters_per_step=1
$divergent compare "$out/main" "$out/cma" "$out/reference" --out "$out/comparison"
$divergent report "$out/main" "$out/cma" "$out/reference" --out "$out/report.html"
