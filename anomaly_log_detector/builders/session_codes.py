"""Session keys as integer codes: what ``pd.factorize(split_at_gaps(session_keys(...)))`` gives
(builders/deeplog.py), without a string per line.

A million-line target has a few thousand distinct sessions. The string path builds a million key
strings (``host/process[pid]``, then ``key#piece``) and factorizes them; here each grouping column is
factorized once, the codes are combined into one integer per line, and a name is made once per
distinct key. Codes number the keys in order of first appearance, as ``pd.factorize`` does, and keys
that come out as equal strings get one code, so the sessions, their order and their names are the
same. The one grouping of lines into sessions: `infer` and `train` (workflows/detect.py ``sequences``)
and `build-deeplog` (builders/deeplog.py) group by these codes; deeplog.py's ``split_at_gaps`` is the
string form of :func:`split_codes`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from anomaly_log_detector.builders.deeplog import NO_KEY_SESSION, SESSION_BY, entity_combinations, session_keys
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
    return split_codes(codes, names, times, gap_seconds)


def _column_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """One column's values as keys, a null as ``NO_KEY_SESSION``."""
    codes, names = string_codes(values)
    if (codes < 0).any():
        return merge_labels(codes, [*names, NO_KEY_SESSION], null=len(names))
    return codes, names


def _entity_codes(df: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """``host/process[pid]`` keys (``entity_keys(df, with_pid=True)``), both parts missing ->
    ``NO_KEY_SESSION``."""
    combo, combos = entity_combinations(df, df["pid"] if "pid" in df.columns else None)
    if all(h is None and p is None for h, p, _ in combos):
        raise DataError("host and process are empty on every line: nothing to group by "
                        "(use --session-by none, or parse with --session-regex)")
    labels = [NO_KEY_SESSION if h is None and p is None
              else f"{h or ''}/{p or ''}" + (f"[{pid}]" if pid is not None else "") for h, p, pid in combos]
    return merge_labels(combo, labels)


def merge_labels(codes: np.ndarray, labels: list[str], null: int | None = None) -> tuple[np.ndarray, list[str]]:
    """Codes renumbered so that equal labels share one code (first appearance order kept, as the
    codes are); ``null`` is the label index of code -1. A None label stays a null: code -1."""
    if null is not None:
        codes = np.where(codes < 0, null, codes)
    # A numpy object array, not pd.array: the uniques come back as one, and its tolist() is one call
    # where iterating a pandas array is a Python call per name (~0.03 s for 130k session names).
    label_code, names = pd.factorize(np.asarray(labels, dtype=object).reshape(-1), sort=False)
    merged = label_code[codes].astype(np.int64, copy=False)
    names = names.tolist()
    if null is None:  # codes number first appearances, and so do the labels' codes
        return merged, [str(v) for v in names]
    # The null label (last) takes its place by where its first line is.
    merged, used = pd.factorize(merged, sort=False)
    return merged.astype(np.int64, copy=False), [str(names[i]) for i in used.tolist()]


def split_codes(codes: np.ndarray, names: list[str], times: pd.Series,
                gap_seconds: float) -> tuple[np.ndarray, list[str]]:
    """Keys given as codes (0.., first appearance) cut where consecutive lines of a key are more than
    ``gap_seconds`` apart: ``key``, ``key#1``, ``key#2``... (lines without a time never cut), as
    (code per line, name per code), numbered by first appearance."""
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
    return merge_labels(pair, labels)
