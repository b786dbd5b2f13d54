"""Detection quality and DeepLog throughput on the public sets in ../shared/data; prints one JSON object.

    python benchmarks/detection.py [--data ../shared/data] [--threads 1] [--only hdfs_100k,bgl_2k]

Sections (each states its split rule, counts and the duplicate / leakage figure):

* ``hdfs_100k`` - HDFS_100k block sessions, deep-loglizer's ``Split`` column; trained on the normal train
  blocks; DeepLog with its defaults (an ensemble of 3, the miss threshold calibrated on held-out normal
  train blocks) as the main row, the paper's top-9 rule and top-9 + top-p on the same fitted networks
  (``set_rule``) as reference rows, the statistical baseline, and flag-everything; plus DeepLog training /
  inference throughput against the no-deduplication reference in the same run.
* ``hdfs_2k_raw`` - the whole pipeline on raw text through the CLI: parse -> build-deeplog ->
  deeplog-train -> deeplog-infer -> eval, HDFS_2k.log split in time order.
* ``bgl_2k`` - per-line alert labels; first 60% of lines (normal ones) for training, last 40% scored;
  the alerting layer (graded novelty, its own calibrated DeepLog over one stream per source).
* ``hadoop`` - ait's Hadoop job sequences (train 17 normal; test 150 normal + 811 abnormal).

Nothing is tuned on a test part: every detector runs with its documented defaults (the top-9 and top-p
reference rules are fixed, documented settings, see docs/deeplog.md). Every section carries the
``flag_all`` reference (what flagging every item scores).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from anomaly_log_detector.builders.deeplog import read_sequences
from anomaly_log_detector.builders.importers import import_sequences
from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.detectors.alerting import AlertingDetector
from anomaly_log_detector.detectors.baseline import BaselineDetector
from anomaly_log_detector.detectors.deeplog import DeepLogDetector
from anomaly_log_detector.detectors.deeplog_files import rule_name
from anomaly_log_detector.detectors.windows import build_windows, flatten
from anomaly_log_detector.evaluation.metrics import duplicate_stats, evaluate, flag_all

REPO = Path(__file__).resolve().parent.parent
TOP_K = 9        # the paper's top-k (reference rule, docs/deeplog.md)
TOP_P = 0.9999   # the documented top-p setting (docs/deeplog.md), not fitted to any test set
METRICS = ("n", "positives", "flagged", "tp", "fp", "fn", "precision", "recall", "f1", "auc")


def metrics(truth, flags, scores=None) -> dict:
    m = evaluate(np.asarray(truth, bool), np.asarray(flags, bool), None if scores is None else np.asarray(scores))
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items() if k in METRICS}


def seq_key(events) -> tuple:
    return tuple(int(e) for e in events)


def flag_all_row(truth) -> dict:
    """What flagging every item scores (the reference any detector must beat)."""
    return {k: round(v, 4) for k, v in flag_all(np.asarray(truth, bool)).items()}


def deeplog_rows(det: DeepLogDetector, test: pd.DataFrame, truth: np.ndarray) -> dict:
    """Session metrics of the model's default calibrated rule and, on the same fitted networks, of the
    paper's top-k and of top-k + top-p (``set_rule``); the detector is left on its default rule."""
    out = {}
    rules = (("deeplog_calibrated", {}), (f"deeplog_top{TOP_K}", {"k": TOP_K}),
             (f"deeplog_top{TOP_K}_p{TOP_P}", {"k": TOP_K, "top_p": TOP_P}))
    for name, rule in rules:
        det.set_rule(**rule)
        scores = det.score(test)
        out[name] = {"rule": rule_name(det), "threshold": round(det.threshold_, 4),
                     **metrics(truth, scores > det.threshold_, scores)}
    det.set_rule()
    return out


def deeplog_model(det: DeepLogDetector, fit_seconds: float) -> dict:
    """How the default model was trained and calibrated."""
    st = det.train_stats_
    return {"ensemble": det.ensemble, "fit_seconds": round(fit_seconds, 2), "tau": round(det.tau_, 4),
            "tau_by_group": len(det.tau_by_group_), "fa_budget": det.fa_budget,
            "calibration_share": det.calibration, "calibration_windows": st["calibration_windows"],
            "train_sessions": st["sessions"], "train_windows": st["windows"],
            "train_distinct_windows": st["distinct_windows"], "epochs": st["epochs"],
            "best_epochs": st["best_epochs"], "stop_reasons": st["stop_reasons"], "converged": st["converged"],
            "steps": st["steps"], "final_loss": round(st["final_loss"], 5)}


