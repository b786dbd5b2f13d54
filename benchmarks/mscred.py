"""MS-CRED against the statistical baseline at window level; prints JSON.

Usage: .venv/bin/python benchmarks/mscred.py [--preset command|workflow|budget] [--seeds 1,2,3]
       [--workdir DIR] [--max-steps 100] [--train-args "..."] [--datasets gen-synth,bgl] [--jobs 1]
       [--out FILE] [--reuse]
       .venv/bin/python benchmarks/mscred.py --heldout [--systems BGL,Linux,...] [--seeds 1,2,3] [--out FILE]

``--preset`` says how MS-CRED is trained (always on the training data only, one torch thread):

* ``command`` (default): exactly as a user runs it, through the CLI at the command defaults:
  ``alog-detect mscred-train --window-counts TRAIN --out M --seed S --threads 1`` (plus ``--window-size
  10`` on BGL, whose counts are 10-line windows) and ``alog-detect mscred-infer --window-counts TEST
  --model M``; the verdicts are the model's own (its default rule). ``--train-args "--max-steps 100"``
  adds mscred-train options (a budget, still through the CLI).
* ``workflow``: the settings ``train --mscred`` uses by default (``--mscred-top-k 32``,
  ``--mscred-max-steps 100``), through the library.
* ``budget``: the defaults with ``--max-steps`` (100) and ``--channels``, through the library (the
  figures first published for issue 10).

Two data sets, each scored by both detectors on the same windows (build-mscred's line windows, which
the baseline also uses):

* **gen-synth**: train on a clean log (seed 1, 50,000 lines), score a log of another seed (7, 50,000
  lines, anomaly rate 0.02 split over burst, error_storm, reordered and correlation_break). Windows of
  50 lines, stride 25. A window is anomalous when it holds a labelled line (``*.labels.parquet``).
* **BGL_2k** in time order: train on the normal lines (first token ``-``) of the first 60 %, score
  every line of the last 40 %; windows of 10 lines, stride 5 (2,000 lines hold too few 50-line windows
  to train on); a window is anomalous when it holds an alert line.

For each MS-CRED seed: window-level ROC-AUC of its score (broken entries, ties by reconstruction
error) and of the reconstruction error alone, P/R/F1 under the model's own rule (``default_rule``) and
under each candidate rule, computed from the model's stored training scores only (``rule_thresholds``:
heldout-max at margins 0 / 0.5 / 1 / 2, the calibrated held-out quantile at false-alarm budgets 0.05 and
0.01, the original 95th percentile of the fitted windows), AUC per anomaly kind (each kind's windows
against the clean windows), training time, windows/s at inference (the command's own figure in the
command preset) and the peak RSS of the processes that trained and scored (each seed runs in its own
child process). Same-seed determinism: BGL trained twice with seed 1 (the same command twice in the
command preset) must give identical weights and scores. The raw scores of every seed are kept in
``WORKDIR/runs-PRESET.json``; ``--reuse`` summarises them again without training. Summary: median
and range over the seeds. The baseline is deterministic (one run), in the same run; ``flag_everything``
is the reference a detector must beat (AUC 0.5, recall 1, precision = the anomalous share).

``--heldout``: what a bundle flags on held-out normal lines of real logs. For each Loghub 2k system
(BGL: its normal lines only) the first 80 % of the lines train a bundle as a user would (``alog-detect
train --mscred --seed S --threads 1``; DeepLog reduced to ``--ensemble 1 --max-steps 300`` to save
time, which changes nothing for MS-CRED or the baseline), then ``alog-detect infer`` runs on the last
20 %: every window MS-CRED or the baseline flags there is a false alarm. Per rule: the shipped
threshold (the model's rule, raised above the training log's windows), the model's rule before that,
and each candidate of ``rule_thresholds`` raised above the training log's windows as a bundle does.

False alarms on held-out normal data (``--preset``): ``false_alarm_rate`` is the share of the test's clean windows (no
labelled line) that a rule flags (it reads the test labels: reported, never used to choose a rule);
``heldout_normal`` scores normal data only and reports the share of its windows each rule flags: on
BGL a log of only the normal lines of the last 40 % (the alerts removed), on gen-synth a clean log of
a third seed (3, 50,000 lines).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from report_json import emit

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
    d = work / "gen-synth"
    if not (d / "normal" / "window_counts.parquet").exists():  # a clean log of a third seed (gen-synth)
        generate_synthetic_log(str(d / "normal.log"), 50_000, 0.0, seed=3)
        parse_logs(str(d / "normal.log"), str(d / "normal"), drain_state=str(d / "state.json"), frozen=True)
        build_mscred_inputs(d / "normal" / "parsed.parquet", d / "normal", **DATASETS["gen-synth"],
                            vocab_path=d / "train" / "vocab.json")
    d = work / "bgl"
    if not (d / "normal" / "window_counts.parquet").exists():  # held-out normal lines only (BGL)
        lines = BGL.read_text().splitlines()
        (d / "normal.log").write_text("\n".join(l for l in lines[int(len(lines) * 0.6):] if l.startswith("- ")) + "\n")
        parse_logs(str(d / "normal.log"), str(d / "normal"), drain_state=str(d / "state.json"), format="bgl",
                   frozen=True)
        build_mscred_inputs(d / "normal" / "parsed.parquet", d / "normal", **DATASETS["bgl"],
                            vocab_path=d / "train" / "vocab.json")


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
           "false_alarm_rate": round(float(flags[~truth].mean()) if (~truth).any() else 0.0, 4),
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
def cli_child(work: Path, name: str, seed: int, extra: list[str] | None = None, determinism: bool = False,
              rescore: str | None = None) -> dict:
    """Train and score through the CLI at the command defaults (what a user gets; ``extra``: more
    mscred-train options, e.g. ``--max-steps 100``). ``rescore``: no training - the seed's model of an
    earlier run, with its ``unseen`` counting switched to this one and its training and held-out scores
    and thresholds recomputed from the training counts (``MSCREDDetector.recalibrate``; the network is
    unchanged), saved beside it and scored through the CLI."""
    import torch

    from anomaly_log_detector.detectors.mscred import MSCREDDetector

    d = work / name
    run = work / "runs" / f"{name}-command-seed{seed}"
    run.mkdir(parents=True, exist_ok=True)
    cli = [sys.executable, "-m", "anomaly_log_detector"]
    size = [] if DATASETS[name]["window_size"] == 50 else ["--window-size", str(DATASETS[name]["window_size"])]
    start = time.perf_counter()
    train = cli + ["mscred-train", "--window-counts", str(d / "train" / "window_counts.parquet"), "--seed", str(seed),
                   "--threads", "1", "--quiet", *size, *(extra or [])]
    model, suffix = run / "mscred.pth", ""
    if rescore:
        from anomaly_log_detector.builders.mscred import read_window_counts

        torch.set_num_threads(1)
        det = MSCREDDetector.load(model)
        det.unseen = rescore
        det.recalibrate(read_window_counts(d / "train" / "window_counts.parquet"))
        model, suffix = run / f"mscred-unseen-{rescore}.pth", f"-unseen-{rescore}"
        det.save(model)
    else:
        _call(train + ["--out", str(model)])
    fit_s = time.perf_counter() - start
    out: dict = {"train_s": None if rescore else round(fit_s, 2), **({"recalibrate_s": round(fit_s, 2)} if rescore else {})}
    for part in ("test", "normal"):
        if not (d / part / "window_counts.parquet").exists():
            continue
        start = time.perf_counter()
        said = _call(cli + ["mscred-infer", "--window-counts", str(d / part / "window_counts.parquet"), "--model",
                            str(model), "--out-dir", str(run / (part + suffix)), "--threads", "1"])
        seconds = time.perf_counter() - start
        table = pd.read_parquet(run / (part + suffix) / "mscred_infer.parquet")
        rate = re.search(r"([\d,.]+) windows/s", said)
        out[part] = {"scores": table["score"].tolist(), "errors": table["reconstruction_error"].tolist(),
                     "broken": table["broken_entries"].tolist(), "flags": table["is_anomaly"].tolist(),
                     "start_line": [int(x) for x in table["start_line"]],
                     "end_line": [int(x) for x in table["end_line"]], "seconds_with_startup": round(seconds, 2),
                     "windows_per_s": float(rate.group(1).replace(",", "")) if rate else None}
    det = MSCREDDetector.load(model)
    torch.set_num_threads(1)
    out.update({"thresholds": det.thresholds_, "rule": det.rule, "unseen": det.unseen,
                "train_stats": {k: v for k, v in det.train_stats_.items() if k != "thresholds"},
                "train_scores": det.train_scores_.tolist(), "heldout_scores": det.heldout_scores_.tolist(),
                "windows_per_s": out["test"]["windows_per_s"],
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)})
    if determinism:  # the same command again: identical weights and identical scores
        _call(train + ["--out", str(run / "again.pth")])
        again = MSCREDDetector.load(run / "again.pth")
        _call(cli + ["mscred-infer", "--window-counts", str(d / "test" / "window_counts.parquet"), "--model",
                     str(run / "again.pth"), "--out-dir", str(run / "again"), "--threads", "1", "--quiet"])
        same = all(torch.equal(a, b) for a, b in zip(det.net_.state_dict().values(), again.net_.state_dict().values()))
        rescored = pd.read_parquet(run / "again" / "mscred_infer.parquet")["score"].tolist()
        out["deterministic"] = bool(same and rescored == out["test"]["scores"])
    return out


def _call(cmd: list[str], ok: tuple[int, ...] = (0,)) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO)
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return proc.stdout + proc.stderr


def child(work: Path, name: str, seed: int, max_steps: int, channels: tuple[int, ...], determinism: bool,
          top_k: int = 64, unseen: str = "each") -> dict:
    import torch

    from anomaly_log_detector.builders.mscred import read_window_counts
    from anomaly_log_detector.builders.vocab import Vocab
    from anomaly_log_detector.detectors.mscred_files import infer_mscred, train_mscred

    torch.set_num_threads(1)
    d = work / name
    train = read_window_counts(d / "train" / "window_counts.parquet")
    test = read_window_counts(d / "test" / "window_counts.parquet")
    vocab = Vocab.load(d / "train" / "vocab.json")
    params = dict(window_size=DATASETS[name]["window_size"], channels=channels, max_steps=max_steps, seed=seed,
                  top_k=top_k, unseen=unseen)
    start = time.perf_counter()
    det = train_mscred(train, vocab, **params)
    fit_s = time.perf_counter() - start
    out: dict = {"train_s": round(fit_s, 2)}
    for part in ("test", "normal"):
        if not (d / part / "window_counts.parquet").exists():
            continue
        result = infer_mscred(det, read_window_counts(d / part / "window_counts.parquet"), vocab, keep="none")
        table = result.table
        out[part] = {"scores": table["score"].tolist(), "errors": table["reconstruction_error"].tolist(),
                     "broken": table["broken_entries"].tolist(), "flags": table["is_anomaly"].tolist(),
                     "start_line": [int(x) for x in table["start_line"]],
                     "end_line": [int(x) for x in table["end_line"]]}
        if part == "test":
            out["windows_per_s"] = round(len(table) / result.seconds, 1)
    out.update({"thresholds": det.thresholds_, "rule": det.rule,
                "train_stats": {k: v for k, v in det.train_stats_.items() if k != "thresholds"},
                "train_scores": det.train_scores_.tolist(), "heldout_scores": det.heldout_scores_.tolist()})
    if determinism:
        again = train_mscred(train, vocab, **params)
        same_weights = all(torch.equal(a, b) for a, b in zip(det.net_.state_dict().values(),
                                                             again.net_.state_dict().values()))
        out["deterministic"] = bool(same_weights and np.array_equal(det.score(test), again.score(test)))
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def run_child(work: Path, name: str, seed: int, args, determinism: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--seed", str(seed), "--workdir", str(work),
           "--preset", args.preset, "--max-steps", str(args.max_steps), "--channels", args.channels,
           f"--train-args={args.train_args}"] + (["--determinism"] if determinism else []) \
        + (["--rescore", args.rescore] if args.rescore else [])
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


PRESETS = ("command", "workflow", "budget")


def mscred_row(d: Path, run: dict) -> dict:
    """One seed's figures: the model's own verdicts (its default rule) and the alternative rules."""
    test = run["test"]
    truth, kinds = window_truth(d, np.asarray(test["start_line"]), np.asarray(test["end_line"]))
    scores = np.asarray(test["scores"])
    thresholds = rule_thresholds(run)
    rules = {"default_rule": np.asarray(test["flags"], bool), **{k: scores > t for k, t in thresholds.items()}}
    row = {k: metrics(truth, scores, flags, kinds) for k, flags in rules.items()}
    if "normal" in run:  # windows of held-out normal lines only: every flag is a false alarm
        ns = np.asarray(run["normal"]["scores"])
        row["heldout_normal"] = {"windows": len(ns), "default_rule": round(float(np.mean(run["normal"]["flags"])), 4),
                                 **{k: round(float(np.mean(ns > t)), 4) for k, t in thresholds.items()}}
    stats = run["train_stats"]
    row.update({
        "default_rule_name": run["rule"],
        "auc_error_only": round(float(_auc(truth, np.asarray(test["errors"]))), 4),
        "auc_broken_only": round(float(_auc(truth, np.asarray(test["broken"]))), 4),
        "train_s": run["train_s"], "windows_per_s": run["windows_per_s"], "peak_rss_mb": run["peak_rss_mb"],
        "epochs": stats["epochs"], "steps": stats["steps"], "converged": stats["converged"],
        "stop_reason": stats["stop_reason"], "series": stats["series"], "scales": stats["scales"],
        "fit_windows": stats["fit_windows"], "heldout_windows": stats["heldout_windows"],
        **({"deterministic": run["deterministic"]} if "deterministic" in run else {}),
    })
    return row


def rule_thresholds(run: dict) -> dict[str, float]:
    """The candidate rules' thresholds, from the model's stored training scores only (held-out ones,
    else the fitted ones): heldout-max at margins 0 / 0.5 / 1 (the default) / 2, the calibrated quantile at
    budgets 0.05 and 0.01, the original 95th percentile of the fitted windows."""
    held = np.asarray(run["heldout_scores"]) if len(run["heldout_scores"]) else np.asarray(run["train_scores"])
    out = {f"heldout_max_margin{m:g}": float(held.max()) * (1 + m) for m in (0, 0.5, 1, 2)}
    out.update({"calibrated_fa0.05": float(np.quantile(held, 0.95)), "calibrated_fa0.01": float(np.quantile(held, 0.99)),
                "percentile_95": float(run["thresholds"]["percentile"])})
    return out


def flag_everything(d: Path, run: dict) -> dict:
    truth, kinds = window_truth(d, np.asarray(run["test"]["start_line"]), np.asarray(run["test"]["end_line"]))
    return metrics(truth, np.zeros(len(truth)), np.ones(len(truth), bool), {})


def baseline_normal(work: Path, name: str) -> dict | None:
    """Share of the held-out normal log's windows the baseline flags (BGL only)."""
    from anomaly_log_detector.detectors.baseline import BaselineDetector

    d = work / name
    if not (d / "normal" / "parsed.parquet").exists():
        return None
    det = BaselineDetector(**DATASETS[name]).fit(pd.read_parquet(d / "train" / "parsed.parquet"))
    table = det.score_windows(pd.read_parquet(d / "normal" / "parsed.parquet"), evidence=False)
    return {"windows": int(len(table)), "flagged_share": round(float(table["is_anomaly"].mean()), 4)}


