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
