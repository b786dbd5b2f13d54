"""`alog-detect eval`: score the result files of a processed folder against labels; write `eval.json`.

Result files and the levels each supports:

* `baseline_scores.parquet` (line labels): `window` (truth: the window holds an anomalous line),
  `line` (a line is flagged when a flagged window covers it; AUC from the highest covering window
  score) and `line_evidence` (a line is flagged when a flagged window names it in `evidence_lines`).
* `deeplog_sessions.parquet`: `session` (truth from session labels, the file's own `label` column, the
  `label` column of `sequences.parquet` beside it, or line labels through its `line_nos`; score =
  `score` column, else `misses`).
* `deeplog_infer.parquet` (line labels): `line` (flagged = the line's key was not in the top-k) and
  `window` (`window_size` consecutive predicted lines, `stride` apart; flagged when any line is).

Line numbers are matched without the source: results that span several sources are refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.eval import (duplicate_stats, evaluate, line_scores_from_windows, lines_covered,
                                       sliding_windows, windows_truth)
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.labels import LineLabels, SessionLabels, load_labels

RESULT_FILES = ("baseline_scores.parquet", "deeplog_sessions.parquet", "deeplog_infer.parquet")
LEVELS = ("line", "window", "session")
NEEDED = {
    "baseline_scores.parquet": ("window_start_line", "window_end_line", "score", "is_anomaly"),
    "deeplog_sessions.parquet": ("session", "is_anomaly"),
    "deeplog_infer.parquet": ("session", "line_no", "in_topk"),
}


def _read(path: Path, needed: tuple[str, ...]) -> pd.DataFrame:
    try:
        df = pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    if df.empty:
        raise DataError(f"{path}: no rows")
    if "source" in df.columns and df["source"].nunique() > 1:
        raise DataError(f"{path}: results span {df['source'].nunique()} sources; line labels cannot tell them apart")
    return df


def _line_truth(labels: LineLabels, line_nos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask of `line_nos` that carry a label, their truth)."""
    pos = np.searchsorted(labels.line_no, line_nos)
    pos = np.minimum(pos, len(labels.line_no) - 1)
    known = labels.line_no[pos] == line_nos
    return known, labels.is_anomaly[pos[known]]


def _sorted_labels(labels: LineLabels) -> LineLabels:
    order = np.argsort(labels.line_no)
    return LineLabels(labels.line_no[order], labels.is_anomaly[order], labels.path)


def _eval_baseline(df: pd.DataFrame, labels: LineLabels, levels: set[str]) -> list[dict]:
    starts = df["window_start_line"].to_numpy(np.int64)
    ends = df["window_end_line"].to_numpy(np.int64)
    flags = df["is_anomaly"].to_numpy(bool)
    scores = df["score"].to_numpy(float)
    out = []
    if "window" in levels:
        truth = windows_truth(labels.line_no[labels.is_anomaly], starts, ends)
        out.append({"level": "window", **evaluate(truth, flags, scores)})
    if "line" in levels:
        covered = lines_covered(labels.line_no, starts, ends)
        lines = labels.line_no[covered]
        truth = labels.is_anomaly[covered]
        pred = lines_covered(lines, starts, ends, flags)
        line_scores = line_scores_from_windows(lines, starts, ends, scores)
        extra = {"labelled_lines_outside_windows": int((~covered).sum())}
        out.append({"level": "line", **evaluate(truth, pred, line_scores), **extra})
        if "evidence_lines" in df.columns:
            named = np.concatenate([np.asarray(v, dtype=np.int64) for v in df.loc[flags, "evidence_lines"]]
                                   + [np.zeros(0, np.int64)])
            out.append({"level": "line_evidence", **evaluate(truth, np.isin(lines, named)), **extra})
    return out