SYSTEMS = "BGL,Linux,OpenSSH,Zookeeper,Spark,HDFS,Apache,Hadoop"


def heldout_run(work: Path, system: str, seed: int) -> dict:
    """Train a bundle with MS-CRED on the first 80 % of a system's normal lines, infer on the rest."""
    from anomaly_log_detector.workflows.model import load_bundle

    d = work / "heldout" / system
    d.mkdir(parents=True, exist_ok=True)
    lines = (REPO.parent / "shared" / "data" / "loghub_2k" / system / "corrected" / f"{system}_2k.log"
             ).read_text(errors="replace").splitlines()
    if system == "BGL":
        lines = [l for l in lines if l.startswith("- ")]
    cut = int(len(lines) * 0.8)
    (d / "train.log").write_text("\n".join(lines[:cut]) + "\n")
    (d / "heldout.log").write_text("\n".join(lines[cut:]) + "\n")
    cli = [sys.executable, "-m", "anomaly_log_detector"]
    model, out = d / f"model-seed{seed}", d / f"infer-seed{seed}"
    start = time.perf_counter()
    _call(cli + ["train", "--input", str(d / "train.log"), "--model-dir", str(model), "--overwrite", "--mscred",
                 "--seed", str(seed), "--threads", "1", "--quiet", "--ensemble", "1", "--max-steps", "300"])
    train_s = time.perf_counter() - start
    _call(cli + ["infer", "--model-dir", str(model), "--input", str(d / "heldout.log"), "--out-dir", str(out),
                 "--threads", "1", "--quiet"], ok=(0, 1))  # 1: anomalies reported
    summary = json.loads((out / "inference_summary.json").read_text())["detect"]
    bundle = load_bundle(model)
    det, hold = bundle.mscred, bundle.metadata.get("holdout") or {}
    scores = pd.read_parquet(out / "mscred_infer.parquet")["score"].to_numpy(float)
    before = det.train_stats_.get("covered", {}).get("threshold_before", det.threshold_)
    cover = float(det.train_stats_.get("covered", {}).get("max_training_score", -np.inf))
    cands = rule_thresholds({"heldout_scores": det.heldout_scores_.tolist(), "train_scores": det.train_scores_.tolist(),
                             "thresholds": det.thresholds_})
    return {"train_lines": cut, "heldout_lines": len(lines) - cut, "windows": int(len(scores)),
            "mscred_flagged": int(summary["mscred"]["flagged_windows"]),
            "baseline_flagged": int(summary["baseline"]["flagged_windows"]),
            "baseline_windows": int(summary["baseline"].get("windows", len(scores))),
            "rules": {"shipped": int((scores > det.threshold_).sum()),
                      "default_before_cover": int((scores > before).sum()),
                      **{f"{k} (covered)": int((scores > max(t, cover)).sum()) for k, t in cands.items()}},
            "rule_name": det.rule,
            # train's own measure: its held-out tail scored before the threshold covers the whole log
            "train_holdout_lines": int(hold.get("lines", 0)),
            "train_holdout_mscred_lines": int((hold.get("flagged_lines_by_detector") or {}).get("mscred", 0)),
            "mscred_heldout_windows": int(det.train_stats_.get("heldout_windows", 0)),
            "train_with_mscred_s": round(train_s, 1), "mscred_train_s": det.train_stats_.get("seconds")}


