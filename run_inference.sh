#!/usr/bin/env bash
# Analyse a target log with a trained bundle: frozen templates, every detector, inference_report.md,
# anomalies.jsonl and log_samples_analysis/ in OUT_DIR (default inference_YYYYMMDD_HHMMSS); when MS-CRED
# flags a window, its analysis (analyze-mscred: templates, heatmaps, raw lines) in OUT_DIR/mscred_analysis/.
# Exit status: 0 no anomaly, 1 anomalies found, 2 error (usable from cron).
# Usage: ./run_inference.sh MODEL_DIR TARGET_LOG [OUT_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
alog="$here/.venv/bin/alog-detect"; [ -x "$alog" ] || alog=alog-detect
if [ $# -lt 2 ]; then
  echo "usage: $0 MODEL_DIR TARGET_LOG [OUT_DIR]" >&2; exit 2
fi
exec "$alog" infer --model-dir "$1" --input "$2" --out-dir "${3:-inference_$(date +%Y%m%d_%H%M%S)}"