def guarded(fn, *args) -> dict:
    """``fn(*args)``, or ``{"error": ...}`` when it raises: one failing row must not cost the whole run."""
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - recorded in the output, the other rows still run
        return {"error": f"{type(exc).__name__}: {exc}"}


def baseline_row(train: pd.DataFrame, test: pd.DataFrame, strings: list[str], truth: np.ndarray) -> dict:
    base = session_baseline(train, test, strings)
    return {"note": base["note"], "threshold": round(base["threshold"], 4),
            **metrics(truth, base["flags"], base["scores"])}


def session_baseline(train: pd.DataFrame, test: pd.DataFrame, strings: list[str]) -> dict:
    """The statistical baseline with one window per session (window = the longest session)."""
    def lines(df: pd.DataFrame) -> pd.DataFrame:
        values, lengths = flatten(df["events"])
        names = np.repeat(df["session"].to_numpy(), lengths)
        return pd.DataFrame({"line_no": np.arange(1, len(values) + 1), "source": names,
                             "template": np.asarray(strings, dtype=object)[values]})
    longest = int(max(flatten(train["events"])[1].max(), flatten(test["events"])[1].max()))
    det = BaselineDetector(window_size=longest, stride=longest).fit(lines(train))
    table = det.score_windows(lines(test), evidence=False)
    by_session = table.set_index("source")["score"]
    scores = by_session.reindex(test["session"]).to_numpy(float)
    return {"note": "BaselineDetector, one window per session", "threshold": det.threshold_,
            "scores": scores, "flags": scores > det.threshold_}


def throughput(det: DeepLogDetector, train: pd.DataFrame, test: pd.DataFrame) -> dict:
    """Inference and training rates with deduplication against plain batch loops (same run)."""
    import math

    values, lengths = flatten(test["events"])
    keys = build_windows(values, lengths, det.seq_len, det.eos).keys  # HDFS test keys are all in the vocab
    # Plain inference: every window through the ensemble (det.log_probs) / one network, batches of 1024.
    start = time.perf_counter()
    for lo in range(0, len(keys), 1024):
        det.log_probs(keys[lo:lo + 1024, :-1])
    plain_s = time.perf_counter() - start
    start = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, len(keys), 1024):
            det.models_[0](torch.from_numpy(keys[lo:lo + 1024, :-1]))
    plain_one_s = time.perf_counter() - start
    start = time.perf_counter()
    ws = det.evaluate(test)
    dedup_s = time.perf_counter() - start
    # One epoch of one network over every training window without deduplication (the reference
    # training rate); the detector instead draws batches by count from the distinct windows.
    tv, tl = flatten(train["events"])
    tkeys = torch.from_numpy(build_windows(tv, tl, det.seq_len, det.eos).keys)
    model = type(det.models_[0])(det.vocab_size_, det.embed_dim, det.hidden, det.layers)
    opt = torch.optim.Adam(model.parameters(), lr=det.lr)
    start = time.perf_counter()
    for lo in range(0, len(tkeys), det.batch_size):
        batch = tkeys[lo:lo + det.batch_size]
        loss = torch.nn.functional.cross_entropy(model(batch[:, :-1]), batch[:, -1])
        opt.zero_grad()
        loss.backward()
        opt.step()
    plain_train_s = time.perf_counter() - start
    stats = det.train_stats_
    return {
        "infer_windows": len(keys), "infer_distinct_windows": ws.distinct_windows,
        "infer_plain_ensemble_batch1024_windows_per_s": round(len(keys) / plain_s),
        "infer_plain_one_network_batch1024_windows_per_s": round(len(keys) / plain_one_s),
        "infer_dedup_ensemble_windows_per_s": round(len(keys) / dedup_s),
        "infer_speedup_vs_plain_ensemble": round(plain_s / dedup_s, 2),
        "train_windows": stats["windows"], "train_distinct_windows": stats["distinct_windows"],
        "train_plain_epoch_steps": math.ceil(len(tkeys) / det.batch_size),
        "train_plain_epoch_seconds": round(plain_train_s, 2),
        "train_plain_windows_per_s": round(len(tkeys) / plain_train_s),
        "train_epoch_steps": max(50, math.ceil(stats["distinct_windows"] / det.batch_size)),
        "train_rows_per_s": round(stats["windows_per_s"]),
        "train_networks": det.ensemble, "train_epochs": stats["epochs"], "train_steps": stats["steps"],
        "train_seconds": round(stats["seconds"], 2),
    }


