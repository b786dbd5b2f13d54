"""Ground-truth label loaders for `alog-detect eval`.

Three kinds of file, told apart by content:

* Parquet with `line_no` and `is_anomaly` (what `gen-synth` writes; `anomaly_type`, `source` optional)
  -> per-line labels; with `source`, the line numbers of several files are told apart by it.
  Parquet with `session` and `label` (e.g. an imported `sequences.parquet`) -> per-session labels.
* CSV whose header names a `Label` column after a session column (loglizer `BlockId,Label`)
  -> per-session labels; `Normal`/`Anomaly` (or 0/1), other columns ignored.
* Anything else is a raw log with labels in front (BGL, Thunderbird): line n is anomalous unless its
  first whitespace-separated token is `-`. Blank lines count as normal.

Whatever the file holds, a loader returns labels or raises DataError naming the file (no other
exception: tests/robustness/test_properties.py feeds them arbitrary bytes and tables).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.errors import DataError

SESSION_LABEL_VALUES = {"normal": 0, "anomaly": 1, "0": 0, "1": 1}


@dataclass(frozen=True)
class LineLabels:
    """Per-line truth: 1-based line numbers (within their source) and anomaly flags; `source` per line
    when the labels name it (None: every line is of one source)."""

    line_no: np.ndarray
    is_anomaly: np.ndarray
    path: str
    kind: str = "line"
    source: np.ndarray | None = None

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"line_no": self.line_no, "truth": self.is_anomaly})


@dataclass(frozen=True)
class SessionLabels:
    """Per-session truth: session name -> anomalous."""

    session: np.ndarray
    is_anomaly: np.ndarray
    path: str
    kind: str = "session"

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"session": self.session, "truth": self.is_anomaly})


def _check_unique(keys: np.ndarray, what: str, path: str) -> None:
    uniq, counts = np.unique(keys, return_counts=True)
    if (counts > 1).any():
        raise DataError(f"{path}: {what} {uniq[counts > 1][0]!r} is labelled more than once")


def _from_parquet(path: str) -> LineLabels | SessionLabels:
    try:
        df = pq.read_table(path).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: cannot read labels Parquet ({exc})") from None
    if df.empty:
        raise DataError(f"{path}: no labels (empty file)")
    if {"line_no", "is_anomaly"} <= set(df.columns):
        line_no = _integers(df["line_no"], "line_no", path)
        if (line_no < 1).any():
            raise DataError(f"{path}: line numbers start at 1, found {line_no.min()}")
        source = None
        if "source" in df.columns:
            if df["source"].isna().any():
                raise DataError(f"{path}: some labels have no source")
            source = df["source"].astype(str).to_numpy(dtype=object)
            dup = df.duplicated(["source", "line_no"]).to_numpy()
            if dup.any():
                raise DataError(f"{path}: line {line_no[dup][0]} of {source[dup][0]!r} is labelled more than once")
        else:
            _check_unique(line_no, "line", path)
        return LineLabels(line_no, _flags(df["is_anomaly"], "is_anomaly", path), path, source=source)
    if {"session", "label"} <= set(df.columns):
        known = df[df["label"].notna()]
        if known.empty:
            raise DataError(f"{path}: every session label is unknown")
        if known["session"].isna().any():
            raise DataError(f"{path}: some labels have no session")
        session = known["session"].astype(str).to_numpy()
        _check_unique(session, "session", path)
        return SessionLabels(session, _flags(known["label"], "label", path), path)
    raise DataError(f"{path}: labels Parquet needs line_no,is_anomaly or session,label columns")


def _integers(column: pd.Series, name: str, path: str) -> np.ndarray:
    """`column` as int64: integers (or whole floats) with no nulls; DataError otherwise."""
    numeric = pd.api.types.is_integer_dtype(column) or pd.api.types.is_float_dtype(column)
    if column.isna().any() or not numeric or pd.api.types.is_bool_dtype(column):
        raise DataError(f"{path}: column {name!r} must hold integers, without nulls")
    values = column.to_numpy()
    whole = np.isfinite(values) & (values == np.round(values)) & (np.abs(values) < 2**62)
    if not whole.all():
        raise DataError(f"{path}: column {name!r} must hold integers, found {values[~whole][0]}")
    return values.astype(np.int64)


def _flags(column: pd.Series, name: str, path: str) -> np.ndarray:
    """`column` as bool: booleans or 0/1, no nulls; DataError otherwise."""
    if pd.api.types.is_bool_dtype(column) and not column.isna().any():
        return column.to_numpy(dtype=bool)
    values = _integers(column, name, path)
    bad = ~np.isin(values, (0, 1))
    if bad.any():
        raise DataError(f"{path}: column {name!r} must hold 0/1 or true/false, found {values[bad][0]}")
    return values == 1


def _from_session_csv(path: str, text: str) -> SessionLabels:
    try:
        return _session_rows(path, csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:  # NUL bytes, an over-long field, a stray quote or CR
        raise DataError(f"{path}: not a readable CSV ({exc})") from None


def _session_rows(path: str, reader) -> SessionLabels:
    header = next(reader, [])
    if "Label" not in header[1:]:  # the first line said so, but read as CSV (quotes) it does not
        raise DataError(f"{path}: the CSV header {header[:4]!r} has no Label column after the session column")
    col = header.index("Label", 1)
    sessions, flags = [], []
    for row in reader:
        n = reader.line_num
        if not row:
            continue
        if len(row) <= col:
            raise DataError(f"{path}:{n}: missing Label field")
        value = SESSION_LABEL_VALUES.get(row[col].strip().lower())
        if value is None:
            raise DataError(f"{path}:{n}: unknown Label {row[col]!r} (expected Normal or Anomaly)")
        sessions.append(row[0])
        flags.append(value == 1)
    if not sessions:
        raise DataError(f"{path}: no labels")
    arr = np.asarray(sessions, dtype=object)
    _check_unique(arr.astype(str), "session", path)
    return SessionLabels(arr, np.asarray(flags, dtype=bool), path)


def _from_raw_log(path: str, data: bytes) -> LineLabels:
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()  # the final newline does not start a line
    if not lines:
        raise DataError(f"{path}: no lines to take labels from")
    first = [line.split(None, 1)[0] if line.strip() else b"-" for line in lines]
    flags = np.fromiter((tok != b"-" for tok in first), dtype=bool, count=len(first))
    if flags.all():
        # A labelled log marks normal lines with `-`; none at all means this is some other file.
        raise DataError(f"{path}: not a labels file (no line starts with '-' as BGL/Thunderbird logs do, "
                        f"and it is neither labels Parquet nor a CSV with a Label column)")
    return LineLabels(np.arange(1, len(lines) + 1, dtype=np.int64), flags, path)


def load_labels(path: str | os.PathLike) -> LineLabels | SessionLabels:
    """Load a labels file of any supported kind (see the module docstring)."""
    path = str(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: labels file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read labels ({exc.strerror})") from None
    if not data:
        raise DataError(f"{path}: labels file is empty")
    if data[:4] == b"PAR1":
        return _from_parquet(path)
    head = data.split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", "replace").split(",")
    if len(head) >= 2 and "Label" in head[1:]:
        return _from_session_csv(path, data.decode("utf-8", "replace"))
    return _from_raw_log(path, data)
