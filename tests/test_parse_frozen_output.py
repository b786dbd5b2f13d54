"""Frozen output of `alog-detect parse`: the fast paths (header split, masking, Parquet assembly) give
exactly the outputs of the parser before them (fingerprints in tests/data/parse_golden.json: every
column's values, the schema, the summary's counts). See tests/parse_golden_cases.py."""

from __future__ import annotations

import json
import os

import pytest

from parse_golden_cases import GOLDEN, LOGHUB, run_cases


def test_parse_outputs_are_unchanged(tmp_path):
    got = run_cases(tmp_path)
    if os.environ.get("ALOG_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        pytest.skip("golden fingerprints written")
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    if not LOGHUB.exists():
        want = {k: v for k, v in want.items() if k in got}
    assert sorted(got) == sorted(want)
    for name in want:
        assert got[name] == want[name], name
