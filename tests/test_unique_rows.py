"""detectors/windows.py unique_rows against np.unique over the rows as raw bytes (the implementation it
replaced, kept here as the reference): the same distinct rows, in the same order, with the same
inverse and counts, for every key dtype the windows are built in."""

from __future__ import annotations

import numpy as np
import pytest

from anomaly_log_detector.detectors.windows import unique_rows


def _void_unique(a):
    a = np.ascontiguousarray(a)
    as_bytes = a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()
    _, first, inverse, counts = np.unique(as_bytes, return_index=True, return_inverse=True, return_counts=True)
    return a[first], inverse.reshape(-1), counts


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32, np.int32, np.int64])
@pytest.mark.parametrize("width", [1, 3, 8, 9, 11, 17])
def test_unique_rows_equals_the_byte_order_unique(dtype, width):
    rng = np.random.default_rng(width * 31 + np.dtype(dtype).itemsize)
    info = np.iinfo(dtype)
    # Few distinct values (many repeated rows), the extremes of the dtype among them.
    values = np.array([info.min, info.max, 0, 1, 2, info.max // 3], dtype=dtype)
    a = values[rng.integers(0, len(values), (3000, width))]
    a[rng.integers(0, 3000, 500)] = a[0]
    got, want = unique_rows(a), _void_unique(a)
    assert got[0].dtype == a.dtype
    for g, w in zip(got, want):
        assert np.array_equal(g, w)
    assert got[1].dtype == np.int64 and got[2].dtype == np.int64
    # Rows sharing a prefix are contiguous (what the ONNX scorer's prefix trie needs).
    rows = got[0]
    for t in range(1, width):
        prefix = rows[:, :t]
        change = np.flatnonzero((prefix[1:] != prefix[:-1]).any(1))
        assert len(change) + 1 == len(_void_unique(prefix)[0])


def test_unique_rows_of_no_rows_and_of_a_non_contiguous_view():
    rows, inverse, counts = unique_rows(np.zeros((0, 4), dtype=np.uint8))
    assert rows.shape == (0, 4) and len(inverse) == 0 and len(counts) == 0
    a = np.arange(60, dtype=np.int64).reshape(12, 5) % 3
    for g, w in zip(unique_rows(a[:, 1:4]), _void_unique(a[:, 1:4])):
        assert np.array_equal(g, w)


@pytest.mark.parametrize("width", [3, 9, 17])
def test_unique_rows_of_rows_already_in_order(width):
    """Sorted input (the contexts of sorted pairs) skips the sort; one row out of place must not."""
    rng = np.random.default_rng(width)
    a = _void_unique(rng.integers(0, 4, (2000, width)).astype(np.uint8))[0]
    a = np.repeat(a, rng.integers(1, 4, len(a)), axis=0)  # in order, with repeated rows
    for rows in (a, a[:, :-1], np.concatenate([a, a[:1]]), np.concatenate([a[:1] + 1, a])):
        for g, w in zip(unique_rows(rows), _void_unique(rows)):
            assert np.array_equal(g, w)
    # Out of order in the last word only: the first words tie, the last decides.
    b = np.zeros((3, width), dtype=np.uint8)
    b[:, -1] = [2, 1, 3]
    for g, w in zip(unique_rows(b), _void_unique(b)):
        assert np.array_equal(g, w)
