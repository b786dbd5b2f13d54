"""MS-CRED against the statistical baseline at window level; prints JSON.

Usage: .venv/bin/python benchmarks/mscred.py [--seeds 1,2,3] [--workdir DIR] [--max-steps 100] [--out FILE]

Two data sets, each scored by both detectors on the same windows (build-mscred's line windows, which
the baseline also uses):

* **gen-synth**: train on a clean log (seed 1, 50,000 lines), score a log of another seed (7, 50,000
  lines, anomaly rate 0.02 split over burst, error_storm, reordered and correlation_break). Windows of
  50 lines, stride 25. A window is anomalous when it holds a labelled line (``*.labels.parquet``).
* **BGL_2k** in time order: train on the normal lines (first token ``-``) of the first 60 %, score
  every line of the last 40 %; windows of 10 lines, stride 5 (2,000 lines hold too few 50-line windows
  to train on); a window is anomalous when it holds an alert line.

For each MS-CRED seed: window-level ROC-AUC of its score (broken entries, ties by reconstruction
error) and of the reconstruction error alone, P/R/F1 under the threshold rules (calibrated held-out
quantile at a false-alarm budget of 0.01 and 0.05, and the original 95th percentile of training
scores), AUC per anomaly kind (each kind's windows against the clean windows), training time, windows/s at inference and the peak RSS of
the process that trained and scored (each seed runs in its own child process). Same-seed determinism:
BGL trained twice with seed 1 must give identical weights and scores. Summary: median and range over
the seeds. The baseline is deterministic (one run).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BGL = REPO.parent / "shared" / "data" / "loghub_2k" / "BGL" / "corrected" / "BGL_2k.log"
SYNTH_KINDS = "burst,error_storm,reordered,correlation_break"
DATASETS = {
    "gen-synth": {"window_size": 50, "stride": 25},
    "bgl": {"window_size": 10, "stride": 5},
}


# ---- data -------------------------------------------------------------------------------------
def prepare(work: Path) -> None:
    """Generate / split, parse and build window counts for both data sets (skipped when present)."""
    from anomaly_log_detector.api import parse_logs
    from anomaly_log_detector.builders.mscred import build_mscred_inputs
    from anomaly_log_detector.synth import generate_synthetic_log

    d = work / "gen-synth"
    if not (d / "test" / "window_counts.parquet").exists():
        d.mkdir(parents=True, exist_ok=True)
        generate_synthetic_log(str(d / "train.log"), 50_000, 0.0, seed=1)
        generate_synthetic_log(str(d / "test.log"), 50_000, 0.02, seed=7, anomaly_types=SYNTH_KINDS)
        parse_logs(str(d / "train.log"), str(d / "train"), drain_state=str(d / "state.json"))
        parse_logs(str(d / "test.log"), str(d / "test"), drain_state=str(d / "state.json"), frozen=True)
        labels = pd.read_parquet(d / "test.log.labels.parquet")
        labels[["line_no", "is_anomaly", "anomaly_type"]].to_parquet(d / "truth.parquet")
        _counts(d, **DATASETS["gen-synth"], build=build_mscred_inputs)
    d = work / "bgl"
    if not (d / "test" / "window_counts.parquet").exists():
        d.mkdir(parents=True, exist_ok=True)
        lines = BGL.read_text().splitlines()
        cut = int(len(lines) * 0.6)
        (d / "train.log").write_text("\n".join(l for l in lines[:cut] if l.startswith("- ")) + "\n")
        (d / "test.log").write_text("\n".join(lines[cut:]) + "\n")
        parse_logs(str(d / "train.log"), str(d / "train"), drain_state=str(d / "state.json"), format="bgl")
        parse_logs(str(d / "test.log"), str(d / "test"), drain_state=str(d / "state.json"), format="bgl", frozen=True)
        alert = [not l.startswith("- ") for l in lines[cut:]]
        pd.DataFrame({"line_no": np.arange(1, len(alert) + 1), "is_anomaly": alert,
                      "anomaly_type": ["alert" if a else None for a in alert]}).to_parquet(d / "truth.parquet")
        _counts(d, **DATASETS["bgl"], build=build_mscred_inputs)


def _counts(d: Path, window_size: int, stride: int, build) -> None:
    build(d / "train" / "parsed.parquet", d / "train", window_size=window_size, stride=stride)
    build(d / "test" / "parsed.parquet", d / "test", window_size=window_size, stride=stride,
          vocab_path=d / "train" / "vocab.json")


def window_truth(d: Path, start_lines: np.ndarray, end_lines: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per window: anomalous at all, and per anomaly kind."""
    truth = pd.read_parquet(d / "truth.parquet")
    flags = truth["is_anomaly"].to_numpy(bool)
    kinds = truth["anomaly_type"].fillna("").to_numpy(dtype=object)
    any_ = np.array([flags[s - 1:e].any() for s, e in zip(start_lines, end_lines)])
    per_kind = {k: np.array([(kinds[s - 1:e] == k).any() for s, e in zip(start_lines, end_lines)])
                for k in sorted(set(kinds) - {""})}
    return any_, per_kind


