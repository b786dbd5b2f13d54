"""Header formats: Loghub ground truth for --log-format strings and presets, detection, timestamps,
journal JSON, dmesg, RFC 5424, and the errors of bad format strings."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from anomaly_log_detector.errors import FormatError
from anomaly_log_detector.parsing.formats import PRESETS, detect_format, get_format
from anomaly_log_detector.parsing.timestamps import TIMESTAMP_TYPE, parse_timestamps
from helpers import shared_data

UTC = timezone.utc

# logparser's benchmark settings (logparser/benchmark/*_benchmark.py), the preset for the same log, and
# how the structured CSV writes the time: (CSV columns joined by a space, strptime format).
LOGHUB = {
    "HDFS": (r"<Date> <Time> <Pid> <Level> <Component>: <Content>", "hdfs", ("Date", "Time"), "%y%m%d %H%M%S"),
    "Hadoop": (r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>", "hadoop", ("Date", "Time"),
               "%Y-%m-%d %H:%M:%S,%f"),
    "Spark": (r"<Date> <Time> <Level> <Component>: <Content>", "spark", ("Date", "Time"), "%y/%m/%d %H:%M:%S"),
    "Zookeeper": (r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>", "zookeeper",
                  ("Date", "Time"), "%Y-%m-%d %H:%M:%S,%f"),
    "BGL": (r"<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>", "bgl",
            ("Time",), "%Y-%m-%d-%H.%M.%S.%f"),
    "Linux": (r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>", "syslog",
              ("Month", "Date", "Time"), "%Y %b %d %H:%M:%S"),
    "Apache": (r"\[<Time>\] \[<Level>\] <Content>", "apache", ("Time",), "%a %b %d %H:%M:%S %Y"),
    "OpenSSH": (r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>", "syslog", ("Date", "Day", "Time"),
                "%Y %b %d %H:%M:%S"),
}
YEAR = 2005  # Linux and OpenSSH lines carry no year; both logs are from 2005


def _loghub(system: str) -> tuple[pa.Array, list[dict]]:
    folder = shared_data("loghub_2k", system, "corrected")
    lines = (folder / f"{system}_2k.log").read_text(encoding="utf-8").splitlines()
    with open(folder / f"{system}_2k.log_structured_corrected.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(lines) == len(rows) == 2000
    return pa.array(lines), rows


def _content_rate(got: pa.Array, rows: list[dict]) -> float:
    # logparser strips each line first, so its Content has no trailing blanks.
    return sum(g.strip() == r["Content"].strip() for g, r in zip(got.to_pylist(), rows)) / len(rows)


def _expected_times(rows: list[dict], columns: tuple[str, ...], fmt: str) -> list[datetime]:
    prefix = f"{YEAR} " if fmt.startswith("%Y %b") else ""
    # The CSV lost the leading zeros of HDFS's numeric date and time (081109 -> 81109, 000117 -> 117).
    width = 6 if fmt == "%y%m%d %H%M%S" else 0
    text = [prefix + " ".join(r[c].zfill(width) for c in columns) for r in rows]
    return [datetime.strptime(t, fmt).replace(tzinfo=UTC) for t in text]


@pytest.mark.parametrize("system", sorted(LOGHUB))
def test_log_format_splits_loghub_lines_like_logparser(system):
    log_format, _, time_columns, time_format = LOGHUB[system]
    lines, rows = _loghub(system)
    head = get_format("custom", log_format, year=YEAR).parse(lines)
    assert pc.all(head.matched).as_py()
    assert _content_rate(head.content, rows) == 1.0
    assert head.timestamp.to_pylist() == _expected_times(rows, time_columns, time_format)
    if "Level" in rows[0] and system != "Linux":  # Linux's <Level> field is really the host name
        assert head.level.to_pylist() == [r["Level"] for r in rows]
    pid_column = next((c for c in rows[0] if c.lower() == "pid"), None)
    if pid_column:  # Linux's CSV writes the optional PID as a float ("19939.0") or empty
        assert [p or "" for p in head.pid.to_pylist()] == [r[pid_column].removesuffix(".0") for r in rows]


@pytest.mark.parametrize("system", sorted(LOGHUB))
def test_presets_parse_their_loghub_logs(system):
    _, preset, time_columns, time_format = LOGHUB[system]
    lines, rows = _loghub(system)
    head = get_format(preset, year=YEAR).parse(lines)
    assert pc.all(head.matched).as_py()
    # Linux: 8 `syslogd 1.4.1: restart.` lines have a space in the tag; syslog keeps them in the message.
    assert _content_rate(head.content, rows) >= (0.995 if system == "Linux" else 1.0)
    assert head.timestamp.to_pylist() == _expected_times(rows, time_columns, time_format)
    assert head.timestamp.type == TIMESTAMP_TYPE


def test_field_names_map_to_canonical_columns():
    lines, rows = _loghub("BGL")
    head = get_format(log_format=LOGHUB["BGL"][0]).parse(lines)
    assert head.host.to_pylist() == [r["Node"] or "NULL" for r in rows]  # the CSV wrote BGL's "NULL" as empty
    assert head.process.to_pylist() == [r["Component"] for r in rows]
    assert sorted(head.extra) == ["Label", "NodeRepeat", "Type"]  # time fields feed the timestamp only
    assert head.extra["Label"].to_pylist() == [r["Label"] for r in rows]
    preset = get_format("bgl").parse(lines)
    assert preset.extra["Label"].equals(head.extra["Label"]) and preset.host.equals(head.host)
    # Process wins over Component when both exist (Hadoop: the thread in brackets); Component stays extra.
    lines, rows = _loghub("Hadoop")
    head = get_format(log_format=LOGHUB["Hadoop"][0]).parse(lines)
    assert head.process.to_pylist() == [r["Process"] for r in rows]
    assert head.extra["Component"].to_pylist() == [r["Component"] for r in rows]


@pytest.mark.parametrize("system, expected", [
    ("HDFS", "hdfs"), ("BGL", "bgl"), ("Hadoop", "hadoop"), ("Spark", "spark"), ("Zookeeper", "zookeeper"),
    ("Apache", "apache"), ("Linux", "syslog"), ("OpenSSH", "syslog"),
])
def test_detect_format_on_loghub(system, expected):
    lines, _ = _loghub(system)
    assert detect_format(lines.to_pylist()) == expected


SYSLOG = [
    "Jan  2 03:04:05 web1 sshd[4242]: Accepted publickey for alice from 10.0.0.7 port 50022 ssh2",
    "Jan  2 03:04:06 web1 kernel: [ 1234.567890] e1000e: eth0 NIC Link is Up",
    "Jan 12 13:14:15 web1 CRON[99]: (root) CMD (run-parts /etc/cron.hourly)",
    "Jan 12 13:14:16 web1 -- MARK --",
    "2024-01-02T03:04:05.123456+01:00 db-2 postgres[77]: checkpoint complete",
]
JOURNAL = [
    json.dumps({"MESSAGE": "Started Session 7 of User alice.", "__REALTIME_TIMESTAMP": "1700000000123456",
                "_HOSTNAME": "web1", "SYSLOG_IDENTIFIER": "systemd", "_PID": "1", "PRIORITY": "6",
                "_SYSTEMD_UNIT": "init.scope"}),
    json.dumps({"MESSAGE": [104, 105, 0xC3, 0xA9], "__REALTIME_TIMESTAMP": "1700000001000000", "_COMM": "blob",
                "PRIORITY": "3"}),
]
DMESG = ["[    0.000000] Linux version 6.5.0-14-generic", "[   12.345678] usb 1-1: new high-speed USB device",
         "[Tue Jan  2 03:04:05 2024] EXT4-fs (sda1): mounted filesystem",
         "kern  :err   : [  101.000001] Buffer I/O error on dev sdb1"]
RFC5424 = [
    "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \ufeff'su root' failed for lonvick",
    "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.",
    '<165>1 2003-10-11T22:14:15.003Z host evntslog - ID47 [exampleSDID@32473 iut="3" eventID="1011"] An event',
]


@pytest.mark.parametrize("sample, expected", [
    (SYSLOG, "syslog"), (JOURNAL, "journal-json"), (DMESG, "dmesg"), (RFC5424, "rfc5424"),
    (["hello world", "no header here", "", "  "], "raw"), ([], "raw"),
])
def test_detect_format_on_generated_samples(sample, expected):
    assert detect_format(sample) == expected


def test_syslog_preset_fields_and_year():
    head = get_format("syslog", year=2024).parse(pa.array(SYSLOG))
    assert head.host.to_pylist() == ["web1", "web1", "web1", "web1", "db-2"]
    assert head.process.to_pylist() == ["sshd", "kernel", "CRON", None, "postgres"]
    assert head.pid.to_pylist() == ["4242", None, "99", None, "77"]
    assert head.content.to_pylist()[1] == "[ 1234.567890] e1000e: eth0 NIC Link is Up"
    assert head.content.to_pylist()[3] == "-- MARK --"
    assert head.timestamp.to_pylist() == [
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2024, 1, 2, 3, 4, 6, tzinfo=UTC),
        datetime(2024, 1, 12, 13, 14, 15, tzinfo=UTC), datetime(2024, 1, 12, 13, 14, 16, tzinfo=UTC),
        datetime(2024, 1, 2, 2, 4, 5, 123456, tzinfo=UTC)]


def test_yearless_time_defaults_to_current_year_but_never_the_future():
    now = datetime.now(UTC).replace(microsecond=0)
    past, future = now - timedelta(days=3), now + timedelta(days=3)
    got = parse_timestamps(pa.array([t.strftime("%b %d %H:%M:%S") for t in (past, future)])).to_pylist()
    assert got[0] == past  # also across New Year: a December date read in January is last year's
    assert got[1].year == future.year - 1  # a date ahead of now belongs to last year


def test_journal_json_fields_and_invalid_lines():
    lines = JOURNAL + ["not json", "[1, 2]"]
    head = get_format("journal-json").parse(pa.array(lines))
    assert head.matched.to_pylist() == [True, True, False, False]
    assert head.content.to_pylist() == ["Started Session 7 of User alice.", "hi\u00e9", "not json", "[1, 2]"]
    assert head.timestamp.to_pylist()[:2] == [datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC),
                                              datetime(2023, 11, 14, 22, 13, 21, tzinfo=UTC)]
    assert head.host.to_pylist()[0] == "web1" and head.process.to_pylist()[:2] == ["systemd", "blob"]
    assert head.level.to_pylist()[:2] == ["info", "err"]
    assert head.extra["unit"].to_pylist()[0] == "init.scope"
    # The first line parsed alone (Arrow's JSON reader) gives the same fields as inside this mixed chunk.
    alone = get_format("journal-json").parse(pa.array(JOURNAL[:1]))
    for name in ("content", "timestamp", "host", "process", "pid", "level"):
        assert getattr(alone, name).to_pylist()[0] == getattr(head, name).to_pylist()[0], name


def test_dmesg_variants():
    head = get_format("dmesg").parse(pa.array(DMESG + ["no brackets"]))
    assert head.matched.to_pylist() == [True, True, True, True, False]
    assert head.content.to_pylist()[:4] == ["Linux version 6.5.0-14-generic", "usb 1-1: new high-speed USB device",
                                            "EXT4-fs (sda1): mounted filesystem", "Buffer I/O error on dev sdb1"]
    assert head.extra["uptime"].to_pylist() == ["0.000000", "12.345678", None, "101.000001", None]
    assert head.timestamp.to_pylist()[2] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert head.level.to_pylist()[3] == "err" and head.extra["facility"].to_pylist()[3] == "kern"


def test_rfc5424_fields():
    head = get_format("rfc5424").parse(pa.array(RFC5424))
    assert head.content.to_pylist() == ["'su root' failed for lonvick", "%% It's time to make the do-nuts.",
                                        "An event"]
    assert head.host.to_pylist() == ["mymachine.example.com", "192.0.2.1", "host"]
    assert head.process.to_pylist() == ["su", "myproc", "evntslog"]
    assert head.pid.to_pylist() == [None, "8710", None]
    assert head.level.to_pylist() == ["crit", "notice", "notice"]
    assert head.extra["msgid"].to_pylist() == ["ID47", None, "ID47"]
    assert head.extra["structured_data"].to_pylist()[2].startswith("[exampleSDID@32473")
    assert head.timestamp.to_pylist()[1] == datetime(2003, 8, 24, 12, 14, 15, 3, tzinfo=UTC)


def test_unmatched_lines_keep_the_whole_line():
    lines = pa.array(["Jan  2 03:04:05 h p[1]: ok", "garbage without header", ""])
    head = get_format("syslog").parse(lines)
    assert head.matched.to_pylist() == [True, False, False]
    assert head.content.to_pylist() == ["ok", "garbage without header", ""]
    assert head.host.to_pylist()[1:] == [None, None] and head.timestamp.null_count == 2


def test_every_preset_returns_aligned_typed_columns():
    lines = pa.chunked_array([SYSLOG[:2], [None, "x"]])
    for name in PRESETS:
        head = get_format(name).parse(lines)
        columns = [head.content, head.matched, head.timestamp, head.host, head.process, head.pid, head.level,
                   *head.extra.values()]
        assert {len(c) for c in columns} == {4}, name
        assert head.timestamp.type == TIMESTAMP_TYPE and head.matched.type == pa.bool_(), name
        assert all(c.type == pa.string() for c in [head.content, head.host, head.level, *head.extra.values()]), name
        assert get_format(name).parse(pa.array([], pa.string())).content.to_pylist() == [], name


def test_raw_and_auto():
    head = get_format("raw").parse(pa.array(["anything at all"]))
    assert head.matched.to_pylist() == [True] and head.content.to_pylist() == ["anything at all"]
    auto = get_format()
    assert auto.parse(pa.array(["", "  "])).content.to_pylist() == ["", "  "]  # blank: nothing decided yet
    first = auto.parse(pa.array(DMESG))
    assert auto.name == "dmesg" and first.content.to_pylist()[0] == "Linux version 6.5.0-14-generic"
    auto.parse(pa.array(SYSLOG))  # later chunks keep the format chosen on the first one
    assert auto.name == "dmesg"


def test_log_format_message_not_last_and_optional_groups():
    head = get_format(log_format=r"<Content> \[<Level>\]").parse(pa.array(["disk full [error]", "no level"]))
    assert head.content.to_pylist() == ["disk full", "no level"]
    assert head.level.to_pylist() == ["error", None] and head.matched.to_pylist() == [True, False]
    head = get_format(log_format=r"<Program>(\[<Pid>\])?: <Content>").parse(pa.array(["cron[7]: a", "cron: b"]))
    assert head.process.to_pylist() == ["cron", "cron"] and head.pid.to_pylist() == ["7", None]
    assert head.content.to_pylist() == ["a", "b"]


@pytest.mark.parametrize("name, log_format, reason", [
    ("nope", None, "unknown format 'nope'"),
    ("custom", None, "needs a --log-format"),
    ("syslog", "<Content>", "cannot be used together"),
    ("auto", "", "empty"),
    ("auto", "<Date> <Time>", "needs a <Content>"),
    ("auto", "<Date> <date> <Content>", "twice"),
    ("auto", "<1st> <Content>", "not a name"),
    ("auto", "<Date> (<Content>", "not a valid regular expression"),
    ("auto", "(?=x)<Content>", "not a valid regular expression"),
])
def test_bad_formats_raise_one_line_format_errors(name, log_format, reason):
    with pytest.raises(FormatError, match=reason) as info:
        get_format(name, log_format)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, expected", [
    ("2015-10-18 18:01:47,978", datetime(2015, 10, 18, 18, 1, 47, 978000, tzinfo=UTC)),
    ("2005-06-03-15.42.50.675872", datetime(2005, 6, 3, 15, 42, 50, 675872, tzinfo=UTC)),
    ("17/06/09 20:10:40", datetime(2017, 6, 9, 20, 10, 40, tzinfo=UTC)),   # 2-digit year, not year 17
    ("1117838570", datetime(2005, 6, 3, 22, 42, 50, tzinfo=UTC)),           # epoch seconds
    ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ("10/Oct/2000:13:55:36 -0700", datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)),
    ("Wed Oct 11 14:32:52.123456 2023", datetime(2023, 10, 11, 14, 32, 52, 123456, tzinfo=UTC)),
    ("not a time", None), ("", None), (None, None),
])
def test_parse_timestamps_candidates(text, expected):
    assert parse_timestamps(pa.array([text], pa.string())).to_pylist() == [expected]
