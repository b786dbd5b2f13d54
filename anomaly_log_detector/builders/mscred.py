"""Sliding windows over parsed lines and their template counts (`window_counts.parquet`, MS-CRED input).

Windows run over the lines of each source in parsed order and never cross a source boundary. A window
holds `window_size` lines and the next starts `stride` lines later. When the last full window stops
short of the end, one more window is added that ends on the last line (it overlaps its predecessor by
more than usual), so every line is covered and every window of a long enough source has exactly
`window_size` lines; a source shorter than `window_size` gives one shorter window.

`window_counts.parquet`: `window` (0-based index), `source`, `start_line` / `end_line` (1-based line
numbers, inclusive), `start_row` / `end_row` (0-based rows of parsed.parquet, end exclusive), `n_lines`,
then `t0` ... `t{V-1}`: how many lines of the window have vocab index i (column `t<i>` is vocab index
i, so `t1` counts unknown templates and `t0`, `t2` are always 0).

Time buckets (`build-mscred --bucket 60s`) replace line windows by consecutive, non-overlapping time
intervals of each source: row = one bucket, empty buckets included (a series of counts per template
needs its zeros), so the rows are the time steps MS-CRED reads. Buckets are aligned to multiples of
the bucket length since the Unix epoch. The table gains `start_time` / `end_time` (the bucket's
interval, end exclusive) and `bucket_seconds`; `start_line` / `end_line` are the first and last line
numbers of the bucket's lines (null for an empty bucket) and `start_row` / `end_row` the smallest and
largest-plus-one row (equal for an empty bucket; when timestamps go backwards the row range may hold
lines of other buckets). A line without a timestamp takes the time of the line before it in its source
(the first lines of a source: of the first timestamped line); a source without any timestamp is an
error.

The line windows, their counts and their table are also the baseline's (detectors/baseline.py), so they
are built for a million lines: from integer codes of the sources, a block of windows at a time, and the
source looked up for the windows' first rows only, with no Python object per line and no windows x
rows matrix of the whole file (which at a million lines adds ~200 MB).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import sparse

from anomaly_log_detector.builders.deeplog import encode_templates, read_parsed, template_vocab
from anomaly_log_detector.builders.vocab import UNK, Vocab
from anomaly_log_detector.builders.string_codes import string_codes as codes, text_at
from anomaly_log_detector.fileio.parquetio import read_parquet_checked
from anomaly_log_detector.errors import DataError

WINDOW_COLUMNS = ("window", "source", "start_line", "end_line", "start_row", "end_row", "n_lines")
BUCKET_COLUMNS = ("start_time", "end_time", "bucket_seconds")
# More buckets than this in one run means a bucket far too small for the log's time span.
MAX_BUCKETS = 2_000_000
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
# Windows per block: with 50-line windows a block spans ~50k (window, line) pairs, under 1 MB an array.
BLOCK = 1024


def check_window(window_size: int, stride: int) -> None:
    if window_size < 1 or stride < 1:
        raise DataError(f"window size and stride must be >= 1 (got {window_size}, {stride})")


def segment_windows(n: int, window_size: int, stride: int) -> np.ndarray:
    """Start offsets of the windows over `n` lines (see the module docstring for the last one)."""
    if n <= window_size:
        return np.zeros(1 if n else 0, dtype=np.int64)
    starts = np.arange(0, n - window_size + 1, stride, dtype=np.int64)
    if starts[-1] + window_size < n:
        starts = np.append(starts, n - window_size)
    return starts


def window_bounds(sources: pd.Series, window_size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(start_row, end_row) of every window; rows of one source run are windowed on their own (a
    missing source is the empty one)."""
    check_window(window_size, stride)
    code, uniques = codes(sources)
    if (code < 0).any():
        # A null is the same run as an empty source next to it.
        code[code < 0] = uniques.index("") if "" in uniques else len(uniques)
    return run_windows(code, window_size, stride)


