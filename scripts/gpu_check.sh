#!/usr/bin/env bash
# The UNet track's short GPU check: trains four UNet sizes on the stand-in images, measures
# gamma, runs EM vs ML-EM vs stitch, writes report.md and figures to OUT (default gpu-check/).
#
#   scripts/gpu_check.sh [--toy] [OUT]
#
# --toy runs the tiny test spec on the CPU instead (about a minute), so the script is
# exercised by the test suite where no GPU is. COMPILE=1 adds --compile (torch.compile).
# Needs a Python with the project's dependencies (PYTHON, default python3; on a GPU a CUDA
# build of torch); installs nothing. Budget: about 5 minutes on one H200-class GPU at an
# assumed 25 TFLOP/s effective, 8 at half that (the arithmetic is in the spec's comment);
# stopped at 9 minutes. A stopped run resumes: rerun the same command with the same OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [[ "${1:-}" == "--toy" ]]; then
    shift
    SPEC=tests/data/tiny-unet.toml DEVICE=cpu LIMIT=600
else
    SPEC=mlem_bench/suite/unet/gpu-check.toml DEVICE=cuda LIMIT=540
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: torch sees no CUDA device (--toy runs on the CPU)')"
fi
OUT=${1:-${OUT:-gpu-check}}
EXTRA=()
[[ "${COMPILE:-0}" == 1 ]] && EXTRA+=(--compile)
start=$(date +%s)
PYTHONPATH=. timeout "$LIMIT" "$PY" -m mlem_bench.cli unet all "$SPEC" --out "$OUT" --device "$DEVICE" "${EXTRA[@]}"
echo "gpu_check: done in $(( $(date +%s) - start )) s; report in $OUT/report.md"
