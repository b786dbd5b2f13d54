#!/usr/bin/env bash
# The main job, end to end: set up .venv if needed; without LOG, generate a synthetic normal training
# log and a separate test log with injected anomalies; train a bundle; analyse the test log (or LOG
# itself when given); print the report path.
# Usage: ./run_full_pipeline_pip.sh [LOG] [OUT_DIR]   (OUT_DIR defaults to demo_output)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/scripts/setup_env.sh"
alog="$here/.venv/bin/alog-detect"
out="${2:-demo_output}"
mkdir -p "$out"
if [ -n "${1:-}" ]; then
  train="$1"; target="$1"
else
  train="$out/normal.log"; target="$out/test.log"
  "$alog" gen-synth --out "$train" --lines 20000 --anomaly-rate 0 --seed 1
  "$alog" gen-synth --out "$target" --lines 20000 --anomaly-rate 0.02 --seed 2
fi
"$alog" train --input "$train" --model-dir "$out/model" --overwrite
# infer exits 1 when it finds anomalies: that is the expected outcome here, not a failure.
status=0
"$alog" infer --model-dir "$out/model" --input "$target" --out-dir "$out/inference" || status=$?
[ "$status" -le 1 ] || exit "$status"
echo "Report: $out/inference/inference_report.md"
echo "Open in a browser: $out/inference/report.html"
