"""`anomalies.jsonl` follows the Elastic Common Schema (docs/formats.md), and the report's per-host section.

Folders are built as a user would, through the real CLI: `parse` a training part, `parse --frozen` the
target (lines no training template matches are the novelty detector's hits), `report`. On a real
Loghub file (Linux_2k: syslog with host, process and pid) and on a gen-synth log. Expected values are
read independently from `parsed.parquet` and the log file.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from helpers import run_cli, shared_data

from anomaly_log_detector.reports.anomalies import collect_anomalies, to_records
from anomaly_log_detector.reports.ecs import ECS_VERSION, NAMESPACE, OWN_FIELDS, from_ecs, iso_utc

TOP_LEVEL = {"@timestamp", "ecs", "event", "message", "log", "host", "process", NAMESPACE}
EVENT = {"kind", "module", "dataset", "start", "end", "severity", "risk_score", "risk_score_norm", "reason"}
HTML = "<script>alert(1)</script>"
ANSI = "\x1b[31mred\x1b[0m\x1b]0;title\x07"
MARKDOWN = "# not a heading *em* [x](javascript:alert(1)) | cell | ```"


def processed(root: Path, train_lines: list[str], target_lines: list[str]) -> Path:
    """parse (train) -> parse --frozen (target) -> report: the target's processed folder."""
    (root / "train.log").write_text("".join(train_lines), encoding="utf-8")
    (root / "target.log").write_text("".join(target_lines), encoding="utf-8")
    state = str(root / "drain.json")
    run_cli("parse", "--input", str(root / "train.log"), "--out-dir", str(root / "train"), "--drain-state", state,
            "--year", "2005", "--quiet", check=True)
    run_cli("parse", "--input", str(root / "target.log"), "--out-dir", str(root / "target"), "--drain-state", state,
            "--frozen", "--year", "2005", "--quiet", check=True)
    run_cli("report", "--processed-dir", str(root / "target"), check=True)
    return root / "target"


@pytest.fixture(scope="module")
def linux(tmp_path_factory) -> Path:
    lines = shared_data("loghub_2k", "Linux", "corrected", "Linux_2k.log").read_text(encoding="utf-8")
    lines = lines.splitlines(keepends=True)
    return processed(tmp_path_factory.mktemp("linux"), lines[:1000], lines)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    run_cli("gen-synth", "--out", str(root / "normal.log"), "--lines", "3000", "--anomaly-rate", "0", "--seed", "1",
            check=True)
    run_cli("gen-synth", "--out", str(root / "test.log"), "--lines", "1500", "--anomaly-rate", "0.03", "--seed", "7",
            check=True)
    return processed(root, (root / "normal.log").read_text(encoding="utf-8").splitlines(keepends=True),
                     (root / "test.log").read_text(encoding="utf-8").splitlines(keepends=True))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """Training lines of one daemon, then a target with a line holding HTML, ANSI and Markdown text."""
    normal = [f"Mar  1 00:{i // 60:02d}:{i % 60:02d} host1 app[42]: request {1000 + i} served in {i % 7} ms\n"
              for i in range(300)]
    evil = f"Mar  1 00:05:00 host1 app[43]: {HTML} {ANSI} {MARKDOWN}\n"
    return processed(tmp_path_factory.mktemp("hostile"), normal, [*normal[:100], evil, *normal[100:200]])


def docs(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "anomalies.jsonl").read_text(encoding="utf-8").splitlines()]


def utc(text: str) -> datetime:
    assert text.endswith("Z"), text
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert ts.utcoffset() == timedelta(0)
    return ts


def value(x: object) -> object:
    """A parsed.parquet cell as the JSON has it: None for null or empty."""
    return None if x is None or (isinstance(x, float) and pd.isna(x)) or x == "" else x


