#!/usr/bin/env bash
# Demo of the enhanced batch analysis on generated data: a folder of host logs (three normal hosts,
# each with its own seed, plus one target with injected anomalies) -> ./run_enhanced_batch_analysis.sh
# trains on the normal hosts and analyses the target -> the report path and its first lines.
# A small model (3 epochs, 32 hidden units) keeps it under a minute.
# Usage: ./demo_enhanced_batch.sh [OUT_DIR]   (default demo_enhanced_batch; OUT_DIR/batch must not exist)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ -x "$here/.venv/bin/alog-detect" ] || "$here/scripts/setup_env.sh"
alog="$here/.venv/bin/alog-detect"
out="${1:-demo_enhanced_batch}"
if [ -e "$out/batch" ]; then
  echo "$out/batch already exists (batch-analysis never overwrites a bundle): choose another OUT_DIR" >&2
  exit 2
fi
mkdir -p "$out/logs" "$out/labels"
for seed in 11 12 13; do
  "$alog" gen-synth --out "$out/logs/host$seed.log" --lines 4000 --anomaly-rate 0 --seed "$seed" >/dev/null
done
"$alog" gen-synth --out "$out/logs/target.log" --lines 3000 --anomaly-rate 0.03 --seed 99 >/dev/null
# The labels are not logs: keep them out of the folder whose other files are the baseline.
mv "$out"/logs/*.labels.parquet "$out/labels/"
# Exit status 1 = anomalies found: the expected outcome here, not a failure.
status=0
"$here/run_enhanced_batch_analysis.sh" "$out/logs" "$out/logs/target.log" "$out/batch" \
  --epochs 3 --hidden 32 --layers 1 || status=$?
[ "$status" -le 1 ] || exit "$status"
report="$out/batch/inference/inference_report.md"
echo
echo "Report: $report"
echo "Target against its baseline: $out/batch/inference/comparative_analysis.md"
echo "Truth of the generated target: $out/labels/target.log.labels.parquet"
echo "---- first lines of the report ----"
head -n 30 "$report"
