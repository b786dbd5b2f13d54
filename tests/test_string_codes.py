"""builders/string_codes.py: text columns as integer codes and rows taken from them give what pandas
gives, to the order of the distinct values, the dtypes and the missing values."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from anomaly_log_detector.builders.string_codes import (
    arrow_codes, column_codes, index_dtype, int32_if_fits, missing_last, string_codes, take_frame, take_series,
    text_at)

VALUES = ["b.log", None, "a.log", "", "b.log", "c.log", None, "a.log", "b.log"]


def _chunked(values, dtype="str"):
    """An Arrow-backed column of several chunks, as Parquet row groups give."""
    data = pa.chunked_array([pa.array(values[:3], pa.large_string()), pa.array(values[3:], pa.large_string())])
    if dtype == "str":
        return pa.table({"s": data}).to_pandas()["s"]
    return pd.Series(pd.arrays.ArrowStringArray(data.cast(pa.large_string())), dtype=dtype)


COLUMNS = {
    "str, chunked": lambda: _chunked(VALUES),
    "string[pyarrow], chunked": lambda: _chunked(VALUES, "string[pyarrow]"),
    "string[python]": lambda: pd.Series(VALUES, dtype="string[python]"),
    "object": lambda: pd.Series(VALUES, dtype=object),
    "object ints": lambda: pd.Series([1, None, 2, 1], dtype=object),
    "category": lambda: pd.Series(VALUES, dtype="category"),
    "empty str": lambda: pd.Series([], dtype="str"),
}


@pytest.mark.parametrize("make", COLUMNS.values(), ids=COLUMNS.keys())
def test_string_codes_are_pandas_factorize_in_first_appearance_order(make):
    values = make()
    code, distinct = string_codes(values)
    want, uniques = pd.factorize(values.astype("string"), sort=False)
    assert code.dtype == np.int32 and np.array_equal(code, want)
    assert distinct == [str(u) for u in uniques] and all(type(d) is str for d in distinct)


def test_string_codes_of_a_chunked_column_number_values_across_chunks():
    code, distinct = string_codes(_chunked(VALUES))
    assert distinct == ["b.log", "a.log", "", "c.log"]  # first appearance over all chunks, nulls not a value
    assert code.tolist() == [0, -1, 1, 2, 0, 3, -1, 1, 0]


def test_arrow_codes_keep_a_dictionary_order_and_join_chunk_dictionaries():
    first = pa.DictionaryArray.from_arrays(pa.array([1, 0, None], pa.int32()), pa.array(["x", "y"]))
    code, names = arrow_codes(first)
    assert names == ["x", "y"] and code.tolist() == [1, 0, -1] and code.dtype == np.int32  # not first appearance
    second = pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int32()), pa.array(["z", "x"]))
    code, names = arrow_codes(pa.chunked_array([first, second]))
    assert names == ["x", "y", "z"] and code.tolist() == [1, 0, -1, 2, 0]


@pytest.mark.parametrize("index_type", [pa.uint8(), pa.uint32(), pa.int8(), pa.int64()])
def test_arrow_codes_of_any_index_type(index_type):
    # Unsigned indices (a Polars categorical exports uint32) cannot hold -1: a null still codes -1.
    column = pa.DictionaryArray.from_arrays(pa.array([1, 0, None, 1], index_type), pa.array(["a", "b"]))
    code, names = arrow_codes(column)
    assert names == ["a", "b"] and code.tolist() == [1, 0, -1, 1]


def test_arrow_codes_of_plain_and_empty_columns():
    code, names = arrow_codes(pa.chunked_array([pa.array(["q", None]), pa.array(["p", "q"])]))
    assert names == ["q", "p"] and code.tolist() == [0, -1, 1, 0]
    code, names = arrow_codes(pa.chunked_array([], pa.string()))
    assert names == [] and code.dtype == np.int32 and len(code) == 0


def test_missing_last_gives_missing_values_a_last_name():
    code, names = missing_last(np.array([1, -1, 0], dtype=np.int32), ["a", None], "-")
    assert code.dtype == np.int64 and code.tolist() == [1, 2, 0]
    assert names.dtype == object and names.tolist() == ["a", "-", "-"]


def test_column_codes_keep_a_categorical_columns_categories():
    values = pd.Series(["b", None, "a", "b"], dtype="category")  # categories sorted: a, b
    code, names = column_codes(values)
    assert code.tolist() == [1, -1, 0, 1] and list(names) == ["a", "b"]
    code, names = column_codes(values.astype(object))
    assert code.tolist() == [0, -1, 1, 0] and list(names) == ["b", "a"]


ROWS = {"ascending": [0, 1, 3, 8], "repeated": [2, 2, 5], "any order": [7, 0, 4, 1, 4], "none": []}


@pytest.mark.parametrize("make", COLUMNS.values(), ids=COLUMNS.keys())
@pytest.mark.parametrize("rows", ROWS.values(), ids=ROWS.keys())
def test_takes_match_iloc(make, rows):
    values = make()
    rows = np.array([r for r in rows if r < len(values)], dtype=np.int64)
    got, want = text_at(values, rows), values.iloc[rows].to_numpy()
    assert got.dtype == want.dtype and [repr(v) for v in got] == [repr(v) for v in want]
    pd.testing.assert_series_equal(take_series(values, rows), values.iloc[rows].reset_index(drop=True))


def test_text_at_writes_nulls_as_asked():
    got = text_at(_chunked(VALUES), np.array([1, 2, 6]), na="")
    assert got.tolist() == ["", "a.log", ""]


def test_take_of_rows_outside_the_column_raises():
    with pytest.raises(IndexError):
        take_series(_chunked(VALUES), np.array([1, len(VALUES)]))
    with pytest.raises(IndexError):
        take_series(_chunked(VALUES), np.array([-1, 2]))


def test_take_frame_matches_iloc():
    frame = pd.DataFrame({"source": _chunked(VALUES), "n": np.arange(len(VALUES)), "o": pd.Series(VALUES, dtype=object)})
    rows = np.array([8, 1, 1, 4])
    pd.testing.assert_frame_equal(take_frame(frame, rows), frame.iloc[rows].reset_index(drop=True))


def test_int32_when_it_fits():
    assert index_dtype(2**31 - 2) is np.int32 and index_dtype(2**31 - 1) is np.int64
    fits = np.array([-2**31, 2**31 - 1], dtype=np.int64)
    assert int32_if_fits(fits).dtype == np.int32 and int32_if_fits(fits).tolist() == fits.tolist()
    for other in (np.array([2**31], dtype=np.int64), np.array([-2**31 - 1], dtype=np.int64),
                  np.array([1.5]), np.array([1], dtype=np.uint64)):
        assert int32_if_fits(other) is other
    assert int32_if_fits(np.zeros(0, dtype=np.int64)).dtype == np.int32