def _session_truth(df: pd.DataFrame, labels, seq: pd.DataFrame | None) -> pd.Series:
    """Truth per row of a sessions result (NaN where unknown)."""
    if isinstance(labels, SessionLabels):
        return df["session"].astype(str).map(dict(zip(labels.session.astype(str), labels.is_anomaly)))
    if isinstance(labels, LineLabels):
        if seq is None:
            raise DataError("session-level eval with line labels needs sequences.parquet in the folder")
        bad = set(labels.line_no[labels.is_anomaly].tolist())
        good = set(labels.line_no.tolist())
        per = {s: (any(n in bad for n in ln) if any(n in good for n in ln) else None)
               for s, ln in zip(seq["session"].astype(str), seq["line_nos"])}
        return df["session"].astype(str).map(per)
    if "label" in df.columns and df["label"].notna().any():
        return df["label"].map(lambda v: None if pd.isna(v) else v == 1)
    if seq is not None and seq["label"].notna().any():
        per = {s: (None if pd.isna(v) else v == 1) for s, v in zip(seq["session"].astype(str), seq["label"])}
        return df["session"].astype(str).map(per)
    raise DataError("no session labels: pass --labels, or evaluate sessions that carry a label column")


def _eval_sessions(df: pd.DataFrame, labels, seq: pd.DataFrame | None) -> list[dict]:
    truth = _session_truth(df, labels, seq)
    known = truth.notna().to_numpy()
    score_col = "score" if "score" in df.columns else ("misses" if "misses" in df.columns else None)
    scores = df.loc[known, score_col].to_numpy(float) if score_col else None
    res = evaluate(truth[known].astype(bool).to_numpy(), df.loc[known, "is_anomaly"].to_numpy(bool), scores)
    return [{"level": "session", **res, "unlabelled_sessions": int((~known).sum()), "score_column": score_col}]


def _eval_infer(df: pd.DataFrame, labels: LineLabels, levels: set[str], window_size: int, stride: int) -> list[dict]:
    df = df[df["line_no"].notna()]
    if df.empty:
        raise DataError("deeplog_infer.parquet has no line numbers (imported sequences): no line-level eval")
    per_line = df.assign(miss=~df["in_topk"].astype(bool)).groupby("line_no").agg(
        miss=("miss", "any"), **({"score": ("score", "max")} if "score" in df.columns else {}))
    lines = per_line.index.to_numpy(np.int64)
    known, truth = _line_truth(labels, lines)
    out = []
    if "line" in levels:
        scores = per_line["score"].to_numpy(float)[known] if "score" in per_line.columns else None
        out.append({"level": "line", **evaluate(truth, per_line["miss"].to_numpy(bool)[known], scores),
                    "unlabelled_lines": int((~known).sum())})
    if "window" in levels:
        starts, ends = sliding_windows(lines[known], window_size, stride)
        bad = lines[known][truth]
        flagged = lines[known][per_line["miss"].to_numpy(bool)[known]]
        out.append({"level": "window", "window_size": window_size, "stride": stride,
                    **evaluate(windows_truth(bad, starts, ends), windows_truth(flagged, starts, ends))})
    return out


def leakage(processed_dir: Path, train_path: str | os.PathLike | None) -> dict | None:
    """Exact-duplicate test sessions (or window count vectors) that also occur in training."""
    from anomaly_log_detector.builders.deeplog import read_sequences
    from anomaly_log_detector.builders.mscred import read_window_counts

    seq_path = processed_dir / "sequences.parquet"
    if train_path is None:
        if not seq_path.exists():
            return None
        seq = read_sequences(seq_path)
        if "split" not in seq.columns or not {"train", "test"} <= set(seq["split"].dropna()):
            return None
        train, test = seq[seq["split"] == "train"], seq[seq["split"] == "test"]
        return {"unit": "sessions", "train_from": "split column",
                **_sequence_dups(train, test)}
    names = set(pq.read_schema(train_path).names) if Path(train_path).exists() else set()
    if "events" in names:
        return {"unit": "sessions", "train_from": str(train_path),
                **_sequence_dups(read_sequences(train_path), read_sequences(seq_path))}
    train = read_window_counts(train_path)
    test = read_window_counts(processed_dir / "window_counts.parquet")
    cols = sorted({c for c in [*train.columns, *test.columns] if c.startswith("t") and c[1:].isdigit()},
                  key=lambda c: int(c[1:]))
    key = lambda df: [tuple(r) for r in df.reindex(columns=cols, fill_value=0).to_numpy(np.int64)]
    return {"unit": "windows", "train_from": str(train_path), **duplicate_stats(key(train), key(test))}


