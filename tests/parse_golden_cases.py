"""Inputs and fingerprints for the frozen-output test of `alog-detect parse` (test_parse_frozen_output.py).

Every case parses generated or Loghub input and reduces the outputs to a fingerprint: the schema of
parsed.parquet, a SHA-256 of every column's values (the `source` column by file name, so temporary
paths do not matter), and the summary's counts. `tests/data/parse_golden.json` holds the fingerprints of
the parser before the speed work of issue 8; the test proves the fast paths change nothing. Regenerate
only for an intended change of output: ``ALOG_WRITE_GOLDEN=1 pytest tests/test_parse_frozen_output.py``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
from pathlib import Path

import pyarrow.parquet as pq

from anomaly_log_detector.api import parse_logs
from anomaly_log_detector.parsing.loghub import LOG_FORMATS

REPO = Path(__file__).resolve().parent.parent
LOGHUB = REPO.parent / "shared" / "data" / "loghub_2k"
GOLDEN = Path(__file__).resolve().parent / "data" / "parse_golden.json"
YEAR = 2005  # year-less syslog times: fixed, not the files' modification time

_VARIABLE = re.compile(r"\b(0[xX])([0-9a-fA-F]+)\b|\b((?=[0-9a-f]*[a-f])[0-9a-f]{8,16})\b|\b(\d+)\b")


def fingerprint(out_dir: Path, summary: dict) -> dict:
    table = pq.read_table(out_dir / "parsed.parquet")
    columns = {}
    for name in table.column_names:
        values = table.column(name).to_pylist()
        if name == "source":
            values = [None if v is None else Path(v).name for v in values]
        text = json.dumps(values, default=str, ensure_ascii=False)
        columns[name] = hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]
    keep = ("lines_read", "lines_parsed", "lines_skipped", "header_unmatched", "templates", "templates_new",
            "unseen_lines", "format")
    return {"schema": [f"{f.name}:{f.type}" for f in table.schema], "rows": table.num_rows,
            "columns": columns, "summary": {k: summary.get(k) for k in keep}}


def perturbed(system: str, n: int, seed: int) -> list[str]:
    """n Loghub lines of `system` with the numbers and hex values of each line replaced by random ones
    of the same length (what benchmarks/parse_throughput.py does, applied to the whole line here)."""
    base = (LOGHUB / system / "corrected" / f"{system}_2k.log").read_text(encoding="utf-8").splitlines()
    rng = random.Random(seed)

    def vary(m: re.Match) -> str:
        if m.group(1):
            return m.group(1) + "".join(rng.choice("0123456789abcdef") for _ in m.group(2))
        if m.group(3):
            return "".join(rng.choice("0123456789abcdef") for _ in m.group(3))
        k = len(m.group(4))
        return str(rng.randrange(10 ** (k - 1), 10 ** k)) if k > 1 else str(rng.randrange(10))

    lines = [base[rng.randrange(len(base))] for _ in range(n)]
    # Keep each line's header (first 6 fields) as it was, so that its timestamp still parses.
    return [" ".join(line.split(" ")[:6]) + " " + _VARIABLE.sub(vary, " ".join(line.split(" ")[6:]))
            if line.count(" ") > 6 else line for line in lines]


def edge_lines(seed: int = 3) -> list[str]:
    """Whitespace-separated header lines with the awkward cases of header splitting and masking: runs
    of spaces and tabs, a vertical tab, leading blanks, too few fields, colons inside fields, 0x values,
    messages with and without an x, non-ASCII text, empty messages."""
    rng = random.Random(seed)
    words = ["blk_-123", "0x1f", "x10", "10.0.0.1:50010", "/a/b/c", "pid=42", "core.3471", "ünï", "a:b:",
             "0", "007", "1x", "12ms", "Mon Dec 5 10:20:30 2005", "'q 1'", "\"q 2\"", "k=v", "IDX", "0X9",
             "eth0", "sda1", "2024-01-02 03:04:05", "aa:bb:cc:dd:ee:ff", "1.2.3", "x", "[12]"]
    seps = [" ", " ", " ", "  ", "\t", " \t "]
    out = []
    for i in range(3000):
        fields = [rng.choice(["-", "APPINFO", "KERNDTLB"]), str(1117838570 + i), "2005.06.03",
                  f"R0{rng.randrange(8)}-M1-N0-C:J1{rng.randrange(8)}-U11",
                  f"2005-06-03-15.42.{rng.randrange(10, 60)}.{rng.randrange(100000, 999999)}",
                  "R02-M1-N0-C:J12-U11", "RAS", rng.choice(["KERNEL", "APP", "a:b"]),
                  rng.choice(["INFO", "FATAL", "x"])]
        cut = rng.random()
        if cut < 0.03:
            fields = fields[:rng.randrange(1, 9)]
        line = ""
        for f in fields:
            line += f + rng.choice(seps)
        line += " ".join(rng.choice(words) for _ in range(rng.randrange(0, 7)))
        r = rng.random()
        if r < 0.02:
            line = " " + line
        elif r < 0.03:
            line = line.replace(" ", "\x0b", 1)
        elif r < 0.04:
            line = "\t" + line
        out.append(line)
    return out


def hdfs_edge_lines(seed: int = 4) -> list[str]:
    rng = random.Random(seed)
    comps = ["dfs.DataNode$PacketResponder:", "dfs.FSNamesystem:", "a:b:", "noc", "x:", ":"]
    msgs = ["Receiving block blk_-1608999687919862906 src: /10.250.19.102:54106 dest: /10.250.19.102:50010",
            "PacketResponder 1 for block blk_38865049064139660 terminating", "x 0x00ff", "", "a: b: c"]
    out = []
    for i in range(2000):
        sep = rng.choice([" ", " ", "  ", "\t"])
        line = sep.join(["081109", f"2035{rng.randrange(10, 60)}", str(rng.randrange(1, 40000)),
                         rng.choice(["INFO", "WARN"]), rng.choice(comps)]) + rng.choice([" ", "  ", ""])
        out.append(line + rng.choice(msgs))
    return out


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_cases(tmp: Path) -> dict:
    """Every case: name -> fingerprint. Cases needing ../shared/data are left out when it is absent."""
    results: dict[str, dict] = {}

    def run(name: str, inputs, **kwargs) -> None:
        out = tmp / f"out_{name}"
        summary = parse_logs([str(p) for p in inputs] if isinstance(inputs, list) else str(inputs), str(out),
                             year=YEAR, **kwargs)
        results[name] = fingerprint(out, summary)

    edge = write(tmp / "edge_bgl.log", edge_lines())
    run("edge_bgl_log_format", edge, log_format=LOG_FORMATS["BGL"], chunk_lines=700)
    run("edge_bgl_auto", edge, chunk_lines=700)
    hedge = write(tmp / "edge_hdfs.log", hdfs_edge_lines())
    run("edge_hdfs_log_format", hedge, log_format=LOG_FORMATS["HDFS"], chunk_lines=500)
    run("edge_hdfs_auto", hedge, chunk_lines=500)
    if not LOGHUB.exists():
        return results
    for system, fmt in LOG_FORMATS.items():
        path = LOGHUB / system / "corrected" / f"{system}_2k.log"
        run(f"{system}_auto", path)
        run(f"{system}_log_format", path, log_format=fmt)
    for system in ("BGL", "HDFS", "Linux"):
        path = write(tmp / f"{system}_perturbed.log", perturbed(system, 20000, 11))
        run(f"{system}_perturbed_auto", path, chunk_lines=4096)
        run(f"{system}_perturbed_log_format", path, log_format=LOG_FORMATS[system], chunk_lines=4096)
    # A folder of mixed formats: the later files add extra columns (a new segment of the spool).
    folder = tmp / "mixed"
    folder.mkdir()
    for i, system in enumerate(("HDFS", "Linux", "BGL", "OpenSSH", "Zookeeper")):
        src = (LOGHUB / system / "corrected" / f"{system}_2k.log").read_text(encoding="utf-8")
        (folder / f"{i}_{system}.log").write_text(src, encoding="utf-8")
    run("mixed_folder_auto", folder, chunk_lines=777)
    # Template state across runs, then frozen matching (unseen lines).
    state = tmp / "state.json"
    run("state_learn", LOGHUB / "BGL" / "corrected" / "BGL_2k.log", drain_state=str(state))
    run("state_frozen", tmp / "BGL_perturbed.log", drain_state=str(state), frozen=True, chunk_lines=3000)
    # A time range.
    run("time_range", LOGHUB / "HDFS" / "corrected" / "HDFS_2k.log", chunk_lines=300,
        since=dt.datetime(2008, 11, 9, 20, 40), until=dt.datetime(2008, 11, 10, 0, 0))
    return results
