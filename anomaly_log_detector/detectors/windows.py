"""Sliding windows over sessions for next-key models, built with numpy (no per-event Python loops).

Every event of every session is a prediction target, including the first: each session is laid out as
``seq_len`` PAD keys, its events, then (optionally) one EOS key, and a window is the ``seq_len`` keys
before a target. Sessions are laid out back to back, and because every session starts with its own
``seq_len`` PADs, a window never reaches into the previous session.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Iterable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from anomaly_log_detector.builders.vocab import EOS, PAD


#: Windows per step where a per-window result is computed a chunk at a time.
CHUNK = 1 << 16


@dataclass(frozen=True)
class Windows:
    """``keys[:, :-1]`` is the input window, ``keys[:, -1]`` the target key."""

    keys: np.ndarray      # (n, seq_len + 1) int64, or the compact dtype asked of build_windows
    session: np.ndarray   # (n,) int64: row of the session in the input
    pos: np.ndarray       # (n,) int64: 0-based position of the target; == session length for EOS
    event: np.ndarray     # (n,) int64: index of the target in the flat event array, -1 for EOS

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def inputs(self) -> np.ndarray:
        return self.keys[:, :-1]

    @property
    def targets(self) -> np.ndarray:
        return self.keys[:, -1]


def flatten(lists: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """A column of integer lists -> (flat int64 values, int64 lengths); a null list (None) counts as an
    empty one. A pandas column of Arrow lists (``pd.ArrowDtype``, e.g.
    ``table.to_pandas(types_mapper=arrow_lists)``) is read from its Arrow buffers, without a Python
    object per list."""
    if _as_arrow_lists(lists) is not None:
        values, lengths = list_values(lists)
        return values.astype(np.int64), lengths  # always a copy: the caller owns (and may write) it
    arrays = [np.asarray([] if x is None else x, dtype=np.int64).reshape(-1) for x in lists]
    lengths = np.fromiter((a.size for a in arrays), dtype=np.int64, count=len(arrays))
    values = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int64)
    return values, lengths


def list_values(lists: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """:func:`flatten` without its int64 copy: (flat values, int64 lengths), the values a read-only
    view of the Arrow buffer where the column is Arrow lists without nulls inside (else an int64
    array). For a reader: ``rows`` / ``line_nos`` are already int64, and a million-row copy of them
    is 8 MB for nothing."""
    arrow = _as_arrow_lists(lists)
    if arrow is None:
        return flatten(lists)
    import pyarrow.compute as pc

    lengths = pc.list_value_length(arrow).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    values = pc.list_flatten(arrow).to_numpy(zero_copy_only=False)
    if values.dtype.kind not in "iu":  # null elements inside the lists come out as floats
        values = values.astype(np.int64)
    return values, lengths


def arrow_lists(arrow_type):
    """A ``types_mapper`` for ``pa.Table.to_pandas``: list columns stay Arrow (``pd.ArrowDtype``), which
    :func:`flatten` reads without a numpy array per row; other columns convert as usual."""
    import pandas as pd
    import pyarrow as pa

    return pd.ArrowDtype(arrow_type) if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type) else None


def _as_arrow_lists(lists):
    """The Arrow list array behind a pandas column of ``pd.ArrowDtype`` lists, else None."""
    import pandas as pd
    import pyarrow as pa

    if not isinstance(getattr(lists, "dtype", None), pd.ArrowDtype) or not hasattr(lists, "array"):
        return None
    arrow = pa.chunked_array(lists.array.__arrow_array__()).combine_chunks()
    return arrow if pa.types.is_list(arrow.type) or pa.types.is_large_list(arrow.type) else None


def _ranks(lengths: np.ndarray) -> np.ndarray:
    """0..len-1 for each group, concatenated: [2, 3] -> [0, 1, 0, 1, 2]."""
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - starts


def compact_key_dtype(n_keys: int) -> np.dtype:
    """The smallest unsigned dtype that holds keys ``0 .. n_keys - 1`` on a little-endian machine
    (int64 elsewhere). Such keys, compared as raw bytes, sort exactly as their int64 form does: a
    little-endian int64 below 256**w is its ``w`` low bytes followed by zeros, so two rows first
    differ at the same element and the same byte in both forms. :func:`unique_rows` of compact keys
    therefore returns the same rows in the same order, with the same inverse and counts, while sorting
    a quarter (or less) of the bytes."""
    if sys.byteorder != "little":
        return np.dtype(np.int64)
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n_keys <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def build_windows(values: np.ndarray, lengths: np.ndarray, seq_len: int, eos: bool = True,
                  dtype: np.dtype | type = np.int64) -> Windows:
    """One window per event of every session (plus one EOS target per session when ``eos``); the keys
    in ``dtype`` (every value, PAD and EOS included, must fit: see :func:`compact_key_dtype`)."""
    if seq_len < 1:
        raise ValueError("seq_len must be >= 1")
    values = np.asarray(values)
    if values.dtype.kind not in "iu":  # integer keys are written into the layout as they are
        values = values.astype(np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    n_targets = lengths + int(eos)
    block = seq_len + n_targets
    starts = np.cumsum(block) - block
    layout = np.full(int(block.sum()), PAD, dtype=dtype)
    layout[np.repeat(starts + seq_len, lengths) + _ranks(lengths)] = values
    if eos:
        layout[starts + seq_len + lengths] = EOS
    pos = _ranks(n_targets)
    session = np.repeat(np.arange(len(lengths), dtype=np.int64), n_targets)
    target_at = starts[session] + seq_len + pos
    if len(layout) <= seq_len:  # no targets at all (no sessions, or only empty ones without EOS)
        keys = np.zeros((0, seq_len + 1), dtype=dtype)
    else:
        keys = sliding_window_view(layout, seq_len + 1)[target_at - seq_len]
    first_event = np.cumsum(lengths) - lengths
    event = np.where(pos < lengths[session], first_event[session] + pos, -1)
    return Windows(np.ascontiguousarray(keys), session, pos, event)


def unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct rows of a 2-D int array: (rows, inverse, counts), like ``np.unique(axis=0)`` but faster.

    Rows are ordered by their raw bytes (what ``np.unique`` of the rows viewed as ``np.void`` gives:
    for the compact uint8 keys, lexicographic by column), so rows that share their first t elements
    are contiguous - the prefix-trie pass of detectors/deeplog_onnx.py relies on it. Each row's
    bytes are read as big-endian 64-bit words (zero-padded to a multiple of 8), whose numeric order is
    the byte order, and the words are sorted a column at a time, last first, by stable sorts (a
    radix sort's passes): several times faster than sorting ``np.void`` items. Rows already in order
    (the contexts of sorted pairs) are not sorted again."""
    a = np.ascontiguousarray(a)
    n = a.shape[0]
    if n == 0:
        return a, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    raw = a.view(np.uint8).reshape(n, a.dtype.itemsize * a.shape[1])
    n_words = max(1, -(-raw.shape[1] // 8))  # rows of no columns: one zero word, all equal
    order = None if _words_in_order(raw, n_words) else _word_order(raw, n_words)
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for j in range(n_words):
        column = _word(raw, j) if order is None else _word(raw, j)[order]
        new[1:] |= column[1:] != column[:-1]
        del column
    starts = np.flatnonzero(new)
    rank = np.cumsum(new, dtype=np.int64)
    rank -= 1
    if order is None:
        inverse, first = rank, starts
    else:
        inverse = np.empty(n, dtype=np.int64)
        inverse[order] = rank
        # The sorts are stable: each run's first row is the first occurrence (np.unique's return_index).
        first = order[starts]
    counts = np.diff(np.append(starts, n))
    return a[first], inverse, counts


def _word(raw: np.ndarray, j: int) -> np.ndarray:
    """Bytes ``8j .. 8j + 7`` of each row of ``raw`` (n, width) uint8, zero-padded past the width, as a
    native uint64 read big-endian: its numeric order is the order of those bytes."""
    part = raw[:, 8 * j:8 * j + 8]
    chunk = np.zeros((len(raw), 8), dtype=np.uint8)
    chunk[:, :part.shape[1]] = part
    return chunk.view(">u8")[:, 0].astype(np.uint64)


def _word_order(raw: np.ndarray, n_words: int) -> np.ndarray:
    """The stable order of the rows by their words, most significant first (an LSD radix sort)."""
    order = np.argsort(_word(raw, n_words - 1), kind="stable")
    for j in range(n_words - 2, -1, -1):
        order = order[np.argsort(_word(raw, j)[order], kind="stable")]
    return order


def _words_in_order(raw: np.ndarray, n_words: int) -> bool:
    """Whether every row's words are >= the previous row's (lexicographically): then the stable
    sort is the identity."""
    first = _word(raw, 0)
    if (first[1:] < first[:-1]).any():  # the usual answer for unsorted rows, from one word
        return False
    del first
    ordered = np.ones(len(raw) - 1, dtype=bool)  # "row i <= row i + 1" on the words seen so far
    for j in range(n_words - 1, -1, -1):
        w = _word(raw, j)
        ordered = (w[:-1] < w[1:]) | ((w[:-1] == w[1:]) & ordered)
    return bool(ordered.all())


def rows_in(rows: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Which rows of ``rows`` occur in ``table`` (2-D int arrays of the same width), compared as raw
    bytes like :func:`unique_rows`."""
    if len(rows) == 0 or len(table) == 0:
        return np.zeros(len(rows), dtype=bool)
    dtype = np.dtype(np.int64)
    if rows.dtype.kind == "u" and rows.dtype.itemsize < 8 and sys.byteorder == "little":
        # Compact keys (compact_key_dtype): compare in their dtype. A table row with a value the
        # dtype cannot hold equals no row of ``rows``; the others are equal as bytes exactly when
        # they are equal as int64.
        fits = ((table >= 0) & (table <= np.iinfo(rows.dtype).max)).all(axis=1)
        table, dtype = table[fits], rows.dtype
        if len(table) == 0:
            return np.zeros(len(rows), dtype=bool)
    a = np.ascontiguousarray(rows, dtype=dtype)
    b = np.ascontiguousarray(table, dtype=dtype)
    void = np.dtype((np.void, dtype.itemsize * a.shape[1]))
    return np.isin(a.view(void).ravel(), b.view(void).ravel())


@dataclass(frozen=True)
class WindowScores:
    """A next-key model's verdict on every window of a set of sessions."""

    windows: Windows
    rank: np.ndarray       # 1-based rank of the target among the model's predictions
    prob: np.ndarray       # model probability of the target
    tail: np.ndarray       # probability mass of the target and every key ranked at or below it
    in_topk: np.ndarray    # not a miss under the detector's rule (calibrated, top-k and/or top-p)
    is_novel: np.ndarray   # target never seen as a training target (UNK included)
    n_sessions: int
    distinct_windows: int  # windows that went through the model (the rest were duplicates)
    surprise: np.ndarray | None = None  # -log10(tail): how improbable the target was, in decades
    tau: np.ndarray | None = None       # the miss threshold on surprise that applied (calibrated rule)

    def per_session(self, surprise_weight: float) -> dict[str, np.ndarray]:
        """``windows``, ``misses``, ``novel``, ``first_miss`` (window row or -1) and ``score`` =
        misses + surprise_weight * max(1 - p(target)) per session."""
        s = self.windows.session
        counts = np.bincount(s, minlength=self.n_sessions)
        miss_rows = np.flatnonzero(~self.in_topk)
        # Counting the flagged rows' sessions: the counts a float weight per window gave, exactly.
        misses = np.bincount(s[miss_rows], minlength=self.n_sessions).astype(np.int64)
        novel = np.bincount(s[self.is_novel], minlength=self.n_sessions).astype(np.int64)
        surprise = np.zeros(self.n_sessions)
        has = counts > 0
        if has.any():
            # Windows are grouped by session in order, so each session is one contiguous run. x -> 1 - x
            # is monotone in float64 too, so the largest 1 - p is 1 - (the smallest p), to the bit.
            starts = (np.cumsum(counts) - counts)[has]
            surprise[has] = 1.0 - np.minimum.reduceat(self.prob, starts).astype(np.float64)
        first_miss = np.full(self.n_sessions, -1, dtype=np.int64)
        sess_of_miss, first = np.unique(s[miss_rows], return_index=True)
        first_miss[sess_of_miss] = miss_rows[first]
        return {"windows": counts.astype(np.int64), "misses": misses, "novel": novel,
                "first_miss": first_miss, "score": misses + surprise_weight * surprise}


def target_line_numbers(line_nos: Iterable, event_lengths: np.ndarray, w: Windows) -> np.ndarray:
    """Line number of each window's target, -1 for EOS and for sessions without line numbers
    (imported sequences have empty ``line_nos``)."""
    line_values, line_lengths = list_values(line_nos)
    bad = (line_lengths != event_lengths) & (line_lengths != 0)
    if bad.any():
        raise ValueError(f"session row {int(np.argmax(bad))}: line_nos and events differ in length")
    out = np.full(len(w), -1, dtype=np.int64)
    # The flat event index minus its session's start is the position within the session; the same
    # position in the flat line array holds its line number.
    shift = (np.cumsum(line_lengths) - line_lengths) - (np.cumsum(event_lengths) - event_lengths)
    for lo in range(0, len(w), CHUNK):  # a chunk of windows at a time: no million-row temporaries
        part = slice(lo, lo + CHUNK)
        event, session = w.event[part], w.session[part]
        has = (event >= 0) & (line_lengths[session] > 0)
        out[part][has] = line_values[event[has] + shift[session[has]]]
    return out
