"""Text columns of parsed lines as integer codes, and the text of a few rows, without touching a
Python string per line.

The parsed lines' text columns are Arrow-backed (``str``) and, read from Parquet, made of one chunk
per row group. pandas' ``factorize`` and ``take`` over such a column first join its chunks (a copy of
the whole column, ~20 MB for the sources of a million lines); here each chunk is encoded or read on
its own. Other columns go through pandas as before.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def _chunks(values: pd.Series) -> list[pa.Array] | None:
    """The Arrow chunks behind an Arrow-backed string column (None for any other column)."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    data = pa.array(values)  # the column's own chunked array, not a copy
    return list(data.chunks) if isinstance(data, pa.ChunkedArray) else [data]


def codes(values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """(code per value, the distinct values): ``pd.factorize`` of the values as strings, nulls -1."""
    chunks = _chunks(values)
    if chunks is None:
        if not isinstance(values.dtype, pd.StringDtype):
            values = values.astype("string")
        code, distinct = pd.factorize(values, sort=False)
        return code, list(distinct)
    known: dict[str, int] = {}
    out = np.empty(len(values), dtype=np.int32)
    at = 0
    for chunk in chunks:
        encoded = pc.dictionary_encode(chunk)
        # The chunk's dictionary in terms of the column's codes; its last entry serves nulls.
        table = np.array([known.setdefault(v, len(known)) for v in encoded.dictionary.to_pylist()] + [-1],
                         dtype=np.int32)
        index = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False)
        out[at:at + len(chunk)] = table[index]
        at += len(chunk)
    return out, list(known)


def text_at(values: pd.Series, rows: np.ndarray, na: Any = None) -> np.ndarray:
    """``values.iloc[rows].to_numpy()`` for ascending `rows` (object array; a null is `na`, by default
    the column's own missing value)."""
    chunks = _chunks(values)
    if chunks is None:
        return values.iloc[rows].to_numpy()
    na = values.dtype.na_value if na is None else na
    out = np.empty(len(rows), dtype=object)
    lo = 0
    for chunk in chunks:
        hi = lo + len(chunk)
        i, j = np.searchsorted(rows, [lo, hi])
        if j > i:
            out[i:j] = chunk.take(pa.array(rows[i:j] - lo)).to_numpy(zero_copy_only=False)
        lo = hi
    out[pd.isna(out)] = na
    return out
