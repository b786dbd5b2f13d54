"""Bad and awkward input through the real `alog-detect parse` command."""

from __future__ import annotations

import gzip
import os
import socket

import pyarrow.parquet as pq
import pytest

from helpers import assert_accounted, assert_one_line_error, read_summary, run_cli

SYSLOG = [
    "Jan  5 10:00:01 web1 sshd[1201]: Accepted password for alice from 10.0.0.7 port 51234 ssh2",
    "Jan  5 10:00:02 web1 CRON[1302]: (root) CMD (run-parts /etc/cron.hourly)",
    "Jan  5 10:00:03 web2 kernel: [ 1234.567890] eth0: link up, 1000 Mbps, full duplex",
]


def parse(tmp_path, *inputs, extra=(), input_bytes=None):
    out = tmp_path / "out"
    proc = run_cli("parse", *[a for p in inputs for a in ("--input", str(p))], "--out-dir", str(out),
                   *extra, input=input_bytes)
    return proc, out


def rows(out):
    return pq.read_table(out / "parsed.parquet").to_pylist()


def test_invalid_utf8_and_nul_are_replaced_and_counted(tmp_path):
    log = tmp_path / "bad.log"
    log.write_bytes(SYSLOG[0].encode() + b"\n" + b"Jan  5 10:00:04 web1 app[7]: bad \xff\xfe bytes\n"
                    + b"Jan  5 10:00:05 web1 app[7]: nul\x00inside\n" + SYSLOG[1].encode() + b"\n")
    proc, out = parse(tmp_path, log)
    assert proc.returncode == 0, proc.stderr
    s = read_summary(out)
    assert_accounted(s)
    assert s["lines_parsed"] == 4 and s["lines_invalid_utf8"] == 1 and s["lines_with_nul"] == 1
    raws = [r["raw"] for r in rows(out)]
    assert "\ufffd\ufffd" in raws[1] and "nul\ufffdinside" in raws[2]
    assert all("\x00" not in r for r in raws)


def test_crlf_and_mixed_line_endings(tmp_path):
    log = tmp_path / "mixed.log"
    log.write_bytes((SYSLOG[0] + "\r\n" + SYSLOG[1] + "\n" + SYSLOG[2] + "\r\n").encode())
    proc, out = parse(tmp_path, log, extra=("--format", "syslog"))
    assert proc.returncode == 0, proc.stderr
    got = rows(out)
    assert [r["raw"] for r in got] == SYSLOG
    assert [r["line_no"] for r in got] == [1, 2, 3]
    assert got[0]["host"] == "web1" and got[0]["process"] == "sshd" and got[0]["pid"] == "1201"


def test_huge_line_is_truncated_and_counted(tmp_path):
    log = tmp_path / "huge.log"
    with open(log, "wb") as f:
        f.write(SYSLOG[0].encode() + b"\n")
        f.write(b"Jan  5 10:00:09 web1 app[9]: " + b"A" * 10_000_000 + b"\n")
        f.write(SYSLOG[1].encode() + b"\n")
    proc, out = parse(tmp_path, log)
    assert proc.returncode == 0, proc.stderr
    s = read_summary(out)
    assert_accounted(s)
    assert s["lines_truncated"] == 1 and s["lines_parsed"] == 3
    got = rows(out)
    assert len(got[1]["raw"].encode()) == s["max_line_bytes"] == 65536
    assert got[2]["raw"] == SYSLOG[1] and got[2]["line_no"] == 3


