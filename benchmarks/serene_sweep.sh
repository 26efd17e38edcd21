#!/usr/bin/env bash
# SERENE's exploitation against novelty search at equal budget (issue 16), with
# `divergent sweep` + `divergent compare`. Usage:
#     benchmarks/serene_sweep.sh TASK BUDGET SEEDS [OUT]
# e.g. PYTHON=.venv/bin/python benchmarks/serene_sweep.sh curling 30000 0-2 runs_out/serene-exploit
# Runs NS and the default SERENE in OUT/TASK, SERENE with the paper's settings
# (the serene-TASK-reference preset, but 8 emitters stepped together instead of 1,
# to fit a CPU; see benchmarks/README.md) in OUT/TASK-reference, then compares them.
set -euo pipefail
task=$1 budget=$2 seeds=$3 out=${4:-runs_out/serene-exploit}
divergent="${PYTHON:-python} -m runs.cli"
$divergent sweep -q --algos ns,serene --tasks "$task" --seeds "$seeds" --budget "$budget" --out "$out/$task"
$divergent sweep -q --algos serene --tasks "$task" --seeds "$seeds" --budget "$budget" --out "$out/$task-reference" \
    --set algo.emitter.sigma_rule=fixed --set algo.emitter.patience=0 --set algo.emitters_per_area=0
$divergent compare "$out/$task" "$out/$task-reference" --out "$out/$task-comparison"
