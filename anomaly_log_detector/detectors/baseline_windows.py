"""The baseline's windows over a million lines without a Python object per line.

The same windows, counts and window table as builders/mscred.py (``window_bounds``, ``count_matrix``,
``window_table``), computed from integer codes and a block of windows at a time: those build an object
array of every line's source and a windows x rows matrix of every (window, line) pair, which at a
million lines add ~200 MB to the detector's working set. The results are identical to theirs (the
counts to the order of their entries, which the baseline's sums follow).
"""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import pandas as pd
from scipy import sparse

from anomaly_log_detector.builders.mscred import check_window, count_matrix, run_windows
from anomaly_log_detector.detectors.baseline_codes import codes, text_at

# Windows per block: with 50-line windows a block spans ~50k (window, line) pairs, under 1 MB an array
BLOCK = 1024


def source_windows(sources: pd.Series, window_size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """``window_bounds(sources, window_size, stride)``: (start_row, end_row) of every window, each run
    of one source windowed on its own (a missing source is the empty one, as there)."""
    check_window(window_size, stride)
    code, uniques = codes(sources)
    if (code < 0).any():
        # window_bounds fills nulls with "": the same run as an empty source next to them.
        code[code < 0] = uniques.index("") if "" in uniques else len(uniques)
    return run_windows(code, window_size, stride)


def blocks(n_windows: int, block: int | None = None) -> Iterator[slice]:
    """Consecutive slices of at most `block` (default `BLOCK`) windows."""
    block = block or BLOCK
    for w in range(0, n_windows, block):
        yield slice(w, min(w + block, n_windows))


def block_counts(labels: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int) -> sparse.csr_matrix:
    """``count_matrix(labels, starts, ends, width)``, a block of windows at a time (windows come in row
    order, so a block covers rows starts[first] to ends[last]); the same entries in the same order."""
    parts = []
    for b in blocks(len(starts)):
        lo, hi = int(starts[b][0]), int(ends[b][-1])
        parts.append(_count_block(labels[lo:hi], starts[b] - lo, ends[b] - lo, width))
    if not parts:
        return count_matrix(labels, starts, ends, width)
    return sparse.vstack(parts, format="csr")


def _count_block(labels: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int) -> sparse.csr_matrix:
    """``count_matrix``: the same product of the same two matrices, the windows' rows laid out without
    a Python loop over the windows."""
    n = len(labels)
    onehot = sparse.csr_matrix((np.ones(n, dtype=np.int32), labels, np.arange(n + 1)), shape=(n, width))
    rows = window_rows(starts, ends)
    indptr = np.concatenate([[0], np.cumsum(ends - starts)])
    windows = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), rows, indptr), shape=(len(starts), n))
    return (windows @ onehot).tocsr()


def window_rows(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The rows of the windows laid end to end (int64), window after window."""
    lengths = ends - starts
    # Row = the window's start + the pair's position within its window.
    first = np.cumsum(lengths) - lengths
    return np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - first, lengths)


def pair_rows(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(window within the block, row) of every line of the windows, window after window."""
    return np.repeat(np.arange(len(starts)), ends - starts), window_rows(starts, ends)


def window_frame(X: pd.DataFrame, starts: np.ndarray, ends: np.ndarray) -> pd.DataFrame:
    """``window_table(X, starts, ends)``: the source is looked up for the windows' first rows only."""
    line_no = X["line_no"].to_numpy(np.int64)
    source: Any = []
    if len(starts) and isinstance(X["source"].dtype, pd.StringDtype):
        source = text_at(X["source"], starts, na=pd.NA)  # as .astype("string"): text as is, nulls NA
    elif len(starts):
        source = X["source"].iloc[starts].astype("string").to_numpy()
    return pd.DataFrame({
        "window": np.arange(len(starts), dtype=np.int64),
        "source": source,
        "start_line": line_no[starts],
        "end_line": line_no[ends - 1],
        "start_row": starts,
        "end_row": ends,
        "n_lines": (ends - starts).astype(np.int64),
    })
