#!/usr/bin/env bash
# Issue 9's GPU figures in one short run, for a machine with a GPU (a brief loan is enough): WebGPU
# (Dawn on the real adapter) against the emitted PyTorch package on CUDA, on the quickstart shape and
# on ViT-S/16 at 224 px; the per-kernel WebGPU bench; the PyTorch allocation bench on CUDA. Needs the
# built CLI (npm ci, npm run build) and python3 with a CUDA build of torch. Everything it prints also
# goes to $OUT (default bench-gpu/), one file per part, for docs/benchmarks.md.
#   bash bench/gpu.sh [STEPS]        (STEPS: timed steps per measurement, default 10)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-gpu}
STEPS=${1:-10}
mkdir -p "$OUT"
spec=$(mktemp -d)/vit_s16_shape.attn
cat > "$spec" <<'SPEC'
model vit_s16_shape {
  image 224 x 224 x 3  patch 16  dim 384  depth 12  mlp 4x  classes 100
  attention { heads 6  kv_heads 3 }
}
train vit_s16_shape_run {
  model vit_s16_shape
  data  synthetic(train: 64, test: 64)
  batch 64  seed 1
  optimizer adamw(lr: 1e-3, weight_decay: 0.05)
}
SPEC
part() { # NAME COMMAND...: runs it, keeps its output, and goes on when it fails
  local name=$1; shift
  echo "== $name: $*"
  "$@" 2>&1 | tee "$OUT/$name.txt"
  echo "(exit ${PIPESTATUS[0]})" | tee -a "$OUT/$name.txt"
}
part doctor node bin/attnc.js doctor
part nvidia-smi nvidia-smi
part quickstart node bin/attnc.js bench specs/quickstart.attn --backend webgpu --peer-device cuda --steps "$STEPS" --rounds 2
part vit_s16 node bin/attnc.js bench "$spec" --backend webgpu --peer-device cuda --steps "$STEPS" --rounds 2
part webgpu-kernels node bench/webgpu.js
part torch-alloc env DEVICE=cuda python3 bench/torch_alloc.py
echo "wrote $OUT/"