# ---- metrics ----------------------------------------------------------------------------------
def metrics(truth: np.ndarray, scores: np.ndarray, flags: np.ndarray, kinds: dict[str, np.ndarray]) -> dict:
    from anomaly_log_detector.evaluation.metrics import binary_metrics, roc_auc

    m = binary_metrics(truth, flags)
    out = {"auc": round(roc_auc(truth, scores), 4), "precision": round(m["precision"], 4),
           "recall": round(m["recall"], 4), "f1": round(m["f1"], 4), "flagged": int(flags.sum()),
           "positives": int(truth.sum()), "windows": int(len(truth))}
    if len(kinds) > 1:
        clean = ~truth
        out["auc_by_kind"] = {k: round(roc_auc(np.r_[np.ones(m.sum()), np.zeros(clean.sum())],
                                                  np.r_[scores[m], scores[clean]]), 4)
                              for k, m in kinds.items() if m.any()}
        out["recall_by_kind"] = {k: round(float((flags & m).sum() / m.sum()), 4) for k, m in kinds.items() if m.any()}
    return out


def baseline(work: Path, name: str) -> dict:
    from anomaly_log_detector.detectors.baseline import BaselineDetector

    d = work / name
    train = pd.read_parquet(d / "train" / "parsed.parquet")
    test = pd.read_parquet(d / "test" / "parsed.parquet")
    start = time.perf_counter()
    det = BaselineDetector(**DATASETS[name]).fit(train)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    table = det.score_windows(test, evidence=False)
    infer_s = time.perf_counter() - start
    truth, kinds = window_truth(d, table["window_start_line"].to_numpy(), table["window_end_line"].to_numpy())
    scores = table["score"].to_numpy(float)
    return {**metrics(truth, scores, table["is_anomaly"].to_numpy(bool), kinds), "rule": "quantile 0.95",
            "train_s": round(fit_s, 2), "windows_per_s": round(len(table) / infer_s, 1),
            "window_lines": [int(table["window_start_line"].iloc[0]), int(table["window_end_line"].iloc[0])]}


