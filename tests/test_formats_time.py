"""The /var/log presets (ISO, Python logging, apt, alternatives, access and nginx error logs), year
inference for year-less times, --tz, the assumptions a format reports, and the syslog-host rule of
--log-format strings (Loghub's Linux format)."""

from __future__ import annotations

import csv
import os
import shutil
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from anomaly_log_detector.config import ParseConfig
from anomaly_log_detector.errors import FormatError
from anomaly_log_detector.parsing.formats import PRESETS, detect_format, get_format
from anomaly_log_detector.parsing.timestamps import zone_name
from helpers import assert_one_line_error, read_summary, run_cli, shared_data

UTC = timezone.utc


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# preset -> (sample lines, expected columns per line: timestamp, host, process, pid, level, content, extras)
SAMPLES = {
    "iso": ([
        "2024-01-02 03:04:05 status installed libc6:amd64 2.36-9",            # dpkg.log
        "2024-01-02 03:04:05,123 INFO Starting unattended upgrades script",   # unattended-upgrades
        "2024-01-02T03:04:05.5Z [ERROR] disk full",
        "2024-01-02T03:04:05+09:00 WARN: slow",
    ], [
        (utc(2024, 1, 2, 3, 4, 5), None, None, None, None, "status installed libc6:amd64 2.36-9", {}),
        (utc(2024, 1, 2, 3, 4, 5, 123000), None, None, None, "INFO", "Starting unattended upgrades script", {}),
        (utc(2024, 1, 2, 3, 4, 5, 500000), None, None, None, "ERROR", "disk full", {}),
        (utc(2024, 1, 1, 18, 4, 5), None, None, None, "WARN", "slow", {}),
    ]),
    "python": ([
        "2024-01-02 03:04:05,123 - myapp.db - WARNING - slow query",
        "2024-01-02 03:04:05,124 INFO myapp.web: started on :8080",
        "2024-01-02 03:04:05,125 - util.py[DEBUG]: Reading from /proc/uptime",   # cloud-init.log
    ], [
        (utc(2024, 1, 2, 3, 4, 5, 123000), None, "myapp.db", None, "WARNING", "slow query", {}),
        (utc(2024, 1, 2, 3, 4, 5, 124000), None, "myapp.web", None, "INFO", "started on :8080", {}),
        (utc(2024, 1, 2, 3, 4, 5, 125000), None, "util.py", None, "DEBUG", "Reading from /proc/uptime", {}),
    ]),
    "alternatives": ([
        "update-alternatives 2024-01-02 03:04:05: run with --install /usr/bin/pager pager /usr/bin/less 77",
        "update-alternatives 2024-01-02 03:04:06: link group pager updated to point to /usr/bin/less",
    ], [
        (utc(2024, 1, 2, 3, 4, 5), None, "update-alternatives", None, None,
         "run with --install /usr/bin/pager pager /usr/bin/less 77", {}),
        (utc(2024, 1, 2, 3, 4, 6), None, "update-alternatives", None, None,
         "link group pager updated to point to /usr/bin/less", {}),
    ]),
    "apt-history": ([
        "Start-Date: 2024-01-02  03:04:05",
        "Commandline: apt-get install -y curl",
        "Requested-By: alice (1000)",
        "Install: curl:amd64 (7.88.1-10), libcurl4:amd64 (7.88.1-10, automatic)",
        "End-Date: 2024-01-02  03:04:09",
    ], [
        (utc(2024, 1, 2, 3, 4, 5), None, None, None, None, "Start-Date", {}),
        (utc(2024, 1, 2, 3, 4, 5), None, None, None, None, "Commandline: apt-get install -y curl", {}),
        (utc(2024, 1, 2, 3, 4, 5), None, None, None, None, "Requested-By: alice (1000)", {}),
        (utc(2024, 1, 2, 3, 4, 5), None, None, None, None,
         "Install: curl:amd64 (7.88.1-10), libcurl4:amd64 (7.88.1-10, automatic)", {}),
        (utc(2024, 1, 2, 3, 4, 9), None, None, None, None, "End-Date", {}),
    ]),
    "apt-term": ([
        "Log started: 2024-01-02  03:04:05",
        "Selecting previously unselected package curl.",
        "Setting up curl (7.88.1-10) ...",
        "Log ended: 2024-01-02  03:04:09",
    ], [
        (utc(2024, 1, 2, 3, 4, 5), None, None, None, None, "Log started", {}),
        (utc(2024, 1, 2, 3, 4, 5), None, None, None, None, "Selecting previously unselected package curl.", {}),
        (utc(2024, 1, 2, 3, 4, 5), None, None, None, None, "Setting up curl (7.88.1-10) ...", {}),
        (utc(2024, 1, 2, 3, 4, 9), None, None, None, None, "Log ended", {}),
    ]),
    "access": ([
        '1.2.3.4 - - [02/Jan/2024:03:04:05 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8"',
        '2001:db8::1 - bob [02/Jan/2024:03:04:06 +0100] "POST /login HTTP/2.0" 302 0',
    ], [
        (utc(2024, 1, 2, 3, 4, 5), None, None, None, None, '"GET / HTTP/1.1" 200 612 "-" "curl/8"',
         {"client": "1.2.3.4", "user": None}),
        (utc(2024, 1, 2, 2, 4, 6), None, None, None, None, '"POST /login HTTP/2.0" 302 0',
         {"client": "2001:db8::1", "user": "bob"}),
    ]),
    "nginx-error": ([
        '2024/01/02 03:04:05 [error] 123#124: *1 open() "/srv/x" failed (2: No such file or directory)',
        "2024/01/02 03:04:06 [notice] 1#1: signal process started",
    ], [
        (utc(2024, 1, 2, 3, 4, 5), None, None, "123", "error", 'open() "/srv/x" failed (2: No such file or directory)',
         {"tid": "124", "connection": "1"}),
        (utc(2024, 1, 2, 3, 4, 6), None, None, "1", "notice", "signal process started",
         {"tid": "1", "connection": None}),
    ]),
}