def test_empty_file_and_empty_folder_exit_zero_with_empty_outputs(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    folder = tmp_path / "nothing"
    folder.mkdir()
    for target in (empty, folder):
        proc, out = parse(tmp_path, target)
        assert proc.returncode == 0, proc.stderr
        assert b"No lines to parse" in proc.stderr
        assert pq.read_table(out / "parsed.parquet").num_rows == 0
        s = read_summary(out)
        assert s["lines_read"] == 0 and s["lines_parsed"] == 0
        assert (out / "preview.json").read_text().strip() == "[]"


def test_blank_lines_are_skipped_with_reason_but_keep_numbering(tmp_path):
    log = tmp_path / "gaps.log"
    log.write_text(SYSLOG[0] + "\n\n   \n" + SYSLOG[1] + "\n")
    proc, out = parse(tmp_path, log)
    assert proc.returncode == 0
    s = read_summary(out)
    assert_accounted(s)
    assert s["lines_skipped"] == {"blank": 2}
    assert [r["line_no"] for r in rows(out)] == [1, 4]


def test_truncated_gzip_parses_what_it_can_and_reports(tmp_path):
    lines = [f"Jan  5 10:{i // 60:02d}:{i % 60:02d} web1 app[42]: request {i} served in {i % 97} ms"
             for i in range(20000)]
    full = gzip.compress(("\n".join(lines) + "\n").encode())
    cut = tmp_path / "cut.log.gz"
    cut.write_bytes(full[: len(full) // 2])
    proc, out = parse(tmp_path, cut)
    assert proc.returncode == 0, proc.stderr
    assert b"gzip stream truncated" in proc.stderr
    s = read_summary(out)
    assert_accounted(s)
    assert 0 < s["lines_parsed"] < len(lines)
    assert s["source_errors"][0]["source"] == str(cut)
    got = rows(out)
    # every line before the damage is intact and numbered as in the original
    assert [r["raw"] for r in got[:-1]] == lines[: len(got) - 1]


def test_gzip_folder_recursive_and_stdin(tmp_path):
    folder = tmp_path / "logs"
    (folder / "b").mkdir(parents=True)
    (folder / "a.log").write_text(SYSLOG[0] + "\n")
    with gzip.open(folder / "b" / "c.log.gz", "wt") as f:
        f.write(SYSLOG[1] + "\n" + SYSLOG[2] + "\n")
    proc, out = parse(tmp_path, folder)
    assert proc.returncode == 0, proc.stderr
    got = rows(out)
    assert [r["raw"] for r in got] == SYSLOG
    assert [os.path.basename(r["source"]) for r in got] == ["a.log", "c.log.gz", "c.log.gz"]
    proc, out = parse(tmp_path, "-", input_bytes=("\n".join(SYSLOG) + "\n").encode())
    assert proc.returncode == 0, proc.stderr
    assert [r["source"] for r in rows(out)] == ["-"] * 3


def test_missing_file_is_a_one_line_error(tmp_path):
    proc, _ = parse(tmp_path, tmp_path / "nope.log")
    assert "no such file" in assert_one_line_error(proc)


def test_unreadable_path_is_a_one_line_error(tmp_path):
    sock_path = tmp_path / "log.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock_path))
    try:
        proc, _ = parse(tmp_path, sock_path)
        assert "cannot open" in assert_one_line_error(proc)
    finally:
        server.close()


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod-000 file")
def test_permission_denied_is_a_one_line_error(tmp_path):
    log = tmp_path / "secret.log"
    log.write_text(SYSLOG[0])
    log.chmod(0)
    proc, _ = parse(tmp_path, log)
    assert "permission denied" in assert_one_line_error(proc)


@pytest.mark.parametrize("extra, needle", [
    (("--format", "no-such-format"), "no-such-format"),
    (("--log-format", "<Date> <Time> no content here"), "Content"),
    (("--session-regex", "blk_(?<=x)"), "session-regex"),
    (("--frozen",), "--frozen"),
])
def test_invalid_options_are_one_line_errors(tmp_path, extra, needle):
    log = tmp_path / "a.log"
    log.write_text(SYSLOG[0] + "\n")
    proc, _ = parse(tmp_path, log, extra=extra)
    assert needle in assert_one_line_error(proc)


def test_invalid_rules_file_names_the_rule(tmp_path):
    log = tmp_path / "a.log"
    log.write_text(SYSLOG[0] + "\n")
    rules = tmp_path / "rules.json"
    rules.write_text('[{"name": "broken-ip", "group": "ips", "pattern": "(\\\\d+", "mask": "<IP>"}]')
    proc, _ = parse(tmp_path, log, extra=("--rules", str(rules)))
    assert "broken-ip" in assert_one_line_error(proc)
