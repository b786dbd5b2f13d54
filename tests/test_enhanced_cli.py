"""`alog-detect deeplog-infer-enhanced` end to end on a synthetic log: gen-synth -> parse -> build-deeplog
-> deeplog-train on a normal log, then the enhanced command on an anomalous one; and its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from anomaly_log_detector.alerts.engine import ALERT_COLUMNS, DETAIL_COLUMNS
from anomaly_log_detector.alerts.enhanced import ALERTS, DETAILED, SUMMARY
from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.cli import cli, main

ONE_THREAD = ["--threads", "1"]


def invoke(*args) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def run_main(capsys, *args) -> tuple[int, str]:
    """The console entry point in-process: (exit status, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in args])
    return exc.value.code, capsys.readouterr().err.strip()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("enhanced")
    invoke("gen-synth", "--out", d / "train.log", "--lines", 3000, "--anomaly-rate", 0, "--seed", 1)
    invoke("gen-synth", "--out", d / "test.log", "--lines", 2000, "--anomaly-rate", 0.1, "--seed", 2)
    invoke("parse", "--input", d / "train.log", "--out-dir", d / "train", "--drain-state", d / "drain.json", "-q")
    invoke("parse", "--input", d / "test.log", "--out-dir", d / "test", "--drain-state", d / "drain.json",
           "--frozen", "-q")
    invoke("build-deeplog", "--parsed", d / "train" / "parsed.parquet", "--out-dir", d / "train", "--session-by", "process")
    invoke("build-deeplog", "--parsed", d / "test" / "parsed.parquet", "--out-dir", d / "test", "--session-by", "process",
           "--vocab", d / "train" / "vocab.json")
    invoke("deeplog-train", "--seq", d / "train" / "sequences.parquet", "--out", d / "deeplog.pth", "--epochs", 2,
           "--hidden", 16, "--layers", 1, "--embed-dim", 8, "-q", *ONE_THREAD)
    return d


def test_alerts_carry_failed_predictions_as_evidence(work):
    out = work / "out"
    # --parsed and --vocab default to the files beside --seq.
    text = invoke("deeplog-infer-enhanced", "--seq", work / "test" / "sequences.parquet", "--model",
                  work / "deeplog.pth", "--top-k", 2, "--k-of-n-k", 2, "--k-of-n-n", 4, "--cooldown-seq", 30,
                  "--out-dir", out, *ONE_THREAD)  # no -q: it would silence the summary
    assert "alerts:" in text and str(out / ALERTS) in text
    alerts = pd.read_parquet(out / ALERTS)
    detailed = pd.read_parquet(out / DETAILED)
    summary = json.loads((out / SUMMARY).read_text())
    assert list(alerts.columns) == list(ALERT_COLUMNS)
    assert {"entity", "time", "order", "line_no", "source", "is_miss", "is_novel", "template", "expected",
            "raw", "score", *DETAIL_COLUMNS} <= set(detailed.columns)

    # Every event of every session is predicted, plus one end-of-session prediction per session.
    parsed = pd.read_parquet(work / "test" / "parsed.parquet", columns=["line_no", "host"])
    sessions = pd.read_parquet(work / "test" / "sequences.parquet", columns=["session"])
    assert len(detailed) == summary["predictions"] == len(parsed) + len(sessions)
    assert (detailed["order"].diff().dropna() >= 0).all()

    # A session's EOS prediction shares its last event's row (`order`), so an order may appear twice.
    failed = detailed[detailed["is_miss"] | detailed["is_novel"]].set_index("order")
    assert summary["alerts"] == len(alerts) <= summary["failed"] == (detailed["is_miss"] | detailed["is_novel"]).sum()
    assert summary["alerts_by_type"]["sequence"] > 0 and summary["alerts_by_type"]["novelty"] > 0
    for a in alerts.itertuples():
        rows = list(a.rows)
        assert set(rows) <= set(failed.index), a.alert_id
        assert a.failed_count == len(rows) and rows == sorted(rows)
        assert (failed.loc[sorted(set(rows)), "entity"] == a.entity).all()
        assert list(a.line_nos) == parsed["line_no"].iloc[rows].tolist()
        assert a.first_order == rows[0] and a.last_order == rows[-1] and a.first_time <= a.last_time
        assert 1 <= len(a.sample_raw) <= 3 and set(a.templates) <= set(failed.loc[rows, "template"])
        if a.type == "novelty":
            assert set(a.templates) == {"<UNSEEN>"}
    # Host is the entity: every alert is about one of the log's hosts.
    assert set(alerts["entity"]) <= set(parsed["host"])
    # A firing row points at its alert; the alert counts it.
    fired = detailed.dropna(subset=["alert_id"])
    assert set(fired["verdict"]) <= {"alert", "novel", "suppressed"}
    per_alert = fired.groupby("alert_id").size()
    assert (per_alert.reindex(alerts["alert_id"]).to_numpy() == alerts["suppressed_count"].to_numpy() + 1).all()
    assert summary["suppressed"] == (detailed["verdict"] == "suppressed").sum() == alerts["suppressed_count"].sum()
    # Expected templates are templates of the model's vocabulary (or its end-of-session key).
    vocab = set(Vocab.load(work / "train" / "vocab.json").templates) | {"<EOS>"}
    assert set(np.concatenate(alerts["expected_templates"].to_numpy())) <= vocab
    assert detailed.loc[detailed["is_miss"], "expected"].map(len).eq(3).all()


