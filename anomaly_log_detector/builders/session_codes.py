"""Sessions: which lines form one stream for DeepLog, as integer codes (no string per line).

``--session-by`` names the rule (:data:`SESSION_BY`): the source file, a column (host, process,
session), or ``entity`` (host/process[pid]); a line whose key is missing goes to
:data:`NO_KEY_SESSION`; with a gap, a key's lines are cut where they are more than that many seconds
apart (``key``, ``key#1``...). :func:`session_keys` gives the keys as strings, the rule's plain
statement (tests compare the codes with it; `infer` calls it for its errors), and :func:`split_at_gaps`
cuts string keys by way of :func:`split_codes`. :func:`session_codes` gives
the same sessions as ``pd.factorize(split_at_gaps(session_keys(...)))``: each grouping column is
factorized once, the codes are combined into one integer per line, and a name is made once per
distinct key (a million-line target has a few thousand sessions). Codes number the keys in order of
first appearance, and keys that come out as equal strings get one code, so the sessions, their order
and their names are the same. The one grouping of lines into sessions: `infer` and `train`
(workflows/detect.py ``sequences``) and `build-deeplog` (builders/deeplog.py) group by these codes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from anomaly_log_detector.builders.string_codes import compact_codes, first_codes, string_codes
from anomaly_log_detector.errors import DataError

SESSION_BY = ("none", "host", "process", "session", "entity")
# `entity` = host and process together: one daemon on one machine (a stream keyed on the process alone
# mixes hosts; keyed on the host alone it interleaves unrelated daemons).
ENTITY_COLUMNS = ("host", "process")
# Name of the session that collects lines whose grouping column is null (no line is dropped).
NO_KEY_SESSION = "<none>"


def entity_keys(df: pd.DataFrame, with_pid: bool = False) -> pd.Series:
    """`host/process` per line (a missing part is left empty; both missing -> null); with `with_pid`,
    `host/process[pid]` where the line has a pid (one sshd connection, one cron job run)."""
    parts = [df[c].astype("string") if c in df.columns else pd.Series(pd.NA, index=df.index, dtype="string")
             for c in ENTITY_COLUMNS]
    both_missing = parts[0].isna() & parts[1].isna()
    keys = parts[0].fillna("") + "/" + parts[1].fillna("")
    if with_pid and "pid" in df.columns:
        pid = df["pid"].astype("string")
        keys = keys + ("[" + pid + "]").fillna("")
    return keys.mask(both_missing)


def entity_combinations(df: pd.DataFrame, third: pd.Series | None) -> tuple[np.ndarray, list[tuple]]:
    """(code per line, (host, process, third) of each code): the distinct combinations of the lines'
    host, process and `third` (pid, a fallback; None: absent) numbered by first appearance, a missing
    value None. Each column is factorized once and the codes combined, so no string is made per line."""
    n = len(df)
    parts = [string_codes(c) if c is not None else (np.full(n, -1, dtype=np.int32), [])  # null -> -1
             for c in [df[c] if c in df.columns else None for c in ENTITY_COLUMNS] + [third]]
    # (host + 1, process + 1), then (that, third + 1), each numbered by first appearance: dense codes
    # at each step keep the products far below 2**63.
    span_p, span_t = len(parts[1][1]) + 1, len(parts[2][1]) + 1
    host_process, hp = first_codes((parts[0][0].astype(np.int64) + 1) * span_p + parts[1][0] + 1,
                                   (len(parts[0][1]) + 1) * span_p)
    combo, distinct = first_codes(host_process.astype(np.int64) * span_t + parts[2][0] + 1, len(hp) * span_t)
    host, process, rest = (p[1] for p in parts)
    combos = []
    for value in distinct.tolist():
        h, p = divmod(int(hp[value // span_t]), span_p)
        t = value % span_t
        combos.append((host[h - 1] if h else None, process[p - 1] if p else None, rest[t - 1] if t else None))
    return combo, combos


def entity_categories(df: pd.DataFrame, fallback: pd.Series | None = None) -> pd.Series:
    """``entity_keys(df)`` (no pid) with its nulls filled from ``fallback`` (e.g. the source), as a
    categorical Series whose categories are the distinct keys in order of first appearance. The same
    values, hence the same ``pd.factorize`` codes and names as the string Series, without a million
    strings (:func:`entity_combinations`)."""
    combo, combos = entity_combinations(df, fallback)
    labels = [f if h is None and p is None else f"{h or ''}/{p or ''}" for h, p, f in combos]
    codes, names = merge_labels(combo, labels)
    return pd.Series(pd.Categorical.from_codes(codes, categories=pd.Index(names, dtype=object)), index=df.index)


def split_at_gaps(keys: pd.Series, times: pd.Series | None, gap_seconds: float | None) -> pd.Series:
    """Cut each key's lines into pieces where consecutive lines of that key are more than
    `gap_seconds` apart in time (`key`, `key#1`, `key#2`...). Lines without a time never cut; a null
    key stays null. The string form of :func:`split_codes`."""
    if gap_seconds is None or times is None or times.isna().all():
        return keys
    codes, key_names = pd.factorize(keys, sort=False)
    known = codes >= 0
    piece, names = split_codes(codes[known].astype(np.int64), [str(k) for k in key_names],
                               times[known], gap_seconds)
    labels = np.full(len(keys), None, dtype=object)
    labels[known] = np.asarray(names, dtype=object)[piece]
    return pd.Series(pd.array(labels, dtype="string"), index=keys.index)


_NO_ENTITY = ("host and process are empty on every line: nothing to group by "
              "(use --session-by none, or parse with --session-regex)")


def _session_column(df: pd.DataFrame, session_by: str) -> str | None:
    """The column a rule groups by (None for `entity`); DataError for an unknown rule, or a column
    the lines lack or leave empty on every line."""
    if session_by not in SESSION_BY:
        raise DataError(f"unknown --session-by {session_by!r} (choose from {', '.join(SESSION_BY)})")
    if session_by == "entity":
        return None
    column = "source" if session_by == "none" else session_by
    if column not in df.columns:
        raise DataError(f"parsed file has no {column!r} column to group sessions by")
    if session_by != "none" and df[column].isna().all():
        raise DataError(f"column {column!r} is empty on every line: nothing to group by "
                        f"(use --session-by none, or parse with --session-regex)")
    return column


def session_keys(df: pd.DataFrame, session_by: str) -> pd.Series:
    """The session name of every line: its source for `none`, `host/process` for `entity`, else the
    column value; `<none>` where the value is missing."""
    column = _session_column(df, session_by)
    if column is None:
        keys = entity_keys(df, with_pid=True)
        if keys.isna().all():
            raise DataError(_NO_ENTITY)
        return keys.fillna(NO_KEY_SESSION)
    return df[column].astype("string").fillna(NO_KEY_SESSION)


def session_codes(df: pd.DataFrame, session_by: str, gap_seconds: float | None = None) -> tuple[np.ndarray, list[str]]:
    """(integer code per line, name per code): the factorized ``split_at_gaps(session_keys(df,
    session_by), df.get("timestamp"), gap_seconds)``."""
    column = _session_column(df, session_by)
    codes, names = _entity_codes(df) if column is None else _column_codes(df[column])
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
        raise DataError(_NO_ENTITY)
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