# ---- one MS-CRED run (child process) ------------------------------------------------------------
def child(work: Path, name: str, seed: int, max_steps: int, channels: tuple[int, ...], determinism: bool) -> dict:
    import torch

    from anomaly_log_detector.builders.mscred import read_window_counts
    from anomaly_log_detector.builders.vocab import Vocab
    from anomaly_log_detector.detectors.mscred_files import infer_mscred, train_mscred

    torch.set_num_threads(1)
    d = work / name
    train = read_window_counts(d / "train" / "window_counts.parquet")
    test = read_window_counts(d / "test" / "window_counts.parquet")
    vocab = Vocab.load(d / "train" / "vocab.json")
    params = dict(window_size=DATASETS[name]["window_size"], channels=channels, max_steps=max_steps, seed=seed)
    start = time.perf_counter()
    det = train_mscred(train, vocab, **params)
    fit_s = time.perf_counter() - start
    result = infer_mscred(det, test, vocab, keep="none")
    table = result.table
    out = {
        "train_s": round(fit_s, 2), "windows_per_s": round(len(table) / result.seconds, 1),
        "scores": table["score"].tolist(), "errors": table["reconstruction_error"].tolist(),
        "broken": table["broken_entries"].tolist(),
        "start_line": [int(x) for x in table["start_line"]], "end_line": [int(x) for x in table["end_line"]],
        "thresholds": det.thresholds_, "train_stats": {k: v for k, v in det.train_stats_.items() if k != "thresholds"},
        "train_scores": det.train_scores_.tolist(), "heldout_scores": det.heldout_scores_.tolist(),
    }
    if determinism:
        again = train_mscred(train, vocab, **params)
        same_weights = all(torch.equal(a, b) for a, b in zip(det.net_.state_dict().values(),
                                                             again.net_.state_dict().values()))
        out["deterministic"] = bool(same_weights and np.array_equal(det.score(test), again.score(test)))
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def run_child(work: Path, name: str, seed: int, args, determinism: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--seed", str(seed), "--workdir", str(work),
           "--max-steps", str(args.max_steps), "--channels", args.channels] + (["--determinism"] if determinism else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child {name} seed {seed} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def summarise(runs: list[dict]) -> dict:
    """Median and [min, max] of every number over the seeds (nested dicts too)."""
    out: dict = {}
    for key, value in runs[0].items():
        if isinstance(value, dict):
            out[key] = summarise([r[key] for r in runs])
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            vals = [float(r[key]) for r in runs]
            out[key] = {"median": round(float(np.median(vals)), 4), "min": round(min(vals), 4), "max": round(max(vals), 4)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--workdir", default="/tmp/alog-mscred-bench")
    ap.add_argument("--max-steps", type=int, default=100)
    ap.add_argument("--channels", default="4,8,16,32")
    ap.add_argument("--datasets", default="gen-synth,bgl")
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--determinism", action="store_true")
    args = ap.parse_args()
    work = Path(args.workdir)
    channels = tuple(int(c) for c in args.channels.split(","))
    if args.child:
        print(json.dumps(child(work, args.child, args.seed, args.max_steps, channels, args.determinism)))
        return
    start = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    prepare(work)
    seeds = [int(s) for s in args.seeds.split(",")]
    report: dict = {"settings": {"seeds": seeds, "max_steps": args.max_steps, "channels": list(channels),
                                 "threads": 1, "datasets": DATASETS, "gen_synth_kinds": SYNTH_KINDS}}
    for name in args.datasets.split(","):
        d = work / name
        row: dict = {"baseline": baseline(work, name), "mscred_runs": {}}
        for seed in seeds:
            run = run_child(work, name, seed, args, determinism=(name == "bgl" and seed == seeds[0]))
            truth, kinds = window_truth(d, np.asarray(run["start_line"]), np.asarray(run["end_line"]))
            scores = np.asarray(run["scores"])
            held = np.asarray(run["heldout_scores"])
            row["mscred_runs"][seed] = {
                "calibrated_fa0.01": metrics(truth, scores, scores > np.quantile(held, 0.99), kinds),
                "calibrated_fa0.05": metrics(truth, scores, scores > np.quantile(held, 0.95), kinds),
                "percentile_95": metrics(truth, scores, scores > run["thresholds"]["percentile"], kinds),
                "auc_error_only": round(float(_auc(truth, np.asarray(run["errors"]))), 4),
                "auc_broken_only": round(float(_auc(truth, np.asarray(run["broken"]))), 4),
                "train_s": run["train_s"], "windows_per_s": run["windows_per_s"], "peak_rss_mb": run["peak_rss_mb"],
                "epochs": run["train_stats"]["epochs"], "steps": run["train_stats"]["steps"],
                "series": run["train_stats"]["series"], "scales": run["train_stats"]["scales"],
                **({"deterministic": run["deterministic"]} if "deterministic" in run else {}),
            }
        row["mscred"] = summarise(list(row["mscred_runs"].values()))
        report[name] = row
    report["seconds"] = round(time.perf_counter() - start, 1)
    text = json.dumps(report, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


def _auc(truth: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(truth, scores)


if __name__ == "__main__":
    main()