@pytest.mark.parametrize("preset", sorted(SAMPLES))
def test_new_presets_parse_their_lines_and_are_detected(preset):
    lines, expected = SAMPLES[preset]
    assert preset in PRESETS
    assert detect_format(lines) == preset
    head = get_format(preset).parse(pa.array(lines))
    assert pc.all(head.matched).as_py()
    for i, (ts, host, process, pid, level, content, extra) in enumerate(expected):
        got = (head.timestamp[i].as_py(), head.host[i].as_py(), head.process[i].as_py(), head.pid[i].as_py(),
               head.level[i].as_py(), head.content[i].as_py())
        assert got == (ts, host, process, pid, level, content), (preset, i)
        assert {k: head.extra[k][i].as_py() for k in extra} == extra, (preset, i)


def test_apt_term_needs_its_first_line_and_carries_the_time_across_chunks():
    lines, _ = SAMPLES["apt-term"]
    assert detect_format(lines[1:3]) != "apt-term"  # any line matches: the block start decides
    fmt = get_format("apt-term")
    fmt.parse(pa.array(lines[:2]))
    later = fmt.parse(pa.array(lines[2:3]))  # the next chunk starts inside the block
    assert later.timestamp.to_pylist() == [utc(2024, 1, 2, 3, 4, 5)]


def test_python_logging_wins_over_the_generic_iso_preset():
    lines, _ = SAMPLES["python"]
    assert get_format("iso").parse(pa.array(lines)).matched.to_pylist() == [True] * 3  # both match...
    assert detect_format(lines) == "python"  # ...the longer header wins


# ---- year inference -------------------------------------------------------------------------
DEC_JAN = ["Dec 31 23:59:58 web1 cron[1]: a", "Jan  1 00:00:02 web1 cron[1]: b"]


def test_year_comes_from_the_reference_with_december_to_january_rollover():
    fmt = get_format("syslog", reference=utc(2006, 1, 1, 0, 5))
    assert fmt.parse(pa.array(DEC_JAN)).timestamp.to_pylist() == [utc(2005, 12, 31, 23, 59, 58),
                                                                   utc(2006, 1, 1, 0, 0, 2)]
    assumed = fmt.assumptions()
    assert assumed["year"] == 2006
    assert assumed["year_from"] == ("file modification time 2006-01-01T00:05:00Z "
                                    "(month rollover: dates after it are taken as 2005)")
    assert assumed["timezone"] == "UTC" and assumed["timezone_from"] == "default: the lines carry no zone"


def test_year_option_wins_without_rollover():
    fmt = get_format("syslog", year=2005, reference=utc(2006, 1, 1))
    assert [t.year for t in fmt.parse(pa.array(DEC_JAN)).timestamp.to_pylist()] == [2005, 2005]
    assert fmt.assumptions()["year"] == 2005 and fmt.assumptions()["year_from"] == "--year"


