"""The baseline's and the alerting layer's block-wise, code-based paths give what the whole-column
pandas / scipy forms give, to the entry order and the column types. The line windows, counts and
window table (builders/mscred.py, shared by MS-CRED and the baseline) are compared with the
whole-column forms they replaced, kept here as the reference."""

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from scipy import sparse

from anomaly_log_detector.builders import mscred
from anomaly_log_detector.builders.mscred import count_matrix, run_windows, window_bounds, window_table
from anomaly_log_detector.detectors.alerting import AlertingDetector
from anomaly_log_detector.detectors.baseline import BaselineDetector

VALUES = ["a.log", None, "b.log", "", "a.log", "c.log", None, "b.log", "a.log"]


def _old_bounds(sources, size, stride):
    return run_windows(sources.astype("string").fillna("").to_numpy(), size, stride)


def _old_counts(labels, starts, ends, width):
    n = len(labels)
    onehot = sparse.csr_matrix((np.ones(n, dtype=np.int32), labels, np.arange(n + 1)), shape=(n, width))
    cols = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)]) if len(starts) else np.zeros(0, int)
    indptr = np.concatenate([[0], np.cumsum(ends - starts)])
    windows = sparse.csr_matrix((np.ones(len(cols), dtype=np.int32), cols, indptr), shape=(len(starts), n))
    return (windows @ onehot).tocsr()


def _old_table(df, starts, ends):
    line_no = df["line_no"].to_numpy(np.int64)
    return pd.DataFrame({
        "window": np.arange(len(starts), dtype=np.int64),
        "source": df["source"].astype("string").to_numpy()[starts] if len(starts) else [],
        "start_line": line_no[starts], "end_line": line_no[ends - 1], "start_row": starts, "end_row": ends,
        "n_lines": (ends - starts).astype(np.int64),
    })


@pytest.mark.parametrize("dtype", ["str", "string[python]", object, "category"])
@pytest.mark.parametrize("block", [5, 1024])
def test_windows_counts_and_table_match_the_whole_column_forms(monkeypatch, dtype, block):
    rng = np.random.default_rng(3)
    sources = pd.Series(np.repeat(VALUES, rng.integers(1, 120, len(VALUES))), dtype=dtype)
    frame = pd.DataFrame({"line_no": np.arange(len(sources), dtype=np.int64) + 1, "source": sources})
    monkeypatch.setattr(mscred, "BLOCK", block)
    for size, stride in [(50, 25), (7, 3), (1, 1), (5000, 10)]:
        starts, ends = window_bounds(sources, size, stride)
        want = _old_bounds(sources, size, stride)
        assert np.array_equal(starts, want[0]) and np.array_equal(ends, want[1])
        pd.testing.assert_frame_equal(window_table(frame, starts, ends), _old_table(frame, starts, ends))
        labels = rng.integers(0, 9, len(sources))
        got, ref = count_matrix(labels, starts, ends, 9), _old_counts(labels, starts, ends, 9)
        assert got.dtype == ref.dtype and got.shape == ref.shape
        for part in ("data", "indices", "indptr"):
            assert np.array_equal(getattr(got, part), getattr(ref, part))
    empty = np.zeros(0, np.int64)
    pd.testing.assert_frame_equal(window_table(frame, empty, empty), _old_table(frame, empty, empty))
    got, ref = count_matrix(np.zeros(0, np.int64), empty, empty, 9), _old_counts(np.zeros(0, np.int64), empty, empty, 9)
    assert got.shape == ref.shape == (0, 9) and got.dtype == ref.dtype



@pytest.mark.parametrize("block", [2, 1024])
def test_count_matrix_of_windows_out_of_row_order(monkeypatch, block):
    # Not what window_bounds gives, but a public function: nested, reversed and overlapping windows
    # count as the whole product does (a block's range taken from its first and last window was
    # read out of bounds by scipy, which does not check indices).
    monkeypatch.setattr(mscred, "BLOCK", block)
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    for starts, ends in [([4, 0], [8, 4]), ([0, 2], [6, 4]), ([3, 1, 0], [5, 8, 2])]:
        starts, ends = np.array(starts), np.array(ends)
        got, ref = count_matrix(labels, starts, ends, 3), _old_counts(labels, starts, ends, 3)
        assert np.array_equal(got.toarray(), ref.toarray())

def _lines(n=3000, seed=0):
    rng = np.random.default_rng(seed)
    templates = np.array([f"user <*> did thing {i}" for i in range(12)], dtype=object)
    template = templates[rng.integers(0, 12, n)]
    template[rng.random(n) < 0.02] = None
    return pd.DataFrame({"line_no": np.arange(n, dtype=np.int64) + 1,
                         "source": pd.Series(np.where(np.arange(n) < n // 3, "a.log", "b.log"), dtype="str"),
                         "template": pd.Series(template, dtype="str"),
                         "level": pd.Series(rng.choice(["info", " ERROR", "warn", "fatal"], n), dtype="str"),
                         "masked": pd.Series(np.where(pd.isna(template), "a brand new thing", ""), dtype="str")})


def test_score_windows_do_not_depend_on_the_block(monkeypatch):
    train, test = _lines(seed=1), _lines(seed=2)
    test.loc[test.index % 17 == 0, "template"] = "never seen"
    det = BaselineDetector(window_size=20, stride=10, weights=(1.0, 1.0, 1.0)).fit(train)
    whole = det.score_windows(test)
    monkeypatch.setattr(mscred, "BLOCK", 3)
    assert BaselineDetector(window_size=20, stride=10, weights=(1.0, 1.0, 1.0)).fit(train).to_dict() == det.to_dict()
    pd.testing.assert_frame_equal(det.score_windows(test), whole)


@pytest.mark.parametrize("threshold", [None, -1.0])
@pytest.mark.parametrize("rows", [slice(None), slice(0, 0), slice(0, 40)])
def test_line_alerts_are_the_components_scoring_above_zero(threshold, rows):
    train = _lines(seed=4)
    test = _lines(seed=5).iloc[rows].reset_index(drop=True)
    det = AlertingDetector(sequence=False).fit(train.dropna(subset=["template"]))
    if threshold is not None:
        det.threshold_ = threshold
    seq = np.arange(len(test)) % 5 == 0
    comp = det.components(test, seq_miss=seq)
    comp.insert(0, "row", np.arange(len(comp), dtype=np.int64))
    comp["threshold"] = det.threshold_
    want = comp[comp["score"] > 0].reset_index(drop=True)
    got, counts = det.line_alerts(test, seq_miss=seq)
    pd.testing.assert_frame_equal(got, want)
    assert counts == {"alert_lines": int(comp["is_alert"].sum()), "novel_lines": int(comp["novel"].sum())}
    schema = [pa.Table.from_pandas(frame, preserve_index=False).schema for frame in (got, want)]
    assert schema[0] == schema[1]


def test_line_alerts_keep_the_text_type_of_nearest_when_no_kept_line_has_one():
    train = _lines(seed=6).dropna(subset=["template"])
    test = train.iloc[:200].reset_index(drop=True).assign(level="info")
    renamed = test.index % 10 == 0
    test.loc[renamed, "masked"] = test.loc[renamed, "template"]  # exactly a known message: novelty 0
    test.loc[renamed, "template"] = "renamed"
    det = AlertingDetector(sequence=False).fit(train)
    seq = test.index % 10 == 5
    comp = det.components(test, seq_miss=seq)
    got, _ = det.line_alerts(test, seq_miss=seq)
    assert comp["nearest"].notna().any() and got["nearest"].isna().all() and len(got) == seq.sum()
    assert got["nearest"].dtype == comp["nearest"].dtype
