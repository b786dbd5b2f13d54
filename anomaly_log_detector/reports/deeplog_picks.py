"""Which of DeepLog's predictions are hits, read from `deeplog_infer.parquet` without a frame of it.

The file has a row per prediction (a million at 1M lines) with the session's name as text. The rule
(reports/hits.py `deeplog_hits`): drop what the alerting layer owns (novel keys, contexts holding an
unseen key or cut by one) when the folder has its results, place each end-of-session prediction (no
line of its own) on the session's line before it, keep the misses (not in the top k) of the sessions
`deeplog_sessions.parquet` flags, in the order of a stable sort by (session, event index).

Here the choosing columns are read as arrays, and the session names, the other columns and the
`expected` lists only for the chosen rows; every session name is read only when an end-of-session
prediction is among them (its line is the one before it in its session). The result is the frame the
sort of the whole file gave, restricted to the chosen rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from anomaly_log_detector.errors import DataError
from anomaly_log_detector.reports.inputs import DEEPLOG_INFER, checked_columns, read_table, take_file_rows

REQUIRED = ["session", "idx", "line_no", "in_topk", "rank", "prob", "is_novel"]
CONTEXT = ("context_unseen", "context_cut")  # see workflows/detect.py
_CHOOSING = ["idx", "line_no", "in_topk", "is_novel"]


def _flags(table: pa.Table, name: str) -> np.ndarray:
    """A boolean column as numpy (`astype(bool)` of the pandas column: missing = True, as NaN is)."""
    return table.column(name).to_pandas().astype(bool).to_numpy()


def _sort_order(session: pd.Series, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order, session code in sorted order): a stable sort by (session, idx), missing sessions last,
    as ``sort_values(["session", "idx"], kind="stable")`` orders them."""
    codes, _ = pd.factorize(session, sort=True)
    codes = np.where(codes < 0, codes.max(initial=-1) + 1, codes)
    order = np.lexsort((idx, codes))
    return order, codes[order]


def _may_end_sessions(f: pq.ParquetFile) -> bool:
    """Whether a prediction of the file may lack a line (an end of session): the row groups' null
    counts of `line_no` say so, where written."""
    for i in range(f.num_row_groups):
        group = f.metadata.row_group(i)
        column = next(group.column(j) for j in range(group.num_columns) if group.column(j).path_in_schema == "line_no")
        stats = column.statistics
        if column.physical_type in ("FLOAT", "DOUBLE"):  # a NaN line is no null in the statistics
            return True
        if stats is None or not stats.has_null_count or stats.null_count:
            return True
    return False


@dataclass
class _Kept:
    """The predictions kept (what the alerting layer does not own), for placing ends of sessions:
    their rows in the file, event indices and line numbers (NaN = end of session)."""

    rows: np.ndarray
    idx: np.ndarray
    line: np.ndarray


def _misses(f: pq.ParquetFile, context: list[str], alerting: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                                _Kept | None]:
    """(the misses (not in the top k) among the kept predictions: rows, event indices, line numbers
    (NaN = end of session); every kept prediction, or None when the file has no end of session), read
    a row group at a time."""
    ends = _may_end_sessions(f)
    ats, idxs, lines, kept, start = [], [], [], [], 0
    for i in range(f.num_row_groups):
        group = f.read_row_group(i, columns=_CHOOSING + context)
        keep = np.ones(group.num_rows, dtype=bool)
        if alerting:  # novelty and what follows an unseen key belong to the alerting layer
            for column in ["is_novel", *context]:
                keep &= ~_flags(group, column)
        idx = group.column("idx").to_numpy().astype(np.int64)
        line = group.column("line_no").to_numpy(zero_copy_only=False).astype(np.float64)  # nulls as NaN
        at = np.flatnonzero(keep & ~_flags(group, "in_topk"))
        ats.append(at + start)
        idxs.append(idx[at])
        lines.append(line[at])
        if ends:
            rows = np.flatnonzero(keep)
            kept.append((rows + start, idx[rows], line[rows]))
        start += group.num_rows
    if not ats:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64), None
    whole = _Kept(*(np.concatenate(x) for x in zip(*kept))) if ends else None
    return np.concatenate(ats), np.concatenate(idxs), np.concatenate(lines), whole


def _sessions(path: Path, rows: np.ndarray) -> pd.Series:
    """The session names of `rows` of the file (RangeIndex)."""
    return take_file_rows(path, rows, ["session"]).column(0).to_pandas()


