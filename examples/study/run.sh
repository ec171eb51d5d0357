#!/usr/bin/env bash
# Runs the study's experiments in order (docs/results/README.md), each resumable: run this again after an
# interruption and every finished run is skipped. Runs shared between experiments (the GQA baseline,
# KDGQA, DGQA-EMA with a 300-step window, PGQA at scale 1) are trained once, by the variants
# experiment, and linked into the others' folders (docs/experiments.md, "Experiments of one study share runs").
#   bash examples/study/run.sh [BACKEND] [OUT]       # defaults: native, runs/study
set -euo pipefail
cd "$(dirname "$0")/../.."
backend="${1:-native}"
out="${2:-runs/study}"
attnc=(node bin/attnc.js)

experiment() { # NAME SHARED_MODEL...
  local name="$1"; shift
  mkdir -p "$out/$name"
  for model in "$@"; do
    [ -e "$out/$name/$model" ] || ln -s "../variants/$model" "$out/$name/$model"
  done
  "${attnc[@]}" experiment "examples/study/$name.attn" --backend "$backend" --out "$out/$name" --resume --quiet
}

experiment variants
experiment groups
experiment statistic gqa kdgqa
experiment statistic_grad gqa kdgqa
experiment window gqa dgqa_ema
experiment uptraining
experiment difficulty
experiment noise gqa pgqa
experiment size
