"""End-to-end cost and quality of the workflow scripts; prints one JSON object.

1. `gen-synth` writes a normal training log and a separate test log with anomalies (N lines each,
   default 1,000,000; 2 % anomalous lines in the test log).
2. `./train_models.sh` and `./run_inference.sh` run as a user runs them, each inside a fresh wrapper
   process that reports the wall time and the peak RSS of the whole process tree
   (``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest process of the tree, in MiB).
3. Reference, same run, same machine: `alog-detect parse` of the same target with the bundle's frozen
   templates and rules (reading + parsing, which inference cannot avoid): `infer_over_parse` is the
   ratio of the two wall times.
4. Quality against the generator's labels: lines of the result table that are anomalous (precision),
   anomalous lines in the table (recall), and the same for the top-10 records.
5. BGL_2k (../shared/data; skipped when absent): train on the normal lines (first token `-`) of the
   first 60 %, analyse the last 40 %, and measure the top-10 records against the BGL alert labels.

Usage: .venv/bin/python benchmarks/end_to_end.py [--lines N] [--work DIR] [--skip-bgl] [--model DIR]
(`--model`: infer with a bundle trained earlier, e.g. WORK/model of a previous run; no training.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ALOG = [sys.executable, "-m", "anomaly_log_detector"]
BGL = REPO.parent / "shared" / "data" / "loghub_2k" / "BGL" / "corrected" / "BGL_2k.log"
TOP = 10

# Runs argv[1:] and prints its wall time and the peak RSS of its process tree (all descendants are
# waited for by their parents, so RUSAGE_CHILDREN covers them). A fresh wrapper per run, so the peak
# is this run's alone.
_MEASURE = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL)
print(json.dumps({"rc": rc, "wall_s": round(time.perf_counter() - start, 2),
                  "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)}))
"""


def measure(*cmd: str | Path, cwd: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEASURE, *map(str, cmd)], cwd=cwd, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def records(out_dir: Path) -> list[dict]:
    """`anomalies.jsonl` (ECS documents: our fields under `alog`, the shown line in `message`) as flat
    dicts with the result table's names."""
    with open(out_dir / "anomalies.jsonl", encoding="utf-8") as f:
        return [{**d["alog"], "raw": d.get("message")} for d in map(json.loads, f)]


def quality(recs: list[dict], bad: set[int], raw: list[str]) -> dict:
    """Line precision/recall of the result table and of its top records. A record's "best line" is the
    one it shows as `raw` (its highest-scoring line)."""
    flagged = {n for r in recs for n in r["line_nos"]}
    top = recs[:TOP]
    top_lines = [n for r in top for n in r["line_nos"]]
    best = [next(n for n in r["line_nos"] if raw[n - 1] == r["raw"]) for r in top]
    return {
        "records": len(recs), "flagged_lines": len(flagged), "anomalous_lines": len(bad),
        "precision": round(len(flagged & bad) / max(len(flagged), 1), 4),
        "recall": round(len(flagged & bad) / max(len(bad), 1), 4),
        f"top{TOP}_records_with_an_anomalous_line": sum(bool(set(r["line_nos"]) & bad) for r in top),
        f"top{TOP}_line_precision": round(sum(n in bad for n in top_lines) / max(len(top_lines), 1), 4),
        f"top{TOP}_best_line_precision": round(sum(n in bad for n in best) / max(len(best), 1), 4),
    }


