#!/usr/bin/env bash
# Continue a bundle on new normal logs: old templates and vocabulary indices are kept, the baseline
# statistics continue and DeepLog is fine-tuned; the result is a new bundle.
# Usage: ./train_models_incremental.sh OLD_MODEL_DIR NEW_NORMAL_LOGS NEW_MODEL_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
alog="$here/.venv/bin/alog-detect"; [ -x "$alog" ] || alog=alog-detect
if [ $# -lt 3 ]; then
  echo "usage: $0 OLD_MODEL_DIR NEW_NORMAL_LOGS NEW_MODEL_DIR" >&2; exit 2
fi
"$alog" train-incremental --old-model-dir "$1" --input "$2" --model-dir "$3"
"$alog" bundle-info --model-dir "$3"
