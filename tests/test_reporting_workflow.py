"""`run_inference.sh` writes every report and analysis, linked together (workflows/reporting.py).

Trained with `train_models.sh`, analysed with `run_inference.sh` as a user would: the Markdown report's
"Further analysis" links, report.html, the temporal analysis against the bundle's training profile, the
log samples; a Korean run; a log without timestamps (no temporal analysis, a clear status).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path

import pytest

from helpers import shared_data
from test_workflows import TINY, generate, ok, script

LINK = re.compile(r"\]\(([^)]+)\)")
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _links(report_md: Path) -> dict[str, Path]:
    """Relative links of the report's "Further analysis" section, resolved against its folder."""
    text = report_md.read_text(encoding="utf-8")
    section = text.split("\n## ")[-1]
    return {urllib.parse.unquote(m): report_md.parent / urllib.parse.unquote(m) for m in LINK.findall(section)}


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("reporting")
    generate(root / "normal.log", 3000, 0.0, seed=11)
    generate(root / "target.log", 1500, 0.05, seed=12)
    ok(script("train_models.sh", root / "normal.log", root / "model", *TINY, cwd=root))
    return {"root": root, "model": root / "model", "target": root / "target.log"}


def test_run_inference_writes_every_report_and_links_them(synth):
    out = synth["root"] / "out"
    stdout = ok(script("run_inference.sh", synth["model"], synth["target"], out, cwd=synth["root"]), status=1)
    assert f"HTML report: {out / 'report.html'}" in stdout
    links = _links(out / "inference_report.md")
    assert set(links) == {"log_samples_analysis/anomaly_analysis_report.md", "temporal_analysis/temporal_report.md",
                          "report.html"}
    assert all(path.is_file() for path in links.values()), links
    summary = json.loads((out / "inference_summary.json").read_text())
    assert summary["analyses"]["temporal"]["status"] == "ok"
    for name, path in summary["outputs"].items():
        assert Path(path).exists(), (name, path)
    temporal = (out / "temporal_analysis" / "temporal_report.md").read_text(encoding="utf-8")
    assert "training profile stored in the model bundle" in temporal  # not the log against itself
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'href="inference_report.md"' in html and 'href="temporal_analysis/temporal_report.md"' in html
    # the HTML's record table holds exactly the result table's records
    records = [json.loads(line) for line in (out / "anomalies.jsonl").read_text().splitlines()]
    assert records and len(records) == json.loads((out / "inference_report.json").read_text())["summary"]["anomalies"]


def test_korean_run_through_the_script(synth):
    out = synth["root"] / "out_ko"
    stdout = ok(script("run_inference.sh", synth["model"], synth["target"], out, "--lang", "ko", cwd=synth["root"]),
                status=1)
    assert HANGUL.search(stdout)
    for name in ("inference_report.md", "temporal_analysis/temporal_report.md",
                 "log_samples_analysis/anomaly_analysis_report.md"):
        headings = [line for line in (out / name).read_text(encoding="utf-8").splitlines() if line.startswith("#")]
        assert headings and all(HANGUL.search(h) for h in headings[:1]), (name, headings[:3])
    assert '<html lang="ko"' in (out / "report.html").read_text(encoding="utf-8")


def test_a_log_without_timestamps_gets_no_temporal_analysis(tmp_path):
    words = ["request {} accepted from 10.0.0.{}", "cache lookup for key {} took {} ms", "worker {} finished job {}"]
    normal = [words[i % 3].format(1000 + i, i % 7) for i in range(1500)]
    (tmp_path / "normal.log").write_text("\n".join(normal) + "\n")
    (tmp_path / "target.log").write_text("\n".join(normal[:300] + ["kernel panic: not syncing"] * 3) + "\n")
    ok(script("train_models.sh", "normal.log", "model", "--format", "raw", *TINY, cwd=tmp_path))
    proc = script("run_inference.sh", "model", "target.log", "out", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr.decode()
    summary = json.loads((tmp_path / "out" / "inference_summary.json").read_text())
    assert summary["analyses"]["temporal"]["status"] == "no_timestamps"
    assert "temporal_analysis/temporal_report.md" not in _links(tmp_path / "out" / "inference_report.md")
    assert (tmp_path / "out" / "report.html").is_file()
    assert not json.loads((tmp_path / "model" / "metadata.json").read_text())["files"].get("temporal_profile.json")


def test_real_linux_log_through_both_scripts(tmp_path):
    lines = shared_data("loghub_2k", "Linux", "corrected", "Linux_2k.log").read_bytes().splitlines(keepends=True)
    (tmp_path / "train.log").write_bytes(b"".join(lines[:1200]))
    (tmp_path / "target.log").write_bytes(b"".join(lines[1200:]))
    ok(script("train_models.sh", "train.log", "model", *TINY, cwd=tmp_path))
    proc = script("run_inference.sh", "model", "target.log", "out", cwd=tmp_path)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    out = tmp_path / "out"
    summary = json.loads((out / "inference_summary.json").read_text())
    assert summary["analyses"]["temporal"]["status"] == "ok"
    temporal = json.loads((out / "temporal_analysis" / "temporal_summary.json").read_text())
    assert temporal["mode"] and temporal["lines"] == summary["lines"]
    assert (out / "report.html").stat().st_size > 10_000
