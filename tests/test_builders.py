"""build-deeplog / build-mscred over logs parsed by the real parser."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from anomaly_log_detector.api import parse_logs
from anomaly_log_detector.builders.deeplog import build_deeplog_inputs, read_sequences
from anomaly_log_detector.builders.session_codes import NO_KEY_SESSION
from anomaly_log_detector.builders.mscred import build_mscred_inputs, read_window_counts, segment_windows
from anomaly_log_detector.builders.vocab import UNK, Vocab
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.fileio.schema import UNSEEN_TEMPLATE
from helpers import assert_one_line_error, run_cli, shared_data


@pytest.fixture(scope="module")
def hdfs(tmp_path_factory):
    """HDFS_2k parsed with block ids as sessions."""
    log = shared_data("loghub_2k", "HDFS", "corrected", "HDFS_2k.log")
    out = tmp_path_factory.mktemp("hdfs")
    parse_logs(str(log), str(out), session_regex=r"blk_-?\d+")
    return out / "parsed.parquet"


@pytest.fixture(scope="module")
def bgl_split(tmp_path_factory):
    """BGL_2k: first 1,200 lines parsed (state saved), last 800 parsed frozen against that state."""
    log = shared_data("loghub_2k", "BGL", "corrected", "BGL_2k.log")
    lines = log.read_text().splitlines(keepends=True)
    d = tmp_path_factory.mktemp("bgl")
    (d / "train.log").write_text("".join(lines[:1200]))
    (d / "test.log").write_text("".join(lines[1200:]))
    parse_logs(str(d / "train.log"), str(d / "train"), drain_state=str(d / "state.json"))
    parse_logs(str(d / "test.log"), str(d / "test"), drain_state=str(d / "state.json"), frozen=True)
    return d / "train" / "parsed.parquet", d / "test" / "parsed.parquet"


def test_sessions_by_block_id_account_for_every_line(hdfs, tmp_path):
    summary = build_deeplog_inputs(hdfs, tmp_path, session_by="session")
    parsed = pd.read_parquet(hdfs)
    seq = read_sequences(tmp_path / "sequences.parquet")
    vocab = Vocab.load(tmp_path / "vocab.json")

    expected_order = list(dict.fromkeys(parsed["session"].fillna(NO_KEY_SESSION)))
    assert seq["session"].tolist() == expected_order
    assert summary["sessions"] == len(expected_order) and summary["lines"] == len(parsed)
    all_rows = np.concatenate(seq["rows"].to_list())
    assert sorted(all_rows.tolist()) == list(range(len(parsed)))  # every line exactly once
    for _, s in seq.sample(20, random_state=0).iterrows():
        lines = parsed.iloc[s["rows"]]
        assert (lines["session"].fillna(NO_KEY_SESSION) == s["session"]).all()
        assert list(s["rows"]) == sorted(s["rows"])  # line order kept
        assert list(s["line_nos"]) == lines["line_no"].tolist()
        assert list(s["events"]) == [vocab.templates[t] for t in lines["template"]]
    assert seq["label"].isna().all() and (seq["source"] == str(parsed["source"].iloc[0])).all()
    assert vocab.size == 3 + parsed["template"].nunique()


def test_session_by_none_is_one_session_per_source(hdfs, tmp_path):
    build_deeplog_inputs(hdfs, tmp_path, session_by="none")
    seq = read_sequences(tmp_path / "sequences.parquet")
    parsed = pd.read_parquet(hdfs, columns=["source", "line_no"])
    assert seq["session"].tolist() == [parsed["source"].iloc[0]]
    assert list(seq["line_nos"].iloc[0]) == parsed["line_no"].tolist()


def test_lines_without_a_session_go_to_the_none_session(tmp_path):
    # Only negative block ids match, so the lines about positive ids have no session value.
    log = shared_data("loghub_2k", "HDFS", "corrected", "HDFS_2k.log")
    parse_logs(str(log), str(tmp_path / "p"), session_regex=r"blk_-\d+")
    summary = build_deeplog_inputs(tmp_path / "p" / "parsed.parquet", tmp_path, session_by="session")
    parsed = pd.read_parquet(tmp_path / "p" / "parsed.parquet", columns=["session", "line_no"])
    seq = read_sequences(tmp_path / "sequences.parquet").set_index("session")
    no_key = parsed["session"].isna()
    assert summary["lines_without_key"] == no_key.sum() > 0
    assert list(seq.loc[NO_KEY_SESSION, "line_nos"]) == parsed.loc[no_key, "line_no"].tolist()


def test_reused_vocab_keeps_indices_and_maps_unseen_to_unk(bgl_split, tmp_path):
    train, test = bgl_split
    build_deeplog_inputs(train, tmp_path / "train")
    summary = build_deeplog_inputs(test, tmp_path / "test", vocab_path=tmp_path / "train" / "vocab.json")
    assert (tmp_path / "test" / "vocab.json").read_bytes() == (tmp_path / "train" / "vocab.json").read_bytes()
    vocab = Vocab.load(tmp_path / "train" / "vocab.json")
    assert UNSEEN_TEMPLATE not in vocab.templates
    templates = pd.read_parquet(test, columns=["template"])["template"]
    events = np.asarray(read_sequences(tmp_path / "test" / "sequences.parquet")["events"].iloc[0])
    unseen = (templates == UNSEEN_TEMPLATE).to_numpy()
    assert unseen.any() and (events[unseen] == UNK).all()
    assert summary["unknown_events"] == int((events == UNK).sum()) == int((~templates.isin(vocab.templates)).sum())
    known = ~unseen
    assert (events[known] == [vocab.templates[t] for t in templates[known]]).all()


@pytest.mark.parametrize("n,expected", [(0, []), (30, [0]), (50, [0]), (100, [0, 25, 50]),
                                        (120, [0, 25, 50, 70]), (125, [0, 25, 50, 75])])
def test_window_starts_cover_every_line(n, expected):
    starts = segment_windows(n, 50, 25)
    assert starts.tolist() == expected


def test_window_counts_match_the_lines(hdfs, tmp_path):
    summary = build_mscred_inputs(hdfs, tmp_path, window_size=50, stride=25)
    wc = read_window_counts(tmp_path / "window_counts.parquet")
    parsed = pd.read_parquet(hdfs, columns=["line_no", "template"])
    vocab = Vocab.load(tmp_path / "vocab.json")
    counts = wc[[f"t{i}" for i in range(vocab.size)]].to_numpy()
    assert summary["windows"] == len(wc) == 79  # 2,000 lines: starts 0, 25, ..., 1950
    assert (counts.sum(axis=1) == wc["n_lines"]).all() and (wc["n_lines"] == 50).all()
    assert wc["end_row"].iloc[-1] == len(parsed) and wc["end_line"].iloc[-1] == parsed["line_no"].iloc[-1]
    for _, w in wc.sample(10, random_state=1).iterrows():
        lines = parsed.iloc[w["start_row"]:w["end_row"]]
        assert w["start_line"] == lines["line_no"].iloc[0] and w["end_line"] == lines["line_no"].iloc[-1]
        direct = np.bincount([vocab.templates[t] for t in lines["template"]], minlength=vocab.size)
        assert (counts[w["window"]] == direct).all()
    assert counts[:, [0, 1, 2]].sum() == 0


def test_window_counts_with_training_vocab_count_unknown_in_t1(bgl_split, tmp_path):
    train, test = bgl_split
    build_mscred_inputs(train, tmp_path / "train", window_size=40, stride=40)
    build_mscred_inputs(test, tmp_path / "test", window_size=40, stride=40, vocab_path=tmp_path / "train" / "vocab.json")
    wc = read_window_counts(tmp_path / "test" / "window_counts.parquet")
    vocab = Vocab.load(tmp_path / "train" / "vocab.json")
    templates = pd.read_parquet(test, columns=["template"])["template"]
    assert wc["t1"].sum() == (~templates.isin(vocab.templates)).sum() > 0
    assert [c for c in wc.columns if c.startswith("t") and c[1:].isdigit()] == [f"t{i}" for i in range(vocab.size)]


def test_bad_parsed_inputs_are_one_line_errors(hdfs, tmp_path):
    no_template = tmp_path / "no_template.parquet"
    pq.write_table(pq.read_table(hdfs, columns=["line_no", "source"]), no_template)
    empty = tmp_path / "empty.parquet"
    pq.write_table(pq.read_table(hdfs).slice(0, 0), empty)
    text = tmp_path / "parsed.parquet"
    text.write_text("line_no,template\n1,x\n")
    for path, needle in ((no_template, r"missing column\(s\) template"), (empty, "no rows"), (text, "not a Parquet")):
        for build in (build_deeplog_inputs, build_mscred_inputs):
            with pytest.raises(DataError, match=needle):
                build(path, tmp_path / "o")
    err = assert_one_line_error(run_cli("build-mscred", "--parsed", str(empty), "--out-dir", str(tmp_path / "o")))
    assert "no rows" in err
    err = assert_one_line_error(run_cli("build-deeplog", "--parsed", str(hdfs), "--out-dir", str(tmp_path / "o"),
                                        "--session-by", "host"))
    assert "empty on every line" in err
    bad_vocab = tmp_path / "vocab.json"
    bad_vocab.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(DataError, match="not an alog-detect vocab"):
        build_mscred_inputs(hdfs, tmp_path / "o", vocab_path=bad_vocab)
    with pytest.raises(DataError, match="must be >= 1"):
        build_mscred_inputs(hdfs, tmp_path / "o", window_size=0)


def test_cli_build_deeplog_writes_both_files(hdfs, tmp_path):
    proc = run_cli("build-deeplog", "--parsed", str(hdfs), "--out-dir", str(tmp_path), "--session-by", "session",
                   check=True)
    out = proc.stdout.decode()
    assert "sessions:" in out and (tmp_path / "sequences.parquet").exists() and (tmp_path / "vocab.json").exists()