def chosen_predictions(infer_path: Path, sessions_path: Path | None, alerting: bool) -> pd.DataFrame:
    """The predictions that are DeepLog hits (module docstring), sorted by (session, idx): columns
    `session`, `idx`, `line_no` (int), `in_topk`, `is_novel`, `eos`, `_at` (row in the file) and every
    other column of the file."""
    names = checked_columns(infer_path, REQUIRED)
    f = pq.ParquetFile(infer_path)
    at, idx_at, line_at, kept = _misses(f, [c for c in CONTEXT if c in names], alerting)
    # Each column is read once: the session names of every kept prediction when an end of session is
    # among the misses (its line is that of the kept prediction before it), else of the misses only.
    if kept is not None and np.isnan(line_at).any():
        kept_session = _sessions(infer_path, kept.rows)
        session = kept_session.iloc[np.searchsorted(kept.rows, at)].reset_index(drop=True)
    else:
        kept, session = None, _sessions(infer_path, at)
    if sessions_path is not None:
        sessions = read_table(sessions_path, ["session", "is_anomaly"])
        flagged = session.isin(sessions.loc[sessions["is_anomaly"].astype(bool), "session"]).to_numpy(bool)
        at, session = at[flagged], session[flagged].reset_index(drop=True)
        idx_at, line_at = idx_at[flagged], line_at[flagged]
    if kept is not None and np.isnan(line_at).any():  # an end of session: its line is the one before it
        at, placed, new_idx, eos, session = _place_eos(kept, kept_session, at)
    else:
        order, _ = _sort_order(session, idx_at)
        at, session = at[order], session.iloc[order].reset_index(drop=True)
        placed, new_idx, eos = line_at[order], idx_at[order], np.zeros(len(at), dtype=bool)
    df = pd.DataFrame({"session": session, "idx": new_idx, "line_no": placed.astype(np.int64), "eos": eos,
                       "_at": at})
    rest = [c for c in names if c not in ("session", "idx", "line_no")]
    return pd.concat([df, take_file_rows(infer_path, at, rest).to_pandas()], axis=1)


def _place_eos(kept: _Kept, session: pd.Series, chosen: np.ndarray) -> tuple[np.ndarray, ...]:
    """(rows, line_no, idx, eos, session) of the `chosen` rows sorted by (session, idx) among every
    kept row (`session`: theirs), an end-of-session row taking the line of the kept row before it in
    its session (and its index minus one), rows left without a line dropped."""
    order, codes = _sort_order(session, kept.idx)
    rows, lines, idx = kept.rows[order], kept.line[order], kept.idx[order]
    session = session.iloc[order]
    valid = session.notna().to_numpy(bool)  # a missing session has no line before
    same = np.zeros(len(rows), dtype=bool)
    same[1:] = (codes[1:] == codes[:-1]) & valid[1:]
    before = np.full(len(rows), np.nan)
    before[1:] = lines[:-1]
    before[~same] = np.nan
    eos = np.isnan(lines)
    placed = np.where(eos, before, lines)
    new_idx = np.where(eos, idx - 1, idx)
    pick = np.isin(rows, chosen) & ~np.isnan(placed)
    return rows[pick], placed[pick], new_idx[pick], eos[pick], session[pick].reset_index(drop=True)


def infer_rows(seq_path: Path, infer: pd.DataFrame, line_no: np.ndarray) -> np.ndarray:
    """Parsed rows of DeepLog predictions through `sequences.parquet`: (session, idx) -> rows[idx], the
    line number checked against the parse. Read as Arrow lists, not a Python array per session."""
    checked_columns(seq_path, ["session", "rows"])
    seq = pq.read_table(seq_path, columns=["session", "rows"])
    # The last of repeated session names wins, as in a dict built from the table.
    names = seq.column("session").combine_chunks()[::-1]
    asked = pa.array(infer["session"].astype(str).tolist(), type=pa.large_string())
    found = pc.index_in(asked, value_set=names.cast(pa.large_string())).to_numpy(zero_copy_only=False)
    idx = infer["idx"].to_numpy(np.int64)
    ok = ~np.isnan(found.astype(np.float64))
    s = np.where(ok, len(names) - 1 - np.nan_to_num(found, nan=0).astype(np.int64), 0)
    # Only the asked sessions' lists: a million rows otherwise.
    lists = seq.column("rows").combine_chunks().take(pa.array(s)) if len(names) else pa.array([], pa.list_(pa.int64()))
    offsets = lists.offsets.to_numpy().astype(np.int64)
    flat = lists.flatten().to_numpy().astype(np.int64) if len(lists) else np.zeros(0, dtype=np.int64)
    k = np.arange(len(s))
    length = offsets[k + 1] - offsets[k] if len(lists) else np.zeros(len(s), dtype=np.int64)
    ok &= (idx >= 0) & (idx < length)
    out = np.where(ok, flat[np.where(ok, offsets[k] + idx, 0)] if len(flat) else 0, 0)
    ok &= line_no[out] == infer["line_no"].to_numpy()
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        raise DataError(f"{seq_path} does not match {DEEPLOG_INFER} (session {str(infer['session'].iloc[i])!r}, "
                        f"event {infer['idx'].iloc[i]}): rebuild the sequences or rerun deeplog-infer on this folder")
    return out
