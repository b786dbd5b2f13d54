"""Issue 7: result records are incidents, thresholds come from held-out normal data, and a bundle is
quiet on its own training log. Pure pieces are tested on hand-built inputs, the workflow on generated
logs (no shared data needed)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from anomaly_log_detector.builders.session_codes import entity_keys, session_keys, split_at_gaps
from anomaly_log_detector.detectors.calibration import tail_quantile
from anomaly_log_detector.reports.anomalies import (
    INCIDENTS, anomaly_table, assign_records, group_incidents, write_anomalies,
)
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


def _storm_info():
    """Five hosts write the same error within 6 s (a storm); meanwhile db-9 has an unrelated oops, and
    h1's cron fails at the same moment as its sshd (one host, overlapping in time)."""
    t0 = pd.Timestamp("2024-03-01T00:00:00Z")
    sec = lambda s: t0 + pd.Timedelta(seconds=s)
    rows = [  # (host, process, seconds, template id, masked)
        ("h1", "systemd", 0, 7, "x"), ("h1", "systemd", 1, 7, "x"), ("h2", "systemd", 2, 7, "x"),
        ("h3", "systemd", 3, 7, "x"), ("h4", "systemd", 5, 7, "x"), ("h5", "systemd", 6, 7, "x"),
        ("db-9", "kernel", 2, -1, "Oops: <NUM>"), ("db-9", "kernel", 3, -1, "RIP: <HEX>"),
        ("h1", "CRON", 1, 3, "y"),
        ("h6", "sshd", 400, 7, "x"),  # the same error much later: another incident
    ]
    info = pd.DataFrame({"source": "a.log", "host": [r[0] for r in rows], "process": [r[1] for r in rows],
                         "timestamp": [sec(r[2]) for r in rows], "template_id": [r[3] for r in rows],
                         "masked": [r[4] for r in rows]}, index=range(len(rows)))
    return info


def test_storm_across_five_hosts_is_one_incident_and_unrelated_ones_stay_apart():
    info = _storm_info()
    hits = _hits(list(info.index))
    hits = hits.assign(record=assign_records(hits, info, gap=60.0))
    assert hits["record"].nunique() == 8  # one per host/process before grouping
    group = group_incidents(hits, info, gap=10.0)
    storm = {group[i] for i in range(6)}
    assert len(storm) == 1
    assert group[8] in storm  # h1's cron failed while h1's systemd did: same host, same moment
    assert group[6] == group[7] and group[6] not in storm  # other host, other messages: not merged
    assert group[9] not in storm  # the same message 400 s later is a new incident
    # Other files, or no times: never grouped.
    two_files = info.assign(source=["a.log"] * 3 + ["b.log"] * 7)
    assert group_incidents(hits, two_files, gap=10.0)[0] != group_incidents(hits, two_files, gap=10.0)[3]
    untimed = info.assign(timestamp=pd.NaT)
    untimed_hits = hits.assign(record=assign_records(hits, untimed, gap=60.0))
    assert len(set(group_incidents(untimed_hits, untimed, gap=10.0))) == untimed_hits["record"].nunique()


def test_steps_of_one_identifier_flow_are_one_incident():
    """An SSH session's sshd and systemd-logind steps flagged by the flow detector 5 minutes apart are
    one record; another session's step on the same host stays apart, and so does the same identifier
    on another host."""
    t0 = pd.Timestamp("2024-03-01T00:00:00Z")
    rows = [("h1", "sshd", 0, "sshd[42]"), ("h1", "systemd-logind", 300, "sshd[42]"),
            ("h1", "sshd", 310, "sshd[77]"), ("h2", "sshd", 320, "sshd[42]")]
    info = pd.DataFrame({"source": "a.log", "host": [r[0] for r in rows], "process": [r[1] for r in rows],
                         "timestamp": [t0 + pd.Timedelta(seconds=r[2]) for r in rows], "template_id": [1, 2, 3, 4],
                         "masked": ["a", "b", "c", "d"]}, index=range(len(rows)))
    hits = pd.DataFrame({"row": range(len(rows)), "detector": "flows", "score": 0.75, "key": "reason.flow_order",
                         "params": [{"identifier": r[3]} for r in rows]})
    hits = hits.assign(record=assign_records(hits, info, gap=60.0))
    group = group_incidents(hits, info, gap=10.0)
    assert group[0] == group[1]
    assert len({group[0], group[2], group[3]}) == 3


def test_storm_record_lists_its_entities(tmp_path):
    info = _storm_info()
    parsed = info.assign(line_no=np.arange(1, len(info) + 1), pid=None, level="err", template="t",
                         raw=[f"line {i}" for i in range(len(info))])
    parsed.to_parquet(tmp_path / "parsed.parquet")
    keys = pd.DataFrame({"line_no": parsed["line_no"]})
    hits = _hits(list(info.index)).assign(
        key="reason.deeplog_miss", params=[{"session": "s", "rank": 12, "prob": 0.001}] * len(info))
    per_entity = anomaly_table(tmp_path, keys, hits, gap=60.0)  # no incidents.json: one entity per record
    assert len(per_entity) == 8 and per_entity["entities"].map(len).eq(1).all()
    (tmp_path / INCIDENTS).write_text(json.dumps({"gap": 60.0, "storm_gap": 10.0}))
    table = anomaly_table(tmp_path, keys, hits, gap=60.0)
    assert len(table) == 3
    storm = table[table["entities"].map(len) > 1].iloc[0]
    assert storm["entities"] == ["h1/CRON", "h1/systemd", "h2/systemd", "h3/systemd", "h4/systemd", "h5/systemd"]
    assert storm["line_nos"] == [1, 2, 3, 4, 5, 6, 9] and storm["entity"] in storm["entities"]
    paths = write_anomalies(table, tmp_path)  # the ECS document and the Parquet file carry the list
    docs = [json.loads(x) for x in paths["jsonl"].read_text().splitlines()]
    assert sorted(len(d["alog"]["entities"]) for d in docs) == [1, 1, 6]
    assert pd.read_parquet(paths["parquet"])["entities"].map(len).tolist() == table["entities"].map(len).tolist()


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
