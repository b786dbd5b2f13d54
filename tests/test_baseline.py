"""The statistical baseline on BGL_2k parsed by the real parser (train: normal lines of the first 60%)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from anomaly_log_detector.api import parse_logs
from anomaly_log_detector.detectors.base import NotFittedError
from anomaly_log_detector.detectors.baseline import BaselineDetector
from anomaly_log_detector.errors import DataError, ModelError
from anomaly_log_detector.evaluation.metrics import binary_metrics, roc_auc, windows_truth
from anomaly_log_detector.evaluation.labels import load_labels
from anomaly_log_detector.fileio.schema import UNSEEN_TEMPLATE
from helpers import assert_one_line_error, run_cli, shared_data


@pytest.fixture(scope="module")
def bgl(tmp_path_factory):
    log = shared_data("loghub_2k", "BGL", "corrected", "BGL_2k.log")
    lines = log.read_text().splitlines(keepends=True)
    cut = int(len(lines) * 0.6)
    d = tmp_path_factory.mktemp("bgl")
    (d / "train.log").write_text("".join(line for line in lines[:cut] if line.startswith("- ")))
    (d / "test.log").write_text("".join(lines[cut:]))
    parse_logs(str(d / "train.log"), str(d / "train"), drain_state=str(d / "state.json"))
    parse_logs(str(d / "test.log"), str(d / "test"), drain_state=str(d / "state.json"), frozen=True)
    return {"dir": d, "train": pd.read_parquet(d / "train" / "parsed.parquet"),
            "test": pd.read_parquet(d / "test" / "parsed.parquet"), "labels": load_labels(d / "test.log")}


@pytest.fixture(scope="module")
def fitted(bgl):
    return BaselineDetector().fit(bgl["train"])


def test_fit_returns_self_and_scores_one_value_per_window(bgl):
    det = BaselineDetector(window_size=40, stride=20)
    assert det.fit(bgl["train"]) is det
    windows = det.score_windows(bgl["test"])
    scores = det.score(bgl["test"])
    assert scores.shape == (len(windows),) and np.isfinite(scores).all()
    assert (det.predict(bgl["test"]) == (scores > det.threshold_)).all()
    train_scores = det.score(bgl["train"])
    assert np.mean(train_scores > det.threshold_) <= 0.05 + 1 / len(train_scores)  # the 95th percentile


def test_windows_carry_the_raw_line_numbers(bgl, fitted):
    test = bgl["test"]
    w = fitted.score_windows(test)
    assert (w["window_start_line"] == test["line_no"].to_numpy()[w["start_row"]]).all()
    assert (w["window_end_line"] == test["line_no"].to_numpy()[w["end_row"] - 1]).all()
    for _, row in w.iterrows():
        assert set(row["evidence_lines"]) <= set(range(row["window_start_line"], row["window_end_line"] + 1))


def test_finds_bgl_alerts(bgl, fitted):
    """Quality floor on real labels: windows rank well, and the evidence lines of flagged windows
    name the alert lines (severity + template novelty)."""
    labels = bgl["labels"]
    w = fitted.score_windows(bgl["test"])
    truth = windows_truth(labels.line_no[labels.is_anomaly], w["window_start_line"], w["window_end_line"])
    # 0.68 with whole-training-set statistics (0.91 with the former exponentially weighted ones, which
    # judged a drifting log against its calm last ~45 training windows and flagged 1 % of training
    # windows by construction); the severity component alone ranks at 0.88.
    assert roc_auc(truth, w["score"]) > 0.65 and roc_auc(truth, w["severity"]) > 0.8
    named = np.concatenate([np.asarray(v, int) for v in w.loc[w["is_anomaly"], "evidence_lines"]])
    m = binary_metrics(labels.is_anomaly, np.isin(labels.line_no, named))
    assert m["recall"] > 0.9 and m["f1"] > 0.4, m  # measured 1.0 and 0.44 (0.45 with EWM statistics)


def test_unseen_templates_raise_the_new_ratio(bgl, fitted):
    test = bgl["test"].copy()
    base = fitted.score_windows(test)
    row = 333
    test.loc[row, "template"] = UNSEEN_TEMPLATE if test.loc[row, "template"] != UNSEEN_TEMPLATE else "x"
    changed = fitted.score_windows(test)
    covers = (base["start_row"] <= row) & (row < base["end_row"])
    was_new = bgl["test"].loc[row, "template"] not in fitted.templates_
    delta = changed["new_ratio"] - base["new_ratio"]
    expected = 0.0 if was_new else 1 / fitted.window_size
    assert np.allclose(delta[covers], expected) and np.allclose(delta[~covers], 0)


def test_without_levels_severity_is_zero(bgl):
    det = BaselineDetector().fit(bgl["train"].drop(columns=["level"]))
    w = det.score_windows(bgl["test"])
    assert not det.uses_level_ and (w["severity"] == 0).all()


def test_save_load_gives_identical_scores_and_json_is_deterministic(bgl, fitted, tmp_path):
    fitted.save(tmp_path / "a.json")
    loaded = BaselineDetector.load(tmp_path / "a.json")
    pd.testing.assert_frame_equal(loaded.score_windows(bgl["test"]), fitted.score_windows(bgl["test"]))
    assert loaded.get_params() == fitted.get_params()
    BaselineDetector().fit(bgl["train"]).save(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()


def test_misuse_and_bad_models_raise(bgl, fitted, tmp_path):
    with pytest.raises(NotFittedError):
        BaselineDetector().score(bgl["test"])
    with pytest.raises(DataError, match="lack column"):
        fitted.score(bgl["test"].drop(columns=["template"]))
    with pytest.raises(DataError, match="no parsed lines"):
        BaselineDetector().fit(bgl["train"].iloc[:0])
    with pytest.raises(DataError, match="quantiles"):
        BaselineDetector(quantile=1.5).fit(bgl["train"])
    d = fitted.to_dict()
    for broken, needle in (({**d, "format": "pickle"}, "not an alog-detect baseline"),
                           ({**d, "mean": d["mean"][:-1]}, "do not match"),
                           ({**d, "params": {**d["params"], "alpha": 0}}, "alpha"),
                           ({k: v for k, v in d.items() if k != "threshold"}, "malformed")):
        (tmp_path / "m.json").write_text(json.dumps(broken))
        with pytest.raises(ModelError, match=needle):
            BaselineDetector.load(tmp_path / "m.json")


def test_cli_fit_then_score(bgl, tmp_path):
    d = bgl["dir"]
    run_cli("detect", "--parsed", str(d / "train" / "parsed.parquet"), "--save-model", str(tmp_path / "stats.json"),
            check=True)
    proc = run_cli("detect", "--parsed", str(d / "test" / "parsed.parquet"), "--model", str(tmp_path / "stats.json"),
                   "--out-dir", str(tmp_path / "out"), check=True)
    assert "anomalous:" in proc.stdout.decode()
    scores = pd.read_parquet(tmp_path / "out" / "baseline_scores.parquet")
    expected = BaselineDetector.load(tmp_path / "stats.json").score_windows(bgl["test"])
    assert np.allclose(scores["score"], expected["score"]) and list(scores["is_anomaly"]) == list(expected["is_anomaly"])
    err = assert_one_line_error(run_cli("detect", "--parsed", str(d / "test" / "parsed.parquet"), "--model",
                                        str(tmp_path / "stats.json"), "--stride", "5", "--out-dir", str(tmp_path)))
    assert "--stride cannot be used with --model" in err
    err = assert_one_line_error(run_cli("detect", "--parsed", str(d / "test" / "parsed.parquet"), "--model",
                                        str(d / "state.json"), "--out-dir", str(tmp_path)))
    assert "not an alog-detect baseline model" in err
