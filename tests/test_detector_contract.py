"""One contract, checked against every detector (river-style): each detector supplies its own small
inputs, built with the real parser and builders, and the same checks run on all of them.

Structural checks run on generated logs (no shared data needed); the AUC check runs on a small real
labeled set and skips when ../shared/data is absent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from anomaly_log_detector.api import parse_logs
from anomaly_log_detector.builders.deeplog import build_deeplog_inputs, read_sequences
from anomaly_log_detector.builders.importers import import_sequences
from anomaly_log_detector.builders.mscred import build_mscred_inputs, read_window_counts
from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.detectors.base import Detector, NotFittedError
from anomaly_log_detector.detectors.baseline import BaselineDetector
from anomaly_log_detector.detectors.deeplog import DeepLogDetector
from anomaly_log_detector.detectors.flows import FlowDetector
from anomaly_log_detector.detectors.mscred import MSCREDDetector
from anomaly_log_detector.synth import generate_synthetic_log
from helpers import shared_data


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ---- inputs each detector supplies ------------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A normal training log and a test log with anomalies, parsed (train learns, test is frozen)."""
    d = tmp_path_factory.mktemp("synth")
    generate_synthetic_log(str(d / "train.log"), 4000, 0.0, seed=1)
    generate_synthetic_log(str(d / "test.log"), 3000, 0.05, seed=2)
    state = str(d / "state.json")
    parse_logs(str(d / "train.log"), str(d / "ptrain"), drain_state=state)
    parse_logs(str(d / "test.log"), str(d / "ptest"), drain_state=state, frozen=True)
    build_deeplog_inputs(d / "ptrain" / "parsed.parquet", d / "strain", session_by="process")
    build_deeplog_inputs(d / "ptest" / "parsed.parquet", d / "stest", session_by="process",
                         vocab_path=d / "strain" / "vocab.json")
    build_mscred_inputs(d / "ptrain" / "parsed.parquet", d / "ctrain")
    build_mscred_inputs(d / "ptest" / "parsed.parquet", d / "ctest", vocab_path=d / "ctrain" / "vocab.json")
    return d


def _baseline_data(d):
    train = pd.read_parquet(d / "ptrain" / "parsed.parquet")
    test = pd.read_parquet(d / "ptest" / "parsed.parquet")
    return train, test


def _deeplog_data(d):
    return read_sequences(d / "strain" / "sequences.parquet"), read_sequences(d / "stest" / "sequences.parquet")


def _mscred_data(d):
    return read_window_counts(d / "ctrain" / "window_counts.parquet"), read_window_counts(d / "ctest" / "window_counts.parquet")


# MS-CRED: a tiny network (4 channels per level, 50 optimiser steps) keeps each fit near a second.
TINY_MSCRED = dict(top_k=8, channels=(4, 4, 4, 4), history=3, batch_size=16, epochs=1, seed=3)

DETECTORS = {
    "baseline": (lambda: BaselineDetector(window_size=50, stride=25), _baseline_data),
    "deeplog": (lambda: DeepLogDetector(seq_len=5, hidden=16, layers=1, epochs=3, batch_size=256, seed=3),
                _deeplog_data),
    "mscred": (lambda: MSCREDDetector(**TINY_MSCRED), _mscred_data),
    "flows": (lambda: FlowDetector(), _baseline_data),  # parsed lines, like the baseline
}


@pytest.fixture(params=sorted(DETECTORS))
def case(request, synthetic):
    make, data = DETECTORS[request.param]
    train, test = data(synthetic)
    return request.param, make, train, test


# ---- the contract -----------------------------------------------------------------------------
def test_is_a_detector_with_settings_only_in_init(case):
    name, make, _, _ = case
    det = make()
    assert isinstance(det, Detector) and det.name == name
    assert not det.is_fitted
    assert set(det.get_params()) and all(not k.endswith("_") for k in det.get_params())


def test_unfitted_use_raises(case):
    _, make, _, test = case
    det = make()
    with pytest.raises(NotFittedError):
        det.predict(test)
    with pytest.raises(Exception):
        det.score(test)


def test_fit_returns_self_and_scores_have_one_value_per_unit(case):
    _, make, train, test = case
    det = make()
    assert det.fit(train) is det
    assert isinstance(det.threshold_, float) and np.isfinite(det.threshold_)
    scores = np.asarray(det.score(test))
    assert scores.ndim == 1 and len(scores) > 1 and np.isfinite(scores).all()
    flags = det.predict(test)
    assert flags.dtype == bool and flags.shape == scores.shape
    np.testing.assert_array_equal(flags, scores > det.threshold_)


def test_same_seed_same_scores(case):
    _, make, train, test = case
    np.testing.assert_array_equal(make().fit(train).score(test), make().fit(train).score(test))