def run_windows(values: np.ndarray, window_size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(start_row, end_row) of every window over `values`, each run of equal values windowed on its own."""
    n = len(values)
    cuts = np.flatnonzero(values[1:] != values[:-1]) + 1 if n else np.zeros(0, dtype=np.int64)
    seg_starts = np.concatenate([[0], cuts]).astype(np.int64) if n else cuts
    seg_ends = np.append(seg_starts[1:], n)
    starts, ends = [], []
    for s, e in zip(seg_starts, seg_ends):
        w = segment_windows(int(e - s), window_size, stride) + s
        starts.append(w)
        ends.append(np.minimum(w + window_size, e))
    if not starts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(starts), np.concatenate(ends)


def blocks(n_windows: int, block: int | None = None) -> Iterator[slice]:
    """Consecutive slices of at most `block` (default `BLOCK`) windows."""
    block = block or BLOCK
    for w in range(0, n_windows, block):
        yield slice(w, min(w + block, n_windows))


def window_rows(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The rows of the windows laid end to end (int64), window after window."""
    lengths = ends - starts
    # Row = the window's start + the pair's position within its window.
    first = np.cumsum(lengths) - lengths
    return np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(starts - first, lengths)


def pair_rows(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(window within the block, row) of every line of the windows, window after window."""
    return np.repeat(np.arange(len(starts)), ends - starts), window_rows(starts, ends)


def count_matrix(labels: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int) -> sparse.csr_matrix:
    """Windows x `width` sparse counts of the integer `labels` of each row: a block of windows at a
    time, which covers the rows from its first start to its last end (windows in row order, as
    :func:`window_bounds` gives them, make that a short range; any others still count right). The
    entries are in the order of the whole product's."""
    parts = []
    for b in blocks(len(starts)):
        # min/max, not first/last: scipy does not check a matrix's indices, and a window outside the
        # range would be read out of bounds.
        lo, hi = int(starts[b].min()), int(ends[b].max())
        parts.append(_count_block(labels[lo:hi], starts[b] - lo, ends[b] - lo, width))
    if not parts:
        return _count_block(labels, starts, ends, width)
    return sparse.vstack(parts, format="csr")


def _count_block(labels: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int) -> sparse.csr_matrix:
    """Windows x `width` counts: the windows x rows 0/1 matrix times the rows' one-hot labels."""
    n = len(labels)
    onehot = sparse.csr_matrix((np.ones(n, dtype=np.int32), labels, np.arange(n + 1)), shape=(n, width))
    rows = window_rows(starts, ends)
    indptr = np.concatenate([[0], np.cumsum(ends - starts)])
    windows = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), rows, indptr), shape=(len(starts), n))
    return (windows @ onehot).tocsr()


def window_table(df: pd.DataFrame, starts: np.ndarray, ends: np.ndarray) -> pd.DataFrame:
    """The per-window columns shared by window counts and baseline scores (the source as
    ``.astype("string")`` gives it: text as is, a null NA)."""
    line_no = df["line_no"].to_numpy(np.int64)
    source: Any = []
    if len(starts) and isinstance(df["source"].dtype, pd.StringDtype):
        source = text_at(df["source"], starts, na=pd.NA)
    elif len(starts):
        source = df["source"].iloc[starts].astype("string").to_numpy()
    return pd.DataFrame({
        "window": np.arange(len(starts), dtype=np.int64),
        "source": source,
        "start_line": line_no[starts],
        "end_line": line_no[ends - 1],
        "start_row": starts,
        "end_row": ends,
        "n_lines": (ends - starts).astype(np.int64),
    })


def window_counts(lines: pd.DataFrame, vocab: Vocab, window_size: int = 50, stride: int = 25) -> pd.DataFrame:
    """The `window_counts.parquet` table of line windows over `lines` (``line_no``, ``source``,
    ``template``; rows in parsed order) with columns ``t<i>`` over `vocab` (what the train and infer
    workflows give MS-CRED; `build-mscred` writes the same table)."""
    check_window(window_size, stride)
    events = encode_templates(vocab, lines["template"])
    starts, ends = window_bounds(lines["source"], window_size, stride)
    counts = count_matrix(events, starts, ends, vocab.size).toarray()
    count_cols = pd.DataFrame(counts.astype(np.int32), columns=[f"t{i}" for i in range(vocab.size)])
    return pd.concat([window_table(lines, starts, ends), count_cols], axis=1)


