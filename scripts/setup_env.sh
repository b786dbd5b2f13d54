#!/usr/bin/env bash
# Create (or reuse) .venv and install the project with its test tools.
# torch is installed first at an exact pin: on the reference machines `torch==2.13.0` is a local CPU build,
# and an unpinned torch would make pip download a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.alog-installed
want="$(cat pyproject.toml scripts/setup_env.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip >&2
  .venv/bin/python -m pip install -q "torch==2.13.0" >&2
  .venv/bin/python -m pip install -q -e ".[test]" >&2
  echo "$want" > "$stamp"
fi
# The C engine (hybrid_system/inference) needs PCRE2's headers, a Debian package; best effort: its tests
# skip with the reason when they are missing.
if [ ! -e /usr/include/pcre2.h ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && apt-get install -y -qq libpcre2-dev) >/dev/null 2>&1 \
    || echo "note: libpcre2-dev could not be installed; the C engine tests will skip" >&2
fi
# The HTML report's browser test (tests/test_html_report.py) drives Debian's chromium through Playwright
# (pip's playwright, from the test extra; it never downloads a browser); best effort: the test skips
# with the reason when chromium is missing.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "note: chromium could not be installed; the HTML report's browser test will skip" >&2
fi
