#!/usr/bin/env bash
# The UNet track's short GPU check: trains four UNet sizes on the stand-in images, measures
# gamma, runs EM vs ML-EM vs stitch, writes report.md and figures to OUT (default gpu-check/).
# Needs a Python with the project's dependencies and a CUDA build of torch (PYTHON, default
# python3); installs nothing. Budget: 9 minutes on one H200-class GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${1:-${OUT:-gpu-check}}
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: torch sees no CUDA device')"
start=$(date +%s)
PYTHONPATH=. timeout 540 "$PY" -m mlem_bench.cli unet all problems/unet/gpu-check.toml --out "$OUT" --device cuda
echo "gpu_check: done in $(( $(date +%s) - start )) s; report in $OUT/report.md"
