"""Running a measurement in a fresh process that imports the package from a given source tree: how
the before/after benchmarks (``infer_stages.py``, ``deeplog_stage.py``) compare two commits in one run."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def add_code_option(ap: argparse.ArgumentParser) -> None:
    """``--code DIR`` (repeatable): the trees to compare; :func:`code_trees` resolves them."""
    ap.add_argument("--code", type=Path, action="append", help="a source tree to import the package from "
                    "(repeatable; default: this checkout)")


def code_trees(args: argparse.Namespace) -> list[Path]:
    return [c.resolve() for c in (args.code or [REPO])]


def run_child(code: Path, child: str, *argv: str) -> dict:
    """Run the Python source ``child`` with ``argv`` in a fresh process importing the package from
    ``code`` (PYTHONPATH); return the JSON object of its last stdout line, which must name the imported
    package's folder as ``package``. A failed child's stderr is shown, and the run stops."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    # -P: the working directory is not put first on sys.path (it would win over PYTHONPATH).
    proc = subprocess.run([sys.executable, "-P", "-c", child, *argv], env=env, capture_output=True, text=True)
    if proc.returncode:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"{code}: the run failed (exit status {proc.returncode})")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if not out["package"].startswith(str(code)):
        raise SystemExit(f"{code}: the package was imported from {out['package']}")
    return out
