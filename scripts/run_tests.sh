#!/usr/bin/env bash
# Set up .venv if needed, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup_env.sh
exec .venv/bin/python -m pytest "$@"
