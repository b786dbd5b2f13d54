#!/usr/bin/env bash
# Analyse a target log with a trained bundle: frozen templates, every detector, and in OUT_DIR (default
# inference_YYYYMMDD_HHMMSS): inference_report.md (+ .json), report.html (one self-contained page:
# timeline, records with their raw lines, heatmaps), anomalies.jsonl (ECS) and the analyses linked from
# the reports: log_samples_analysis/ (the top anomalies in context), temporal_analysis/ (hours that
# deviate from the bundle's training profile, when the log has timestamps) and, when MS-CRED flags a
# window, mscred_analysis/ (templates, heatmaps, raw lines).
# Exit status: 0 no anomaly, 1 anomalies found, 2 error (usable from cron).
# Usage: ./run_inference.sh MODEL_DIR TARGET_LOG [OUT_DIR] [alog-detect infer options...]
#   e.g. --lang ko (Korean reports), --since 2026-06-14 --until 2026-06-15, --json, -q.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
alog="$here/.venv/bin/alog-detect"; [ -x "$alog" ] || alog=alog-detect
if [ $# -lt 2 ]; then
  echo "usage: $0 MODEL_DIR TARGET_LOG [OUT_DIR] [infer options...]" >&2; exit 2
fi
model_dir="$1"; target="$2"; shift 2
# OUT_DIR may be left out before the options: `./run_inference.sh model/ app.log --lang ko`
out_dir=""
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then out_dir="$1"; shift; fi
exec "$alog" infer --model-dir "$model_dir" --input "$target" --out-dir "${out_dir:-inference_$(date +%Y%m%d_%H%M%S)}" "$@"
