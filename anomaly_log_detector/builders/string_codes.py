"""Integer codes of text columns, without the int64 copies ``pd.factorize`` makes on the way.

``pd.factorize`` of a million-row Arrow string column allocates ~20 MB for its 8 MB of codes; Arrow's
own dictionary encoding gives the same codes (first appearance order, the same uniques) as int32 in
4 MB. Used by the session grouping of `infer` (builders/session_codes.py, builders/deeplog.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def string_codes(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """``pd.factorize(values.astype("string"), sort=False)`` as (int32 codes, null -> -1; the uniques
    as Python strings)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrow = getattr(values.array, "__arrow_array__", None) if isinstance(values.dtype, pd.StringDtype) else None
    if arrow is not None and len(values):
        encoded = pc.dictionary_encode(pa.chunked_array(arrow()))
        chunks = encoded.chunks
        # Encoding a chunked array shares one dictionary across its chunks; anything else takes pandas' way.
        if chunks and all(c.dictionary.equals(chunks[0].dictionary) for c in chunks[1:]):
            codes = np.empty(len(values), dtype=np.int32)
            at = 0
            for c in chunks:
                codes[at:at + len(c)] = c.indices.fill_null(-1).to_numpy(zero_copy_only=False)
                at += len(c)
            return codes, [str(v) for v in chunks[0].dictionary.to_pylist()]
    codes, uniques = pd.factorize(values.astype("string"), sort=False)
    return codes.astype(np.int32 if len(uniques) < 2**31 - 1 else np.int64), [str(v) for v in uniques]


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
    code_of = np.full(n_values, -1, dtype=np.int32 if len(values) < 2**31 - 1 else np.int64)
    code_of[values] = np.arange(len(values))
    return code_of[key], values.astype(np.int64)