def test_save_load_gives_identical_scores(case, tmp_path):
    name, make, train, test = case
    det = make().fit(train)
    path = tmp_path / f"{name}.model"
    det.save(path)
    loaded = type(det).load(path)
    assert loaded.threshold_ == det.threshold_
    np.testing.assert_array_equal(loaded.score(test), det.score(test))


# ---- AUC > 0.5 on small real labeled sets -----------------------------------------------------
def _bgl_windows(tmp_path):
    """BGL_2k: parse the first 60% normal lines, score the last 40% frozen; a window is anomalous if it
    covers an alert line (first token not '-')."""
    log = shared_data("loghub_2k", "BGL", "corrected", "BGL_2k.log")
    lines = log.read_text().splitlines()
    cut = int(len(lines) * 0.6)
    (tmp_path / "train.log").write_text("\n".join(l for l in lines[:cut] if l.startswith("- ")) + "\n")
    (tmp_path / "test.log").write_text("\n".join(lines[cut:]) + "\n")
    state = str(tmp_path / "s.json")
    parse_logs(str(tmp_path / "train.log"), str(tmp_path / "a"), drain_state=state, format="bgl")
    parse_logs(str(tmp_path / "test.log"), str(tmp_path / "b"), drain_state=state, format="bgl", frozen=True)
    train = pd.read_parquet(tmp_path / "a" / "parsed.parquet")
    test = pd.read_parquet(tmp_path / "b" / "parsed.parquet")
    alert = np.array([not l.startswith("- ") for l in lines[cut:]])
    det = BaselineDetector().fit(train)
    table = det.score_windows(test)
    truth = [alert[s - 1:e].any() for s, e in zip(table["window_start_line"], table["window_end_line"])]
    return np.asarray(truth), det.score(test)


def _hdfs_sessions(tmp_path):
    """HDFS_100k published split: train on 1,500 normal training blocks, score all 1,588 test blocks."""
    csv = shared_data("hdfs_labeled", "HDFS_100k.block_sessions.csv")
    import_sequences(csv, "blocks-csv", tmp_path / "all.parquet")
    seqs = read_sequences(tmp_path / "all.parquet")
    train = seqs[(seqs["split"] == "train") & (seqs["label"] == 0)].head(1500)
    test = seqs[seqs["split"] == "test"]
    vocab = Vocab.load(tmp_path / "vocab.json")
    det = DeepLogDetector(seq_len=10, hidden=32, layers=1, epochs=8, seed=5).fit(train, vocab=vocab)
    return test["label"].to_numpy() == 1, det.score(test)


def _bgl_mscred_windows(tmp_path):
    """BGL_2k as for the baseline, in 10-line windows (stride 5): 1,100 normal lines hold too few
    50-line windows to train a network on."""
    log = shared_data("loghub_2k", "BGL", "corrected", "BGL_2k.log")
    lines = log.read_text().splitlines()
    cut = int(len(lines) * 0.6)
    (tmp_path / "train.log").write_text("\n".join(l for l in lines[:cut] if l.startswith("- ")) + "\n")
    (tmp_path / "test.log").write_text("\n".join(lines[cut:]) + "\n")
    state = str(tmp_path / "s.json")
    parse_logs(str(tmp_path / "train.log"), str(tmp_path / "a"), drain_state=state, format="bgl")
    parse_logs(str(tmp_path / "test.log"), str(tmp_path / "b"), drain_state=state, format="bgl", frozen=True)
    build_mscred_inputs(tmp_path / "a" / "parsed.parquet", tmp_path / "a", window_size=10, stride=5)
    build_mscred_inputs(tmp_path / "b" / "parsed.parquet", tmp_path / "b", window_size=10, stride=5,
                        vocab_path=tmp_path / "a" / "vocab.json")
    train = read_window_counts(tmp_path / "a" / "window_counts.parquet")
    test = read_window_counts(tmp_path / "b" / "window_counts.parquet")
    alert = np.array([not l.startswith("- ") for l in lines[cut:]])
    det = MSCREDDetector(**{**TINY_MSCRED, "window_size": 10}).fit(train, vocab=Vocab.load(tmp_path / "a" / "vocab.json"))
    truth = [alert[s - 1:e].any() for s, e in zip(test["start_line"], test["end_line"])]
    return np.asarray(truth), det.score(test)


@pytest.mark.parametrize("name, data", [("baseline", _bgl_windows), ("deeplog", _hdfs_sessions),
                                        ("mscred", _bgl_mscred_windows)])
def test_auc_above_chance_on_real_labeled_logs(name, data, tmp_path):
    truth, scores = data(tmp_path)
    assert truth.any() and not truth.all()
    auc = roc_auc_score(truth, scores)
    assert auc > 0.5, f"{name}: AUC {auc:.3f}"
