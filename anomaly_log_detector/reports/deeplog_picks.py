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


def _misses(infer_path: Path, context: list[str], alerting: bool) -> tuple[np.ndarray, ...]:
    """(kept: bool per prediction, the misses among them: rows, event indices, line numbers (NaN =
    end of session)), read a row group at a time."""
    f = pq.ParquetFile(infer_path)
    keeps, ats, idxs, lines, start = [], [], [], [], 0
    for i in range(f.num_row_groups):
        group = f.read_row_group(i, columns=_CHOOSING + context)
        keep = np.ones(group.num_rows, dtype=bool)
        if alerting:  # novelty and what follows an unseen key belong to the alerting layer
            for column in ["is_novel", *context]:
                keep &= ~_flags(group, column)
        at = np.flatnonzero(keep & ~_flags(group, "in_topk"))
        keeps.append(keep)
        ats.append(at + start)
        idxs.append(group.column("idx").to_numpy()[at].astype(np.int64))
        lines.append(group.column("line_no").to_numpy(zero_copy_only=False)[at].astype(np.float64))
        start += group.num_rows
    if not keeps:
        return np.zeros(0, dtype=bool), *(np.zeros(0, dtype=t) for t in (np.int64, np.int64, np.float64))
    return tuple(np.concatenate(x) for x in (keeps, ats, idxs, lines))


def chosen_predictions(infer_path: Path, sessions_path: Path | None, alerting: bool) -> pd.DataFrame:
    """The predictions that are DeepLog hits (module docstring), sorted by (session, idx): columns
    `session`, `idx`, `line_no` (int), `in_topk`, `is_novel`, `eos`, `_at` (row in the file) and every
    other column of the file."""
    names = checked_columns(infer_path, REQUIRED)
    keep, at, idx_at, line_at = _misses(infer_path, [c for c in CONTEXT if c in names], alerting)
    session = take_file_rows(infer_path, at, ["session"]).column(0).to_pandas()
    if sessions_path is not None:
        sessions = read_table(sessions_path, ["session", "is_anomaly"])
        flagged = session.isin(sessions.loc[sessions["is_anomaly"].astype(bool), "session"]).to_numpy(bool)
        at, session = at[flagged], session[flagged].reset_index(drop=True)
        idx_at, line_at = idx_at[flagged], line_at[flagged]
    if np.isnan(line_at).any():  # an end of session: its line is the one before it in its session
        whole = pq.read_table(infer_path, columns=["idx", "line_no"])
        idx = whole.column("idx").to_numpy().astype(np.int64)
        line = whole.column("line_no").to_numpy(zero_copy_only=False).astype(np.float64)  # nulls as NaN
        at, placed, new_idx, eos = _place_eos(infer_path, keep, at, idx, line)
        session = take_file_rows(infer_path, at, ["session"]).column(0).to_pandas()
    else:
        order, _ = _sort_order(session, idx_at)
        at, session = at[order], session.iloc[order].reset_index(drop=True)
        placed, new_idx, eos = line_at[order], idx_at[order], np.zeros(len(at), dtype=bool)
    df = pd.DataFrame({"session": session, "idx": new_idx, "line_no": placed.astype(np.int64), "eos": eos,
                       "_at": at})
    rest = [c for c in names if c not in ("session", "idx", "line_no")]
    return pd.concat([df, take_file_rows(infer_path, at, rest).to_pandas()], axis=1)


def _place_eos(infer_path: Path, keep: np.ndarray, chosen: np.ndarray, idx: np.ndarray,
               line: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(rows, line_no, idx, eos) of the `chosen` rows sorted by (session, idx) among every kept row,
    an end-of-session row taking the line of the kept row before it in its session (and its index
    minus one), rows left without a line dropped."""
    kept = np.flatnonzero(keep)
    session = take_file_rows(infer_path, kept, ["session"]).column(0).to_pandas()
    order, codes = _sort_order(session, idx[kept])
    rows, lines = kept[order], line[kept[order]]
    valid = session.iloc[order].notna().to_numpy(bool)  # a missing session has no line before
    same = np.zeros(len(rows), dtype=bool)
    same[1:] = (codes[1:] == codes[:-1]) & valid[1:]
    before = np.full(len(rows), np.nan)
    before[1:] = lines[:-1]
    before[~same] = np.nan
    eos = np.isnan(lines)
    placed = np.where(eos, before, lines)
    new_idx = np.where(eos, idx[rows] - 1, idx[rows])
    pick = np.isin(rows, chosen) & ~np.isnan(placed)
    return rows[pick], placed[pick], new_idx[pick], eos[pick]


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