def _sequence_dups(train: pd.DataFrame, test: pd.DataFrame) -> dict:
    key = lambda df: [tuple(np.asarray(e).tolist()) for e in df["events"]]
    flags = test["label"].fillna(0).astype(int).eq(1) if test["label"].notna().any() else None
    out = duplicate_stats(key(train), key(test), flags)
    if flags is not None and train["label"].notna().any():
        # Anomalous test sessions identical to a NORMAL training session: no sequence model can flag them.
        normal = set(key(train[train["label"] == 0]))
        out["anomalous_equal_to_normal_train"] = int(sum(k in normal for k, f in zip(key(test), flags) if f))
    return out


def evaluate_dir(processed_dir: str | os.PathLike, labels_path: str | os.PathLike | None = None,
                 level: str | None = None, window_size: int = 50, stride: int = 25,
                 train_path: str | os.PathLike | None = None) -> dict:
    """Evaluate every result file in `processed_dir`; write and return `eval.json`'s content."""
    from anomaly_log_detector.builders.deeplog import read_sequences

    if level is not None and level not in LEVELS:
        raise DataError(f"unknown level {level!r} (choose from {', '.join(LEVELS)})")
    if window_size < 1 or stride < 1:
        raise DataError("window size and stride must be >= 1")
    folder = Path(processed_dir)
    present = [f for f in RESULT_FILES if (folder / f).exists()]
    labels = load_labels(labels_path) if labels_path else None
    if isinstance(labels, LineLabels):
        labels = _sorted_labels(labels)
    seq = read_sequences(folder / "sequences.parquet") if (folder / "sequences.parquet").exists() else None
    levels = set(LEVELS) if level is None else {level}
    results, skipped = [], []
    for name in present:
        df = _read(folder / name, NEEDED[name])
        if name == "deeplog_sessions.parquet":
            rows = _eval_sessions(df, labels, seq) if "session" in levels else []
        elif not isinstance(labels, LineLabels):
            skipped.append(f"{name}: needs per-line labels")
            continue
        elif name == "baseline_scores.parquet":
            rows = _eval_baseline(df, labels, levels)
        else:
            rows = _eval_infer(df, labels, levels, window_size, stride)
        if not rows:
            skipped.append(f"{name}: no {level}-level evaluation")
        results += [{"file": name, **r} for r in rows]
    leak = leakage(folder, train_path)
    if not results and leak is None:
        why = "; ".join(skipped) or f"no result files ({', '.join(RESULT_FILES)}) and no train/test split"
        raise DataError(f"{folder}: nothing to evaluate: {why}")
    report = {"processed_dir": str(folder), "labels": _labels_info(labels), "results": results,
              "skipped": skipped, "leakage": leak}
    tmp = folder / "eval.json.tmp"
    tmp.write_text(json.dumps(report, indent=1), encoding="utf-8")
    os.replace(tmp, folder / "eval.json")
    return report


def _labels_info(labels) -> dict | None:
    if labels is None:
        return None
    return {"path": labels.path, "kind": labels.kind, "count": int(len(labels.is_anomaly)),
            "anomalies": int(labels.is_anomaly.sum())}


def format_table(report: dict) -> str:
    """The human table printed by `alog-detect eval`."""
    head = f"{'file':<26} {'level':<14} {'n':>7} {'prec':>6} {'recall':>6} {'f1':>6} " \
           f"{'tp':>6} {'fp':>6} {'fn':>6} {'tn':>7} {'auc':>6}"
    lines = [head, "-" * len(head)] if report["results"] else []
    for r in report["results"]:
        auc = f"{r['auc']:.3f}" if r.get("auc") is not None else "-"
        lines.append(f"{r['file']:<26} {r['level']:<14} {r['n']:>7} {r['precision']:>6.3f} {r['recall']:>6.3f} "
                     f"{r['f1']:>6.3f} {r['tp']:>6} {r['fp']:>6} {r['fn']:>6} {r['tn']:>7} {auc:>6}")
    for s in report["skipped"]:
        lines.append(f"skipped: {s}")
    leak = report.get("leakage")
    if leak:
        anomalous = (f"; anomalous: {leak['anomalous_duplicates']} of {leak['test_anomalous']}"
                     if "test_anomalous" in leak else "")
        if "anomalous_equal_to_normal_train" in leak:
            anomalous += f", {leak['anomalous_equal_to_normal_train']} equal to a normal one"
        lines.append(f"leakage: {leak['test_duplicates']} of {leak['test']} test {leak['unit']} "
                     f"({leak['fraction']:.1%}) equal a training one ({leak['train_from']}{anomalous})")
    return "\n".join(lines)
