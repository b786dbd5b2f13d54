"""Calibration helpers of the DeepLog detector: a prediction's surprise, which held-out windows
calibrate, their sessions' groups, and the tail quantile that turns a false-miss budget into a threshold."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from anomaly_log_detector.detectors.windows import build_windows, flatten
from anomaly_log_detector.errors import DataError

# Surprise given to novel keys and to an (impossible) zero tail.
MAX_SURPRISE = 30.0


def surprise_of(tail: np.ndarray) -> np.ndarray:
    """-log10 of the tail probability, capped at MAX_SURPRISE."""
    return np.minimum(-np.log10(np.maximum(np.asarray(tail, dtype=np.float64), 10.0 ** -MAX_SURPRISE)), MAX_SURPRISE)


def tail_quantile(s: np.ndarray, budget: float, u_quantile: float = 0.98, min_excesses: int = 10) -> float | None:
    """The value that a share ``budget`` of the population ``s`` is drawn from exceeds; 0 for an empty
    sample. Zeros (predictions that cannot be misses) are a point mass: the quantile is taken in the
    positive part at the budget divided by its share. It is empirical when the sample is large enough
    to show it, else extrapolated with an exponential tail over the ``u_quantile`` of the positive part
    (see DeepLogDetector._calibrate); None when there are too few positive values even for that."""
    s = np.asarray(s, dtype=np.float64)
    pos = s[s > 0]
    if pos.size == 0:
        return 0.0
    share = pos.size / s.size
    b = budget / share
    if b >= 1.0:
        return 0.0
    if pos.size * b >= min_excesses:
        return float(np.quantile(pos, 1.0 - b, method="higher"))
    u = float(np.quantile(pos, u_quantile))
    excess = pos[pos > u] - u
    if excess.size < min_excesses:
        return None
    p_u = excess.size / pos.size
    return float(max(pos.max(), u + excess.mean() * np.log(p_u / b)))


def session_groups(X: pd.DataFrame) -> np.ndarray | None:
    """The ``group`` of each session (e.g. its process), or None without that column."""
    if "group" not in X.columns:
        return None
    return X["group"].astype("string").fillna("").to_numpy(dtype=object)


def calibration_windows(det: Any, X: pd.DataFrame,
                         from_row: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The window keys of ``X`` that calibrate (all, or those whose target's parsed row >= ``from_row``;
    an EOS target counts with its session's last event) and their sessions' groups (or None)."""
    values, lengths = flatten(X["events"])
    w = build_windows(det._known(values), lengths, det.seq_len, det.eos)
    groups = session_groups(X)
    if from_row is None:
        return w.keys, None if groups is None else groups[w.session]
    rows, row_lengths = flatten(X["rows"])
    if not np.array_equal(row_lengths, lengths):
        raise DataError("calibration sessions: 'rows' and 'events' differ in length")
    starts = np.cumsum(lengths) - lengths
    last = np.minimum(w.pos, np.maximum(lengths[w.session] - 1, 0))
    has = lengths[w.session] > 0
    keep = np.zeros(len(w), dtype=bool)
    keep[has] = rows[starts[w.session[has]] + last[has]] >= from_row
    return w.keys[keep], None if groups is None else groups[w.session[keep]]
