"""Reading parsed lines for the temporal analysis (analyzers/temporal.py) without a string per line.

The analysis needs every line's time and template, and a few lines' text. The templates are read as
a dictionary (a category: a code per line, each template's text once) whose categories are sorted as
a sort of the text sorts them, so that counting by code gives the tables counting by text gave, in
the same order. Line numbers, sources and raw text are fetched for the lines a report shows.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.errors import DataError
from anomaly_log_detector.fileio.schema import UNSEEN_TEMPLATE
from anomaly_log_detector.reports.inputs import PARSED

def _open(data_dir: str | os.PathLike) -> tuple[Path, pq.ParquetFile]:
    path = Path(data_dir) / PARSED
    if not path.is_file():
        raise DataError(f"{path}: not found (run `alog-detect parse --out-dir {data_dir}` first)")
    try:
        return path, pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable parsed.parquet ({exc})") from None


def _frame(path: Path, f: pq.ParquetFile, columns: list[str], dictionary: list[str],
           times: pd.Series | None = None) -> pd.DataFrame:
    """`columns` of the file (the timestamp as UTC times, NaT without the column); `times`: the
    timestamps when the caller has them read."""
    present = [c for c in columns if c in f.schema_arrow.names and (c != "timestamp" or times is None)]
    try:
        df = pq.read_table(path, columns=present, read_dictionary=dictionary or None).to_pandas()
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable parsed.parquet ({exc})") from None
    if "template" not in df.columns:
        raise DataError(f"{path}: missing column template (is this a parsed.parquet?)")
    if times is not None:
        df.insert(0, "timestamp", times.array)
    if "timestamp" not in df.columns:
        df["timestamp"] = pd.Series(pd.NaT, index=df.index, dtype="datetime64[us, UTC]")
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df


def read_times(data_dir: str | os.PathLike, with_source: bool = False, times: pd.Series | None = None) -> pd.DataFrame:
    """`timestamp` (UTC) and `template` (a category, :func:`sorted_categories`) of every parsed row,
    and `source` (text) with `with_source`; index = row position. The templates as categories: no
    string per line (~60 MB of templates at 1M lines). `times`: the timestamps when
    the caller has them read (reports/parsed_rows.py `ParsedRows.times`)."""
    path, f = _open(data_dir)
    df = _frame(path, f, ["timestamp", "template", *(["source"] if with_source else [])], ["template"], times)
    df["template"] = sorted_categories(df["template"])
    if with_source and "source" not in df.columns:
        df["source"] = None
    return df


def sorted_categories(template: pd.Series) -> pd.Series:
    """`template` as a category whose categories are in sorted order (as a sort of the text orders
    them), so that its codes sort like the text."""
    if not isinstance(template.dtype, pd.CategoricalDtype):
        return template.astype("category")  # pandas sorts the categories it infers
    cats = template.cat.categories
    return template if cats.is_monotonic_increasing else template.cat.reorder_categories(cats.sort_values())


def template_codes(template: pd.Series) -> tuple[np.ndarray, pd.Index, int]:
    """(code per row, -1 = missing; the templates in sorted order; the code of UNSEEN_TEMPLATE, or -2):
    ``pd.factorize(template, sort=True)``, taken from a category's codes when it is one."""
    if isinstance(template.dtype, pd.CategoricalDtype):
        template = sorted_categories(template)
        codes, names = template.cat.codes.to_numpy().astype(np.int64), template.cat.categories
    else:
        codes, names = pd.factorize(template, sort=True)
        names = pd.Index(names)
    unseen = names.get_indexer([UNSEEN_TEMPLATE])[0]
    return codes, names, int(unseen) if unseen >= 0 else -2


def distinct_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_counts=True)`` of non-negative int64 keys, by counting (no sort) when
    they span a small range (dated hours x templates do)."""
    if not len(keys) or int(keys.max()) >= 1 << 26:
        return np.unique(keys, return_counts=True)
    counts = np.bincount(keys)
    present = np.flatnonzero(counts)
    return present.astype(keys.dtype, copy=False), counts[present]


def hour_numbers(times: pd.Series) -> np.ndarray:
    """The UTC hour each (zone-aware, not missing) time falls in, as hours since 1970 (its hour of
    day is this % 24); read from the column's own integers, without a copy of the times."""
    per_second = {"s": 1, "ms": 10 ** 3, "us": 10 ** 6, "ns": 10 ** 9}[times.dt.unit]
    return times.array.asi8 // (3600 * per_second)


def first_rows(df: pd.DataFrame, hour_starts: pd.Series, templates: list[str | None]) -> list[int | None]:
    """The first row (index label of the timestamped rows `df`) of each hour (its start), of that
    hour's template when one is given and the hour has it; None for an hour without lines."""
    hours = hour_numbers(df["timestamp"])
    codes, names, _ = template_codes(df["template"])
    index = df.index.to_numpy()
    starts = hour_numbers(pd.to_datetime(hour_starts, utc=True))
    picks: list[int | None] = []
    for start, template in zip(starts.tolist(), templates):
        in_hour = hours == start
        if template is not None:
            at = names.get_indexer([template])[0]
            match = in_hour & (codes == (at if at >= 0 else -2))
            in_hour = match if match.any() else in_hour
        picks.append(int(index[np.argmax(in_hour)]) if in_hour.any() else None)
    return picks