def hdfs_100k(data: Path, work: Path) -> dict:
    folder = data / "hdfs_labeled"
    out = work / "hdfs_100k" / "sequences.parquet"
    import_sequences(folder / "HDFS_100k.block_sessions.csv", "blocks-csv", out,
                     templates_path=folder / "HDFS_100k.templates.csv")
    seq = read_sequences(out)
    vocab = Vocab.load(out.parent / "vocab.json")
    train_all = seq[seq["split"] == "train"]
    train = train_all[train_all["label"] == 0].reset_index(drop=True)
    test = seq[seq["split"] == "test"].reset_index(drop=True)
    truth = (test["label"] == 1).to_numpy()
    test_keys = [seq_key(e) for e in test["events"]]
    # Oracle: each distinct test sequence labelled by its majority label (the ceiling of any method
    # that sees only the event sequence).
    majority = pd.Series(truth).groupby(pd.Series(test_keys)).transform("mean").to_numpy() > 0.5
    result = {
        "split": "deep-loglizer hdfs_1.0_tar Split column; train = normal train-split blocks",
        "counts": {"train_blocks": len(train_all), "train_normal_used": len(train), "test_blocks": len(test),
                   "test_anomalies": int(truth.sum())},
        "duplicates": duplicate_stats([seq_key(e) for e in train["events"]], test_keys, truth),
        "oracle_majority_sequence_f1": metrics(truth, majority)["f1"],
    }
    start = time.perf_counter()
    det = DeepLogDetector().fit(train, vocab=vocab)
    result["deeplog_model"] = deeplog_model(det, time.perf_counter() - start)
    result.update(deeplog_rows(det, test, truth))
    result["baseline"] = guarded(baseline_row, train, test, vocab.strings(), truth)
    result["flag_all"] = flag_all_row(truth)
    result["throughput"] = throughput(det, train, test)
    return result


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "anomaly_log_detector", *args], check=True, capture_output=True)