def synthetic(work: Path, lines: int, model: Path | None = None) -> dict:
    """Steps 1-4. With `model` (a bundle trained earlier, e.g. by a previous run of this script), no
    training log is written and nothing is trained: only the inference half is measured."""
    import pandas as pd

    train, test = work / "train.log", work / "test.log"
    if model is None:
        subprocess.run([*ALOG, "gen-synth", "--out", str(train), "--lines", str(lines), "--anomaly-rate", "0",
                        "--seed", "1"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([*ALOG, "gen-synth", "--out", str(test), "--lines", str(lines), "--anomaly-rate", "0.02",
                    "--seed", "2"], check=True, stdout=subprocess.DEVNULL)
    result: dict = {"lines": lines}
    if model is None:
        os.remove(f"{train}.labels.parquet")  # not a log: keep the folder clean for users who look
        model = work / "model"
        result["train"] = measure(REPO / "train_models.sh", train, model, cwd=work)
    else:
        result["train"] = {"skipped": f"bundle {model} given with --model"}
    result["infer"] = measure(REPO / "run_inference.sh", model, test, work / "inference", cwd=work)
    meta = json.loads((model / "metadata.json").read_text())
    result["reference_parse"] = measure(
        *ALOG, "parse", "--input", test, "--out-dir", work / "parse_ref", "--frozen", "--quiet",
        "--drain-state", model / "drain3_state.json", "--rules", model / "rules.json",
        "--format", meta["params"]["parser"]["format"], cwd=work)
    result["infer_over_parse"] = round(result["infer"]["wall_s"] / result["reference_parse"]["wall_s"], 2)
    result["infer_s_per_million_lines"] = round(result["infer"]["wall_s"] * 1e6 / lines, 1)
    summary = json.loads((work / "inference" / "inference_summary.json").read_text())
    result["infer_stages_s"] = summary["seconds"]
    result["infer_detectors_s"] = {k: v["seconds"] for k, v in summary["detect"].items()
                                   if isinstance(v, dict) and "seconds" in v}
    result["training"] = {k: meta["training"][k] for k in ("train_lines", "holdout_lines", "deeplog_lines")}
    result["training"]["deeplog_epochs"] = len(meta["losses"]["deeplog"])
    result["training"]["holdout_false_alarm_rate"] = round(meta["holdout"]["false_alarm_rate"], 4)
    labels = pd.read_parquet(f"{test}.labels.parquet")
    bad = set(labels.loc[labels["is_anomaly"], "line_no"].tolist())
    result["quality"] = quality(records(work / "inference"), bad, test.read_text(encoding="utf-8").splitlines())
    return result


def bgl(work: Path) -> dict:
    lines = BGL.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = int(len(lines) * 0.6)
    train, test = work / "bgl_train.log", work / "bgl_test.log"
    train.write_text("".join(x for x in lines[:cut] if x.startswith("- ")), encoding="utf-8")
    test.write_text("".join(lines[cut:]), encoding="utf-8")
    result = {"train_lines": sum(x.startswith("- ") for x in lines[:cut]), "test_lines": len(lines) - cut,
              "train": measure(REPO / "train_models.sh", train, work / "bgl_model", cwd=work),
              "infer": measure(REPO / "run_inference.sh", work / "bgl_model", test, work / "bgl_inference", cwd=work)}
    raw = [x.rstrip("\n") for x in lines[cut:]]
    bad = {i + 1 for i, x in enumerate(raw) if not x.startswith("- ")}
    recs = records(work / "bgl_inference")
    result["quality"] = quality(recs, bad, raw)
    result["alert_share_of_test_lines"] = round(len(bad) / len(raw), 4)
    result[f"top{TOP}"] = [{"line_nos": [r["line_nos"][0], r["line_nos"][-1]], "detectors": r["detectors"],
                            "alert": bool(set(r["line_nos"]) & bad), "raw": r["raw"][:100]} for r in recs[:TOP]]
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines of each synthetic log")
    ap.add_argument("--work", type=Path, help="keep everything in this folder (default: a temporary one)")
    ap.add_argument("--skip-bgl", action="store_true", help="skip the BGL_2k run")
    ap.add_argument("--model", type=Path, help="measure inference only, with this bundle (no training run)")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="alog-e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                              "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]},
                  "synthetic": synthetic(work, args.lines, args.model.resolve() if args.model else None)}
        if not args.skip_bgl:
            result["bgl"] = bgl(work) if BGL.is_file() else {"skipped": f"{BGL} not found"}
        result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        print(json.dumps(result, indent=1))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
