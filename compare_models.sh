#!/usr/bin/env bash
# Two bundles side by side (templates, vocab, losses, thresholds, quality score), and their results on
# TEST_LOG when given.
# Usage: ./compare_models.sh MODEL_A MODEL_B [TEST_LOG]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
alog="$here/.venv/bin/alog-detect"; [ -x "$alog" ] || alog=alog-detect
if [ $# -lt 2 ]; then
  echo "usage: $0 MODEL_A MODEL_B [TEST_LOG]" >&2; exit 2
fi
"$alog" compare --model-a "$1" --model-b "$2" ${3:+--test-log "$3"}
