"""gen-synth: exact counts, labels, determinism, learnable normal structure, the four anomaly kinds,
and the header formats reading its output."""

from __future__ import annotations

import gzip
import re
from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from anomaly_log_detector.errors import DataError
from anomaly_log_detector.parsing.formats import detect_format, get_format
from anomaly_log_detector.synth import ANOMALY_TYPES, generate_synthetic_log
from helpers import assert_one_line_error, run_cli

SSH_ORDER = ("Accepted publickey", "session opened", "Received disconnect", "Disconnected from user",
             "session closed")
# The steps of the normal sequences that `reordered` anomalies disturb, in their normal order.
SEQUENCES = (
    ("Accepted publickey", "(sshd:session): session opened", "New session", "Started Session",
     "Received disconnect", "Disconnected from user", "(sshd:session): session closed", "logged out"),
    ("Starting container", "blocking state", "forwarding state", "exited with code", "disabled state"),
    ("(cron:session): session opened", "CMD", "(cron:session): session closed"),
)


def _generate(tmp_path, name="s.log", lines=20_000, rate=0.05, seed=7, fmt="syslog"):
    out = tmp_path / name
    summary = generate_synthetic_log(str(out), lines, rate, seed=seed, fmt=fmt)
    opener = gzip.open if name.endswith(".gz") else open
    with opener(out, "rt", encoding="utf-8") as f:
        text = f.read().splitlines()
    return summary, text, pq.read_table(summary["labels"]).to_pandas()


@pytest.fixture(scope="module")
def anomalous(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp("anomalous"))


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return _generate(tmp_path_factory.mktemp("clean"), rate=0.0, seed=8)


def test_counts_and_labels(anomalous):
    summary, lines, labels = anomalous
    assert summary["lines"] == len(lines) == len(labels) == 20_000
    assert labels["line_no"].tolist() == list(range(1, 20_001))
    assert labels["is_anomaly"].sum() == summary["anomalous_lines"] == 1_000
    assert (labels["is_anomaly"] == labels["anomaly_type"].notna()).all()
    assert (labels["is_anomaly"] == labels["anomaly_event"].notna()).all()
    assert labels["anomaly_type"].value_counts().to_dict() == {k: 250 for k in ANOMALY_TYPES}
    assert summary["anomalous_lines_by_type"] == {k: 250 for k in ANOMALY_TYPES}
    # events are numbered 1.. in order of their first line
    first = labels.dropna(subset=["anomaly_event"]).drop_duplicates("anomaly_event")["anomaly_event"]
    assert first.tolist() == list(range(1, len(first) + 1))
    assert sum(summary["anomaly_events_by_type"].values()) == len(first)


def _shapes(lines: list[str]) -> list[str]:
    """Messages with every token that holds a digit (numbers, hex, IPs, pids) replaced by #."""
    content = get_format("syslog").parse(pa.array(lines)).content.to_pylist()
    return [re.sub(r"[0-9a-f.:]*\d[0-9a-f.:]*", "#", m) for m in content]


def test_rate_zero_gives_a_clean_log(clean):
    summary, lines, labels = clean
    assert summary["anomalous_lines"] == 0 and not labels["is_anomaly"].any()


def test_same_seed_same_bytes_and_gzip(tmp_path):
    a = generate_synthetic_log(str(tmp_path / "a.log"), 3_000, 0.1, seed=5)
    b = generate_synthetic_log(str(tmp_path / "b.log"), 3_000, 0.1, seed=5)
    c = generate_synthetic_log(str(tmp_path / "c.log.gz"), 3_000, 0.1, seed=5)
    d = generate_synthetic_log(str(tmp_path / "d.log.gz"), 3_000, 0.1, seed=5)
    e = generate_synthetic_log(str(tmp_path / "e.log"), 3_000, 0.1, seed=6)
    read = lambda p: open(p, "rb").read()  # noqa: E731
    assert read(a["log"]) == read(b["log"]) and read(a["labels"]) == read(b["labels"])
    assert read(c["log"]) == read(d["log"]) and read(c["log"])[:2] == b"\x1f\x8b"
    assert gzip.decompress(read(c["log"])) == read(a["log"])
    assert read(e["log"]) != read(a["log"])


def test_timestamps_increase_and_auto_detects_syslog(anomalous):
    _, lines, _ = anomalous
    assert detect_format(lines[:200]) == "syslog"
    head = get_format("syslog", year=2024).parse(pa.array(lines))
    assert pc.all(head.matched).as_py() and head.timestamp.null_count == 0
    assert (np.diff(head.timestamp.cast(pa.int64()).to_numpy()) >= 0).all()
    assert len(set(head.host.to_pylist())) == 5
    assert {"kernel", "sshd", "systemd", "CRON", "dockerd", "NetworkManager"} <= set(head.process.to_pylist())


def test_rfc5424_output_is_read_by_the_preset(tmp_path):
    _, lines, labels = _generate(tmp_path, lines=2_000, fmt="rfc5424")
    assert detect_format(lines[:200]) == "rfc5424"
    head = get_format("rfc5424").parse(pa.array(lines))
    assert pc.all(head.matched).as_py() and head.timestamp.null_count == 0
    levels = head.level.to_numpy(zero_copy_only=False)
    assert set(levels[labels["anomaly_type"].eq("error_storm").to_numpy()]) <= {"err", "warning"}


