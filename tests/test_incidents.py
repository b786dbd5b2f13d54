"""Issue 7: result records are incidents, thresholds come from held-out normal data, and a bundle is
quiet on its own training log. Pure pieces are tested on hand-built inputs, the workflow on generated
logs (no shared data needed)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from anomaly_log_detector.builders.deeplog import entity_keys, session_keys, split_at_gaps
from anomaly_log_detector.detectors.calibration import tail_quantile
from anomaly_log_detector.reports.anomalies import assign_records
from anomaly_log_detector.reports.hits import strength
from helpers import run_cli

TINY = ["--epochs", "3", "--hidden", "16", "--layers", "1", "--embed-dim", "8", "--quiet"]


def _hits(rows):
    return pd.DataFrame({"row": rows, "detector": "deeplog", "score": 0.6, "key": "", "params": [{}] * len(rows)})


def test_records_split_by_entity_and_by_quiet_time():
    t0 = pd.Timestamp("2024-03-01T00:00:00Z")
    info = pd.DataFrame({
        "source": "a.log",
        "host": ["h1", "h1", "h2", "h1", "h1", "h1"],
        "process": ["sshd", "sshd", "sshd", "sshd", "cron", "sshd"],
        "timestamp": [t0, t0 + pd.Timedelta(seconds=30), t0 + pd.Timedelta(seconds=31),
                      t0 + pd.Timedelta(seconds=80), t0 + pd.Timedelta(seconds=81), t0 + pd.Timedelta(seconds=500)],
    }, index=[0, 1, 2, 3, 4, 5])
    rec = assign_records(_hits([0, 1, 2, 3, 4, 5]), info, gap=60.0)
    # h1/sshd: 0, 30 s, 80 s (gaps 30 and 50: one incident), then 500 s (a new one); h2 and cron apart.
    assert rec[0] == rec[1] == rec[3]
    assert len({rec[0], rec[2], rec[4], rec[5]}) == 4


def test_records_without_times_split_by_lines():
    info = pd.DataFrame({"source": "a.log", "host": None, "process": None, "timestamp": pd.NaT},
                        index=[0, 10, 200])
    rec = assign_records(_hits([0, 10, 200]), info, gap=60.0)
    assert rec[0] == rec[1] != rec[2]  # 10 lines apart: together; 190 lines: apart


def test_entities_and_gaps():
    df = pd.DataFrame({"host": ["a", "a", "b", None], "process": ["sshd", "sshd", None, None],
                       "pid": ["1", "2", None, None], "source": "f"})
    assert entity_keys(df).tolist()[:3] == ["a/sshd", "a/sshd", "b/"] and pd.isna(entity_keys(df)[3])
    assert entity_keys(df, with_pid=True).tolist()[:2] == ["a/sshd[1]", "a/sshd[2]"]
    assert session_keys(df, "entity").tolist()[3] == "<none>"
    keys = pd.Series(["k", "k", "k", "j"], dtype="string")
    times = pd.Series(pd.to_datetime(["2024-01-01 00:00", "2024-01-01 00:05", "2024-01-01 01:00",
                                      "2024-01-01 03:00"], utc=True))
    assert split_at_gaps(keys, times, 600).tolist() == ["k", "k", "k#1", "j"]
    assert split_at_gaps(keys, times, None).tolist() == keys.tolist()


def test_tail_quantile_is_empirical_when_it_can_be_and_extrapolated_otherwise():
    rng = np.random.default_rng(0)
    big = rng.exponential(1.0, 200_000)
    # Exponential(1): P(S > s) = exp(-s), so the 1e-4 quantile is ln(1e4) = 9.21.
    assert tail_quantile(big, 1e-4) == pytest.approx(np.log(1e4), rel=0.1)
    small = big[:5_000]  # too small to show a 1e-4 quantile: extrapolated, beyond its maximum
    estimate = tail_quantile(small, 1e-4)
    assert estimate >= small.max() and estimate == pytest.approx(np.log(1e4), rel=0.25)
    # Zeros are predictions that cannot be misses: the budget applies to the positive part's share.
    with_zeros = np.concatenate([np.zeros(190_000), big[:10_000]])
    assert tail_quantile(with_zeros, 1e-4) == pytest.approx(np.log(1e4 * 10_000 / 200_000), rel=0.2)
    assert tail_quantile(np.zeros(10), 1e-4) == 0.0 and tail_quantile(np.array([]), 1e-4) == 0.0
    assert tail_quantile(np.array([1.0, 2.0]), 1e-4) is None  # too few values for any tail estimate


def test_hit_strength_is_one_scale():
    assert strength(np.array([1.0, 2.0, 0.0])).tolist() == [0.5, 0.75, 0.0]


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("incidents")
    run_cli("gen-synth", "--out", str(root / "normal.log"), "--lines", "6000", "--anomaly-rate", "0",
            "--seed", "3", check=True)
    run_cli("train", "--input", str(root / "normal.log"), "--model-dir", str(root / "m"), *TINY, check=True)
    return root


def test_a_bundle_is_quiet_on_its_own_training_log(synth):
    proc = run_cli("infer", "--model-dir", str(synth / "m"), "--input", str(synth / "normal.log"),
                   "--out-dir", str(synth / "self"), "--quiet")
    assert proc.returncode == 0, proc.stderr.decode()
    assert (synth / "self" / "anomalies.jsonl").read_text() == ""
    # The DeepLog Enhanced outputs of the default inference are there.
    summary = json.loads((synth / "self" / "deeplog_summary.json").read_text())
    assert summary["alerts"] == 0 and (synth / "self" / "deeplog_alerts.parquet").is_file()
    meta = json.loads((synth / "m" / "metadata.json").read_text())
    assert meta["thresholds"]["deeplog"] >= 2.0 and "warnings" in meta
    assert meta["params"]["sequences"]["session_by"] == "entity"


def test_injected_oops_is_one_incident_with_its_evidence(synth):
    lines = (synth / "normal.log").read_text().splitlines()[:400]
    stamp, host = lines[200][:15], lines[200].split()[3]
    oops = [f"{stamp} {host} kernel: [123.456] BUG: unable to handle page fault for address: 0000000000001",
            f"{stamp} {host} kernel: [123.457] Oops: 0000 [#1] SMP NOPTI"]
    (synth / "target.log").write_text("\n".join(lines[:200] + oops + lines[200:]) + "\n")
    proc = run_cli("infer", "--model-dir", str(synth / "m"), "--input", str(synth / "target.log"),
                   "--out-dir", str(synth / "t"), "--quiet")
    assert proc.returncode == 1, proc.stderr.decode()
    docs = [json.loads(x) for x in (synth / "t" / "anomalies.jsonl").read_text().splitlines()]
    records = [d["alog"] for d in docs]  # ECS documents: our fields under `alog`
    first = records[0]
    assert first["line_nos"] == [201, 202] and first["entity"] == f"{host}/kernel"
    assert first["template_training_count"] == 0 and "alerting" in first["detectors"]
    assert docs[0]["event"]["start"] == docs[0]["event"]["end"] == docs[0]["@timestamp"]