def heldout_report(work: Path, systems: list[str], seeds: list[int], jobs: int) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = {(s, seed): pool.submit(heldout_run, work, s, seed) for s in systems for seed in seeds}
        runs = {k: f.result() for k, f in futures.items()}
    out: dict = {"systems": {}}
    rules = list(runs[(systems[0], seeds[0])]["rules"])
    totals: dict = {seed: {"windows": 0, "mscred": 0, "baseline": 0, "baseline_windows": 0, **{r: 0 for r in rules}}
                    for seed in seeds}
    for s in systems:
        out["systems"][s] = {str(seed): runs[(s, seed)] for seed in seeds}
        for seed in seeds:
            r, t = runs[(s, seed)], totals[seed]
            t["windows"] += r["windows"]
            t["mscred"] += r["mscred_flagged"]
            t["baseline"] += r["baseline_flagged"]
            t["baseline_windows"] += r["baseline_windows"]
            for k, v in r["rules"].items():
                t[k] += v
    shares = [{**{f"mscred {r}": t[r] / t["windows"] for r in rules},
               "baseline": t["baseline"] / max(t["baseline_windows"], 1)} for t in totals.values()]
    out["totals"] = {str(k): v for k, v in totals.items()}
    out["false_alarm_share"] = summarise(shares)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=PRESETS, default="command",
                    help="command: the CLI at its defaults; workflow: train --mscred's settings; budget: "
                         "--max-steps / --channels")
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--jobs", type=int, default=1, help="seeds trained at once (one thread each)")
    ap.add_argument("--workdir", default="/tmp/alog-mscred-bench")
    ap.add_argument("--max-steps", type=int, default=100)
    ap.add_argument("--channels", default="4,8,16,32")
    ap.add_argument("--datasets", default="gen-synth,bgl")
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", default=None)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--determinism", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="summarise the raw runs of the last run of this preset")
    ap.add_argument("--train-args", default="", help="command preset: extra mscred-train options (quoted)")
    ap.add_argument("--rescore", default=None, choices=["each", "mask", "once", "none"],
                    help="command preset: no training; the models of the last run, their <unseen> counting "
                         "switched to this one (recalibrated on the training counts), scored again")
    ap.add_argument("--heldout", action="store_true", help="bundle false alarms on held-out normal Loghub lines")
    ap.add_argument("--systems", default=SYSTEMS)
    args = ap.parse_args()
    work = Path(args.workdir)
    channels = tuple(int(c) for c in args.channels.split(","))
    if args.heldout:
        start = time.perf_counter()
        seeds = [int(x) for x in args.seeds.split(",")]
        report = {"settings": {"mode": "heldout", "seeds": seeds, "systems": args.systems.split(","),
                               "train": "alog-detect train --mscred (defaults; DeepLog --ensemble 1 --max-steps 300)"},
                  **heldout_report(work, args.systems.split(","), seeds, args.jobs)}
        report["seconds"] = round(time.perf_counter() - start, 1)
        emit(report, args.out)
        return
    if args.child:
        if args.preset == "command":
            out = cli_child(work, args.child, args.seed, args.train_args.split(), args.determinism, args.rescore)
        elif args.preset == "workflow":
            out = child(work, args.child, args.seed, 100, (4, 8, 16, 32), args.determinism, top_k=32, unseen="mask")
        else:
            out = child(work, args.child, args.seed, args.max_steps, channels, args.determinism)
        print(json.dumps(out))
        return
    start = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    prepare(work)
    seeds = [int(s) for s in args.seeds.split(",")]
    settings = {"command": "alog-detect mscred-train defaults (epochs 50, max-steps 2000, top-k 64, channels 4,8,16,32)",
                "workflow": "train --mscred defaults (mscred-top-k 32, mscred-max-steps 100)",
                "budget": f"mscred-train defaults but max_steps {args.max_steps}, channels {args.channels}"}
    if args.preset == "command" and args.train_args:
        settings["command"] += f" + {args.train_args}"
    if args.rescore:
        settings[args.preset] += f"; models of the last run re-scored with unseen={args.rescore} (recalibrated)"
    report: dict = {"settings": {"preset": args.preset, "mscred": settings[args.preset], "seeds": seeds,
                                 "threads": 1, "jobs": args.jobs, "datasets": DATASETS, "gen_synth_kinds": SYNTH_KINDS}}
    from concurrent.futures import ThreadPoolExecutor

    names = args.datasets.split(",")
    jobs = [(name, seed) for name in names for seed in seeds]
    saved = work / f"runs-{args.preset}{'-unseen-' + args.rescore if args.rescore else ''}.json"  # for --reuse
    if args.reuse:
        runs = {(k.split("/")[0], int(k.split("/")[1])): v for k, v in json.loads(saved.read_text()).items()}
    else:
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            futures = {job: pool.submit(run_child, work, job[0], job[1], args,
                                        job[0] == "bgl" and job[1] == seeds[0] and not args.rescore)
                       for job in jobs}
            runs = {job: f.result() for job, f in futures.items()}
        saved.write_text(json.dumps({f"{k[0]}/{k[1]}": v for k, v in runs.items()}))
    for name in names:
        d = work / name
        row: dict = {"baseline": baseline(work, name), "mscred_runs": {}}
        normal = baseline_normal(work, name)
        if normal:
            row["baseline"]["heldout_normal"] = normal
        row["flag_everything"] = flag_everything(d, runs[(name, seeds[0])])
        for seed in seeds:
            row["mscred_runs"][seed] = mscred_row(d, runs[(name, seed)])
        row["mscred"] = summarise(list(row["mscred_runs"].values()))
        report[name] = row
    report["seconds"] = round(time.perf_counter() - start, 1)
    emit(report, args.out)


def _auc(truth: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(truth, scores)


if __name__ == "__main__":
    main()
