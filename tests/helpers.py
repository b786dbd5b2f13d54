"""Shared test helpers: run the real CLI in a subprocess, find the shared data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """Path inside ../shared/data; skips the test with a clear reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (a clone without ../shared/data)")
    return path


def run_cli(*args: str, input: bytes | None = None, check: bool = False, cwd: str | None = None,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `alog-detect ARGS` as a user would (real exit codes and stderr)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("ALOG_DEBUG", None)
    proc = subprocess.run([sys.executable, "-m", "anomaly_log_detector", *args], input=input,
                          capture_output=True, cwd=cwd, env=full_env, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"alog-detect {' '.join(args)} failed ({proc.returncode}):\n"
                             f"{proc.stderr.decode(errors='replace')}")
    return proc


def read_summary(out_dir: Path) -> dict:
    return json.loads((Path(out_dir) / "parse_summary.json").read_text())


def assert_accounted(summary: dict) -> None:
    """Every line read is parsed or skipped with a reason."""
    assert summary["lines_read"] == summary["lines_parsed"] + sum(summary["lines_skipped"].values())


def assert_one_line_error(proc: subprocess.CompletedProcess) -> str:
    """A user error: non-zero exit, one line on stderr starting with 'Error:', no traceback."""
    err = proc.stderr.decode(errors="replace").strip()
    assert proc.returncode != 0, err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:"), err
    return lines[0]


def markov_sessions(rng, n: int, n_templates: int, lengths: tuple[int, int], next_p: float,
                    groups: tuple[str, ...]):
    """A sequences frame of ``n`` Markov sessions over keys 3.. (few successors per key: the next key
    is the following one with probability ``next_p``, else the one after), ``lengths`` bounding the
    number of steps, the session groups cycling through ``groups``: windows that share long prefixes,
    for the DeepLog export tests."""
    import pandas as pd

    rows = []
    for _ in range(n):
        k = int(rng.integers(3, 3 + n_templates))
        ev = [k]
        for _ in range(int(rng.integers(*lengths))):
            k = 3 + (k - 3 + int(rng.choice([1, 2], p=[next_p, 1 - next_p]))) % n_templates
            ev.append(k)
        rows.append(ev)
    return pd.DataFrame({"session": [f"s{i}" for i in range(n)], "events": rows, "line_nos": [[] for _ in rows],
                         "rows": [[] for _ in rows], "source": "test", "label": pd.array([0] * n, dtype="Int8"),
                         "group": [groups[i % len(groups)] for i in range(n)]})
