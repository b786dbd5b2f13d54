#!/usr/bin/env bash
# Quality score 0-100 of a bundle (85+ is good) with its components explained, measured on the
# bundle's held-out normal lines, or on VALIDATION_LOG (a log known to be normal).
# Usage: ./validate_models.sh MODEL_DIR [VALIDATION_LOG]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
alog="$here/.venv/bin/alog-detect"; [ -x "$alog" ] || alog=alog-detect
if [ $# -lt 1 ]; then
  echo "usage: $0 MODEL_DIR [VALIDATION_LOG]" >&2; exit 2
fi
"$alog" validate --model-dir "$1" ${2:+--validation-log "$2"}