def check_schema(folder: Path) -> list[dict]:
    """Every document follows the documented schema and agrees with parsed.parquet and the log file."""
    parsed = pq.read_table(folder / "parsed.parquet").to_pandas()
    out = docs(folder)
    assert out, "no records: the test needs some"
    for rank, d in enumerate(out, 1):
        assert set(d) <= TOP_LEVEL and {"ecs", "event", "message", NAMESPACE} <= set(d)
        assert d["ecs"] == {"version": ECS_VERSION}
        event, own = d["event"], d[NAMESPACE]
        assert set(event) <= EVENT and event["kind"] == "alert"
        assert event["module"] == "alog_detect" and event["dataset"] == "alog_detect.anomalies"
        assert 0.0 < event["risk_score"] <= 1.0 and event["risk_score_norm"] == round(100 * event["risk_score"], 2)
        assert isinstance(event["severity"], int) and event["severity"] == round(100 * event["risk_score"])
        assert event["reason"]
        assert set(own) == set(OWN_FIELDS) and own["rank"] == rank
        rows = parsed.loc[own["rows"]]
        assert rows["line_no"].tolist() == own["line_nos"]
        shown = rows[rows["raw"] == d["message"]].iloc[0]  # the line the record shows
        lines = Path(own["source"]).read_text(encoding="utf-8").splitlines()
        assert d["message"] == lines[int(shown["line_no"]) - 1]
        assert d["log"]["file"]["path"] == own["source"] == str(shown["source"])
        # host, process, pid and level come from the parsed header of the shown line
        assert d.get("host", {}).get("name") == value(shown["host"])
        assert d.get("process", {}).get("name") == value(shown["process"])
        pid = value(shown["pid"])
        assert d.get("process", {}).get("pid") == (int(pid) if pid and pid.isdigit() else None)
        assert d.get("log", {}).get("level") == value(shown["level"])
        assert own["template"] == shown["template"] and own["template_id"] == shown["template_id"]
        # times: UTC with Z; @timestamp is the record's start, the first of its lines' times
        times = pd.to_datetime(rows["timestamp"], utc=True)
        if times.notna().any():
            assert utc(d["@timestamp"]) == times.min().to_pydatetime() == utc(event["start"])
            assert utc(event["end"]) == times.max().to_pydatetime()
            assert utc(own["time"]) == pd.Timestamp(shown["timestamp"]).to_pydatetime()
        else:
            assert "@timestamp" not in d and "start" not in event and own["time"] is None
    return out


def test_linux_jsonl_follows_the_schema(linux):
    out = check_schema(linux)
    assert {d["host"]["name"] for d in out} == {"combo"}  # Loghub Linux: one host
    assert any("pid" in d["process"] for d in out)
    assert all(d["@timestamp"].startswith("2005-") for d in out)


def test_synth_jsonl_follows_the_schema(synth):
    out = check_schema(synth)
    assert len({d["host"]["name"] for d in out}) > 1


def test_jsonl_reads_back_as_the_table(linux):
    """from_ecs gives back the result table's records (anomalies.parquet holds the same table)."""
    expected = to_records(collect_anomalies(linux))
    parquet = pq.read_table(linux / "anomalies.parquet").to_pandas()
    assert len(expected) == len(parquet) == len(docs(linux))
    for d, r in zip(docs(linux), expected):
        back = from_ecs(d)
        for key in ("time", "first_time", "last_time"):
            r[key] = iso_utc(r[key])
        assert back == r


def test_log_text_is_verbatim_in_json_and_escaped_in_markdown(hostile):
    text = (hostile / "anomalies.jsonl").read_text(encoding="utf-8")
    assert "\x1b" not in text and "\\u001b[31m" in text  # JSON escapes the control characters itself
    evil = next(d for d in docs(hostile) if HTML in d["message"])
    line = (hostile.parent / "target.log").read_text(encoding="utf-8").splitlines()[evil["alog"]["line_nos"][0] - 1]
    assert evil["message"] == line and ANSI in evil["message"] and MARKDOWN in evil["message"]
    md = (hostile / "report.md").read_text(encoding="utf-8")
    assert "\x1b" not in md and "\x07" not in md
    assert "\\x1b[31mred\\x1b[0m\\x1b]0;title\\x07" in md  # shown as visible escapes
    # `<script>` only inside code (blocks and spans), never as Markdown/HTML
    in_block, fence = False, None
    for row in md.splitlines():
        opener = re.match(r"^(`{3,})", row)
        if opener and (not in_block or row.strip() == fence):
            in_block, fence = (not in_block), opener.group(1)
            continue
        if not in_block:
            outside = re.sub(r"(`+)(?:(?!\1).)*?\1", "", row)  # code spans removed
            assert "<script" not in outside and "](javascript" not in outside, row


