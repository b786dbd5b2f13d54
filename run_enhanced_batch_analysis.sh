#!/usr/bin/env bash
# run_batch_analysis.sh plus comparative statistics of TARGET against the baseline (templates only in
# the target, frequency ratios target vs baseline) in OUT/inference/comparative_analysis.{md,json}.
# OUT defaults to enhanced_batch_YYYYMMDD_HHMMSS. Exit status as run_inference.sh.
# Usage: ./run_enhanced_batch_analysis.sh LOG_DIR TARGET [OUT [batch-analysis options, e.g. --epochs 20]]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
alog="$here/.venv/bin/alog-detect"; [ -x "$alog" ] || alog=alog-detect
if [ $# -lt 2 ]; then
  echo "usage: $0 LOG_DIR TARGET [OUT [batch-analysis options]]" >&2; exit 2
fi
exec "$alog" batch-analysis --enhanced --log-dir "$1" --target "$2" \
  --out-dir "${3:-enhanced_batch_$(date +%Y%m%d_%H%M%S)}" "${@:4}"