def test_entity_column_and_session_timeout(work):
    out = work / "out_session"
    invoke("deeplog-infer-enhanced", "--seq", work / "test" / "sequences.parquet", "--parsed",
           work / "test" / "parsed.parquet", "--model", work / "deeplog.pth", "--vocab", work / "train" / "vocab.json",
           "--entity-column", "session", "--session-timeout", 5, "--out-dir", out, "-q", *ONE_THREAD)
    summary = json.loads((out / SUMMARY).read_text())
    # parse had no --session-regex: the column is empty, so the DeepLog sessions (processes) are the entities.
    names = pd.read_parquet(work / "test" / "sequences.parquet", columns=["session"])["session"]
    assert summary["entities"] == len(names) and summary["entity_column"] == "session"
    assert set(pd.read_parquet(out / DETAILED, columns=["entity"])["entity"]) == set(names)
    assert summary["sessions"] > summary["entities"]   # 5 s of silence split some of them
    assert summary["settings"]["session_timeout"] == 5


def test_bad_inputs_are_one_line_errors(work, capsys, tmp_path):
    seq, model = work / "test" / "sequences.parquet", work / "deeplog.pth"
    base = ["deeplog-infer-enhanced", "--seq", seq, "--model", model, "--out-dir", tmp_path / "o"]

    parsed = pd.read_parquet(work / "test" / "parsed.parquet").drop(columns=["template"])
    parsed.to_parquet(tmp_path / "parsed.parquet")
    status, err = run_main(capsys, *base, "--parsed", tmp_path / "parsed.parquet")
    assert status == 2 and err.startswith("Error:") and len(err.splitlines()) == 1 and "template" in err

    templates = Vocab.load(work / "train" / "vocab.json").templates
    names = sorted(templates, key=templates.get)
    swapped = {**templates, names[0]: templates[names[1]], names[1]: templates[names[0]]}
    Vocab(swapped).save(tmp_path / "vocab.json")
    status, err = run_main(capsys, *base, "--vocab", tmp_path / "vocab.json")
    assert status == 2 and len(err.splitlines()) == 1 and "template indices differ" in err

    # The training log's sequences over the (shorter) test log's parsed file.
    status, err = run_main(capsys, "deeplog-infer-enhanced", "--seq", work / "train" / "sequences.parquet",
                           "--parsed", work / "test" / "parsed.parquet", "--model", model, "--out-dir", tmp_path / "o")
    assert status == 2 and len(err.splitlines()) == 1 and "built from" in err

    status, err = run_main(capsys, *base, "--k-of-n-k", 5, "--k-of-n-n", 3)
    assert status == 2 and len(err.splitlines()) == 1 and "k <= n" in err
    assert not (tmp_path / "o" / ALERTS).exists()
