"""The alerting layer (severity + template novelty + DeepLog sequence misses) on real BGL_2k lines."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from anomaly_log_detector.api import parse_logs
from anomaly_log_detector.detectors.alerting import AlertingDetector, severity
from anomaly_log_detector.errors import DataError, ModelError
from anomaly_log_detector.evaluation.metrics import binary_metrics
from helpers import shared_data

SMALL_DEEPLOG = dict(hidden=24, layers=1, embed_dim=8, epochs=20, batch_size=256, lr=1e-2, patience=3)


@pytest.fixture(scope="module")
def bgl(tmp_path_factory):
    """BGL_2k split in time order: normal lines of the first 60% parsed for training, the rest for test
    (the same Drain state continues), plus the per-line truth of the test part."""
    lines = shared_data("loghub_2k", "BGL", "corrected", "BGL_2k.log").read_text().splitlines()
    cut = int(len(lines) * 0.6)
    work = tmp_path_factory.mktemp("bgl")
    (work / "train.log").write_text("\n".join(l for l in lines[:cut] if l.startswith("- ")) + "\n")
    (work / "test.log").write_text("\n".join(lines[cut:]) + "\n")
    for part in ("train", "test"):
        parse_logs(str(work / f"{part}.log"), str(work / part), drain_state=str(work / "drain.json"))
    truth = np.array([not line.startswith("- ") for line in lines[cut:]])
    return (pd.read_parquet(work / "train" / "parsed.parquet"), pd.read_parquet(work / "test" / "parsed.parquet"),
            truth)


@pytest.fixture(scope="module")
def fitted(bgl):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield AlertingDetector(deeplog=SMALL_DEEPLOG).fit(bgl[0])
    finally:
        torch.set_num_threads(before)


def test_severity_table():
    levels = pd.Series(["FATAL", " error ", "Warning", "INFO", None, "crit", "SEVERE"])
    assert severity(levels).tolist() == [1.0, 0.6, 0.3, 0.0, 0.0, 1.0, 0.6]


def test_alerts_on_bgl_beat_novelty_alone(bgl, fitted):
    _, test, truth = bgl
    comp = fitted.components(test)
    assert len(comp) == len(test) and comp["line_no"].tolist() == test["line_no"].tolist()
    alerts = binary_metrics(truth, comp["is_alert"])
    novelty = binary_metrics(truth, comp["novel"])
    # Measured: 45 of 46 alert lines, precision 0.85 (F1 0.91; 0.59 when every new template counted 1);
    # novelty alone has F1 0.14.
    assert alerts["recall"] >= 0.95 and alerts["f1"] >= 0.8, alerts
    assert novelty["f1"] < 0.2 and alerts["f1"] > 3 * novelty["f1"]
    assert not (comp["seq_miss"] & comp["novel"]).any()  # a new template counts once
    assert comp["seq_miss"].dtype == bool  # calibrated DeepLog: few or no misses on a drifting log


def test_novelty_is_graded_by_the_nearest_training_template(bgl, fitted):
    _, test, truth = bgl
    comp = fitted.components(test)
    novel = comp["novel"].to_numpy() & (comp["severity"] == 1.0).to_numpy()
    # New critical alert messages are further from anything known than the new critical normal ones
    # (BGL: "ciod: Error loading ..." variants of a training template are normal).
    assert comp.loc[novel & truth, "novelty"].median() > comp.loc[novel & ~truth, "novelty"].median() + 0.2
    known = ~comp["novel"]
    assert (comp.loc[known, "novelty"] == 0).all() and comp.loc[~known, "nearest"].notna().any()
    flat = AlertingDetector(similarity=False, sequence=False).fit(bgl[0]).components(test)
    assert (flat.loc[flat["novel"], "novelty"] == 1).all()


def test_json_round_trip_without_inner_deeplog(bgl, tmp_path):
    train, test, _ = bgl
    det = AlertingDetector(sequence=False).fit(train)
    det.save(tmp_path / "alerting.json")
    assert (tmp_path / "alerting.json").read_text().startswith("{")
    loaded = AlertingDetector.load(tmp_path / "alerting.json")
    assert np.array_equal(loaded.score(test), det.score(test)) and loaded.template_counts_ == det.template_counts_
    (tmp_path / "bad.json").write_text('{"format": "alog-detect/alerting", "version": 2, "params": {}}')
    with pytest.raises(ModelError, match="bad.json"):
        AlertingDetector.load(tmp_path / "bad.json")


def test_save_load_keeps_scores_and_refuses_objects(bgl, fitted, tmp_path):
    _, test, _ = bgl
    fitted.save(tmp_path / "alert.pth")
    loaded = AlertingDetector.load(tmp_path / "alert.pth")
    assert np.array_equal(loaded.score(test), fitted.score(test))
    assert loaded.threshold_ == fitted.threshold_ and loaded.get_params() == fitted.get_params()
    torch.save({"format": "alog-detect/alerting", "version": 2, "params": pd.Timestamp(0)}, tmp_path / "evil.pth")
    with pytest.raises(ModelError, match="evil.pth"):
        AlertingDetector.load(tmp_path / "evil.pth")


def test_without_levels_novelty_alone_alerts(bgl):
    train, test, _ = bgl
    det = AlertingDetector(sequence=False, similarity=False).fit(train.drop(columns=["level"]))
    comp = det.components(test.drop(columns=["level"]))
    assert det.threshold_ == pytest.approx(0.75)
    assert comp["is_alert"].tolist() == comp["novel"].tolist() and comp["novel"].any()


def test_rejects_lines_without_templates():
    with pytest.raises(DataError, match="template"):
        AlertingDetector().fit(pd.DataFrame({"line_no": [1], "source": ["x"]}))
