#!/usr/bin/env bash
# Use the other files of LOG_DIR (recursively) as the normal baseline for TARGET: train a bundle on
# them (OUT/model) and analyse TARGET with it (OUT/inference). OUT defaults to batch_YYYYMMDD_HHMMSS.
# Exit status as run_inference.sh.
# Usage: ./run_batch_analysis.sh LOG_DIR TARGET [OUT [batch-analysis options, e.g. --epochs 20]]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
alog="$here/.venv/bin/alog-detect"; [ -x "$alog" ] || alog=alog-detect
if [ $# -lt 2 ]; then
  echo "usage: $0 LOG_DIR TARGET [OUT [batch-analysis options]]" >&2; exit 2
fi
exec "$alog" batch-analysis --log-dir "$1" --target "$2" --out-dir "${3:-batch_$(date +%Y%m%d_%H%M%S)}" "${@:4}"
