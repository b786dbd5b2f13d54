"""MS-CRED's inputs: the counts matrix of a window counts table, its source segments, the multi-scale
signature matrices of standardised series, and deterministic torch kernels while training."""

from __future__ import annotations

import contextlib
from typing import Sequence

import numpy as np
import pandas as pd

from anomaly_log_detector.errors import DataError


def signature_matrices(z: np.ndarray, scales: Sequence[int]) -> np.ndarray:
    """``(T, len(scales), n, n)``: for every step t and scale w, ``z[t-w+1..t]^T z[t-w+1..t] / w``; the
    first steps of a series average over the steps there are (``/ min(w, t + 1)``). Cumulative sums in
    float64, a few series at a time."""
    T, n = z.shape
    out = np.zeros((T, len(scales), n, n), np.float32)
    if T == 0:
        return out
    z = np.asarray(z, np.float64)
    block = max(1, 4_000_000 // max(T * n, 1))
    for i in range(0, n, block):
        outer = z[:, i:i + block, None] * z[:, None, :]                      # (T, b, n)
        csum = np.concatenate([np.zeros((1, *outer.shape[1:])), np.cumsum(outer, 0)])
        for s, w in enumerate(scales):
            ends = np.arange(1, T + 1)
            lo = np.maximum(ends - w, 0)
            out[:, s, i:i + block, :] = (csum[1:] - csum[lo]) / (ends - lo)[:, None, None]
    return out


def counts_matrix(X: pd.DataFrame) -> np.ndarray:
    """The ``t<i>`` columns as a dense (rows, max index + 1) matrix (absent indices are 0)."""
    if not isinstance(X, pd.DataFrame):
        raise DataError("MS-CRED takes a window counts table (a DataFrame with t<i> columns, see build-mscred)")
    cols = {int(c[1:]): c for c in X.columns if isinstance(c, str) and c.startswith("t") and c[1:].isdigit()}
    if not cols:
        raise DataError("no t<i> count columns: not a window_counts table (see build-mscred)")
    if X.empty:
        raise DataError("no windows in the window counts table")
    out = np.zeros((len(X), max(cols) + 1), np.float64)
    for i, c in cols.items():
        out[:, i] = X[c].to_numpy(np.float64)
    return out


def segments(X: pd.DataFrame) -> np.ndarray:
    """A code per row that changes where the source changes (steps never cross a source)."""
    if "source" not in X.columns:
        return np.zeros(len(X), np.int64)
    src = X["source"].astype("string").fillna("").to_numpy(dtype=object)
    return np.cumsum(np.r_[False, src[1:] != src[:-1]]).astype(np.int64)


@contextlib.contextmanager
def deterministic():
    """Deterministic torch kernels while training; the process-wide setting is restored after."""
    import torch

    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)
