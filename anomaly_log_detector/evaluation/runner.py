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

Every metrics block also holds `flag_all`: the precision / recall / F1 of flagging everything, the
reference a detector has to beat.

Lines are joined to labels by (source, line number): results name their source (`source` column, or
the session's source in `sequences.parquet`) and labels may carry a `source` column. Without one on
either side the line numbers are taken to be of one file, and results spanning several sources are
refused rather than merged.

Honesty about the split: when `sequences.parquet` has a `split` column, DeepLog results that include
sessions of the training split (inference ran without `--split test`) are refused unless `split`
asks for exactly those sessions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.evaluation.metrics import (duplicate_stats, evaluate, line_scores_from_windows, lines_covered,
                                       sliding_windows, windows_truth)
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.evaluation.labels import LineLabels, SessionLabels, load_labels

RESULT_FILES = ("baseline_scores.parquet", "deeplog_sessions.parquet", "deeplog_infer.parquet")
LEVELS = ("line", "window", "session")
TRAIN_SPLIT = "train"
# (source, line number) as one sortable int64: the source's code above, the line number below.
SOURCE_SHIFT = np.int64(1) << np.int64(40)
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
    return df


# ---- (source, line number) keys ---------------------------------------------------------------

class SourceKeys:
    """Joins results to line labels by (source, line number), as one sorted int64 key per line.

    `labels` is the labels keyed and sorted; :meth:`codes` gives the source code of result rows. Without
    a source on the labels every code is 0 and a key is the plain line number."""

    def __init__(self, labels: LineLabels):
        self.names: list[str] | None = None
        codes = np.zeros(len(labels.line_no), dtype=np.int64)
        if labels.source is not None:
            self.names = sorted(set(labels.source.tolist()))
            codes = pd.Categorical(labels.source, categories=self.names).codes.astype(np.int64)
        keys = codes * SOURCE_SHIFT + labels.line_no.astype(np.int64)
        order = np.argsort(keys, kind="stable")
        self.labels = LineLabels(keys[order], labels.is_anomaly[order], labels.path)

    def _match(self, source: str, what: str) -> int:
        names = self.names or []
        if source in names:
            return names.index(source)
        base = [i for i, n in enumerate(names) if os.path.basename(n) == os.path.basename(source)]
        if len(base) == 1:  # the same file named by another path (relative / absolute)
            return base[0]
        raise DataError(f"{what}: no labels for source {source!r} (the labels name {', '.join(map(repr, names))})")

    def codes(self, sources: pd.Series | None, what: str) -> np.ndarray | int:
        """Per result row: the code of its source (0 when labels and results are of one source). A
        null source is a session whose lines span sources: its line numbers cannot be placed."""
        if sources is None:
            if self.names is not None and len(self.names) > 1:
                raise DataError(f"{what}: results name no source, but the labels cover {len(self.names)} sources")
            return 0
        if sources.isna().any():
            raise DataError(f"{what}: some sessions span several sources; their line numbers cannot be matched "
                            f"to labels (build sequences with one session per source, e.g. --session-by none)")
        distinct = sources.unique()
        if self.names is None or (len(self.names) == 1 and len(distinct) <= 1):
            if len(distinct) > 1:
                raise DataError(f"{what}: results span {len(distinct)} sources; line labels cannot tell them apart "
                                f"(give labels with a source column)")
            return 0
        mapping = {s: self._match(str(s), what) for s in distinct}
        return sources.map(mapping).to_numpy(np.int64)

    def key(self, codes: np.ndarray | int, line_nos: np.ndarray) -> np.ndarray:
        return np.asarray(codes, dtype=np.int64) * SOURCE_SHIFT + np.asarray(line_nos, dtype=np.int64)


def _line_truth(labels: LineLabels, line_nos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mask of `line_nos` that carry a label, their truth)."""
    pos = np.searchsorted(labels.line_no, line_nos)
    pos = np.minimum(pos, len(labels.line_no) - 1)
    known = labels.line_no[pos] == line_nos
    return known, labels.is_anomaly[pos[known]]


def _session_sources(df: pd.DataFrame, seq: pd.DataFrame | None) -> pd.Series | None:
    """Per result row: the source of its session (from `sequences.parquet`; null when the session spans
    sources), None without one."""
    if seq is None or "source" not in seq.columns:
        return None
    return df["session"].astype(str).map(dict(zip(seq["session"].astype(str), seq["source"])))


def _eval_baseline(df: pd.DataFrame, keys: SourceKeys, levels: set[str]) -> list[dict]:
    codes = keys.codes(df["source"] if "source" in df.columns else None, "baseline_scores.parquet")
    labels = keys.labels
    starts = keys.key(codes, df["window_start_line"].to_numpy(np.int64))
    ends = keys.key(codes, df["window_end_line"].to_numpy(np.int64))
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
            row_codes = np.broadcast_to(np.asarray(codes, dtype=np.int64), (len(df),))[flags]
            named = np.concatenate([keys.key(c, np.asarray(v, dtype=np.int64))
                                    for c, v in zip(row_codes, df.loc[flags, "evidence_lines"])]
                                   + [np.zeros(0, np.int64)])
            out.append({"level": "line_evidence", **evaluate(truth, np.isin(lines, named)), **extra})
    return out


def _session_truth(df: pd.DataFrame, labels, seq: pd.DataFrame | None) -> pd.Series:
    """Truth per row of a sessions result (NaN where unknown)."""
    if isinstance(labels, SessionLabels):
        return df["session"].astype(str).map(dict(zip(labels.session.astype(str), labels.is_anomaly)))
    if isinstance(labels, SourceKeys):
        if seq is None:
            raise DataError("session-level eval with line labels needs sequences.parquet in the folder")
        wanted = seq["session"].astype(str).isin(set(df["session"].astype(str)))
        with_lines = seq[wanted & seq["line_nos"].map(lambda v: v is not None and len(v) > 0)]
        sources = with_lines["source"] if "source" in with_lines.columns else None
        codes = np.broadcast_to(np.asarray(labels.codes(sources, "sequences.parquet"), dtype=np.int64),
                                (len(with_lines),))
        bad = set(labels.labels.line_no[labels.labels.is_anomaly].tolist())
        good = set(labels.labels.line_no.tolist())
        per = {}
        for s, c, ln in zip(with_lines["session"].astype(str), codes, with_lines["line_nos"]):
            k = labels.key(c, np.asarray(ln, dtype=np.int64)).tolist()
            per[s] = any(n in bad for n in k) if any(n in good for n in k) else None
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


def _eval_infer(df: pd.DataFrame, keys: SourceKeys, seq: pd.DataFrame | None, levels: set[str], window_size: int,
                stride: int) -> list[dict]:
    df = df[df["line_no"].notna()]
    if df.empty:
        raise DataError("deeplog_infer.parquet has no line numbers (imported sequences): no line-level eval")
    sources = df["source"] if "source" in df.columns else _session_sources(df, seq)
    codes = keys.codes(sources, "deeplog_infer.parquet")
    df = df.assign(key=keys.key(codes, df["line_no"].to_numpy(np.int64)), miss=~df["in_topk"].astype(bool))
    per_line = df.groupby("key").agg(miss=("miss", "any"), **({"score": ("score", "max")} if "score" in df.columns
                                                               else {}))
    lines = per_line.index.to_numpy(np.int64)
    known, truth = _line_truth(keys.labels, lines)
    out = []
    if "line" in levels:
        scores = per_line["score"].to_numpy(float)[known] if "score" in per_line.columns else None
        out.append({"level": "line", **evaluate(truth, per_line["miss"].to_numpy(bool)[known], scores),
                    "unlabelled_lines": int((~known).sum())})
    if "window" in levels:
        starts, ends = _windows_per_source(lines[known], window_size, stride)
        bad = lines[known][truth]
        flagged = lines[known][per_line["miss"].to_numpy(bool)[known]]
        out.append({"level": "window", "window_size": window_size, "stride": stride,
                    **evaluate(windows_truth(bad, starts, ends), windows_truth(flagged, starts, ends))})
    return out


def _windows_per_source(keys: np.ndarray, window_size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """`sliding_windows` over each source's lines (sorted keys), so no window spans two files."""
    codes = keys // SOURCE_SHIFT
    parts = [sliding_windows(keys[codes == c], window_size, stride) for c in np.unique(codes)]
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _split_rows(df: pd.DataFrame, seq: pd.DataFrame | None, split: str | None, name: str) -> pd.DataFrame:
    """The rows of a DeepLog result whose session is of `split`; without `split`, refuse results that
    include training-split sessions (scores on the data the model learned say nothing)."""
    if seq is None or "split" not in seq.columns or not seq["split"].notna().any():
        if split is not None:
            raise DataError(f"--split {split}: the sequences beside {name} have no split column")
        return df
    of = df["session"].astype(str).map(dict(zip(seq["session"].astype(str), seq["split"])))
    if split is None:
        n = df.loc[of.eq(TRAIN_SPLIT).to_numpy(), "session"].nunique()
        if n:
            raise DataError(f"{name} includes {n:,} session(s) of the {TRAIN_SPLIT!r} split (inference ran "
                            f"without --split test): rerun `alog-detect deeplog-infer ... --split test`, or pass "
                            f"`eval --split {TRAIN_SPLIT}` if evaluating on training sessions is what you want")
        return df
    kept = df[of.eq(split).to_numpy()]
    if kept.empty:
        raise DataError(f"{name}: no session of split {split!r} (splits: "
                        f"{', '.join(sorted(map(str, seq['split'].dropna().unique())))})")
    return kept


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
                 train_path: str | os.PathLike | None = None, split: str | None = None) -> dict:
    """Evaluate every result file in `processed_dir`; write and return `eval.json`'s content.
    `split` keeps the DeepLog sessions of that split (see the module docstring)."""
    from anomaly_log_detector.builders.deeplog import read_sequences

    if level is not None and level not in LEVELS:
        raise DataError(f"unknown level {level!r} (choose from {', '.join(LEVELS)})")
    if window_size < 1 or stride < 1:
        raise DataError("window size and stride must be >= 1")
    folder = Path(processed_dir)
    present = [f for f in RESULT_FILES if (folder / f).exists()]
    loaded = load_labels(labels_path) if labels_path else None
    labels = SourceKeys(loaded) if isinstance(loaded, LineLabels) else loaded
    seq = read_sequences(folder / "sequences.parquet") if (folder / "sequences.parquet").exists() else None
    levels = set(LEVELS) if level is None else {level}
    results, skipped = [], []
    for name in present:
        df = _read(folder / name, NEEDED[name])
        if name != "baseline_scores.parquet":
            df = _split_rows(df, seq, split, name)
        if name == "deeplog_sessions.parquet":
            rows = _eval_sessions(df, labels, seq) if "session" in levels else []
        elif not isinstance(labels, SourceKeys):
            skipped.append(f"{name}: needs per-line labels")
            continue
        elif name == "baseline_scores.parquet":
            rows = _eval_baseline(df, labels, levels)
        else:
            rows = _eval_infer(df, labels, seq, levels, window_size, stride)
        if not rows:
            skipped.append(f"{name}: no {level}-level evaluation")
        results += [{"file": name, **r} for r in rows]
    leak = leakage(folder, train_path)
    if not results and leak is None:
        why = "; ".join(skipped) or f"no result files ({', '.join(RESULT_FILES)}) and no train/test split"
        raise DataError(f"{folder}: nothing to evaluate: {why}")
    report = {"processed_dir": str(folder), "labels": _labels_info(loaded), "split": split, "results": results,
              "skipped": skipped, "leakage": leak}
    tmp = folder / "eval.json.tmp"
    tmp.write_text(json.dumps(report, indent=1), encoding="utf-8")
    os.replace(tmp, folder / "eval.json")
    return report


