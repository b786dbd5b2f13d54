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
import pyarrow.compute as pc
import pyarrow.parquet as pq

from anomaly_log_detector.fileio.parquetio import read_parquet_checked
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.reports.lines import LineIndex

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
    names = checked_columns(path, required)
    wanted = list(dict.fromkeys([*required, *(c for c in optional if c in names)]))
    return pq.read_table(path, columns=wanted).to_pandas()


def checked_columns(path: Path, required: Iterable[str]) -> list[str]:
    """The column names of a result Parquet file; DataError naming the file when it is unreadable or
    lacks one of `required` (as :func:`read_table` says it)."""
    try:
        names = pq.read_schema(path).names
    except (OSError, pa.ArrowException):
        read_parquet_checked(path, path.name, required)  # its error names the file
        raise
    missing = [c for c in required if c not in names]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (is this a {path.name}?)")
    return names


def read_keys(processed_dir: str | os.PathLike) -> pd.DataFrame:
    """`source` (categorical), `line_no`, `template_id` of every parsed row; the index is the row position."""
    path = Path(processed_dir) / PARSED
    if not path.is_file():
        raise DataError(f"{path}: not found (run `alog-detect parse --out-dir {processed_dir}` first)")
    try:  # the source as a category: one code per row, not a string per row (a million at 1M lines)
        keys = _read_keys_by_group(path)
        return keys if keys is not None else \
            pq.read_table(path, columns=list(KEY_COLUMNS), read_dictionary=["source"]).to_pandas()
    except (OSError, pa.ArrowException, KeyError) as exc:
        raise DataError(f"{path}: not a parsed.parquet ({exc})") from None


def _read_keys_by_group(path: Path) -> pd.DataFrame | None:
    """:func:`read_keys`' frame filled a row group at a time (the whole Arrow table and its pandas copy
    are never both held); None when the file is not the plain case (missing columns, null numbers)."""
    f = pq.ParquetFile(path, read_dictionary=["source"])
    if any(c not in f.schema_arrow.names for c in KEY_COLUMNS):
        return None
    n = f.metadata.num_rows
    numbers = {c: np.empty(n, dtype=np.int64) for c in ("line_no", "template_id")}
    codes, names, start = np.empty(n, dtype=np.int32), {}, 0
    for i in range(f.num_row_groups):
        group = f.read_row_group(i, columns=list(KEY_COLUMNS))
        for c, out in numbers.items():
            column = group.column(c)
            if column.null_count or not pa.types.is_integer(column.type):
                return None
            out[start:start + group.num_rows] = column.to_numpy()
        source = group.column("source").combine_chunks()
        if not pa.types.is_dictionary(source.type):
            return None
        # Each group's dictionary onto one list of names in order of first appearance (as Arrow
        # unifies them): a conversion of 26 dictionaries at once takes a second.
        local = np.array([names.setdefault(v, len(names)) for v in source.dictionary.to_pylist()] + [-1], np.int32)
        codes[start:start + group.num_rows] = local[pc.fill_null(source.indices, -1).to_numpy(zero_copy_only=False)]
        start += group.num_rows
    if not names or None in names:
        return None
    source = pd.Categorical.from_codes(codes, categories=pd.Index(list(names)))
    return pd.DataFrame({"source": source, **numbers}, copy=False)


def read_times_column(processed_dir: str | os.PathLike) -> pd.Series | None:
    """Every parsed row's `timestamp` as UTC times (index = row position); None when the parse has no
    such column."""
    path = Path(processed_dir) / PARSED
    if not path.is_file():
        raise DataError(f"{path}: not found (run `alog-detect parse --out-dir {processed_dir}` first)")
    try:
        if "timestamp" not in pq.read_schema(path).names:
            return None
        return pd.to_datetime(pq.read_table(path, columns=["timestamp"]).column(0).to_pandas(), utc=True)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable parsed.parquet ({exc})") from None


