"""Integer codes of text columns, and rows taken from them, without a Python string per row.

``pd.factorize`` of a million-row Arrow string column allocates ~20 MB for its 8 MB of codes; Arrow's
own dictionary encoding gives the same codes (first appearance order, the same uniques) as int32 in
4 MB. The parsed lines' text columns are Arrow-backed and, read from Parquet, made of one chunk per
row group: pandas' ``take`` over such a column first joins its chunks (a copy of the whole column,
~25 MB for the sources of a million lines); here each chunk gives its own rows. Positions and codes
are int32 below 2**31 values (:func:`index_dtype`): the same values in half the bytes of int64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def index_dtype(n: int) -> type:
    """int32 for codes, positions and counts of fewer than 2**31 - 1 things, else int64."""
    return np.int32 if n < 2**31 - 1 else np.int64


def int32_if_fits(values: np.ndarray) -> np.ndarray:
    """An int64 array as int32 when every value fits (anything else as it is)."""
    if values.dtype != np.int64 or (len(values) and not (-2**31 <= values.min() and values.max() < 2**31)):
        return values
    return values.astype(np.int32)


def _arrow_text(values: pd.Series) -> Any:
    """The Arrow chunked array behind an Arrow-backed text column, not a copy (None for any other
    column: converting it would be a copy of every value)."""
    dtype = values.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        return None
    return values.array.__arrow_array__()


def arrow_codes(column: Any) -> tuple[np.ndarray, list[Any]]:
    """(a code per row, null -> -1, in :func:`index_dtype`; the values the codes stand for) of an Arrow
    array or chunked array: a dictionary column's own dictionary (several chunks' dictionaries joined
    in chunk order), any other column's distinct values in order of first appearance."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(column, pa.ChunkedArray):
        column = pa.chunked_array([column], column.type)
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)  # encoding a chunked array keeps one dictionary across its chunks
    chunks = column.chunks
    if any(not c.dictionary.equals(chunks[0].dictionary) for c in chunks[1:]):
        column = column.unify_dictionaries()  # several chunks' own dictionaries: one, in chunk order
        chunks = column.chunks
    dictionary = chunks[0].dictionary.to_pylist() if chunks else []
    codes = np.empty(len(column), dtype=index_dtype(len(dictionary)))
    at = 0
    for c in chunks:
        # int64 first: the indices may be unsigned (e.g. a Polars categorical's uint32), where -1 is no value
        codes[at:at + len(c)] = c.indices.cast(pa.int64()).fill_null(-1).to_numpy(zero_copy_only=False)
        at += len(c)
    return codes, dictionary


def string_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """``pd.factorize(values.astype("string"), sort=False)`` as (codes in :func:`index_dtype`, null ->
    -1; the uniques, in order of first appearance, as Python strings)."""
    arrow = _arrow_text(values)
    if arrow is not None:
        codes, uniques = arrow_codes(arrow)
        return codes, [str(v) for v in uniques]
    codes, uniques = pd.factorize(values if isinstance(values.dtype, pd.StringDtype) else values.astype("string"),
                                  sort=False)
    return codes.astype(index_dtype(len(uniques))), [str(v) for v in uniques]


def column_codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(values)`` as (codes, -1 = missing; an Index of the values), a categorical column's
    own codes and categories (sorted or not, as the column has them) without factorizing it."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(), values.cat.categories
    codes, uniques = pd.factorize(values)
    return codes, pd.Index(uniques)


def missing_last(codes: np.ndarray, names: list[Any], fill: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes with no missing one: (int64 codes, -1 -> a last name; the names as strings, None and
    that last name ``fill``)."""
    names = np.array([*(fill if v is None else str(v) for v in names), fill], dtype=object)
    codes = codes.astype(np.int64)
    codes[codes < 0] = len(names) - 1
    return codes, names


def take_text(values: pd.Series, rows: np.ndarray) -> Any:
    """``values.iloc[rows]`` of an Arrow-backed text column as an Arrow chunked array, each chunk
    taking its own rows (None for any other column). Rows in any order; ascending ones need no sort,
    and their pieces are not joined."""
    import pyarrow as pa

    arrow = _arrow_text(values)
    if arrow is None:
        return None
    rows = np.asarray(rows, dtype=np.int64)
    bounds = np.cumsum([0] + [len(c) for c in arrow.chunks])
    order = None
    if len(rows) > 1 and not bool(np.all(rows[1:] >= rows[:-1])):
        order = np.argsort(rows, kind="stable")
        rows = rows[order]
    if len(rows) and (rows[0] < 0 or rows[-1] >= bounds[-1]):
        raise IndexError("positional indexers are out-of-bounds")
    starts = np.searchsorted(rows, bounds)
    pieces = [chunk.take(pa.array(rows[starts[k]:starts[k + 1]] - bounds[k]))
              for k, chunk in enumerate(arrow.chunks) if starts[k + 1] > starts[k]]
    if order is None:
        return pa.chunked_array(pieces, arrow.type)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return pa.chunked_array([pa.concat_arrays(pieces).take(pa.array(inverse))], arrow.type)


def text_at(values: pd.Series, rows: np.ndarray, na: Any = None) -> np.ndarray:
    """``values.iloc[rows].to_numpy()`` (object array; in an Arrow-backed text column a null is `na`, by
    default the column's own missing value)."""
    taken = take_text(values, rows)
    if taken is None:
        return values.iloc[rows].to_numpy()
    out = taken.to_numpy()
    out[pd.isna(out)] = values.dtype.na_value if na is None else na
    return out


def take_series(values: pd.Series, rows: np.ndarray) -> pd.Series:
    """``values.iloc[rows]`` numbered from 0; an Arrow text column taken chunk by chunk."""
    taken = take_text(values, rows)
    if taken is None:
        return values.iloc[rows].reset_index(drop=True)
    return pd.Series(taken, dtype=values.dtype, name=values.name)


def take_frame(frame: pd.DataFrame, rows: np.ndarray) -> pd.DataFrame:
    """``frame.iloc[rows].reset_index(drop=True)``, column by column (:func:`take_series`)."""
    return pd.DataFrame({name: take_series(frame[name], rows) for name in frame.columns},
                        index=pd.RangeIndex(len(rows)), columns=frame.columns)


def compact_codes(codes: np.ndarray, n: int) -> np.ndarray:
    """Codes 0..n-1 in the smallest unsigned dtype that holds them: a stable sort of 8- or 16-bit
    integers is a radix sort, with the same order as the int64 sort."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if n <= np.iinfo(dtype).max + 1:
            return codes.astype(dtype)
    return codes


def first_codes(key: np.ndarray, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(key, sort=False)`` of integers in ``0 .. n_values - 1``: (code per row, the
    values in order of first appearance). Without a hash table sized by the rows (~30 MB for a
    million): where the range is not much larger than the rows, each value's first row is found by
    a scatter-min over the range."""
    n = len(key)
    if n == 0 or n_values > 4 * n + 1024 or n >= 2**31 - 1:
        codes, uniques = pd.factorize(key, sort=False)
        return codes.astype(np.int64, copy=False), np.asarray(uniques, dtype=np.int64)
    first = np.full(n_values, n, dtype=np.int32)
    np.minimum.at(first, key, np.arange(n, dtype=np.int32))
    present = np.flatnonzero(first < n)
    values = present[np.argsort(first[present], kind="stable")]
    del first
    code_of = np.full(n_values, -1, dtype=index_dtype(len(values)))
    code_of[values] = np.arange(len(values))
    return code_of[key], values.astype(np.int64)
