"""Session keys as integer codes: what ``pd.factorize(split_at_gaps(session_keys(...)))`` gives
(builders/deeplog.py), without a string per line.

A million-line target has a few thousand distinct sessions. The string path builds a million key
strings (``host/process[pid]``, then ``key#piece``) and factorizes them; here each grouping column is
factorized once, the codes are combined into one integer per line, and a name is made once per
distinct key. Codes number the keys in order of first appearance, as ``pd.factorize`` does, and keys
that come out as equal strings get one code, so the sessions, their order and their names are the
same.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from anomaly_log_detector.builders.deeplog import ENTITY_COLUMNS, NO_KEY_SESSION, SESSION_BY, session_keys
from anomaly_log_detector.builders.string_codes import compact_codes, first_codes, string_codes
from anomaly_log_detector.errors import DataError


def session_codes(df: pd.DataFrame, session_by: str, gap_seconds: float | None = None) -> tuple[np.ndarray, list[str]]:
    """(integer code per line, name per code): the factorized ``split_at_gaps(session_keys(df,
    session_by), df.get("timestamp"), gap_seconds)``."""
    column = "source" if session_by == "none" else session_by
    if session_by == "entity":
        codes, names = _entity_codes(df)
    elif session_by in SESSION_BY and column in df.columns and (session_by == "none" or df[column].notna().any()):
        codes, names = _column_codes(df[column])
    else:  # the errors session_keys raises
        codes, names = _column_codes(session_keys(df, session_by))
    times = df.get("timestamp")
    if gap_seconds is None or times is None or times.isna().all():
        return codes, names
    return _split_at_gaps(codes, names, times, gap_seconds)


def _column_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """One column's values as keys, a null as ``NO_KEY_SESSION``."""
    codes, names = string_codes(values)
    if (codes < 0).any():
        return _merge(codes, [*names, NO_KEY_SESSION], null=len(names))
    return codes, names


def _entity_codes(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """``host/process[pid]`` keys (``entity_keys(df, with_pid=True)``), both parts missing ->
    ``NO_KEY_SESSION``."""
    n = len(df)
    parts = [string_codes(df[c]) if c in df.columns else (np.full(n, -1, dtype=np.int32), [])
             for c in (*ENTITY_COLUMNS, "pid")]
    if not ((parts[0][0] >= 0) | (parts[1][0] >= 0)).any():
        raise DataError("host and process are empty on every line: nothing to group by "
                        "(use --session-by none, or parse with --session-regex)")
    # Dense codes at each step keep the products far below 2**63.
    host_names, process_names, pid_names = (p[1] for p in parts)
    span_p, span_pid = len(process_names) + 1, len(pid_names) + 1
    # (host + 1, process + 1), then (that, pid + 1), each numbered by first appearance.
    combo, distinct = first_codes((parts[0][0].astype(np.int64) + 1) * span_p + parts[1][0] + 1,
                                  (len(host_names) + 1) * span_p)
    distinct -= span_p  # back to host * span_p + process + 1, host -1 when missing
    combo, triples = first_codes(combo.astype(np.int64) * span_pid + parts[2][0] + 1, len(distinct) * span_pid)
    labels = []
    for value in triples.tolist():
        h, p = divmod(int(distinct[value // span_pid]), span_p)  # h is host code (-1: none), p process + 1
        pid = value % span_pid - 1
        if h < 0 and p == 0:
            labels.append(NO_KEY_SESSION)
        else:
            labels.append((host_names[h] if h >= 0 else "") + "/" + (process_names[p - 1] if p else "")
                          + (f"[{pid_names[pid]}]" if pid >= 0 else ""))
    return _merge(combo, labels)


def _merge(codes: np.ndarray, labels: list[str], null: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Codes renumbered so that equal labels share one code (first appearance order kept, as the
    codes are); ``null`` is the label index of code -1."""
    if null is not None:
        codes = np.where(codes < 0, null, codes)
    label_code, names = pd.factorize(pd.array(labels, dtype=object), sort=False)
    merged = label_code[codes].astype(np.int64, copy=False)
    if null is None:  # codes number first appearances, and so do the labels' codes
        return merged, [str(v) for v in names]
    # The null label (last) takes its place by where its first line is.
    merged, used = pd.factorize(merged, sort=False)
    return merged.astype(np.int64, copy=False), [str(names[i]) for i in used.tolist()]


def _split_at_gaps(codes: np.ndarray, names: list[str], times: pd.Series,
                   gap_seconds: float) -> tuple[np.ndarray, list[str]]:
    """``split_at_gaps`` on codes: ``key``, ``key#1``, ``key#2``... where consecutive lines of a key
    are more than ``gap_seconds`` apart (lines without a time never cut)."""
    t = pd.to_datetime(times, utc=True).dt.tz_convert(None).to_numpy()
    order = np.argsort(compact_codes(codes, len(names)), kind="stable")
    ts = t[order]
    key = codes[order]
    cut = np.zeros(len(order), dtype=bool)
    same = key[1:] == key[:-1]
    known = ~np.isnat(ts)
    both = same & known[1:] & known[:-1]
    # (t - prev).total_seconds() as pandas computes it: the integer difference over the unit's ticks.
    cut[1:][both] = (ts[1:][both] - ts[:-1][both]) / np.timedelta64(1, "s") > gap_seconds
    del ts, known, both
    running = np.cumsum(cut)
    start = np.ones(len(order), dtype=bool)
    start[1:] = ~same
    piece_sorted = running - np.maximum.accumulate(np.where(start, running, 0))
    del running, start, same, cut, key
    piece = np.empty_like(piece_sorted)
    piece[order] = piece_sorted
    del order, piece_sorted
    span = int(piece.max(initial=0)) + 1
    pair, distinct = first_codes(codes.astype(np.int64) * span + piece, (int(codes.max(initial=0)) + 1) * span)
    labels = [names[v // span] + (f"#{v % span}" if v % span else "") for v in distinct.tolist()]
    return _merge(pair, labels)
