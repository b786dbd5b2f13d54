#!/usr/bin/env bash
# Demo of the log samples analysis on generated data: a normal log and a suspicious one (injected
# anomalies) -> a small bundle trained on the normal log -> inference on the suspicious log ->
# `alog-detect analyze-samples` (each top anomaly's raw lines in context, and why it was flagged) ->
# the samples report path and its first lines.
# A small model (3 epochs, 32 hidden units) keeps it under a minute; train_models.sh makes real ones.
# Usage: ./demo_log_samples.sh [OUT_DIR]   (OUT_DIR defaults to demo_log_samples)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ -x "$here/.venv/bin/alog-detect" ] || "$here/scripts/setup_env.sh"
alog="$here/.venv/bin/alog-detect"
out="${1:-demo_log_samples}"
mkdir -p "$out"
"$alog" gen-synth --out "$out/normal.log" --lines 20000 --anomaly-rate 0 --seed 1 >/dev/null
"$alog" gen-synth --out "$out/suspicious.log" --lines 5000 --anomaly-rate 0.03 --seed 2 >/dev/null
"$alog" train --input "$out/normal.log" --model-dir "$out/model" --overwrite --epochs 3 --hidden 32 \
  --layers 1 --quiet
# Exit status 1 = anomalies found: the expected outcome here, not a failure.
status=0
"$alog" infer --model-dir "$out/model" --input "$out/suspicious.log" --out-dir "$out/inference" --quiet \
  || status=$?
[ "$status" -le 1 ] || exit "$status"
"$alog" analyze-samples --processed-dir "$out/inference" --max-samples 5 --context-lines 3
samples="$out/inference/log_samples_analysis/anomaly_analysis_report.md"
echo
echo "Samples report: $samples"
echo "Truth of the generated log: $out/suspicious.log.labels.parquet"
echo "---- first lines of the samples report ----"
head -n 40 "$samples"