def test_no_reference_means_the_current_date():
    fmt = get_format("syslog")
    fmt.parse(pa.array(DEC_JAN[:1]))
    assert fmt.assumptions()["year_from"].startswith("current date ")


@pytest.mark.parametrize("mtime", [utc(2005, 7, 28, 9), utc(2006, 1, 15)])
@pytest.mark.parametrize("how", ["auto", "log-format"])
def test_loghub_linux_takes_the_year_of_the_file_modification_time(tmp_path, mtime, how):
    source = shared_data("loghub_2k", "Linux", "corrected", "Linux_2k.log")
    log = tmp_path / "Linux_2k.log"
    shutil.copyfile(source, log)
    os.utime(log, (mtime.timestamp(), mtime.timestamp()))
    reference = datetime.fromtimestamp(log.stat().st_mtime, UTC)  # as the pipeline passes it
    log_format = r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>" if how == "log-format" else None
    fmt = get_format("auto", log_format, reference=reference)
    stamps = fmt.parse(pa.array(log.read_text(encoding="utf-8").splitlines())).timestamp
    assert stamps.null_count == 0
    assert set(pc.year(stamps).to_pylist()) == {2005}  # June-July 2005, whether the file was touched after
    assert fmt.assumptions()["year_from"].startswith("file modification time ")


# ---- time zones ------------------------------------------------------------------------------
def test_tz_converts_zoneless_times_and_keeps_explicit_offsets():
    lines = ["2024-07-01 12:00:00 local", "2024-07-01T12:00:00+02:00 offset", "2024-07-01T12:00:00Z zulu"]
    fmt = get_format("iso", tz="Asia/Seoul")
    assert fmt.parse(pa.array(lines)).timestamp.to_pylist() == [utc(2024, 7, 1, 3), utc(2024, 7, 1, 10),
                                                                utc(2024, 7, 1, 12)]
    assert fmt.assumptions() == {"timezone": "Asia/Seoul", "timezone_from": "--tz"}
    summer_winter = get_format("iso", tz="Europe/Berlin").parse(pa.array(["2024-07-01 12:00:00 x",
                                                                          "2024-01-01 12:00:00 x"]))
    assert summer_winter.timestamp.to_pylist() == [utc(2024, 7, 1, 10), utc(2024, 1, 1, 11)]
    offset = get_format("syslog", year=2024, tz="-05:30").parse(pa.array(["Jan  2 03:04:05 h p: x"]))
    assert offset.timestamp.to_pylist() == [utc(2024, 1, 2, 8, 34, 5)]


def test_times_with_offsets_assume_nothing():
    fmt = get_format("iso")
    fmt.parse(pa.array(["2024-01-02T03:04:05Z x"]))
    assert fmt.assumptions() == {}


@pytest.mark.parametrize("text, name", [("UTC", "UTC"), ("z", "UTC"), ("+0900", "+09:00"), ("+9", "+09:00"),
                                        ("-03:30", "-03:30"), ("Asia/Seoul", "Asia/Seoul")])
def test_zone_names(text, name):
    assert zone_name(text) == name


@pytest.mark.parametrize("kwargs, needle", [
    ({"tz": "Mars/Olympus"}, "--tz 'Mars/Olympus' is not a time zone"),
    ({"tz": "+25:00"}, "not a time zone"),
    ({"tz": ""}, "not a time zone"),
    ({"year": 1975}, "--year 1975 is outside 1980-2200"),
])
def test_invalid_year_and_tz_are_one_line_format_errors(kwargs, needle):
    with pytest.raises(FormatError, match=needle) as info:
        get_format("syslog", **kwargs)
    assert "\n" not in str(info.value)
    with pytest.raises(FormatError, match=needle):
        ParseConfig(out_dir="x", **kwargs)  # fails before any input is read


def test_formats_without_time_gaps_assume_nothing():
    assert get_format("raw").assumptions() == {} and get_format("journal-json").assumptions() == {}
    auto = get_format("auto", tz="+09:00")
    assert auto.assumptions() == {}  # nothing chosen yet
    auto.parse(pa.array(SAMPLES["nginx-error"][0]))
    assert auto.name == "nginx-error" and auto.assumptions() == {"timezone": "+09:00", "timezone_from": "--tz"}