def parse_bucket(text: str | float | int) -> float:
    """Seconds of a bucket length: "60s", "5m" / "5min", "1h", "1d" or a plain number of seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?\s*", str(text).lower())
        if not m:
            raise DataError(f"bucket {text!r}: give a duration such as 60s, 5m, 1h or a number of seconds")
        seconds = float(m.group(1)) * _UNITS[m.group(2) or ""]
    if not seconds > 0:
        raise DataError(f"bucket {text!r}: the duration must be > 0")
    return seconds


def _filled_times(df: pd.DataFrame) -> np.ndarray:
    """Microseconds since the epoch per row; gaps filled from the previous line of the source (leading
    gaps from the first timestamped line). DataError when a source has no timestamp at all."""
    if "timestamp" not in df.columns:
        raise DataError("--bucket needs timestamps, and the parsed file has no 'timestamp' column; "
                        "use line windows (--window-size / --stride)")
    ts = pd.to_datetime(df["timestamp"], utc=True)
    src = df["source"].astype("string").fillna("")
    filled = ts.groupby(src, sort=False).transform(lambda s: s.ffill().bfill())
    missing = filled.isna()
    if missing.any():
        names = ", ".join(sorted(set(src[missing]))[:3])
        raise DataError(f"--bucket needs timestamps, and source(s) {names} have none "
                        f"(format without a time field?); use line windows (--window-size / --stride)")
    return filled.dt.tz_convert("UTC").astype("datetime64[us, UTC]").astype("int64").to_numpy()


def bucket_table(df: pd.DataFrame, events: np.ndarray, width: int, seconds: float) -> tuple[pd.DataFrame, np.ndarray]:
    """(window columns, counts) of the time buckets of every source, empty buckets included."""
    micros = _filled_times(df)
    step = int(round(seconds * 1e6))
    if step < 1:
        raise DataError(f"bucket of {seconds} s is below a microsecond")
    bucket = micros // step
    src = df["source"].astype("string").fillna("").to_numpy(dtype=object)
    line_no = df["line_no"].to_numpy(np.int64)
    rows = np.arange(len(df), dtype=np.int64)
    parts, counts = [], []
    total = 0
    for name in pd.unique(src):
        sel = np.flatnonzero(src == name)
        b = bucket[sel] - bucket[sel].min()
        n = int(b.max()) + 1
        total += n
        if total > MAX_BUCKETS:
            raise DataError(f"--bucket {seconds:g}s gives more than {MAX_BUCKETS:,} buckets; choose a longer bucket")
        size = np.bincount(b, minlength=n)
        empty = size == 0
        first_row = np.full(n, np.iinfo(np.int64).max)
        np.minimum.at(first_row, b, rows[sel])
        last_row = np.full(n, -1)
        np.maximum.at(last_row, b, rows[sel])
        first_line = line_no[np.minimum(first_row, len(df) - 1)]
        last_line = line_no[np.maximum(last_row, 0)]
        # An empty bucket is the empty row range just after the previous bucket's lines (bucket 0 of a
        # source always holds its first line).
        after = np.maximum.accumulate(np.where(empty, -1, last_row + 1))
        start_row = np.where(empty, after, first_row)
        end_row = np.where(empty, start_row, last_row + 1)
        t0 = (bucket[sel].min() + np.arange(n)) * step
        parts.append(pd.DataFrame({
            "source": pd.array([name] * n, dtype="string"),
            "start_line": pd.arrays.IntegerArray(first_line, empty),
            "end_line": pd.arrays.IntegerArray(last_line, empty),
            "start_row": start_row, "end_row": end_row, "n_lines": size.astype(np.int64),
            "start_time": pd.to_datetime(t0, unit="us", utc=True),
            "end_time": pd.to_datetime(t0 + step, unit="us", utc=True),
            "bucket_seconds": float(seconds),
        }))
        onehot = sparse.csr_matrix((np.ones(len(sel), np.int32), (b, events[sel])), shape=(n, width))
        counts.append(onehot.toarray())
    table = pd.concat(parts, ignore_index=True)
    table.insert(0, "window", np.arange(len(table), dtype=np.int64))
    return table, np.concatenate(counts) if counts else np.zeros((0, width), np.int32)


def build_mscred_inputs(parsed_path: str | os.PathLike, out_dir: str | os.PathLike, window_size: int = 50,
                        stride: int = 25, vocab_path: str | os.PathLike | None = None,
                        bucket: str | float | None = None) -> dict:
    """Write `window_counts.parquet` and `vocab.json` into `out_dir`; return a summary dict.
    ``bucket`` (seconds, or a duration such as "60s") counts per time bucket instead of line windows."""
    seconds = parse_bucket(bucket) if bucket is not None else None
    check_window(window_size, stride)
    df = read_parsed(parsed_path, ["line_no", "source", "template"], optional=["timestamp"] if seconds else ())
    vocab = Vocab.load(vocab_path) if vocab_path else template_vocab(df["template"].unique())
    events = encode_templates(vocab, df["template"])
    if seconds is None:
        starts, ends = window_bounds(df["source"], window_size, stride)
        counts = count_matrix(events, starts, ends, vocab.size).toarray()
        table = window_table(df, starts, ends)
    else:
        table, counts = bucket_table(df, events, vocab.size, seconds)
    count_cols = pd.DataFrame(counts.astype(np.int32), columns=[f"t{i}" for i in range(vocab.size)])
    table = pd.concat([table, count_cols], axis=1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "window_counts.parquet.tmp"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp)
    os.replace(tmp, out / "window_counts.parquet")
    vocab.save(out / "vocab.json")
    return {
        "window_counts": str(out / "window_counts.parquet"),
        "vocab": str(out / "vocab.json"),
        "vocab_reused": vocab_path is not None,
        "lines": int(len(df)),
        "windows": int(len(table)),
        "window_size": window_size if seconds is None else None,
        "stride": stride if seconds is None else None,
        "bucket_seconds": seconds,
        "empty_buckets": int((table["n_lines"] == 0).sum()) if seconds is not None else None,
        "vocab_size": vocab.size,
        "unknown_events": int((events == UNK).sum()),
    }


def read_window_counts(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check a `window_counts.parquet`."""
    df = read_parquet_checked(path, "window_counts.parquet").to_pandas()
    missing = [c for c in WINDOW_COLUMNS if c not in df.columns]
    if missing or not any(c.startswith("t") and c[1:].isdigit() for c in df.columns):
        raise DataError(f"{path}: not a window_counts.parquet (missing {', '.join(missing) or 't<i> columns'})")
    return df
