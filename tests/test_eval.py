"""Metrics, label loaders and `alog-detect eval` over real labelled data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from anomaly_log_detector.api import parse_logs
from anomaly_log_detector.builders.deeplog import read_sequences
from anomaly_log_detector.builders.importers import import_sequences
from anomaly_log_detector.detectors.baseline import run_baseline
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.evaluation.metrics import (binary_metrics, duplicate_stats, line_scores_from_windows, lines_covered,
                                       sliding_windows, windows_truth)
from anomaly_log_detector.evaluation.runner import evaluate_dir
from anomaly_log_detector.evaluation.labels import LineLabels, SessionLabels, load_labels
from helpers import assert_one_line_error, run_cli, shared_data


def test_binary_metrics_match_sklearn():
    rng = np.random.default_rng(0)
    for _ in range(20):
        t, p = rng.random(200) < 0.2, rng.random(200) < 0.3
        m = binary_metrics(t, p)
        prec, rec, f1, _ = precision_recall_fscore_support(t, p, average="binary", zero_division=0)
        tn, fp, fn, tp = confusion_matrix(t, p, labels=[False, True]).ravel()
        assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (tp, fp, fn, tn)
        assert np.allclose([m["precision"], m["recall"], m["f1"]], [prec, rec, f1])
    assert binary_metrics([True, False], [False, False])["precision"] == 0.0


def test_window_line_rules_match_brute_force():
    rng = np.random.default_rng(1)
    lines = np.sort(rng.choice(np.arange(1, 400), 250, replace=False))
    starts = np.sort(rng.integers(1, 380, 30))
    ends = starts + rng.integers(0, 40, 30)
    flags = rng.random(30) < 0.4
    scores = rng.random(30)
    bad = rng.choice(lines, 15, replace=False)
    inside = (lines[:, None] >= starts) & (lines[:, None] <= ends)
    assert (lines_covered(lines, starts, ends, flags) == (inside & flags).any(axis=1)).all()
    brute = np.where(inside, scores, -np.inf).max(axis=1)
    assert np.array_equal(line_scores_from_windows(lines, starts, ends, scores), brute)
    assert (windows_truth(bad, starts, ends) == [((bad >= s) & (bad <= e)).any() for s, e in zip(starts, ends)]).all()
    s, e = sliding_windows(lines, 50, 25)
    assert s[0] == lines[0] and e[-1] == lines[-1] and (np.searchsorted(lines, e) - np.searchsorted(lines, s) == 49).all()


def test_duplicate_stats():
    d = duplicate_stats([(1, 2), (3,), (1, 2)], [(1, 2), (4,), (3,), (4,)], [True, True, False, False])
    assert (d["train"], d["train_unique"], d["test"], d["test_duplicates"]) == (3, 2, 4, 2)
    assert (d["test_unique"], d["test_unique_duplicates"], d["anomalous_duplicates"]) == (3, 2, 1)


def test_label_loaders_on_real_files(tmp_path):
    bgl = load_labels(shared_data("loghub_2k", "BGL", "corrected", "BGL_2k.log"))
    assert isinstance(bgl, LineLabels) and len(bgl.line_no) == 2000 and bgl.is_anomaly.sum() == 143
    hdfs = load_labels(shared_data("hdfs_labeled", "HDFS_2k.anomaly_label.csv"))
    assert isinstance(hdfs, SessionLabels) and len(hdfs.session) == 2200 and hdfs.is_anomaly.sum() == 69
    synth = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"line_no": bgl.line_no, "is_anomaly": bgl.is_anomaly,
                             "anomaly_type": np.where(bgl.is_anomaly, "alert", None)}), synth)
    again = load_labels(synth)
    assert np.array_equal(again.is_anomaly, bgl.is_anomaly) and np.array_equal(again.line_no, bgl.line_no)
    for content, needle in ((b"", "empty"), (b"just a log line\nanother\n", "not a labels file"),
                            (b"BlockId,Label\nblk_1,Maybe\n", "unknown Label")):
        (tmp_path / "bad").write_bytes(content)
        with pytest.raises(DataError, match=needle):
            load_labels(tmp_path / "bad")
    pq.write_table(pa.table({"x": [1]}), tmp_path / "bad.parquet")
    with pytest.raises(DataError, match="needs line_no,is_anomaly"):
        load_labels(tmp_path / "bad.parquet")


@pytest.fixture(scope="module")
def bgl_run(tmp_path_factory):
    """BGL_2k: baseline fitted on the normal lines of the first 60%, scored on the rest."""
    log = shared_data("loghub_2k", "BGL", "corrected", "BGL_2k.log")
    lines = log.read_text().splitlines(keepends=True)
    d = tmp_path_factory.mktemp("bgl")
    (d / "train.log").write_text("".join(line for line in lines[:1200] if line.startswith("- ")))
    (d / "test.log").write_text("".join(lines[1200:]))
    parse_logs(str(d / "train.log"), str(d / "train"), drain_state=str(d / "state.json"))
    parse_logs(str(d / "test.log"), str(d / "test"), drain_state=str(d / "state.json"), frozen=True)
    run_baseline(d / "train" / "parsed.parquet", save_model=d / "stats.json")
    run_baseline(d / "test" / "parsed.parquet", d / "test", model_path=d / "stats.json")
    return d


def test_eval_baseline_on_bgl(bgl_run):
    d = bgl_run
    report = evaluate_dir(d / "test", d / "test.log")
    assert json.loads((d / "test" / "eval.json").read_text()) == report
    by_level = {r["level"]: r for r in report["results"]}
    assert set(by_level) == {"window", "line", "line_evidence"}
    scores = pd.read_parquet(d / "test" / "baseline_scores.parquet")
    labels = load_labels(d / "test.log")
    truth = windows_truth(labels.line_no[labels.is_anomaly], scores["window_start_line"], scores["window_end_line"])
    assert by_level["window"]["tp"] == int((truth & scores["is_anomaly"]).sum())
    assert by_level["window"]["n"] == len(scores)
    line = by_level["line"]
    assert line["n"] == 800 and line["positives"] == labels.is_anomaly.sum() == 46
    assert line["tp"] + line["fp"] + line["fn"] + line["tn"] == 800
    assert by_level["line_evidence"]["f1"] > by_level["line"]["f1"]  # evidence is more precise than coverage
    assert by_level["window"]["auc"] > 0.65  # 0.68 with whole-training-set statistics (test_baseline.py)


def test_eval_deeplog_style_results(bgl_run, tmp_path):
    """Per-line and per-session result files of the documented form, from a simple real rule:
    a line is a miss when its template never occurred in training."""
    d = bgl_run
    train = set(pd.read_parquet(d / "train" / "parsed.parquet")["template"])
    test = pd.read_parquet(d / "test" / "parsed.parquet")
    miss = ~test["template"].isin(train).to_numpy()
    pq.write_table(pa.table({"session": ["s"] * len(test), "idx": np.arange(len(test)), "line_no": test["line_no"],
                             "target": np.zeros(len(test), np.int64), "in_topk": ~miss}), tmp_path / "deeplog_infer.parquet")
    labels = load_labels(d / "test.log")
    report = evaluate_dir(tmp_path, d / "test.log", window_size=40, stride=40)
    line = next(r for r in report["results"] if r["level"] == "line")
    expected = binary_metrics(labels.is_anomaly[np.searchsorted(labels.line_no, test["line_no"])], miss)
    assert {k: line[k] for k in expected} == expected
    window = next(r for r in report["results"] if r["level"] == "window")
    assert window["n"] == 20 and window["window_size"] == 40


def test_eval_sessions_and_leakage_on_hdfs(tmp_path):
    import_sequences(shared_data("hdfs_labeled", "HDFS_100k.block_sessions.csv"), "blocks-csv",
                     tmp_path / "sequences.parquet")
    seq = read_sequences(tmp_path / "sequences.parquet")
    train = seq[seq["split"] == "train"]
    seen = {tuple(e) for e in train.loc[train["label"] == 0, "events"]}
    test = seq[seq["split"] == "test"]
    flagged = np.array([tuple(e) not in seen for e in test["events"]])
    pq.write_table(pa.table({"session": test["session"], "is_anomaly": flagged,
                             "windows": test["events"].map(len), "misses": flagged.astype(int),
                             "first_miss_line": pa.nulls(len(test), pa.int64())}), tmp_path / "deeplog_sessions.parquet")
    labels = shared_data("hdfs_labeled", "HDFS_100k.anomaly_label.csv")
    with_csv = evaluate_dir(tmp_path, labels)
    from_column = evaluate_dir(tmp_path)  # labels from sequences.parquet beside the results
    assert with_csv["results"] == from_column["results"]
    r = with_csv["results"][0]
    assert r["level"] == "session" and r["n"] == len(test)
    assert r == {**r, **binary_metrics(test["label"] == 1, flagged)}
    leak = with_csv["leakage"]
    every_train = {tuple(x) for x in train["events"]}
    dup = sum(tuple(e) in every_train for e in test["events"])
    assert leak["unit"] == "sessions" and leak["test_duplicates"] == dup and leak["test"] == len(test)
    hidden = sum(tuple(e) in seen for e in test.loc[test["label"] == 1, "events"])
    assert leak["anomalous_equal_to_normal_train"] == hidden


def test_eval_window_leakage_against_a_train_file(tmp_path):
    from anomaly_log_detector.builders.mscred import build_mscred_inputs

    log = shared_data("loghub_2k", "HDFS", "corrected", "HDFS_2k.log")
    parse_logs(str(log), str(tmp_path / "p"))
    build_mscred_inputs(tmp_path / "p" / "parsed.parquet", tmp_path / "train", window_size=10, stride=10)
    build_mscred_inputs(tmp_path / "p" / "parsed.parquet", tmp_path / "test", window_size=10, stride=5,
                        vocab_path=tmp_path / "train" / "vocab.json")
    report = evaluate_dir(tmp_path / "test", train_path=tmp_path / "train" / "window_counts.parquet")
    leak = report["leakage"]
    assert leak["unit"] == "windows" and leak["test"] == 399 and leak["train"] == 200
    assert 200 <= leak["test_duplicates"] < 399  # every aligned window is in training, some others too


def test_eval_cli_errors(bgl_run, tmp_path):
    d = bgl_run
    proc = run_cli("eval", "--processed-dir", str(d / "test"), "--labels", str(d / "test.log"), "--level", "window",
                   check=True)
    assert "baseline_scores.parquet    window" in proc.stdout.decode()
    err = assert_one_line_error(run_cli("eval", "--processed-dir", str(d / "test"), "--labels", str(d / "test.log"),
                                        "--level", "session"))
    assert "nothing to evaluate" in err
    err = assert_one_line_error(run_cli("eval", "--processed-dir", str(tmp_path), "--labels", str(d / "test.log")))
    assert "no result files" in err
    err = assert_one_line_error(run_cli("eval", "--processed-dir", str(d / "test"), "--labels",
                                        str(shared_data("hdfs_labeled", "HDFS_2k.anomaly_label.csv"))))
    assert "needs per-line labels" in err
    two = pd.read_parquet(d / "test" / "baseline_scores.parquet")
    two.loc[5:, "source"] = "other.log"
    (tmp_path / "x").mkdir()
    two.to_parquet(tmp_path / "x" / "baseline_scores.parquet")
    with pytest.raises(DataError, match="span 2 sources"):
        evaluate_dir(tmp_path / "x", d / "test.log")


# ---- honesty: flag-all reference, training-split refusal, (source, line) joins --------------------

def test_every_block_reports_the_flag_all_reference(bgl_run):
    d = bgl_run
    report = evaluate_dir(d / "test", d / "test.log")
    for r in report["results"]:
        share = r["positives"] / r["n"]
        ref = r["flag_all"]
        assert ref["precision"] == pytest.approx(share) and ref["recall"] == (1.0 if r["positives"] else 0.0)
        assert ref["f1"] == pytest.approx(2 * share / (1 + share) if r["positives"] else 0.0)
    out = run_cli("eval", "--processed-dir", str(d / "test"), "--labels", str(d / "test.log"), check=True)
    rows = out.stdout.decode().splitlines()
    refs = [i for i, row in enumerate(rows) if row.split()[:1] == ["flag_all"]]
    assert len(refs) == len(report["results"])  # one reference row under each detector row
    line = next(r for r in report["results"] if r["level"] == "line")
    row = next(rows[i].split() for i in refs if rows[i - 1].split()[1] == "line")
    assert row[1:5] == [str(line["n"]), f"{line['flag_all']['precision']:.3f}", "1.000",
                        f"{line['flag_all']['f1']:.3f}"]


def test_deeplog_results_on_training_sessions_are_refused(tmp_path):
    blocks = pd.read_csv(shared_data("hdfs_labeled", "HDFS_100k.block_sessions.csv"))
    train = blocks[blocks["Split"] == "train"].head(300)
    test = blocks[blocks["Split"] == "test"]
    test = pd.concat([test[test["Label"] == "Anomaly"], test[test["Label"] == "Normal"].head(150)])
    pd.concat([train, test]).to_csv(tmp_path / "blocks.csv", index=False)
    seq, model = tmp_path / "sequences.parquet", tmp_path / "deeplog.pth"
    import_sequences(tmp_path / "blocks.csv", "blocks-csv", seq,
                     templates_path=shared_data("hdfs_labeled", "HDFS_100k.templates.csv"))
    run_cli("deeplog-train", "--seq", str(seq), "--out", str(model), "--split", "train", "--hidden", "16",
            "--layers", "1", "--embed-dim", "8", "--epochs", "2", "--quiet", check=True)
    # Inference without --split scores the training sessions too: eval refuses, naming both ways out.
    run_cli("deeplog-infer", "--seq", str(seq), "--model", str(model), "--quiet", check=True)
    err = assert_one_line_error(run_cli("eval", "--processed-dir", str(tmp_path)))
    assert "300 session(s) of the 'train' split" in err and "--split test" in err and "--split train" in err
    on_train = evaluate_dir(tmp_path, split="train")
    assert on_train["split"] == "train" and on_train["results"][0]["n"] == 300
    both = evaluate_dir(tmp_path, split="test")["results"][0]
    # The honest run: inference on the test split only gives the same numbers as `eval --split test`.
    run_cli("deeplog-infer", "--seq", str(seq), "--model", str(model), "--split", "test", "--quiet", check=True)
    honest = evaluate_dir(tmp_path)["results"][0]
    assert honest == both and honest["n"] == len(test)
    assert honest["flag_all"]["precision"] == pytest.approx((test["Label"] == "Anomaly").mean())
    with pytest.raises(DataError, match="no session of split 'dev'"):
        evaluate_dir(tmp_path, split="dev")


def test_equal_line_numbers_of_two_files_are_not_merged(bgl_run, tmp_path):
    """Two 400-line parts of BGL_2k in one folder: labels with a source column join by (source, line);
    the result equals the two files evaluated one at a time."""
    d = bgl_run
    lines = shared_data("loghub_2k", "BGL", "corrected", "BGL_2k.log").read_text().splitlines(keepends=True)
    parts = {"a.log": lines[1200:1600], "b.log": lines[1600:2000]}
    (tmp_path / "logs").mkdir()
    singles = []
    for name, chunk in parts.items():
        (tmp_path / "logs" / name).write_text("".join(chunk))
        one = tmp_path / f"only_{name}"
        parse_logs(str(tmp_path / "logs" / name), str(one), drain_state=str(d / "state.json"), frozen=True)
        run_baseline(one / "parsed.parquet", one, model_path=d / "stats.json")
        singles.append({r["level"]: r for r in evaluate_dir(one, tmp_path / "logs" / name)["results"]})
    both = tmp_path / "both"
    parse_logs(str(tmp_path / "logs"), str(both), drain_state=str(d / "state.json"), frozen=True)
    run_baseline(both / "parsed.parquet", both, model_path=d / "stats.json")
    flags = [(name, n, not text.startswith("- ")) for name, chunk in parts.items()
             for n, text in enumerate(chunk, start=1)]
    labels = tmp_path / "labels.parquet"  # sources by file name: matched to the parsed paths' base names
    pq.write_table(pa.table({"source": [f[0] for f in flags], "line_no": [f[1] for f in flags],
                             "is_anomaly": [f[2] for f in flags]}), labels)
    report = evaluate_dir(both, labels)
    assert report["labels"]["sources"] == 2
    for r in report["results"]:
        for k in ("n", "positives", "tp", "fp", "fn", "tn"):
            assert r[k] == sum(s[r["level"]][k] for s in singles), (r["level"], k)
    assert next(r for r in report["results"] if r["level"] == "line")["n"] == 800
    # Per-line DeepLog-style results (a line is a miss when its template never occurred in training):
    # joined by their source column too.
    train = set(pd.read_parquet(d / "train" / "parsed.parquet")["template"])
    for folder in [both, *(tmp_path / f"only_{name}" for name in parts)]:
        test = pd.read_parquet(folder / "parsed.parquet")
        pq.write_table(pa.table({"session": test["source"], "source": test["source"], "idx": np.arange(len(test)),
                                 "line_no": test["line_no"], "in_topk": test["template"].isin(train).to_numpy()}),
                       folder / "deeplog_infer.parquet")
    per_line = [next(r for r in evaluate_dir(tmp_path / f"only_{name}", tmp_path / "logs" / name)["results"]
                     if r["file"] == "deeplog_infer.parquet" and r["level"] == "line") for name in parts]
    line = next(r for r in evaluate_dir(both, labels)["results"]
                if r["file"] == "deeplog_infer.parquet" and r["level"] == "line")
    assert line["n"] == 800 and all(line[k] == sum(x[k] for x in per_line) for k in ("tp", "fp", "fn", "tn"))
    pd.read_parquet(both / "deeplog_infer.parquet").drop(columns="source").to_parquet(both / "deeplog_infer.parquet")
    with pytest.raises(DataError, match="results name no source, but the labels cover 2 sources"):
        evaluate_dir(both, labels)
    with pytest.raises(DataError, match="span 2 sources"):  # labels without a source cannot tell them apart
        evaluate_dir(both, d / "test.log")
    pq.write_table(pa.table({"source": ["a.log", "c.log"], "line_no": [1, 1], "is_anomaly": [True, False]}),
                   tmp_path / "wrong.parquet")
    with pytest.raises(DataError, match="no labels for source .*b.log"):
        evaluate_dir(both, tmp_path / "wrong.parquet")
