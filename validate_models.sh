#!/usr/bin/env bash
# Quality score 0-100 of a bundle (85+ is good) with its components explained, measured on the
# bundle's held-out normal lines, or on VALIDATION_LOG (a log known to be normal). Further arguments go
# to `alog-detect validate`, e.g. --min-score 80: exit status 1 when the score is below it.
# Usage: ./validate_models.sh MODEL_DIR [VALIDATION_LOG] [validate options...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
alog="$here/.venv/bin/alog-detect"; [ -x "$alog" ] || alog=alog-detect
if [ $# -lt 1 ]; then
  echo "usage: $0 MODEL_DIR [VALIDATION_LOG] [validate options...]" >&2; exit 2
fi
model_dir="$1"; shift
log=""
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
  log="$1"; shift
fi
exec "$alog" validate --model-dir "$model_dir" ${log:+--validation-log "$log"} "$@"
