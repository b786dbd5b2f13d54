"""Real /var/log-like folders as inputs: links, compressions, binaries, special files, mixed formats.

The fixture folder is built at run time; every file in it must end up read (in `sources`) or skipped
with a reason (`files_skipped`, `links_skipped`), and every line read parsed or counted.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import struct
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from helpers import assert_accounted, read_summary

from anomaly_log_detector import api
from anomaly_log_detector.parsing import decompress
from anomaly_log_detector.parsing.sniff import binary_reason, compression_of
from anomaly_log_detector.parsing.sources import ReadStats, read_batches
from anomaly_log_detector.parsing.walk import Skips, list_sources
from anomaly_log_detector.synth import generate_synthetic_log

try:
    import zstandard
except ImportError:
    zstandard = None

SECRET = "TOPSECRET-do-not-read"
SYSLOG = [f"Jan  5 10:00:{i % 60:02d} web{i % 3} sshd[{1200 + i}]: Accepted password for user{i % 4} from "
          f"10.0.0.{i % 250} port {40000 + i} ssh2" for i in range(120)]
ISO = [f"2024-01-02 03:04:{i % 60:02d} INFO worker {i % 5} finished job {i} in {i * 3} ms" for i in range(80)]
BGL = [f"- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.{i:06d} R02-M1-N0-C:J12-U11 RAS "
       f"KERNEL INFO instruction cache parity error corrected {i}" for i in range(40)]
JOURNAL = [json.dumps({"__REALTIME_TIMESTAMP": str(1_700_000_000_000_000 + i * 1_000_000), "_HOSTNAME": "node1",
                       "SYSLOG_IDENTIFIER": "kernel", "_PID": str(100 + i), "PRIORITY": "6",
                       "_SYSTEMD_UNIT": "kernel.service", "MESSAGE": f"eth{i % 2}: link up, {i} Mbps"})
           for i in range(60)]
LONG = [f"Jan  5 11:{i // 60 % 60:02d}:{i % 60:02d} web1 app[42]: request {i} served in {i % 97} ms"
        for i in range(60_000)]


def text(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode()


def cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    """`alog-detect ARGS`; the timeout turns a hang (a FIFO opened by mistake) into a failure."""
    env = {k: v for k, v in os.environ.items() if k != "ALOG_DEBUG"}
    return subprocess.run([sys.executable, "-m", "anomaly_log_detector", *args], capture_output=True,
                          timeout=timeout, env=env, stdin=subprocess.DEVNULL)


def utmp_records(n: int) -> bytes:
    """`n` Linux utmp records (384 bytes each, mostly NUL): what /var/log/wtmp holds."""
    out = bytearray(384 * n)
    for i in range(n):
        at = i * 384
        struct.pack_into("<ii", out, at, 7 if i % 2 else 8, 1000 + i)   # USER_PROCESS / DEAD_PROCESS, pid
        out[at + 8:at + 13] = b"pts/0"
        out[at + 44:at + 49] = b"alice"
        out[at + 76:at + 85] = b"10.0.0.77"
        struct.pack_into("<ii", out, at + 340, 1_700_000_000 + i, 0)  # login time
    return bytes(out)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> dict:
    """The fixture folder; returns its path, the expected line count of each complete text file and
    what every other entry should turn into."""
    root = tmp_path_factory.mktemp("inputs")
    logs, outside = root / "logs", root / "outside"
    (logs / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.log").write_text(f"Jan  5 10:00:00 web1 app[1]: {SECRET}\n")
    expected = {}  # complete text files: path -> (lines, compression)

    def put(name: str, data: bytes, lines: int, compression: str) -> None:
        (logs / name).write_bytes(data)
        expected[str(logs / name)] = (lines, compression)

    with_blanks = text(SYSLOG[:60]) + b"\n   \n" + text(SYSLOG[60:])
    put("syslog", with_blanks, len(SYSLOG) + 2, "none")
    put("dpkg.log", text(ISO), len(ISO), "none")
    put("journal.json", text(JOURNAL), len(JOURNAL), "none")
    put("bgl.log", text(BGL), len(BGL), "none")
    put("sub/auth.log.xz", lzma.compress(text(SYSLOG)), len(SYSLOG), "xz")
    put("sub/app.log.bz2", bz2.compress(text(ISO)), len(ISO), "bz2")
    put("kern.log.1.gz", gzip.compress(text(SYSLOG)), len(SYSLOG), "gzip")
    put("stray-nul.log", text(SYSLOG[:3]) + b"Jan  5 10:00:09 web1 app[7]: nul\x00inside\n", 4, "none")
    if zstandard is not None:
        put("daemon.log.zst", zstandard.ZstdCompressor().compress(text(SYSLOG)), len(SYSLOG), "zstd")
    full = lzma.compress(text(LONG))
    (logs / "cut.log.xz").write_bytes(full[: len(full) // 2])
    (logs / "wtmp").write_bytes(utmp_records(20))
    pq.write_table(pa.table({"line_no": [1, 2, 3], "is_anomaly": [False, True, False]}),
                   logs / "n2.log.labels.parquet")
    (logs / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    os.mkfifo(logs / "initctl")
    (logs / ".hidden.log").write_text(SYSLOG[0] + "\n")
    os.symlink("../outside/secret.log", logs / "leak.log")
    os.symlink("..", logs / "sub" / "up")
    os.symlink("no-such-file", logs / "dangling.log")
    os.symlink("syslog", logs / "syslog.again")
    skipped = {"wtmp": "binary: utmp records", "n2.log.labels.parquet": "binary: Parquet",
               "logo.png": "binary: PNG image", "initctl": "not a regular file: FIFO", ".hidden.log": "hidden"}
    links = {"leak.log": "outside the folder", "up": "loop", "dangling.log": "dangling",
             "syslog.again": f"already listed as {logs / 'syslog'}"}
    out = root / "out"
    proc = cli("parse", "--input", str(logs), "--out-dir", str(out))
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return {"logs": logs, "out": out, "expected": expected, "skipped": skipped, "links": links, "proc": proc,
            "summary": read_summary(out), "table": pq.read_table(out / "parsed.parquet")}


def test_every_file_and_link_is_read_or_skipped_with_its_reason(folder):
    s, logs = folder["summary"], folder["logs"]
    read = {e["source"] for e in s["sources"]}
    skipped = {os.path.basename(f["source"]): f["reason"] for f in s["files_skipped"]}
    links = {os.path.basename(x["path"]): x["reason"] for x in s["links_skipped"]}
    assert skipped == folder["skipped"]
    assert links == folder["links"]
    assert s["files_read"] == len(read) == len(folder["expected"]) + 1  # + the truncated .xz
    on_disk = {os.path.join(d, n) for d, dirs, files in os.walk(logs) for n in files + dirs}
    on_disk -= {str(logs / "sub")}
    accounted = read | {f["source"] for f in s["files_skipped"]} | {x["path"] for x in s["links_skipped"]}
    assert accounted == on_disk


def test_every_line_is_accounted_for(folder):
    s, table = folder["summary"], folder["table"]
    assert_accounted(s)
    assert s["lines_skipped"] == {"blank": 2} and s["lines_with_nul"] == 1
    per_source = {e["source"]: e for e in s["sources"]}
    rows = {}
    for source in table["source"].to_pylist():
        rows[source] = rows.get(source, 0) + 1
    for path, (lines, compression) in folder["expected"].items():
        entry = per_source[path]
        assert (entry["lines_read"], entry["compression"], entry["error"]) == (lines, compression, None), path
    assert sum(e["lines_read"] for e in s["sources"]) == s["lines_read"]
    assert sum(rows.values()) == s["lines_parsed"]


def test_links_never_leave_the_folder(folder):
    assert not any(SECRET in r for r in folder["table"]["raw"].to_pylist())
    assert all(str(folder["logs"]) in src for src in set(folder["table"]["source"].to_pylist()))


def test_truncated_xz_keeps_the_lines_before_the_damage(folder):
    s, table = folder["summary"], folder["table"]
    cut = str(folder["logs"] / "cut.log.xz")
    assert [e["error"] for e in s["source_errors"] if e["source"] == cut] == [
        "xz stream truncated (ended before its end marker)"]
    got = [r for r, src in zip(table["raw"].to_pylist(), table["source"].to_pylist()) if src == cut]
    assert 1000 < len(got) < len(LONG)
    assert got[:-1] == LONG[: len(got) - 1]  # the last one may be cut mid-line
    entry = next(e for e in s["sources"] if e["source"] == cut)
    assert entry["compression"] == "xz" and entry["lines_read"] == len(got)


def test_each_file_gets_its_own_format(folder):
    s, table = folder["summary"], folder["table"]
    fmt = {os.path.basename(e["source"]): e["format"] for e in s["sources"]}
    assert s["format"] == "mixed" and s["format_detected"]
    assert all(e["format_detected"] for e in s["sources"])
    assert fmt["syslog"] == fmt["auth.log.xz"] == fmt["kern.log.1.gz"] == "syslog"
    assert fmt["journal.json"] == "journal-json" and fmt["bgl.log"] == "bgl"
    assert fmt["dpkg.log"] == fmt["app.log.bz2"] and fmt["dpkg.log"] not in ("raw", "syslog")
    # The table holds the union of the formats' extra columns, null where a file's format lacks one.
    rows = table.select(["source", "Label", "unit", "timestamp"]).to_pylist()
    bgl = [r for r in rows if r["source"].endswith("bgl.log")]
    journal = [r for r in rows if r["source"].endswith("journal.json")]
    assert len(bgl) == len(BGL) and all(r["Label"] == "-" and r["unit"] is None for r in bgl)
    assert len(journal) == len(JOURNAL) and all(r["unit"] == "kernel.service" and r["Label"] is None for r in journal)
    dpkg = [r for r in rows if r["source"].endswith("dpkg.log")]
    assert all(r["timestamp"] is not None for r in dpkg)


def test_parse_prints_what_it_skipped(folder):
    s, err = folder["summary"], folder["proc"].stderr.decode(errors="replace")
    n_files, n_links = len(s["files_skipped"]), len(s["links_skipped"])
    line = next(x for x in err.splitlines() if x.startswith("skipped "))
    assert line.startswith(f"skipped {n_files} files and {n_links} links: ")
    assert "(binary: utmp records)" in line or "(binary: Parquet)" in line
    assert "more in parse_summary.json" in line
    assert "format: mixed (" in folder["proc"].stdout.decode()


# ---- smaller cases -----------------------------------------------------------------------------
def test_sniffing_by_content_not_by_name():
    assert compression_of(gzip.compress(b"x")) == "gzip"
    assert compression_of(lzma.compress(b"x")) == "xz"
    assert compression_of(bz2.compress(b"x")) == "bz2" and compression_of(bz2.compress(b"")) == "bz2"
    assert compression_of(b"BZh9 is how this text line starts\n") == "none"
    assert compression_of(b"\x28\xb5\x2f\xfd") == "zstd"
    assert binary_reason(text(SYSLOG)) is None
    assert binary_reason(b"") is None and binary_reason(b"\n\n  \n") is None
    assert binary_reason(text(SYSLOG[:2]) + b"a stray \x00 NUL\n") is None
    # A text log zero-filled by a crash (a stretch of NULs, then the lines after the reboot) is text.
    assert binary_reason(text(SYSLOG[:5]) + b"\x00" * 4096 + text(SYSLOG[5:10])) is None
    assert binary_reason(b"\x00" * 8192) == "only NUL bytes"
    assert binary_reason(utmp_records(3)) == "utmp records"
    assert binary_reason(b"LPKSHHRH" + b"\x00" * 100) == "systemd journal"
    assert binary_reason(b"ARROW1\x00\x00") == "Arrow IPC"
    assert binary_reason(b"\x7fELF\x02\x01\x01" + bytes(range(256))) == "ELF executable"
    assert "NUL or control bytes" in binary_reason(bytes(range(256)) * 8)


def test_a_link_named_on_the_command_line_is_read(tmp_path):
    (tmp_path / "elsewhere.log").write_text(SYSLOG[0] + "\n")
    (tmp_path / "dir").mkdir()
    os.symlink(tmp_path / "elsewhere.log", tmp_path / "dir" / "named.log")
    named = str(tmp_path / "dir" / "named.log")
    assert list_sources(named) == [named]
    skips = Skips()
    assert list_sources(str(tmp_path / "dir"), skips) == []
    assert skips.links[0]["reason"] == "outside the folder"


def test_a_single_binary_input_is_skipped_with_a_clear_message(tmp_path):
    data = tmp_path / "x.parquet"
    pq.write_table(pa.table({"a": [1, 2, 3]}), data)
    proc = cli("parse", "--input", str(data), "--out-dir", str(tmp_path / "out"))
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "skipped 1 file: x.parquet (binary: Parquet)" in err
    assert "No lines to parse: every input file was skipped." in err
    s = read_summary(tmp_path / "out")
    assert s["files_read"] == 0 and s["lines_read"] == 0 and s["sources"] == []


def test_zstd_without_its_package_is_skipped_with_the_reason(tmp_path, monkeypatch):
    path = tmp_path / "a.log.zst"
    path.write_bytes(b"\x28\xb5\x2f\xfd" + b"\x00" * 20)
    monkeypatch.setattr(decompress, "zstandard", None)
    stats = ReadStats()
    assert list(read_batches([str(path)], stats, 1000, 65536)) == []
    assert stats.skips.files == [{"source": str(path), "reason": "zstd: install the zstandard package"}]


@pytest.mark.skipif(zstandard is None, reason="zstandard not installed")
def test_zstd_frames_one_after_another_and_a_truncated_frame(tmp_path):
    one = zstandard.ZstdCompressor().compress(text(LONG[:30_000]))
    two = zstandard.ZstdCompressor().compress(text(LONG[30_000:]))
    (tmp_path / "two.zst").write_bytes(one + two)
    (tmp_path / "cut.zst").write_bytes(one[: len(one) // 2])
    stats = ReadStats()
    got = [r for b in read_batches([str(tmp_path / "two.zst"), str(tmp_path / "cut.zst")], stats, 65536, 65536)
           for r in zip([b.source] * len(b.raw), b.raw.to_pylist())]
    whole = [r for src, r in got if src.endswith("two.zst")]
    cut = [r for src, r in got if src.endswith("cut.zst")]
    assert whole == LONG
    assert 0 < len(cut) < 30_000 and cut[:-1] == LONG[: len(cut) - 1]
    assert stats.source_errors == [{"source": str(tmp_path / "cut.zst"),
                                    "error": "zstd stream truncated (ended before its end marker)"}]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod-000 file")
def test_unreadable_file_in_a_folder_is_skipped(tmp_path):
    (tmp_path / "ok.log").write_text(SYSLOG[0] + "\n")
    (tmp_path / "secret.log").write_text(SYSLOG[1] + "\n")
    (tmp_path / "secret.log").chmod(0)
    skips = Skips()
    assert list_sources(str(tmp_path), skips) == [str(tmp_path / "ok.log")]
    assert skips.files == [{"source": str(tmp_path / "secret.log"), "reason": "permission denied"}]


def test_mixed_formats_through_the_library(tmp_path):
    """BGL's extra columns and a syslog file's none: one table, BGL fields null for syslog rows."""
    (tmp_path / "a_syslog.log").write_bytes(text(SYSLOG))
    (tmp_path / "b_bgl.log").write_bytes(text(BGL))
    s = api.parse_logs(str(tmp_path), str(tmp_path / "out"), chunk_lines=50)
    assert s["format"] == "mixed" and [e["format"] for e in s["sources"]] == ["syslog", "bgl"]
    table = pq.read_table(tmp_path / "out" / "parsed.parquet")
    assert table.num_rows == len(SYSLOG) + len(BGL)
    labels = table["Label"].to_pylist()
    assert labels[: len(SYSLOG)] == [None] * len(SYSLOG) and labels[len(SYSLOG):] == ["-"] * len(BGL)
    assert table["host"].to_pylist()[0] == "web0" and table["host"].to_pylist()[-1] == "R02-M1-N0-C:J12-U11"


def test_train_and_infer_report_skipped_files(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    generate_synthetic_log(str(logs / "n.log"), 1500, 0.0, seed=1)  # and n.log.labels.parquet beside it
    os.symlink("/etc/hostname", logs / "hostname")
    tiny = ["--epochs", "1", "--hidden", "8", "--layers", "1", "--embed-dim", "4", "--max-steps", "20", "--quiet"]
    proc = cli("train", "--input", str(logs), "--model-dir", str(tmp_path / "model"), *tiny)
    err = proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, err
    assert ("skipped 1 file and 1 link: n.log.labels.parquet (binary: Parquet), "
            "link hostname -> /etc/hostname (outside the folder)") in err
    meta = json.loads((tmp_path / "model" / "metadata.json").read_text())
    assert [Path(i["path"]).name for i in meta["inputs"]] == ["n.log"]  # the files read, not the Parquet
    proc = cli("infer", "--model-dir", str(tmp_path / "model"), "--input", str(logs), "--out-dir",
               str(tmp_path / "infer"), "--quiet")
    assert proc.returncode in (0, 1), proc.stderr.decode(errors="replace")
    assert "skipped 1 file and 1 link: n.log.labels.parquet (binary: Parquet)" in proc.stderr.decode()
