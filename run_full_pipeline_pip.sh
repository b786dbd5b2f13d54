#!/usr/bin/env bash
# The main job on demo data: set up .venv if needed, generate a synthetic log (unless LOG is given),
# and parse it. Usage: ./run_full_pipeline_pip.sh [LOG] [OUT_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
"$here/scripts/setup_env.sh"
alog() { "$here/.venv/bin/alog-detect" "$@"; }
out="${2:-demo_output}"
mkdir -p "$out"
log="${1:-}"
if [ -z "$log" ]; then
  log="$out/synthetic.log"
  alog gen-synth --out "$log" --lines 20000 --anomaly-rate 0.02 --seed 42
fi
alog parse --input "$log" --out-dir "$out/parsed" --drain-state "$out/drain3_state.json"
echo "Outputs: $out/parsed/parsed.parquet, $out/parsed/parse_summary.json, $out/drain3_state.json"
