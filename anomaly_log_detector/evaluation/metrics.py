"""Detection metrics (pure numpy / scikit-learn) shared by `alog-detect eval` and the benchmarks.

Conventions: precision is 0 when nothing is flagged, recall is 0 when nothing is anomalous, F1 is 0
when both are 0. ROC-AUC is None when the truth holds a single class. Window rules: a line is flagged
when any flagged window covers it; a window is anomalous when it holds any anomalous line.
"""

from __future__ import annotations

from typing import Hashable, Iterable

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support, roc_auc_score

from anomaly_log_detector.builders.mscred import segment_windows


def binary_metrics(y_true: Iterable[bool], y_pred: Iterable[bool]) -> dict:
    """TP/FP/FN/TN, precision, recall, F1 and accuracy of boolean predictions (scikit-learn's
    confusion matrix and scores; 0 instead of a warning where a ratio is undefined)."""
    t = np.asarray(y_true, dtype=bool)
    p = np.asarray(y_pred, dtype=bool)
    if t.shape != p.shape:
        raise ValueError(f"truth and predictions differ in length ({t.size} vs {p.size})")
    if not t.size:
        return {"n": 0, "positives": 0, "flagged": 0, "tp": 0, "fp": 0, "fn": 0, "tn": 0,
                "precision": 0.0, "recall": 0.0, "f1": 0.0, "accuracy": 0.0}
    tn, fp, fn, tp = (int(v) for v in confusion_matrix(t, p, labels=[False, True]).ravel())
    precision, recall, f1, _ = precision_recall_fscore_support(
        t, p, labels=[True], average="binary", pos_label=True, zero_division=0.0)
    return {"n": int(t.size), "positives": int(t.sum()), "flagged": int(p.sum()),
            "tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "precision": float(precision), "recall": float(recall), "f1": float(f1),
            "accuracy": float(accuracy_score(t, p))}


def roc_auc(y_true: Iterable[bool], scores: Iterable[float]) -> float | None:
    """Area under the ROC curve of `scores` (higher = more anomalous); None with one class only."""
    t = np.asarray(y_true, dtype=bool)
    s = np.asarray(scores, dtype=float)
    if t.all() or not t.any():
        return None
    return float(roc_auc_score(t, s))


def flag_all(y_true: Iterable[bool]) -> dict:
    """Precision / recall / F1 of flagging every item: the reference a detector must beat (its
    precision is the anomaly share, its recall 1 when anything is anomalous)."""
    t = np.asarray(y_true, dtype=bool)
    m = binary_metrics(t, np.ones(t.shape, dtype=bool))
    return {k: m[k] for k in ("precision", "recall", "f1")}


def evaluate(y_true: Iterable[bool], y_pred: Iterable[bool], scores: Iterable[float] | None = None) -> dict:
    """`binary_metrics`, `auc` (None without scores) and the `flag_all` reference of the same truth."""
    y_true = np.asarray(y_true, dtype=bool)
    out = binary_metrics(y_true, y_pred)
    out["auc"] = roc_auc(y_true, scores) if scores is not None else None
    out["flag_all"] = flag_all(y_true)
    return out


def _span_index(line_nos: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For windows [start, end] (inclusive line numbers): [a, b) positions into sorted `line_nos`."""
    return np.searchsorted(line_nos, starts, "left"), np.searchsorted(line_nos, ends, "right")


def lines_covered(line_nos: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                  flags: np.ndarray | None = None) -> np.ndarray:
    """Per line of sorted `line_nos`: covered by any window (or any window with `flags` true)."""
    line_nos = np.asarray(line_nos, dtype=np.int64)
    keep = np.ones(len(starts), dtype=bool) if flags is None else np.asarray(flags, dtype=bool)
    a, b = _span_index(line_nos, np.asarray(starts)[keep], np.asarray(ends)[keep])
    diff = np.zeros(len(line_nos) + 1, dtype=np.int64)
    np.add.at(diff, a, 1)
    np.add.at(diff, b, -1)
    return np.cumsum(diff[:-1]) > 0


def line_scores_from_windows(line_nos: np.ndarray, starts: np.ndarray, ends: np.ndarray,
                             scores: np.ndarray) -> np.ndarray:
    """Per line of sorted `line_nos`: the highest score of the windows covering it (-inf if none)."""
    out = np.full(len(line_nos), -np.inf)
    a, b = _span_index(np.asarray(line_nos, dtype=np.int64), np.asarray(starts), np.asarray(ends))
    for i, j, s in zip(a, b, np.asarray(scores, dtype=float)):
        np.maximum(out[i:j], s, out=out[i:j])
    return out


def windows_truth(anomalous_lines: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per window [start, end]: does it hold any of the (sorted) anomalous line numbers?"""
    a, b = _span_index(np.sort(np.asarray(anomalous_lines, dtype=np.int64)), np.asarray(starts), np.asarray(ends))
    return b > a


def sliding_windows(line_nos: np.ndarray, window_size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) line number of windows of `window_size` consecutive sorted lines, `stride` apart;
    a last window ending on the last line is added when the stride skips past it."""
    line_nos = np.sort(np.asarray(line_nos, dtype=np.int64))
    s = segment_windows(len(line_nos), window_size, stride)
    e = np.minimum(s + window_size, len(line_nos)) - 1
    return line_nos[s], line_nos[e]


def duplicate_stats(train: Iterable[Hashable], test: Iterable[Hashable],
                    test_flags: Iterable[bool] | None = None) -> dict:
    """Leakage: how many test items (sessions, windows) equal some training item exactly."""
    train = list(train)
    seen = set(train)
    test = list(test)
    dup = np.fromiter((x in seen for x in test), dtype=bool, count=len(test))
    out = {"train": len(train), "train_unique": len(seen), "test": len(test), "test_duplicates": int(dup.sum()),
           "fraction": float(dup.mean()) if test else 0.0,
           "test_unique": len(set(test)), "test_unique_duplicates": len(set(test) & seen)}
    if test_flags is not None:
        flags = np.asarray(list(test_flags), dtype=bool)
        out["test_anomalous"] = int(flags.sum())
        out["anomalous_duplicates"] = int((dup & flags).sum())
    return out