def _ssh_sessions(lines, labels=None):
    """sshd pid -> its messages in file order (optionally only lines with that label)."""
    sessions = defaultdict(list)
    for i, line in enumerate(lines):
        m = re.search(r" sshd\[(\d+)\]: (.*)", line)
        if m and (labels is None or labels[i]):
            sessions[m.group(1)].append(m.group(2))
    return sessions


def _ssh_order(messages):
    return [next(i for i, step in enumerate(SSH_ORDER) if step in m)
            for m in messages if any(step in m for step in SSH_ORDER)]


def test_normal_ssh_sessions_follow_one_order(clean):
    _, lines, _ = clean
    # Login sessions (scans, "[preauth]", follow another protocol).
    sessions = [s for s in _ssh_sessions(lines).values() if not any("preauth" in m for m in s)]
    assert sum(s[0].startswith("Accepted") for s in sessions) > 50
    n, complete = len(SSH_ORDER), 0
    for messages in sessions:
        order = _ssh_order(messages)
        # A session is whole, or cut by the end of the log (a prefix), or the wrapped end of an earlier
        # session under its own pid (a suffix): never out of order.
        assert order in (list(range(len(order))), list(range(n - len(order), n))), messages
        complete += order == list(range(n))
    assert complete > 50


def test_normal_containers_never_exit_before_they_start(clean):
    """A container's lines (by its id) are a start, then an exit - or a wrapped exit under another id,
    standing for an earlier instance: never an exit before the start under one id. Same for the veth
    interface's states."""
    _, lines, _ = clean
    steps: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        m = re.search(r"(Starting container|Container) ([0-9a-f]{12})", line)
        if m:
            steps[m.group(2)].append("start" if m.group(1) == "Starting container" else "exit")
        m = re.search(r"\((veth[0-9a-f]+)\) entered (\w+) state", line)
        if m:
            steps[m.group(1)].append(m.group(2))
    assert sum(v == ["start", "exit"] for v in steps.values()) > 20
    for ident, seen in steps.items():
        assert seen in (["start", "exit"], ["start"], ["exit"], ["blocking", "forwarding", "disabled"],
                        ["blocking", "forwarding"], ["blocking"], ["disabled"]), (ident, seen)


def test_anomaly_kinds_look_like_their_names(anomalous, clean):
    _, lines, labels = anomalous
    kinds = labels["anomaly_type"].fillna("").to_numpy()
    head = get_format("syslog", year=2024).parse(pa.array(lines))
    seconds = head.timestamp.cast(pa.int64()).to_numpy() / 1e6
    process = np.array(head.process.to_pylist(), dtype=object)
    unseen = [line for line, k in zip(lines, kinds) if k == "unseen"]
    assert not set(_shapes(unseen)) & set(_shapes(clean[1]))  # never written in normal operation
    for event in labels.loc[labels["anomaly_type"] == "burst", "anomaly_event"].unique():
        rows = (labels["anomaly_event"] == event).to_numpy()
        assert seconds[rows].max() - seconds[rows].min() <= 3.0  # 2.5 s, plus whole-second timestamps
    storms = labels.loc[labels["anomaly_type"] == "error_storm", "anomaly_event"].unique()
    for event in storms:
        rows = (labels["anomaly_event"] == event).to_numpy()
        assert seconds[rows].max() - seconds[rows].min() <= 16.0
        assert len(set(process[rows])) >= 2
    # every reordered event breaks its normal sequence: steps swapped, reversed or missing
    events = labels.loc[labels["anomaly_type"] == "reordered", "anomaly_event"].unique()
    assert len(events) > 10
    for event in events:
        messages = [lines[i] for i in np.flatnonzero((labels["anomaly_event"] == event).to_numpy())]
        steps = next(s for s in SEQUENCES if any(step in messages[0] for step in s))
        order = [next(i for i, step in enumerate(steps) if step in m) for m in messages]
        assert order != list(range(len(steps))), messages


@pytest.mark.parametrize("lines, rate, message", [
    (0, 0.1, "--lines"), (10, 1.0, "--anomaly-rate"), (10, -0.1, "--anomaly-rate"),
])
def test_bad_arguments(tmp_path, lines, rate, message):
    with pytest.raises(DataError, match=message):
        generate_synthetic_log(str(tmp_path / "x.log"), lines, rate)


def test_cli(tmp_path):
    out = tmp_path / "cli.log"
    proc = run_cli("gen-synth", "--out", str(out), "--lines", "500", "--anomaly-rate", "0.1", "--seed", "3",
                   check=True)
    text = proc.stdout.decode()
    assert f"wrote {out}" in text and f"wrote {out}.labels.parquet" in text and "anomalous: 50" in text
    assert len(out.read_text().splitlines()) == 500
    err = assert_one_line_error(run_cli("gen-synth", "--out", str(tmp_path / "no" / "x.log")))
    assert "does not exist" in err
    assert "--anomaly-rate" in assert_one_line_error(run_cli("gen-synth", "--out", str(out), "--anomaly-rate", "1"))
