"""Korean reports end to end: `infer`, the MS-CRED analysis and `validate` write Korean when asked
(`lang="ko"`), with no English heading left, and English stays the default. One tiny bundle (gen-synth,
one epoch, MS-CRED with one step) serves every test."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pandas as pd
import pytest
from click.testing import CliRunner

from anomaly_log_detector.cli import cli
from anomaly_log_detector.synth import generate_synthetic_log

HANGUL = re.compile(r"[\uac00-\ud7a3]")
TINY = ["--epochs", "1", "--hidden", "8", "--layers", "1", "--embed-dim", "4", "--quiet",
        "--mscred-top-k", "8", "--mscred-max-steps", "1"]
STORM = "Mar  1 12:00:{s:02d} web-01 kernel: EXT4-fs error (device sda1): storm of failures {i}"
# English sentences/headings of the report catalogs that must not survive in a Korean report.
ENGLISH = ["Anomaly report", "Summary", "Parsed lines", "Anomalies per detector", "Dominant templates",
           "Agreement between detectors", "No anomalies were found", "This template", "MS-CRED analysis",
           "Raw lines", "broken entries", "most responsible", "Window "]


def _headings(markdown: str) -> list[str]:
    """Markdown headings outside code blocks, code spans removed (they hold log text)."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            out.append(re.sub(r"`[^`]*`", "", line))
    return out


def _assert_korean(markdown: str) -> None:
    heads = _headings(markdown)
    assert heads, markdown[:500]
    english = [h for h in heads if not HANGUL.search(h)]
    assert not english, f"headings without Hangul: {english}"
    prose = "\n".join(line for line in markdown.splitlines() if not line.startswith(("    ", "```")))
    prose = re.sub(r"`[^`]*`", "", prose)
    left = [e for e in ENGLISH if e in prose]
    assert not left, f"English text left in a Korean report: {left}"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("i18n")
    log = root / "train.log"
    generate_synthetic_log(str(log), 1500, 0.0, seed=1)
    model = root / "model"
    res = CliRunner().invoke(cli, ["train", "--input", str(log), "--model-dir", str(model), "--mscred", *TINY],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    lines = log.read_text().splitlines()
    target = root / "target.log"
    target.write_text("\n".join(lines[:600] + [STORM.format(s=i % 60, i=i) for i in range(150)] + lines[600:1200])
                      + "\n")
    return {"root": root, "model": model, "log": log, "target": target}


def test_korean_inference_report_and_mscred_analysis(bundle, tmp_path):
    from anomaly_log_detector.workflows.infer import INFERENCE_REPORT, infer_logs

    out = tmp_path / "ko"
    summary = infer_logs(bundle["model"], str(bundle["target"]), out, lang="ko", quiet=True)
    assert summary["anomalies"] > 0
    report = (out / INFERENCE_REPORT).read_text(encoding="utf-8")
    assert report.startswith("# 이상 탐지 보고서")
    _assert_korean(report)
    mscred = out / "mscred_analysis" / "mscred_report.md"
    assert mscred.is_file(), "the storm should make MS-CRED flag a window"
    text = mscred.read_text(encoding="utf-8")
    assert text.startswith("# MS-CRED 분석") and "윈도" in text
    _assert_korean(text)
    assert "\n- MS-CRED 분석 (가장 큰 원인 템플릿, 잔차 히트맵, 원본 줄): [`mscred_analysis/mscred_report.md`]" in report


def test_korean_validation(bundle):
    from anomaly_log_detector.workflows.validate import format_quality, validate_model

    ko = validate_model(bundle["model"], lang="ko")
    en = validate_model(bundle["model"])
    assert ko["score"] == en["score"]
    assert all(HANGUL.search(c["explanation"]) for c in ko["components"])
    table = format_quality(ko, "ko")
    assert "품질 점수" in table and "템플릿 커버리지" in table and "MS-CRED 손실" in table
    assert "quality score" not in table and "normal lines" not in table
    assert format_quality(en).startswith("component ") and "quality score" in format_quality(en)


def test_mscred_report_in_korean_without_a_bundle(tmp_path):
    from anomaly_log_detector.analyzers.mscred import analyze_mscred

    pd.DataFrame({"window_idx": [0, 1], "source": ["a.log", "a.log"], "start_line": [1, 3], "end_line": [2, 9],
                  "start_row": [0, 2], "end_row": [2, 9], "reconstruction_error": [2.0, 0.1],
                  "broken_entries": [3, 0], "is_anomaly": [True, False], "threshold": [1.0, 1.0],
                  "top_templates": [["disk <*> failed"], []]}).to_parquet(tmp_path / "mscred_infer.parquet")
    pd.DataFrame({"line_no": range(1, 10), "raw": [f"line {i}" for i in range(1, 10)]}).to_parquet(
        tmp_path / "parsed.parquet")
    analyze_mscred(tmp_path, tmp_path / "ko", lang="ko", max_lines=1)
    text = (tmp_path / "ko" / "mscred_report.md").read_text(encoding="utf-8")
    assert "윈도 2개 중 1개가 이상입니다" in text and "## 1. 윈도 0 (`a.log`), 1-2번 줄" in text
    assert "깨진 항목: 3개" in text and "원본 로그 줄(전체 2줄 중 처음 1줄):" in text
    _assert_korean(text)
    analyze_mscred(tmp_path, tmp_path / "en", max_lines=1)  # English stays the default, word for word
    en = (tmp_path / "en" / "mscred_report.md").read_text(encoding="utf-8")
    assert "1 of 2 windows are anomalous (score above 1)" in en and "## 1. Window 0 of `a.log`, lines 1-2" in en
    assert "Raw lines (first 1 of 2):" in en


def test_korean_quality_table_aligns_wide_characters():
    from anomaly_log_detector.reports.console import display_width
    from anomaly_log_detector.workflows import validate

    model = SimpleNamespace(metadata={"templates": 10, "training": {"lines_parsed": 1000}, "losses": {"deeplog": []}},
                            mscred=None)
    normal = {"template_coverage": 1.0, "lines": 100, "unseen_lines": 0, "false_alarm_rate": 0.0,
              "flagged_lines": 0, "flagged_lines_by_detector": {}, "baseline_threshold": 1.0,
              "window_score_quantile": 1.0, "windows": 5}
    result = validate.quality(model, normal, "x", lang="ko")
    rows = validate.format_quality(result, "ko").splitlines()
    assert "에포크가 2회 미만" in rows[3] and "없음" in rows[4]
    # the points column starts at the same terminal column on every component row
    starts = {display_width(r[:r.index("/") - 5]) for r in rows[1:6]}
    assert starts == {21}, rows


def test_korean_bundle_facts_and_compare_table(bundle):
    from anomaly_log_detector.workflows.compare import format_columns, model_facts
    from anomaly_log_detector.workflows.model import load_bundle

    model = load_bundle(bundle["model"])
    en, ko = model_facts(model), model_facts(model, "ko")
    assert list(en) == list(ko)  # labels are the English keys of compare.json in every language
    assert "lines" in en["training inputs"] and "파일" in ko["training inputs"]
    rows = {label: {"A": value, "B": en[label]} for label, value in ko.items()}
    table = format_columns({"A": "A: 모델", "B": "B: model"}, rows, "ko")
    assert "품질 점수" in table and "학습 입력" in table and "quality score" not in table
    lines = table.splitlines()
    from anomaly_log_detector.reports.console import display_width as _width

    # the B column starts at the same terminal column on every row, Hangul counting two
    col = _width(lines[0][:lines[0].index("B: model")])
    differing = [(line, str(en[label])) for line, label in zip(lines[2:], rows) if str(en[label]) != str(ko[label])]
    assert differing and all(_width(line[:line.rindex(b)]) == col for line, b in differing), table
    english = format_columns({"A": "A"}, {label: {"A": v} for label, v in en.items()})
    assert "quality score" in english and "training inputs" in english


def test_console_summaries_in_both_languages():
    from anomaly_log_detector.reports.console import inference_lines, training_lines

    inf = {"lines": 1350, "lines_skipped": 0, "unseen_lines": 150, "anomalies": 6, "multi_detector": 2,
           "detectors": {"alerting": {"lines": 150}, "mscred": {"lines": 1160}}, "seconds": {"total": 2.04},
           "outputs": {"report": "out/inference_report.md", "anomalies": "out/anomalies.jsonl"}}
    assert inference_lines(inf) == [
        "lines: 1,350 analysed (0 skipped), unseen: 150",
        "anomalies: 6 records (2 by 2+ detectors); flagged: alerting 150 lines, mscred 1,160 lines",
        "time: 2.0 s", "report: out/inference_report.md", "result table: out/anomalies.jsonl"]
    ko = inference_lines(inf, "ko")
    assert ko[1] == "이상: 레코드 6개(2개 이상 탐지기 2개); 탐지된 줄: alerting 150줄, mscred 1,160줄"
    assert all(HANGUL.search(line) for line in ko)
    tr = {"lines": 1500, "train_lines": 1350, "holdout_lines": 150, "templates": 49, "vocab_size": 52,
          "baseline_threshold": 0.18, "deeplog_loss": [3.3, 3.1], "deeplog_epochs": 1, "deeplog_converged": False,
          "deeplog_threshold": 2.46, "mscred": {"windows": 53, "steps": 50, "seconds": 4.0, "converged": True,
                                                "threshold": 16.9}, "holdout_false_alarm_rate": 0.04,
          "seconds": 9.5, "model_dir": "m"}
    en = training_lines(tr)
    assert en[2] == "deeplog: 1 epochs, loss 3.3000 -> 3.1000 (NOT converged); miss threshold: surprise > 2.46"
    assert en[3] == "mscred: 53 windows, 50 steps in 4.0 s (converged); threshold 16.9" and en[-1] == "wrote m"
    assert all(HANGUL.search(line) for line in training_lines(tr, "ko"))