def test_report_per_host_section_counts(synth):
    data = json.loads((synth / "report.json").read_text(encoding="utf-8"))
    parsed = pq.read_table(synth / "parsed.parquet", columns=["host", "timestamp"]).to_pandas()
    parsed["host"] = parsed["host"].fillna("-")
    table = pq.read_table(synth / "anomalies.parquet").to_pandas()
    flagged_rows = sorted({x for rows in table["rows"] for x in rows})
    expected = []
    for host, g in parsed.groupby("host"):
        expected.append({"host": host, "lines": len(g), "flagged_lines": int(g.index.isin(flagged_rows).sum()),
                         "records": int((table["host"].fillna("-") == host).sum()),
                         "first": iso_utc(g["timestamp"].min()), "last": iso_utc(g["timestamp"].max())})
    expected.sort(key=lambda h: (-h["flagged_lines"], -h["lines"], h["host"]))
    assert data["hosts"] == expected[:20] and data["hosts_total"] == len(expected)
    assert sum(h["records"] for h in expected) == len(table)
    md = (synth / "report.md").read_text(encoding="utf-8")
    assert "\n## Hosts\n" in md
    for h in data["hosts"]:
        assert (f"| `{h['host']}` | {h['lines']:,} | {h['flagged_lines']:,} | {h['records']:,} | "
                f"{h['first']} | {h['last']} |") in md


def test_report_templates_of_flagged_lines(synth):
    data = json.loads((synth / "report.json").read_text(encoding="utf-8"))
    parsed = pq.read_table(synth / "parsed.parquet", columns=["template_id"]).to_pandas()
    table = pq.read_table(synth / "anomalies.parquet").to_pandas()
    flagged = parsed.loc[sorted({x for rows in table["rows"] for x in rows}), "template_id"].value_counts()
    counts = parsed["template_id"].value_counts()
    assert data["flagged_templates"]
    for x in data["flagged_templates"]:
        assert x["flagged"] == flagged[x["template_id"]] and x["count"] == counts[x["template_id"]]
    for x in data["templates"]:
        assert x["flagged"] == flagged.get(x["template_id"], 0)
    assert "\n## Templates of the flagged lines\n" in (synth / "report.md").read_text(encoding="utf-8")


def test_build_report_then_write_report_files_lists_the_links(synth, tmp_path):
    """The two steps a caller runs analyzers between; `data["links"]` becomes "Further analysis"."""
    import shutil

    from anomaly_log_detector.reports.markdown import build_report, render_report, write_report_files

    d = tmp_path / "f"
    shutil.copytree(synth, d)
    for name in ("report.md", "report.json", "anomalies.jsonl", "anomalies.parquet"):
        (d / name).unlink()
    table, data, paths = build_report(d, top=3)
    assert paths == {"jsonl": d / "anomalies.jsonl", "parquet": d / "anomalies.parquet"}
    assert len(table) == len(docs(d)) > 0 and not (d / "report.md").exists()
    data["links"].update({"temporal": "temporal_analysis/temporal_report.md", "odd<b>|": "x|`y`.md"})
    written = write_report_files(d, data)
    assert written == {"report_md": d / "report.md", "report_json": d / "report.json"}
    md = written["report_md"].read_text(encoding="utf-8")
    assert md.count("\n### #") == 3 and "\n## Further analysis\n" in md
    assert ("\n- Hour-of-day and day-of-week profiles: [`temporal_analysis/temporal_report.md`]"
            "(temporal_analysis/temporal_report.md)\n") in md
    assert "\n- odd&lt;b&gt;\\|: [``x|`y`.md``](x%7C%60y%60.md)\n" in md  # an unknown name, escaped
    assert json.loads(written["report_json"].read_text(encoding="utf-8"))["links"] == data["links"]
    ko = render_report(data, "ko")
    assert "\n## 호스트\n" in ko and "\n## 추가 분석\n" in ko and "\n## 탐지된 줄의 템플릿\n" in ko
