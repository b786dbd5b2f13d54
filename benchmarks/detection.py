"""Detection quality and DeepLog throughput on the public sets in ../shared/data; prints one JSON object.

    python benchmarks/detection.py [--data ../shared/data] [--threads 1] [--only hdfs_100k,bgl_2k]

Sections (each states its split rule, counts and the duplicate / leakage figure):

* ``hdfs_100k`` - HDFS_100k block sessions, deep-loglizer's ``Split`` column; trained on the normal train
  blocks; DeepLog (top-k, and top-k + top-p) and the statistical baseline on the test blocks; plus
  DeepLog training / inference throughput against the no-deduplication reference in the same run.
* ``hdfs_2k_raw`` - the whole pipeline on raw text through the CLI: parse -> build-deeplog ->
  deeplog-train -> deeplog-infer -> eval, HDFS_2k.log split in time order.
* ``bgl_2k`` - per-line alert labels; first 60% of lines (normal ones) for training, last 40% scored.
* ``hadoop`` - ait's Hadoop job sequences (train 17 normal; test 150 normal + 811 abnormal).

Nothing is tuned on a test part: every detector runs with its documented defaults (the top-p value is
a fixed, documented setting, see docs/deeplog.md).
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
from anomaly_log_detector.detectors.windows import build_windows, flatten
from anomaly_log_detector.eval import duplicate_stats, evaluate

REPO = Path(__file__).resolve().parent.parent
TOP_P = 0.9999   # the documented top-p setting (docs/deeplog.md), not fitted to any test set
METRICS = ("n", "positives", "flagged", "tp", "fp", "fn", "precision", "recall", "f1", "auc")


def metrics(truth, flags, scores=None) -> dict:
    m = evaluate(np.asarray(truth, bool), np.asarray(flags, bool), None if scores is None else np.asarray(scores))
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in m.items() if k in METRICS}


def seq_key(events) -> tuple:
    return tuple(int(e) for e in events)


def deeplog_rows(det: DeepLogDetector, test: pd.DataFrame, truth: np.ndarray) -> dict:
    """Session metrics for the plain top-k rule and for top-k + top-p, from one evaluation each."""
    out = {}
    for name, top_p in ((f"deeplog_top{det.k}", None), (f"deeplog_top{det.k}_p{TOP_P}", TOP_P)):
        det.top_p = top_p
        scores = det.score(test)
        out[name] = metrics(truth, scores > det.threshold_, scores)
    det.top_p = None
    return out


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
    """Inference and training rates with deduplication against the plain batch-1024 loop."""
    values, lengths = flatten(test["events"])
    keys = build_windows(values, lengths, det.seq_len, det.eos).keys  # HDFS test keys are all in the vocab
    start = time.perf_counter()
    with torch.inference_mode():
        for lo in range(0, len(keys), 1024):
            det.model_(torch.from_numpy(keys[lo:lo + 1024, :-1]))
    plain_s = time.perf_counter() - start
    start = time.perf_counter()
    ws = det.evaluate(test)
    dedup_s = time.perf_counter() - start
    # One epoch over every training window without deduplication (the reference training rate).
    tv, tl = flatten(train["events"])
    tkeys = torch.from_numpy(build_windows(tv, tl, det.seq_len, det.eos).keys)
    model = type(det.model_)(det.vocab_size_, det.embed_dim, det.hidden, det.layers)
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
        "infer_plain_batch1024_windows_per_s": round(len(keys) / plain_s),
        "infer_dedup_windows_per_s": round(len(keys) / dedup_s),
        "infer_speedup": round(plain_s / dedup_s, 2),
        "train_windows": stats["windows"], "train_distinct_windows": stats["distinct_windows"],
        "train_plain_windows_per_s": round(len(tkeys) / plain_train_s),
        "train_dedup_windows_per_s": round(stats["windows_per_s"]),
        "train_dedup_distinct_per_s": round(stats["distinct_per_s"]),
        "train_epochs": stats["epochs"], "train_seconds": round(stats["seconds"], 2),
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
    result["deeplog_fit_seconds"] = round(time.perf_counter() - start, 2)
    result.update(deeplog_rows(det, test, truth))
    base = session_baseline(train, test, vocab.strings())
    result["baseline"] = {"note": base["note"], **metrics(truth, base["flags"], base["scores"])}
    result["throughput"] = throughput(det, train, test)
    return result


def cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "anomaly_log_detector", *args], check=True, capture_output=True)


def split_log(path: Path, fraction: float, keep_train) -> tuple[list[str], list[str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    cut = int(len(lines) * fraction)
    return [line for line in lines[:cut] if keep_train(line)], lines[cut:]


def hdfs_2k_raw(data: Path, work: Path) -> dict:
    """parse -> build-deeplog -> deeplog-train -> deeplog-infer -> eval, all through the CLI."""
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
    cli("deeplog-infer", "--seq", str(w / "test" / "sequences.parquet"), "--model", str(w / "deeplog.pth"),
        "--top-p", str(TOP_P))
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
        "eval": [{k: r.get(k) for k in ("file", "level", *METRICS)} for r in report["results"]],
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
        "unseen_template_rule": metrics(truth, novel),
    }
    alert = AlertingDetector().fit(ptr)
    comp = alert.components(pte)
    # Plain DeepLog on the line stream: a line is flagged when its key misses the top-9 (novel included).
    result["deeplog_stream_top9"] = metrics(truth, comp["seq_miss"].to_numpy() | novel)
    result["alerting"] = {"threshold": alert.threshold_, **metrics(truth, comp["is_alert"], comp["score"])}
    base = BaselineDetector().fit(ptr)
    table = base.score_windows(pte)
    flagged_lines = {n for lines in table.loc[table["is_anomaly"], "evidence_lines"] for n in lines}
    result["baseline_evidence_lines"] = metrics(truth, pte["line_no"].isin(flagged_lines).to_numpy())
    return result


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
    }
    det = DeepLogDetector().fit(train, vocab=vocab)
    result.update(deeplog_rows(det, test, truth))
    base = session_baseline(train, test, vocab.strings())
    result["baseline"] = {"note": base["note"], **metrics(truth, base["flags"], base["scores"])}
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
            out[name] = SECTIONS[name](data, Path(tmp))
            out[name]["seconds"] = round(time.perf_counter() - start, 1)
            print(f"{name}: done in {out[name]['seconds']} s", file=sys.stderr, flush=True)
    print(json.dumps(out, indent=1, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


if __name__ == "__main__":
    main()