def take_rows(processed_dir: str | os.PathLike, rows: Iterable[int], columns: Iterable[str]) -> pd.DataFrame:
    """The given columns of parsed.parquet at the given row positions (index = row position, sorted,
    repeats dropped). Columns the file lacks are returned as nulls (e.g. `host` for a format without one)."""
    columns = list(columns)
    path = Path(processed_dir) / PARSED
    wanted = np.unique(np.fromiter(rows, dtype=np.int64))
    names = set(pq.read_schema(path).names)  # once: the comprehension would read the footer per column
    present = [c for c in columns if c in names]
    if wanted.size:
        out = take_file_rows(path, wanted, present, where="(results from another parse?)").to_pandas()
        out.index = pd.Index(wanted)
    else:
        out = pd.DataFrame(index=pd.Index([], dtype=np.int64), columns=present)
    for c in columns:
        if c not in out.columns:
            out[c] = None
    return out[columns]


def take_file_rows(path: str | os.PathLike, rows: Iterable[int], columns: list[str], where: str = "") -> pa.Table:
    """`columns` of a Parquet file at the row positions `rows` (any order, repeats allowed), in that
    order. Only the row groups holding one of them are read, one at a time, and of each only those
    rows are kept: a column is never held whole. Text columns stored dictionary-encoded are read as
    codes and decoded for the rows kept only (not a string per row of the group). DataError for a row
    outside the file (`where` is added to its message)."""
    rows = np.asarray(rows, dtype=np.int64)
    wanted, inverse = np.unique(rows, return_inverse=True)
    f = pq.ParquetFile(path)
    if not wanted.size:
        return f.schema_arrow.empty_table().select(columns)
    schema, coded = f.schema_arrow, _dictionary_columns(f, columns)
    if coded:
        f = pq.ParquetFile(path, read_dictionary=coded, metadata=f.metadata)
    parts, start = [], 0
    for i in range(f.num_row_groups):
        n = f.metadata.row_group(i).num_rows
        lo, hi = np.searchsorted(wanted, [start, start + n])
        if hi > lo:
            group = f.read_row_group(i, columns=columns).take(pa.array(wanted[lo:hi] - start))
            parts.append(_decoded(group, schema))
        start += n
    if wanted[0] < 0 or wanted[-1] >= start:
        bad = int(wanted[0] if wanted[0] < 0 else wanted[-1])
        raise DataError(" ".join(filter(None, [f"{path}: row {bad} is beyond its {start} rows", where])))
    table = pa.concat_tables(parts)
    inverse = inverse.ravel()
    return table if np.array_equal(inverse, np.arange(len(rows))) else table.take(pa.array(inverse))


def _dictionary_columns(f: pq.ParquetFile, names: list[str]) -> list[str]:
    """The leaf paths (`read_dictionary`'s names) of the text and list-of-text columns of `names` that
    the file stores dictionary-encoded (in its first row group)."""
    if not f.num_row_groups:
        return []
    group = f.metadata.row_group(0)
    encodings = {group.column(j).path_in_schema: group.column(j).encodings for j in range(group.num_columns)}
    out = []
    for name in names:
        kind = f.schema_arrow.field(name).type
        leaf, kind = (f"{name}.list.element", kind.value_type) if pa.types.is_list(kind) else (name, kind)
        if (pa.types.is_string(kind) or pa.types.is_large_string(kind)) and \
                any("DICTIONARY" in e for e in encodings.get(leaf, ())):
            out.append(leaf)
    return out


def _decoded(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` read with dictionary columns as the file's own types (what reading them plainly gives)."""
    for i, field in enumerate(table.schema):
        plain = schema.field(field.name).type
        if field.type != plain:
            table = table.set_column(i, field.name, table.column(i).cast(plain))
    return table


def locate(keys: pd.DataFrame, lines: pd.DataFrame, where: str) -> np.ndarray:
    """Row positions in parsed.parquet of result lines given by `line_no` (+ `source` when present):
    for each, the first parsed row with those values.

    Without a `source` column the parse must have a single source: line numbers restart per source."""
    return line_index(keys, "source" in lines.columns, where).rows(lines, where)


def line_index(keys: pd.DataFrame, by_source: bool, where: str) -> LineIndex:
    """The :class:`.lines.LineIndex` that :func:`locate` asks, to ask it for many batches of lines;
    DataError when the lines (of `where`) have no source and the parse has several."""
    if not by_source and keys["source"].nunique() > 1:
        raise DataError(f"{where}: has line numbers but no source column, and the parse has several sources")
    return LineIndex(keys, by_source)