def _labels_info(labels) -> dict | None:
    if labels is None:
        return None
    out = {"path": labels.path, "kind": labels.kind, "count": int(len(labels.is_anomaly)),
           "anomalies": int(labels.is_anomaly.sum())}
    if getattr(labels, "source", None) is not None:
        out["sources"] = len(set(labels.source.tolist()))
    return out


def format_table(report: dict) -> str:
    """The human table printed by `alog-detect eval`."""
    head = f"{'file':<26} {'level':<14} {'n':>7} {'prec':>6} {'recall':>6} {'f1':>6} " \
           f"{'tp':>6} {'fp':>6} {'fn':>6} {'tn':>7} {'auc':>6}"
    lines = [head, "-" * len(head)] if report["results"] else []
    for r in report["results"]:
        auc = f"{r['auc']:.3f}" if r.get("auc") is not None else "-"
        lines.append(f"{r['file']:<26} {r['level']:<14} {r['n']:>7} {r['precision']:>6.3f} {r['recall']:>6.3f} "
                     f"{r['f1']:>6.3f} {r['tp']:>6} {r['fp']:>6} {r['fn']:>6} {r['tn']:>7} {auc:>6}")
        ref = r.get("flag_all")
        if ref:  # the reference row: flag everything (tp = positives, fp = the rest)
            lines.append(f"{'':<26} {'  flag_all':<14} {r['n']:>7} {ref['precision']:>6.3f} {ref['recall']:>6.3f} "
                         f"{ref['f1']:>6.3f} {r['positives']:>6} {r['n'] - r['positives']:>6} {0:>6} {0:>7} {'-':>6}")
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
