"""`alog-detect parse` end to end on the kinds of logs a user brings: the 8 Loghub systems, a gen-synth
log, a syslog file and a `journalctl -o json` export."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from helpers import assert_accounted, read_summary, run_cli, shared_data

# The preset auto-detection should pick for each Loghub system (Linux and OpenSSH are syslog files).
LOGHUB_PRESETS = {"Apache": "apache", "BGL": "bgl", "HDFS": "hdfs", "Hadoop": "hadoop", "Linux": "syslog",
                  "OpenSSH": "syslog", "Spark": "spark", "Zookeeper": "zookeeper"}


@pytest.mark.parametrize("system", sorted(LOGHUB_PRESETS))
def test_loghub_systems_parse_with_auto_detection(system, tmp_path):
    log = shared_data("loghub_2k", system, "corrected", f"{system}_2k.log")
    out = tmp_path / "out"
    run_cli("parse", "--input", str(log), "--out-dir", str(out), "--quiet", check=True)
    s = read_summary(out)
    assert_accounted(s)
    assert s["format"] == LOGHUB_PRESETS[system] and s["format_detected"]
    assert s["lines_parsed"] == 2000 and s["header_unmatched"] <= 10
    table = pq.read_table(out / "parsed.parquet")
    assert table["template_id"].to_pylist() and min(table["template_id"].to_pylist()) >= 1
    assert table["timestamp"].null_count <= 10


def test_gen_synth_log_parses_completely(tmp_path):
    log = tmp_path / "synth.log"
    run_cli("gen-synth", "--out", str(log), "--lines", "5000", "--anomaly-rate", "0.05", check=True)
    out = tmp_path / "out"
    run_cli("parse", "--input", str(log), "--out-dir", str(out), check=True)
    s = read_summary(out)
    assert s["format"] == "syslog" and s["lines_parsed"] == 5000 and s["header_unmatched"] == 0
    rows = pq.read_table(out / "parsed.parquet", columns=["host", "process", "timestamp"])
    assert rows["host"].null_count == 0 and rows["process"].null_count == 0 and rows["timestamp"].null_count == 0


def test_journal_json_export(tmp_path):
    entries = []
    for i in range(300):
        entries.append({
            "__REALTIME_TIMESTAMP": str(1_700_000_000_000_000 + i * 1_000_000), "_HOSTNAME": f"node{i % 3}",
            "SYSLOG_IDENTIFIER": "sshd" if i % 2 else "kernel", "_PID": str(1000 + i % 7),
            "PRIORITY": "6" if i % 10 else "3", "_SYSTEMD_UNIT": "ssh.service",
            "MESSAGE": (f"Accepted publickey for user{i % 5} from 10.0.0.{i % 250} port {40000 + i} ssh2" if i % 2
                        else f"EXT4-fs (sda{i % 4}): mounted filesystem with ordered data mode"),
        })
    log = tmp_path / "journal.json"
    log.write_text("\n".join(json.dumps(e) for e in entries) + "\nnot json at all\n")
    out = tmp_path / "out"
    run_cli("parse", "--input", str(log), "--out-dir", str(out), check=True)
    s = read_summary(out)
    assert_accounted(s)
    assert s["format"] == "journal-json" and s["lines_parsed"] == 301 and s["header_unmatched"] == 1
    assert s["templates"] == 3  # two message shapes + the unmatched line
    rows = pq.read_table(out / "parsed.parquet").to_pylist()
    assert rows[1]["host"] == "node1" and rows[1]["process"] == "sshd" and rows[1]["pid"] == "1001"
    assert rows[0]["level"] == "err" and rows[1]["level"] == "info"
    assert rows[1]["content"].startswith("Accepted publickey for user1")
    assert rows[-1]["content"] == "not json at all"