# ---- the host of syslog-shaped --log-format strings ------------------------------------------
def _loghub_rows(system: str) -> tuple[list[str], list[dict]]:
    folder = shared_data("loghub_2k", system, "corrected")
    lines = (folder / f"{system}_2k.log").read_text(encoding="utf-8").splitlines()
    with open(folder / f"{system}_2k.log_structured_corrected.csv", encoding="utf-8", newline="") as f:
        return lines, list(csv.DictReader(f))


def test_loghub_linux_format_puts_the_host_into_host():
    lines, rows = _loghub_rows("Linux")
    head = get_format(log_format=r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
                      year=2005).parse(pa.array(lines))
    assert head.host.to_pylist() == [r["Level"] for r in rows] and set(head.host.to_pylist()) == {"combo"}
    assert head.level.null_count == len(lines)
    assert head.process.to_pylist() == [r["Component"] for r in rows]
    assert "Level" not in head.extra


def test_loghub_openssh_format_puts_the_host_into_host():
    lines, _ = _loghub_rows("OpenSSH")
    head = get_format(log_format=r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
                      year=2005).parse(pa.array(lines))
    assert set(head.host.to_pylist()) == {"LabSZ"} and head.process.null_count == len(lines)


def test_syslog_host_rule_keeps_real_levels_and_other_shapes():
    linux = r"<Month> <Date> <Time> <Level> <Component>: <Content>"
    head = get_format(log_format=linux, year=2024).parse(pa.array(["Jan  2 03:04:05 INFO app: x",
                                                                   "Jan  2 03:04:05 web1 app: y"]))
    assert head.level.to_pylist() == ["INFO", None] and head.host.to_pylist() == [None, "web1"]
    # The field right before <Content> is not in the host's place (syslog has a tag there).
    head = get_format(log_format=r"<Month> <Date> <Time> <Level> <Content>", year=2024).parse(
        pa.array(["Jan  2 03:04:05 web1 y"]))
    assert head.level.to_pylist() == ["web1"] and head.host.to_pylist() == [None]
    # A named host field wins; HDFS-like formats are not syslog-shaped.
    head = get_format(log_format=r"<Month> <Date> <Time> <Host> <Level> <Component>: <Content>", year=2024).parse(
        pa.array(["Jan  2 03:04:05 web1 ERROR app: y"]))
    assert head.host.to_pylist() == ["web1"] and head.level.to_pylist() == ["ERROR"]
    head = get_format(log_format=r"<Date> <Time> <Pid> <Level> <Component>: <Content>").parse(
        pa.array(["081109 203615 148 INFO dfs.DataNode: x"]))
    assert head.pid.to_pylist() == ["148"] and head.host.to_pylist() == [None]


# ---- the command line ------------------------------------------------------------------------
def test_parse_cli_year_and_tz_end_to_end(tmp_path):
    log = tmp_path / "auth.log"
    log.write_text("Dec 31 23:59:58 web1 sshd[7]: Accepted publickey for alice\n"
                   "Jan  1 09:00:01 web1 sshd[7]: Disconnected from 10.0.0.7\n")
    out = tmp_path / "out"
    run_cli("parse", "--input", str(log), "--out-dir", str(out), "--year", "2005", "--tz", "Asia/Seoul",
            "--quiet", check=True)
    stamps = pq.read_table(out / "parsed.parquet", columns=["timestamp"]).column("timestamp").to_pylist()
    assert stamps == [utc(2005, 12, 31, 14, 59, 58), utc(2005, 1, 1, 0, 0, 1)]  # --year: no rollover
    summary = read_summary(out)
    assumed = [s.get("time_assumptions") for s in summary.get("sources", [])]
    assert {"year": 2005, "year_from": "--year", "timezone": "Asia/Seoul", "timezone_from": "--tz"} in assumed


@pytest.mark.parametrize("extra, needle", [
    (("--tz", "Nowhere/City"), "--tz 'Nowhere/City' is not a time zone"),
    (("--year", "1900"), "--year 1900 is outside"),
])
def test_parse_cli_rejects_bad_year_and_tz_in_one_line(tmp_path, extra, needle):
    log = tmp_path / "a.log"
    log.write_text(DEC_JAN[0] + "\n")
    proc = run_cli("parse", "--input", str(log), "--out-dir", str(tmp_path / "out"), *extra)
    assert needle in assert_one_line_error(proc)


@pytest.mark.parametrize("command", ["parse", "train", "infer", "batch-analysis"])
def test_year_and_tz_options_exist(command):
    proc = run_cli(command, "--help", check=True)
    assert b"--year" in proc.stdout and b"--tz" in proc.stdout
