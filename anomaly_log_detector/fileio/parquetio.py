"""Reading our Parquet files (sequences, window counts, results) with one kind of error.

Every failure — missing file, not Parquet, missing columns — becomes one `DataError` naming the file.
"""

from __future__ import annotations

import os
from typing import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.errors import DataError


def read_parquet_checked(path: str | os.PathLike, what: str, required: Iterable[str] = ()) -> pa.Table:
    """The whole table in ``path``; DataError when it is absent, unreadable or lacks ``required``."""
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise DataError(f"{path}: {what} not found") from None
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None
    missing = [c for c in required if c not in table.column_names]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (is this a {what}?)")
    return table
