"""Running a measurement in a fresh process that imports the package from a given source tree: how
the before/after benchmarks (``infer_stages.py``, ``deeplog_stage.py``, ``flows_stage.py``) compare two commits in one run."""

from __future__ import annotations

import argparse
import json
import os
import statistics
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


def run_tree(code: Path, child: str, *argv: str) -> dict:
    """:func:`run_child`, its result with the tree and the load average at its start."""
    load = [round(x, 2) for x in os.getloadavg()]
    return {"code": str(code), "load_avg_at_start": load, **run_child(code, child, *argv)}


def stage_args(description: str, model_help: str) -> argparse.Namespace:
    """The options of a one-stage benchmark: ``--model``, ``--processed`` (an ``infer`` output folder),
    ``--code`` and ``--repeat``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--model", type=Path, required=True, help=model_help)
    ap.add_argument("--processed", type=Path, required=True, help="an infer output folder (parsed.parquet)")
    add_code_option(ap)
    ap.add_argument("--repeat", type=int, default=3, help="runs per tree (default 3)")
    return ap.parse_args()


def run_stage(args: argparse.Namespace, child: str, work: Path) -> tuple[list[Path], list[dict]]:
    """(the trees, the runs): ``child`` run ``--repeat`` times per tree, the trees alternating, on
    ``args.model`` and ``args.processed`` with ``work`` as its folder."""
    codes = code_trees(args)
    runs = [run_tree(code, child, str(args.model), str(args.processed), str(work))
            for _ in range(args.repeat) for code in codes]
    return codes, runs


#: The start of a one-stage benchmark's child (``run_stage``): the bundle loaded as ``infer`` loads it,
#: the lines of ``parsed.parquet`` read, and a thread sampling the resident memory into ``peak[0]``
#: until ``done`` is set; ``start_rss`` is the memory before the stage. The child's own lines follow.
STAGE_CHILD_HEAD = r"""
import hashlib, json, os, shutil, sys, threading, time
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
model_dir, processed, work = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(work, exist_ok=True)
shutil.copy(os.path.join(processed, "parsed.parquet"), work)
page = os.sysconf("SC_PAGE_SIZE") / 2**20
rss = lambda: int(open("/proc/self/statm").read().split()[1]) * page
from pathlib import Path
import anomaly_log_detector
from anomaly_log_detector.workflows import detect
from anomaly_log_detector.workflows.memory import release_memory
from anomaly_log_detector.workflows.model import load_bundle
model = load_bundle(model_dir, onnx=True)  # as infer loads it: the ONNX export when the bundle holds one
lines = detect.read_lines(Path(work) / "parsed.parquet")
release_memory()
peak, done = [0.0], threading.Event()
def sample():
    with open("/proc/self/statm") as f:
        while not done.wait(0.02):
            f.seek(0)
            peak[0] = max(peak[0], int(f.read().split()[1]) * page)
start_rss = rss()
threading.Thread(target=sample, daemon=True).start()
"""


def tree_medians(codes: list[Path], runs: list[dict], fields: list[str]) -> list[dict]:
    """Per tree, the median of each of ``fields`` over its runs (as ``median_<field>``)."""
    trees = []
    for code in codes:
        mine = [r for r in runs if r["code"] == str(code)]
        trees.append({"code": str(code), **{f"median_{f}": statistics.median(r[f] for r in mine) for f in fields}})
    return trees


def last_over_first(trees: list[dict], ratios: dict[str, str]) -> dict[str, float]:
    """``{name: median_<field> of the last tree / that of the first}`` for each ``name: field``."""
    a, b = trees[0], trees[-1]
    return {name: round(b[f"median_{f}"] / a[f"median_{f}"], 3) for name, f in ratios.items()}
