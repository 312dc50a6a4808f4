#!/usr/bin/env bash
# The seed recipe on a CUDA GPU: d2l-resnet18, Fashion-MNIST at 96x96, batch 256, 10 epochs, SGD lr 0.05.
# Same code as on CPU: the dataset is held on the GPU as uint8, batches are prepared there, bf16 autocast
# (precision: auto picks it on GPUs that support it), channels_last, cudnn.benchmark.
# Usage: benchmarks/gpu_seed_recipe.sh [DATA_DIR] [extra `archspec train` arguments, e.g. --set precision=fp16]
# Prints the test accuracy and the wall time. Needs the full Fashion-MNIST IDX files (see docs/training.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA_DIR=${1:-}
shift || true
data_args=()
if [[ -n "$DATA_DIR" ]]; then data_args=(--data-dir "$DATA_DIR"); fi
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device visible to torch")'
"$PY" -c 'import torch; print("device:", torch.cuda.get_device_name(0), "| torch", torch.__version__)'
out="runs/gpu-seed-recipe-$(date +%Y%m%d-%H%M%S)"
start=$(date +%s.%N)
"$PY" -m archspec train d2l-resnet18 --recipe d2l --device cuda --quiet --out "$out" "${data_args[@]}" "$@"
end=$(date +%s.%N)
"$PY" - "$out" "$start" "$end" <<'PYEOF'
import json, sys
rows = [json.loads(line) for line in open(f"{sys.argv[1]}/metrics.jsonl")]
wall = float(sys.argv[3]) - float(sys.argv[2])
print(f"test acc {rows[-1]['test_acc']:.4f} after {len(rows)} epochs; wall {wall:.1f} s (process start to end)")
PYEOF