def split_log(path: Path, fraction: float, keep_train) -> tuple[list[str], list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    cut = int(len(lines) * fraction)
    return [line for line in lines[:cut] if keep_train(line)], lines[cut:]


def hdfs_2k_raw(data: Path, work: Path) -> dict:
    """parse -> build-deeplog -> deeplog-train -> deeplog-infer -> eval, all through the CLI, every
    command with its defaults (DeepLog's default rule)."""
    labels_csv = data / "hdfs_labeled" / "HDFS_2k.anomaly_label.csv"
    labels = pd.read_csv(labels_csv)
    anomalous = set(labels.loc[labels["Label"] == "Anomaly", "BlockId"])
    block = re.compile(r"blk_-?\d+")
    train, test = split_log(data / "loghub_2k" / "HDFS" / "corrected" / "HDFS_2k.log", 0.6,
                            lambda line: not (set(block.findall(line)) & anomalous))
    w = work / "hdfs_2k"
    w.mkdir(parents=True, exist_ok=True)
    (w / "train.log").write_text("\n".join(train) + "\n")
    (w / "test.log").write_text("\n".join(test) + "\n")
    regex = r"blk_-?\d+"
    for part in ("train", "test"):
        cli("parse", "--input", str(w / f"{part}.log"), "--out-dir", str(w / part), "--session-regex", regex,
            "--drain-state", str(w / "drain.json"), "-q")
    cli("build-deeplog", "--parsed", str(w / "train" / "parsed.parquet"), "--out-dir", str(w / "train"),
        "--session-by", "session")
    cli("build-deeplog", "--parsed", str(w / "test" / "parsed.parquet"), "--out-dir", str(w / "test"),
        "--session-by", "session", "--vocab", str(w / "train" / "vocab.json"))
    cli("deeplog-train", "--seq", str(w / "train" / "sequences.parquet"), "--out", str(w / "deeplog.pth"), "-q")
    cli("deeplog-infer", "--seq", str(w / "test" / "sequences.parquet"), "--model", str(w / "deeplog.pth"))
    cli("eval", "--processed-dir", str(w / "test"), "--labels", str(labels_csv))
    report = json.loads((w / "test" / "eval.json").read_text())
    tr, te = read_sequences(w / "train" / "sequences.parquet"), read_sequences(w / "test" / "sequences.parquet")
    te_flags = te["session"].isin(anomalous).to_numpy()
    return {
        "split": "first 60% of HDFS_2k.log lines (minus lines of anomalous blocks) train, last 40% test",
        "counts": {"train_lines": len(train), "test_lines": len(test), "train_sessions": len(tr),
                   "test_sessions": len(te), "test_anomalous_sessions": int(te_flags.sum()),
                   "test_session_length_max": int(flatten(te["events"])[1].max())},
        "duplicates": duplicate_stats([seq_key(e) for e in tr["events"]], [seq_key(e) for e in te["events"]],
                                      te_flags),
        "deeplog_rule": rule_name(DeepLogDetector.load(w / "deeplog.pth")),
        "eval": [{k: r.get(k) for k in ("file", "level", *METRICS, "flag_all")} for r in report["results"]],
        "note": "the 2k sample holds 1-2 lines per block, so sessions are fragments",
    }


def bgl_2k(data: Path, work: Path) -> dict:
    from anomaly_log_detector.api import parse_logs

    log = data / "loghub_2k" / "BGL" / "corrected" / "BGL_2k.log"
    train, test = split_log(log, 0.6, lambda line: line.split(" ", 1)[0] == "-")
    w = work / "bgl"
    w.mkdir(parents=True, exist_ok=True)
    (w / "train.log").write_text("\n".join(train) + "\n")
    (w / "test.log").write_text("\n".join(test) + "\n")
    for part in ("train", "test"):
        parse_logs(str(w / f"{part}.log"), str(w / part), drain_state=str(w / "drain.json"))
    ptr = pd.read_parquet(w / "train" / "parsed.parquet")
    pte = pd.read_parquet(w / "test" / "parsed.parquet")
    truth = np.array([line.split(" ", 1)[0] != "-" for line in test])
    known = set(ptr["template"])
    novel = ~pte["template"].isin(known).to_numpy()
    result = {
        "split": "first 60% of lines (normal lines only) train, last 40% test, time order",
        "counts": {"train_lines": len(train), "test_lines": len(test), "test_alerts": int(truth.sum())},
        "duplicates": {"test_lines_with_training_template": int((~novel).sum()),
                       "test_alerts_with_training_template": int((~novel & truth).sum())},
        "flag_all": flag_all_row(truth),
        "unseen_template_rule": metrics(truth, novel),
    }
    alert = AlertingDetector().fit(ptr)
    comp = alert.components(pte)
    # DeepLog alone on the line stream (the layer's inner model, one stream per source): a line is
    # flagged when its key is a miss or novel; the calibrated default, and the paper's top-9 rule.
    result["deeplog_stream_calibrated"] = {"rule": rule_name(alert.deeplog_),
                                           **metrics(truth, comp["seq_miss"].to_numpy() | novel)}
    alert.deeplog_.set_rule(k=TOP_K)
    top9 = alert.components(pte)
    alert.deeplog_.set_rule()
    result[f"deeplog_stream_top{TOP_K}"] = metrics(truth, top9["seq_miss"].to_numpy() | novel)
    result["alerting"] = {"threshold": alert.threshold_, **metrics(truth, comp["is_alert"], comp["score"])}
    # The same layer with the former all-or-nothing novelty (every new template counts 1).
    w_sev, w_new, w_seq = alert.weights
    binary = w_sev * comp["severity"] + w_new * comp["novel"].astype(float) + w_seq * comp["seq_miss"].astype(float)
    result["alerting_binary_novelty"] = metrics(truth, binary > alert.threshold_, binary)
    flagged_novel = comp["novel"] & comp["is_alert"]
    result["alerting_detail"] = {
        "novel_lines": int(comp["novel"].sum()), "novel_with_nearest": int(comp["nearest"].notna().sum()),
        "novelty_median_of_novel": round(float(comp.loc[comp["novel"], "novelty"].median()), 4)
        if comp["novel"].any() else None,
        "alerts_from_novel_lines": int(flagged_novel.sum()), "seq_miss_lines": int(comp["seq_miss"].sum()),
        "deeplog_tau": round(alert.deeplog_.tau_, 4)}
    result["baseline_evidence_lines"] = guarded(bgl_baseline, ptr, pte, truth)
    return result


def bgl_baseline(ptr: pd.DataFrame, pte: pd.DataFrame, truth: np.ndarray) -> dict:
    """Lines named as evidence by a flagged window of the baseline (its defaults)."""
    base = BaselineDetector().fit(ptr)
    table = base.score_windows(pte)
    flagged_lines = {n for lines in table.loc[table["is_anomaly"], "evidence_lines"] for n in lines}
    return metrics(truth, pte["line_no"].isin(flagged_lines).to_numpy())


def hadoop(data: Path, work: Path) -> dict:
    folder = data / "hadoop_labeled_sequences"
    w = work / "hadoop"
    import_sequences(folder / "hadoop_train", "ait", w / "train.parquet", label="normal")
    vocab_path = w / "vocab.json"
    parts = [("hadoop_test_normal", "normal"), ("hadoop_test_abnormal", "anomaly")]
    for name, label in parts:
        import_sequences(folder / name, "ait", w / f"{name}.parquet", label=label, vocab_path=vocab_path)
    train = read_sequences(w / "train.parquet")
    test = pd.concat([read_sequences(w / f"{n}.parquet") for n, _ in parts], ignore_index=True)
    truth = (test["label"] == 1).to_numpy()
    vocab = Vocab.load(vocab_path)
    # Compared on the raw keys (the encoded test sets map keys unseen in training to one UNK).
    raw = {name: [line.split(",", 1)[1].split() for line in (folder / name).read_text().splitlines() if line]
           for name, _ in parts}
    normal_keys = {tuple(k) for k in raw["hadoop_test_normal"]}
    result = {
        "split": "ait hadoop_loghub files: hadoop_train (normal) / hadoop_test_normal + hadoop_test_abnormal",
        "counts": {"train": len(train), "test_normal": int((~truth).sum()), "test_abnormal": int(truth.sum())},
        "duplicates": duplicate_stats([seq_key(e) for e in train["events"]], [seq_key(e) for e in test["events"]],
                                      truth),
        "abnormal_equal_to_a_normal_test_sequence": int(sum(tuple(k) in normal_keys
                                                            for k in raw["hadoop_test_abnormal"])),
        "flag_all": flag_all_row(truth),
    }
    start = time.perf_counter()
    det = DeepLogDetector().fit(train, vocab=vocab)
    result["deeplog_model"] = deeplog_model(det, time.perf_counter() - start)
    result.update(deeplog_rows(det, test, truth))
    result["baseline"] = guarded(baseline_row, train, test, vocab.strings(), truth)
    return result


SECTIONS = {"hdfs_100k": hdfs_100k, "hdfs_2k_raw": hdfs_2k_raw, "bgl_2k": bgl_2k, "hadoop": hadoop}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="the shared data folder")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these small models)")
    ap.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections to run")
    args = ap.parse_args()
    data = Path(args.data)
    if not data.exists():
        sys.exit(f"shared data not found: {data}")
    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # for the CLI subprocesses
    out = {"threads": args.threads, "torch": torch.__version__, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="alog-bench-") as tmp:
        for name in args.only.split(","):
            start = time.perf_counter()
            out[name] = guarded(SECTIONS[name], data, Path(tmp))
            out[name]["seconds"] = round(time.perf_counter() - start, 1)
            print(f"{name}: done in {out[name]['seconds']} s", file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


if __name__ == "__main__":
    main()
