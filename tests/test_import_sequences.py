"""import-sequences over the public benchmark session files in ../shared/data."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from anomaly_log_detector.builders.deeplog import read_sequences
from anomaly_log_detector.builders.importers import import_sequences
from anomaly_log_detector.builders.vocab import UNK, Vocab
from anomaly_log_detector.errors import DataError
from helpers import assert_one_line_error, run_cli, shared_data


def _blocks():
    path = shared_data("hdfs_labeled", "HDFS_100k.block_sessions.csv")
    with open(path, newline="") as f:
        return path, list(csv.DictReader(f))


def _ait(name):
    path = shared_data("hadoop_labeled_sequences", name)
    rows = [line.split(",", 1) for line in path.read_text().splitlines()]
    return path, {sid: keys.split() for sid, keys in rows}


def test_blocks_csv_keeps_labels_split_and_keys(tmp_path):
    path, rows = _blocks()
    summary = import_sequences(path, "blocks-csv", tmp_path / "sequences.parquet")
    seq = read_sequences(tmp_path / "sequences.parquet")
    strings = Vocab.load(tmp_path / "vocab.json").strings()
    assert seq["session"].tolist() == [r["BlockId"] for r in rows]
    assert seq["label"].tolist() == [int(r["Label"] == "Anomaly") for r in rows]
    assert seq["split"].tolist() == [r["Split"] for r in rows]
    assert summary["labels"]["anomaly"] == sum(r["Label"] == "Anomaly" for r in rows)
    for i in (0, 17, len(rows) - 1):
        assert [strings[e] for e in seq["events"].iloc[i]] == rows[i]["EventSequence"].split()
    assert all(len(x) == 0 for x in seq["line_nos"]) and all(len(x) == 0 for x in seq["rows"])
    assert seq["source"].isna().all()


def test_ait_test_set_with_training_vocab_maps_new_keys_to_unk(tmp_path):
    train_path, train = _ait("hadoop_train")
    test_path, test = _ait("hadoop_test_normal")
    import_sequences(train_path, "ait", tmp_path / "train.parquet", label="normal")
    summary = import_sequences(test_path, "ait", tmp_path / "test.parquet", label="normal",
                               vocab_path=tmp_path / "vocab.json")
    vocab = Vocab.load(tmp_path / "vocab.json")
    seq = read_sequences(tmp_path / "test.parquet")
    train_keys = {k for ks in train.values() for k in ks}
    new = sum(k not in train_keys for ks in test.values() for k in ks)
    assert summary["unknown_events"] == new > 0
    assert seq["session"].tolist() == list(test) and (seq["label"] == 0).all()
    first = seq.iloc[0]
    assert list(first["events"]) == [vocab.templates.get(k, UNK) for k in test[first["session"]]]


def test_templates_file_gives_template_text(tmp_path):
    path, seqs = _ait("hadoop_train")
    templates_file = shared_data("hadoop_labeled_sequences", "Hadoop_templates.csv")
    templates = templates_file.read_text().splitlines()
    import_sequences(path, "ait", tmp_path / "s.parquet", templates_path=templates_file)
    strings = Vocab.load(tmp_path / "vocab.json").strings()
    seq = read_sequences(tmp_path / "s.parquet")
    sid = seq["session"].iloc[3]
    assert [strings[e] for e in seq["events"].iloc[3]] == [templates[int(k) - 1] for k in seqs[sid]]


def test_hdfs_templates_csv_and_deeplog_format(tmp_path):
    # A DeepLog-style file (one session per line, integer keys) made from the real HDFS block sessions.
    _, rows = _blocks()
    lines = [" ".join(str(int(k[1:])) for k in r["EventSequence"].split()) for r in rows[:300]]
    src = tmp_path / "hdfs_train"
    src.write_text("\n".join(lines[:150]) + "\n\n" + "\n".join(lines[150:]) + "\n")
    ids = tmp_path / "templates.csv"
    hdfs_templates = shared_data("hdfs_labeled", "HDFS_100k.templates.csv")
    with open(hdfs_templates, newline="") as f:
        table = list(csv.DictReader(f))
    ids.write_text("EventId,EventTemplate\n" + "".join(f"{int(t['EventId'][1:])},\"{t['EventTemplate']}\"\n"
                                                        for t in table))
    summary = import_sequences(src, "deeplog", tmp_path / "s.parquet", label="anomaly", templates_path=ids)
    seq = read_sequences(tmp_path / "s.parquet")
    text = {t["EventId"]: t["EventTemplate"] for t in table}
    strings = Vocab.load(tmp_path / "vocab.json").strings()
    assert summary["sessions"] == 300 and summary["blank_lines_skipped"] == 1
    assert seq["session"].iloc[150] == "hdfs_train:152"  # names carry the file's line number
    assert [strings[e] for e in seq["events"].iloc[200]] == [text[k] for k in rows[200]["EventSequence"].split()]
    assert (seq["label"] == 1).all()


def test_bad_session_files_are_data_errors(tmp_path):
    path, _ = _ait("hadoop_train")
    with pytest.raises(DataError, match="comma in a deeplog-format line"):
        import_sequences(shared_data("hdfs_labeled", "HDFS_2k.anomaly_label.csv"), "deeplog", tmp_path / "x.parquet")
    broken = tmp_path / "broken"
    broken.write_text("app_1/c_1,1 2 3\nno comma here\n")
    with pytest.raises(DataError, match=r"broken:2: expected"):
        import_sequences(broken, "ait", tmp_path / "x.parquet")
    bad_label = tmp_path / "blocks.csv"
    bad_label.write_text("BlockId,Label,EventSequence\nblk_1,Normal,T01\nblk_2,Weird,T02\n")
    with pytest.raises(DataError, match="unknown Label 'Weird'"):
        import_sequences(bad_label, "blocks-csv", tmp_path / "x.parquet")
    with pytest.raises(DataError, match="carry their own Label"):
        import_sequences(bad_label, "blocks-csv", tmp_path / "x.parquet", label="normal")
    few = tmp_path / "few_templates"
    few.write_text("only one template\n")
    with pytest.raises(DataError, match="not in templates file"):
        import_sequences(path, "ait", tmp_path / "x.parquet", templates_path=few)
    empty = tmp_path / "empty"
    empty.write_text("\n\n")
    with pytest.raises(DataError, match="no sessions"):
        import_sequences(empty, "deeplog", tmp_path / "x.parquet")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataError, match="not UTF-8"):
        import_sequences(binary, "deeplog", tmp_path / "x.parquet")


def test_cli_import_and_one_line_errors(tmp_path):
    path, rows = _blocks()
    proc = run_cli("import-sequences", "--input", str(path), "--format", "blocks-csv",
                   "--out", str(tmp_path / "s.parquet"), check=True)
    assert "splits: test" in proc.stdout.decode() and (tmp_path / "vocab.json").exists()
    train_path, _ = _ait("hadoop_train")
    err = assert_one_line_error(run_cli("import-sequences", "--input", str(train_path), "--format", "deeplog",
                                        "--out", str(tmp_path / "x.parquet")))
    assert "comma in a deeplog-format line" in err
    err = assert_one_line_error(run_cli("import-sequences", "--input", str(train_path), "--format", "ait",
                                        "--out", str(tmp_path / "x.parquet"), "--vocab", str(path)))
    assert "cannot read vocab" in err
    seq = read_sequences(tmp_path / "s.parquet")
    assert len(seq) == len(rows) and np.array_equal(seq["label"].to_numpy(int), [r["Label"] == "Anomaly" for r in rows])
