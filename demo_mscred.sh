#!/usr/bin/env bash
# Demo of MS-CRED on generated data: a normal log and a suspicious one holding error storms and
# correlation breaks (service runs that start and never finish: templates that always move together
# come apart, with no new message) -> parse -> per-template counts in 50-line windows -> a small
# MS-CRED trained on the normal log -> inference on the suspicious log -> `alog-detect analyze-mscred`
# (per anomalous window: the templates most responsible, a residual heatmap, the raw lines).
# A small network (4-32 channels, 100 optimiser steps) keeps it under a minute; mscred-train's
# defaults make real ones.
# Usage: ./demo_mscred.sh [OUT_DIR]   (OUT_DIR defaults to demo_mscred)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
[ -x "$here/.venv/bin/alog-detect" ] || "$here/scripts/setup_env.sh"
alog="$here/.venv/bin/alog-detect"
out="${1:-demo_mscred}"
mkdir -p "$out"
"$alog" gen-synth --out "$out/normal.log" --lines 8000 --anomaly-rate 0 --seed 1 >/dev/null
"$alog" gen-synth --out "$out/suspicious.log" --lines 4000 --anomaly-rate 0.04 --seed 2 \
  --anomaly-types error_storm,correlation_break
"$alog" parse --input "$out/normal.log" --out-dir "$out/train" --drain-state "$out/drain3_state.json" --quiet \
  >/dev/null
"$alog" parse --input "$out/suspicious.log" --out-dir "$out/target" --drain-state "$out/drain3_state.json" \
  --frozen --quiet >/dev/null
"$alog" build-mscred --parsed "$out/train/parsed.parquet" --out-dir "$out/train" >/dev/null
"$alog" build-mscred --parsed "$out/target/parsed.parquet" --out-dir "$out/target" \
  --vocab "$out/train/vocab.json" >/dev/null
"$alog" mscred-train --window-counts "$out/train/window_counts.parquet" --out "$out/mscred.pth" \
  --epochs 2 --channels 4,8,16,32 --batch-size 16 --quiet
"$alog" mscred-infer --window-counts "$out/target/window_counts.parquet" --model "$out/mscred.pth" \
  --out-dir "$out/target"
"$alog" analyze-mscred --data-dir "$out/target" --output-dir "$out/target/mscred_analysis" --max-windows 10
report="$out/target/mscred_analysis/mscred_report.md"
echo
echo "MS-CRED report: $report"
echo "Heatmaps: $out/target/mscred_analysis/heatmaps/"
echo "Truth of the generated log: $out/suspicious.log.labels.parquet"
