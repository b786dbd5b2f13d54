"""The result table, `report` and `analyze-samples` on a real processed folder (BGL_2k, two sources).

The folder is built as a user would: `alog-detect parse` (train, then the target frozen) and
`alog-detect detect` through the real CLI; DeepLog inputs and inference through the library (the
deeplog commands are wired in their own tests). Every raw line a report shows is checked against the
log file at that line number.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from helpers import assert_one_line_error, run_cli, shared_data

from anomaly_log_detector.reports.anomalies import MAX_RECORD_LINES, RECORD_COLUMNS, collect_anomalies, write_anomalies
from anomaly_log_detector.reports.messages import LanguageError, t
from anomaly_log_detector.fileio.schema import UNSEEN_ID

SPLIT = 1000  # BGL_2k is split into two sources at this line, so line numbers restart


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """A processed folder with parse + baseline + DeepLog results over two target files."""
    log = shared_data("loghub_2k", "BGL", "corrected", "BGL_2k.log")
    root = tmp_path_factory.mktemp("bgl")
    lines = log.read_text(encoding="utf-8").splitlines(keepends=True)
    (root / "train.log").write_text("".join(x for x in lines[:1200] if x.startswith("- ")), encoding="utf-8")
    (root / "logs").mkdir()
    (root / "logs" / "a.log").write_text("".join(lines[:SPLIT]), encoding="utf-8")
    (root / "logs" / "b.log").write_text("".join(lines[SPLIT:]), encoding="utf-8")
    train, target, state = root / "train", root / "target", str(root / "drain.json")
    run_cli("parse", "--input", str(root / "train.log"), "--out-dir", str(train), "--drain-state", state,
            "--quiet", check=True)
    run_cli("parse", "--input", str(root / "logs"), "--out-dir", str(target), "--drain-state", state,
            "--frozen", "--quiet", check=True)
    stats = str(root / "baseline_stats.json")
    run_cli("detect", "--parsed", str(train / "parsed.parquet"), "--save-model", stats,
            "--window-size", "20", "--stride", "10", check=True)
    run_cli("detect", "--parsed", str(target / "parsed.parquet"), "--model", stats, "--out-dir", str(target),
            check=True)

    from anomaly_log_detector.builders.deeplog import build_deeplog_inputs, read_sequences
    from anomaly_log_detector.builders.vocab import Vocab
    from anomaly_log_detector.detectors.deeplog import DeepLogDetector

    build_deeplog_inputs(train / "parsed.parquet", train)
    build_deeplog_inputs(target / "parsed.parquet", target, vocab_path=train / "vocab.json")
    model = DeepLogDetector(seq_len=5, hidden=32, layers=1, epochs=10, seed=1).fit(
        read_sequences(train / "sequences.parquet"), vocab=Vocab.load(train / "vocab.json"))
    per_window, per_session = model.infer(read_sequences(target / "sequences.parquet"))
    per_window.to_parquet(target / "deeplog_infer.parquet")
    per_session.to_parquet(target / "deeplog_sessions.parquet")
    return target


@pytest.fixture(scope="module")
def table(folder) -> pd.DataFrame:
    return collect_anomalies(folder)


def file_lines(source: str) -> list[str]:
    return Path(source).read_text(encoding="utf-8").splitlines()


def parsed(folder: Path) -> pd.DataFrame:
    return pq.read_table(folder / "parsed.parquet", columns=["source", "line_no", "template_id"]).to_pandas()


# ---- the message table --------------------------------------------------------------------------

def test_message_table_languages_and_errors():
    assert t("report.top", n=7) == "Top 7 anomalies"
    with pytest.raises(LanguageError, match="unknown report language 'xx'.*available: en, ko"):
        t("report.title", lang="xx")
    with pytest.raises(KeyError):
        t("report.no_such_key")


# ---- the result table ---------------------------------------------------------------------------

def test_result_table_points_at_real_lines(folder, table):
    assert list(table.columns) == RECORD_COLUMNS and len(table) > 0
    sources = {str(folder.parent / "logs" / n) for n in ("a.log", "b.log")}
    assert set(table["source"]) == sources  # anomalies in both files, never a mixed record
    texts = {s: file_lines(s) for s in sources}
    keys = parsed(folder)
    for r in table.itertuples():
        # raw is the exact line at the record's best line; all lines are real, consecutive and of one source
        assert r.raw in [texts[r.source][n - 1] for n in r.line_nos]
        assert list(r.line_nos) == list(range(r.line_nos[0], r.line_nos[0] + len(r.line_nos)))
        assert len(r.line_nos) <= MAX_RECORD_LINES
        assert (keys.loc[list(r.rows), "source"] == r.source).all()
        assert keys.loc[list(r.rows), "line_no"].tolist() == list(r.line_nos)
        assert 0.0 <= r.score <= 1.0 and r.rank == r.Index + 1
        assert [x["detector"] for x in r.reasons] == list(r.detectors)
        for reason in r.reasons:
            assert reason["line_no"] in r.line_nos and t(reason["key"], **reason["params"])
    # Ranked by the rank score (the score, combined over records showing the same message), then
    # number of detectors, then flagged lines; a one-off record's rank score is its score.
    order = list(zip(-table["rank_score"], -table["detectors"].map(len), -table["rows"].map(len)))
    assert order == sorted(order)
    one_off = table["recurrence"] == 1
    assert one_off.any() and (table.loc[one_off, "rank_score"] == table.loc[one_off, "score"]).all()
    assert (table["rank_score"] >= table["score"] - 1e-12).all()


def test_every_flagged_line_of_every_detector_is_in_the_table(folder, table):
    keys = parsed(folder)
    rows_with = lambda name: {x for r in table.itertuples() if name in r.detectors for x in r.rows}
    unseen = set(keys.index[keys["template_id"] == UNSEEN_ID])
    assert unseen and unseen <= rows_with("novelty")

    infer = pd.read_parquet(folder / "deeplog_infer.parquet")
    misses = infer[~infer["in_topk"] & infer["line_no"].notna()]
    session_source = pd.read_parquet(folder / "sequences.parquet").set_index("session")["source"]
    miss_keys = set(zip(misses["session"].map(session_source), misses["line_no"].astype(int)))
    flagged = {(r.source, n) for r in table.itertuples() if "deeplog" in r.detectors for n in r.line_nos}
    assert miss_keys and miss_keys <= flagged

    windows = pd.read_parquet(folder / "baseline_scores.parquet")
    evidence = {(w.source, n) for w in windows[windows["is_anomaly"]].itertuples() for n in w.evidence_lines}
    flagged = {(r.source, n) for r in table.itertuples() if "baseline" in r.detectors for n in r.line_nos}
    assert evidence and evidence <= flagged


def test_sessions_file_alone_points_at_each_flagged_sessions_first_miss(folder, tmp_path):
    d = tmp_path / "f"
    shutil.copytree(folder, d)
    (d / "deeplog_infer.parquet").unlink()
    (d / "baseline_scores.parquet").unlink()
    sessions = pd.read_parquet(d / "deeplog_sessions.parquet")
    seq = pd.read_parquet(d / "sequences.parquet").set_index("session")["source"]
    flagged = sessions[sessions["is_anomaly"] & sessions["first_miss_line"].notna()]
    expected = set(zip(flagged["session"].map(seq), flagged["first_miss_line"].astype(int)))
    table = collect_anomalies(d)
    got = {(r.source, x["line_no"]) for r in table.itertuples() for x in r.reasons if x["detector"] == "deeplog"}
    assert len(expected) == 2 and got == expected
    assert all(x["key"] == "reason.deeplog_session" for r in table.reasons for x in r if x["detector"] == "deeplog")


def test_ranking_puts_real_bgl_alerts_first(table):
    # BGL marks alert lines with a category as first token (143 of 2000 lines).

    def alert_share(records: pd.DataFrame) -> tuple[int, float]:
        lines = [file_lines(r.source)[n - 1] for r in records.itertuples() for n in r.line_nos]
        alerts = sum(not x.startswith("- ") for x in lines)
        return alerts, alerts / len(lines)

    alerts, share = alert_share(table)
    assert alerts >= 0.9 * 143  # nearly every alert line is in some record
    assert alert_share(table.head(10))[1] > share  # and the top records hold more of them than the rest


def test_jsonl_and_parquet_hold_the_same_records(table, tmp_path):
    paths = write_anomalies(table, tmp_path)
    jsonl = [json.loads(x) for x in paths["jsonl"].read_text(encoding="utf-8").splitlines()]
    back = pq.read_table(paths["parquet"]).to_pandas()
    assert len(jsonl) == len(back) == len(table)
    for j, p, r in zip(jsonl, back.itertuples(), table.itertuples()):
        own = j["alog"]  # ECS documents: our own fields under `alog` (tests/test_ecs_jsonl.py checks the rest)
        assert own["line_nos"] == list(p.line_nos) == list(r.line_nos)
        assert own["reasons"] == json.loads(p.reasons) == r.reasons
        assert j["message"] == p.raw == r.raw and own["detectors"] == list(p.detectors)
        assert pd.Timestamp(own["time"]) == p.time == r.time
        assert j["host"]["name"] == p.host == r.host and j["event"]["risk_score"] == p.score == r.score


# ---- report and analyze-samples through the CLI -------------------------------------------------

def test_report_shows_the_real_lines_and_agreement(folder, tmp_path):
    d = tmp_path / "f"
    shutil.copytree(folder, d)
    proc = run_cli("report", "--processed-dir", str(d), "--top", "5", "--with-samples")
    assert proc.returncode == 0, proc.stderr.decode()
    data = json.loads((d / "report.json").read_text(encoding="utf-8"))
    md = (d / "report.md").read_text(encoding="utf-8")
    assert len(data["top"]) == 5
    for r in data["top"]:
        text = file_lines(r["source"])
        for x in r["lines"]:
            assert x["raw"] == text[x["line_no"] - 1]
            assert f"{x['line_no']}: {x['raw']}\n" in md
    keys = parsed(d)
    s = data["summary"]
    assert s["lines"] == 2000 and s["sources"] == 2 and s["unseen_lines"] == int((keys["template_id"] == -1).sum())
    assert s["anomalies"] == len((d / "anomalies.jsonl").read_text().splitlines())
    # novelty/deeplog agreement recomputed from the input files
    infer = pd.read_parquet(d / "deeplog_infer.parquet")
    seq = pd.read_parquet(d / "sequences.parquet").set_index("session")["source"]
    # an unexpected end of session (null line_no) points at the session's last line
    last = infer.dropna(subset=["line_no"]).groupby("session")["line_no"].last()
    infer["line_no"] = infer["line_no"].fillna(infer["session"].map(last))
    miss = set(zip(infer.loc[~infer["in_topk"], "session"].map(seq), infer.loc[~infer["in_topk"], "line_no"]))
    unseen = set(zip(keys.loc[keys["template_id"] == -1, "source"], keys.loc[keys["template_id"] == -1, "line_no"]))
    pair = next(a for a in data["agreement"] if (a["a"], a["b"]) == ("novelty", "deeplog"))
    assert pair["both"] == len(miss & unseen) and pair["either"] == len(miss | unseen)
    assert pair["jaccard"] == round(len(miss & unseen) / len(miss | unseen), 4)
    assert data["samples"] == "log_samples_analysis/anomaly_analysis_report.md"
    assert (d / data["samples"]).is_file()


def test_analyze_samples_gives_context_and_reasons(folder, table, tmp_path):
    d = tmp_path / "f"
    shutil.copytree(folder, d)
    proc = run_cli("analyze-samples", "--processed-dir", str(d), "--max-samples", "3", "--context-lines", "2")
    assert proc.returncode == 0, proc.stderr.decode()
    out = d / "log_samples_analysis"
    doc = json.loads((out / "anomaly_samples.json").read_text(encoding="utf-8"))
    md = (out / "anomaly_analysis_report.md").read_text(encoding="utf-8")
    assert len(doc["samples"]) == 3
    for s, r in zip(doc["samples"], table.itertuples()):
        text = file_lines(s["source"])
        numbers = [x["line_no"] for x in s["lines"]]
        first, last = r.line_nos[0], r.line_nos[-1]
        assert numbers == list(range(max(first - 2, 1), min(last + 2, len(text)) + 1))
        assert [x["line_no"] for x in s["lines"] if x["flagged"]] == list(r.line_nos)
        for x in s["lines"]:
            assert x["raw"] == text[x["line_no"] - 1]
            assert f"{'>>' if x['flagged'] else '  '} {x['line_no']}: {x['raw']}\n" in md
        assert s["explanation"] and all(isinstance(e, str) and e for e in s["explanation"])


def test_samples_name_deeplogs_expected_templates_when_the_infer_file_has_them(folder, tmp_path):
    # Contract of the optional `expected` column (vocab indices, most likely first): here each
    # prediction's own target, so the named template must be the vocab's string for it.
    from anomaly_log_detector.analyzers.samples import analyze_samples
    from anomaly_log_detector.builders.vocab import Vocab

    d = tmp_path / "f"
    shutil.copytree(folder, d)
    infer = pd.read_parquet(d / "deeplog_infer.parquet")
    infer["expected"] = [[int(x)] for x in infer["target"]]
    infer.to_parquet(d / "deeplog_infer.parquet")
    doc = json.loads(analyze_samples(d, max_samples=5)["samples_json"].read_text(encoding="utf-8"))
    names = Vocab.load(d / "vocab.json").strings()
    reasons = [(s, r) for s in doc["samples"] for r in s["reasons"] if r["detector"] == "deeplog"]
    assert reasons
    for sample, reason in reasons:
        expected = names[reason["params"]["expected"][0]]
        assert f"Expected next templates (most likely first): `{expected}`." in sample["explanation"]


def test_folder_without_anomalies_reports_none(tmp_path):
    log = shared_data("loghub_2k", "BGL", "corrected", "BGL_2k.log")
    run_cli("parse", "--input", str(log), "--out-dir", str(tmp_path), "--quiet", check=True)
    proc = run_cli("report", "--processed-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode()
    assert "No anomalies were found." in (tmp_path / "report.md").read_text()
    assert (tmp_path / "anomalies.jsonl").read_text() == ""
    assert pq.read_table(tmp_path / "anomalies.parquet").num_rows == 0


def test_bad_folders_give_one_line_errors(folder, tmp_path):
    assert "parsed.parquet: not found" in assert_one_line_error(run_cli("report", "--processed-dir", str(tmp_path)))
    # Results of another parse: DeepLog lines can no longer be placed without sequences.parquet.
    d = tmp_path / "f"
    shutil.copytree(folder, d)
    (d / "sequences.parquet").unlink()
    # deeplog_infer.parquet names each prediction's source: lines are still placed exactly...
    assert run_cli("analyze-samples", "--processed-dir", str(d)).returncode == 0
    # ... and without it, equal line numbers of different files cannot be told apart.
    pd.read_parquet(d / "deeplog_infer.parquet").drop(columns=["source"]).to_parquet(d / "deeplog_infer.parquet")
    err = assert_one_line_error(run_cli("analyze-samples", "--processed-dir", str(d)))
    assert "no source column, and the parse has several sources" in err
    shutil.copy(shared_data("loghub_2k", "HDFS", "corrected", "HDFS_2k.log"), tmp_path / "other.log")
    run_cli("parse", "--input", str(tmp_path / "other.log"), "--out-dir", str(tmp_path / "g"), "--quiet", check=True)
    shutil.copy(folder / "baseline_scores.parquet", tmp_path / "g")
    err = assert_one_line_error(run_cli("report", "--processed-dir", str(tmp_path / "g")))
    assert "is not in parsed.parquet (results from another parse?)" in err
    proc = run_cli("report", "--processed-dir", str(folder), "--lang", "xx")
    assert proc.returncode == 2 and b"Invalid value for '--lang': 'xx'" in proc.stderr

