"""Reading a processed folder for reports: which result files exist, and parsed rows by position.

`parsed.parquet` can be far larger than memory allows for its text columns, so reports read only the
small key columns whole and fetch text (raw lines, templates) for the few rows they show, one row group
at a time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.fileio.parquetio import read_parquet_checked
from anomaly_log_detector.errors import DataError

PARSED = "parsed.parquet"
PARSE_SUMMARY = "parse_summary.json"
BASELINE = "baseline_scores.parquet"
DEEPLOG_INFER = "deeplog_infer.parquet"
DEEPLOG_SESSIONS = "deeplog_sessions.parquet"
SEQUENCES = "sequences.parquet"
DEEPLOG_ALERTS = "deeplog_alerts.parquet"
DEEPLOG_SUMMARY = "deeplog_summary.json"
LINE_ALERTS = "line_alerts.parquet"
FLOWS_INFER = "flows_infer.parquet"          # detectors/flows.py: flagged steps of identifier flows
MSCRED_INFER = "mscred_infer.parquet"        # detectors/mscred_files.py INFER_FILE
MSCRED_RESIDUALS = "mscred_residuals.npz"    # detectors/mscred_files.py RESIDUALS_FILE
TEMPLATE_COUNTS = "template_counts.json"
VOCAB = "vocab.json"
ANOMALIES_JSONL = "anomalies.jsonl"
ANOMALIES_PARQUET = "anomalies.parquet"
# Key columns of parsed.parquet read whole (everything else is fetched per row).
KEY_COLUMNS = ("source", "line_no", "template_id")


def read_table(path: Path, required: Iterable[str] = (), optional: Iterable[str] | None = None) -> pd.DataFrame:
    """A (small) result Parquet file; DataError naming the file when unreadable or incomplete.

    With `optional`, only `required` and those `optional` columns the file has are read: a result
    table with a row per line (DeepLog's) has list and text columns that a chart never needs."""
    required = list(required)
    if optional is None:
        return read_parquet_checked(path, path.name, required).to_pandas()
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException):
        return read_parquet_checked(path, path.name, required).to_pandas()  # its error names the file
    missing = [c for c in required if c not in names]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (is this a {path.name}?)")
    wanted = list(dict.fromkeys([*required, *(c for c in optional if c in names)]))
    return pq.read_table(path, columns=wanted).to_pandas()


def read_keys(processed_dir: str | os.PathLike) -> pd.DataFrame:
    """`source`, `line_no`, `template_id` of every parsed row; the index is the row position."""
    path = Path(processed_dir) / PARSED
    if not path.is_file():
        raise DataError(f"{path}: not found (run `alog-detect parse --out-dir {processed_dir}` first)")
    try:
        return pq.read_table(path, columns=list(KEY_COLUMNS)).to_pandas()
    except (OSError, pa.ArrowException, KeyError) as exc:
        raise DataError(f"{path}: not a parsed.parquet ({exc})") from None


def take_rows(processed_dir: str | os.PathLike, rows: Iterable[int], columns: Iterable[str]) -> pd.DataFrame:
    """The given columns of parsed.parquet at the given row positions (index = row position, sorted).

    Columns the file lacks are returned as nulls (e.g. `host` for a format without one)."""
    path = Path(processed_dir) / PARSED
    wanted = np.unique(np.fromiter(rows, dtype=np.int64))
    f = pq.ParquetFile(path)
    present = [c for c in columns if c in f.schema_arrow.names]
    parts: list[pd.DataFrame] = []
    start = 0
    for i in range(f.num_row_groups):
        n = f.metadata.row_group(i).num_rows
        inside = wanted[(wanted >= start) & (wanted < start + n)]
        if inside.size:
            group = f.read_row_group(i, columns=present).take(pa.array(inside - start))
            parts.append(group.to_pandas().set_axis(inside, axis=0))
        start += n
    if wanted.size and (wanted[0] < 0 or wanted[-1] >= start):
        raise DataError(f"{path}: row {int(wanted[-1])} is beyond its {start} rows (results from another parse?)")
    out = pd.concat(parts) if parts else pd.DataFrame(index=pd.Index([], dtype=np.int64), columns=present)
    for c in columns:
        if c not in out.columns:
            out[c] = None
    return out[list(columns)]


def locate(keys: pd.DataFrame, lines: pd.DataFrame, where: str) -> np.ndarray:
    """Row positions in parsed.parquet of result lines given by `line_no` (+ `source` when present).

    Without a `source` column the parse must have a single source: line numbers restart per source."""
    if "source" in lines.columns:
        on = ["source", "line_no"]
    elif keys["source"].nunique() <= 1:
        on = ["line_no"]
    else:
        raise DataError(f"{where}: has line numbers but no source column, and the parse has several sources")
    index = pd.DataFrame({**{c: keys[c] for c in on}, "_row": np.arange(len(keys), dtype=np.int64)})
    found = lines[on].merge(index.drop_duplicates(on), on=on, how="left")["_row"]
    if found.isna().any():
        bad = lines[on][found.isna().to_numpy()].iloc[0].to_dict()
        raise DataError(f"{where}: line {bad} is not in {PARSED} (results from another parse?)")
    return found.to_numpy(dtype=np.int64)
