#!/usr/bin/env bash
# Train a model bundle on normal logs: parse with fresh templates, train the baseline, DeepLog and
# MS-CRED (mscred.pth; --no-mscred leaves it out, --mscred-max-steps bounds its training) with the last
# 10% of the lines held out to measure false alarms, write the bundle, print a summary.
# Usage: ./train_models.sh NORMAL_LOGS_DIR_OR_FILE [MODEL_DIR] [alog-detect train options...]
#   MODEL_DIR defaults to models_YYYYMMDD_HHMMSS (it may be left out before the options). Options, e.g.
#   --epochs 20 --log-format '...', or --vet to vet the logs first and stop on a rejected file
#   (docs/baseline-validation.md): see `alog-detect train --help`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
alog="$here/.venv/bin/alog-detect"; [ -x "$alog" ] || alog=alog-detect
if [ $# -lt 1 ]; then
  echo "usage: $0 NORMAL_LOGS_DIR_OR_FILE [MODEL_DIR] [train options...]" >&2; exit 2
fi
input="$1"; shift
# MODEL_DIR may be left out before the options: `./train_models.sh logs/ --vet`
model_dir=""
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then model_dir="$1"; shift; fi
model_dir="${model_dir:-models_$(date +%Y%m%d_%H%M%S)}"
"$alog" train --input "$input" --model-dir "$model_dir" "$@"
"$alog" bundle-info --model-dir "$model_dir"
