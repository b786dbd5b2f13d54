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
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from scipy import sparse

from anomaly_log_detector.builders.deeplog import encode_templates, read_parsed, template_vocab
from anomaly_log_detector.builders.vocab import UNK, Vocab
from anomaly_log_detector.parquetio import read_parquet_checked
from anomaly_log_detector.errors import DataError

WINDOW_COLUMNS = ("window", "source", "start_line", "end_line", "start_row", "end_row", "n_lines")


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
    """(start_row, end_row) of every window; rows of one source run are windowed on their own."""
    check_window(window_size, stride)
    src = sources.astype("string").fillna("").to_numpy()
    n = len(src)
    cuts = np.flatnonzero(src[1:] != src[:-1]) + 1 if n else np.zeros(0, dtype=np.int64)
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


def window_matrix(starts: np.ndarray, ends: np.ndarray, n_rows: int) -> sparse.csr_matrix:
    """Windows x rows 0/1 matrix: row w has ones on the rows window w covers."""
    lengths = ends - starts
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    cols = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)]) if len(starts) else np.zeros(0, int)
    data = np.ones(len(cols), dtype=np.int32)
    return sparse.csr_matrix((data, cols, indptr), shape=(len(starts), n_rows))


def count_matrix(labels: np.ndarray, starts: np.ndarray, ends: np.ndarray, width: int) -> sparse.csr_matrix:
    """Windows x `width` sparse counts of the integer `labels` of each row."""
    n = len(labels)
    onehot = sparse.csr_matrix((np.ones(n, dtype=np.int32), labels, np.arange(n + 1)), shape=(n, width))
    return (window_matrix(starts, ends, n) @ onehot).tocsr()


def window_table(df: pd.DataFrame, starts: np.ndarray, ends: np.ndarray) -> pd.DataFrame:
    """The per-window columns shared by window counts and baseline scores."""
    line_no = df["line_no"].to_numpy(np.int64)
    return pd.DataFrame({
        "window": np.arange(len(starts), dtype=np.int64),
        "source": df["source"].astype("string").to_numpy()[starts] if len(starts) else [],
        "start_line": line_no[starts],
        "end_line": line_no[ends - 1],
        "start_row": starts,
        "end_row": ends,
        "n_lines": (ends - starts).astype(np.int64),
    })


def build_mscred_inputs(parsed_path: str | os.PathLike, out_dir: str | os.PathLike, window_size: int = 50,
                        stride: int = 25, vocab_path: str | os.PathLike | None = None) -> dict:
    """Write `window_counts.parquet` and `vocab.json` into `out_dir`; return a summary dict."""
    check_window(window_size, stride)
    df = read_parsed(parsed_path, ["line_no", "source", "template"])
    vocab = Vocab.load(vocab_path) if vocab_path else template_vocab(df["template"].unique())
    events = encode_templates(vocab, df["template"])
    starts, ends = window_bounds(df["source"], window_size, stride)
    counts = count_matrix(events, starts, ends, vocab.size).toarray()
    table = window_table(df, starts, ends)
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
        "windows": int(len(starts)),
        "window_size": window_size,
        "stride": stride,
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
