"""Import public benchmark session files into `sequences.parquet` (see builders/deeplog.py).

Formats:

* ``deeplog`` — DeepLog's ``hdfs_train`` style: one session per line, space-separated event keys.
  Session name ``<file name>:<line number>``.
* ``ait`` — ``<id>,<space-separated keys>`` per line (ait-aecid ``hadoop_loghub`` files); the id is
  the session name.
* ``blocks-csv`` — a CSV with header ``BlockId,Label,Split,EventSequence`` (``Label`` Normal/Anomaly and
  ``Split`` optional): labels come from ``Label``, ``Split`` is kept as a ``split`` column.

The vocabulary "template string" of a key is the key itself (``T05``, ``17``), or with a templates file
the template text: a CSV with an ``EventId,EventTemplate`` header (``HDFS_100k.templates.csv``), or a
plain file with one template per line where key ``n`` is line ``n`` (``Hadoop_templates.csv``).
Blank lines of deeplog/ait files are skipped and counted; every other malformed line is an error
(DataError naming the file and line: never another exception, whatever the file holds).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np
import pyarrow as pa

from anomaly_log_detector.builders.deeplog import SEQUENCES_SCHEMA, write_sequences
from anomaly_log_detector.builders.vocab import UNK, Vocab
from anomaly_log_detector.errors import DataError

FORMATS = ("deeplog", "ait", "blocks-csv")
LABELS = {"normal": 0, "anomaly": 1}
# `Label` values of loglizer-style CSVs (compared lower-case).
CSV_LABELS = {"normal": 0, "anomaly": 1, "0": 0, "1": 1}


def _read_text(path: str | os.PathLike) -> str:
    try:
        with open(path, encoding="utf-8", newline="") as f:
            return f.read()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None


def _lines(text: str) -> list[str]:
    return [line.rstrip("\r") for line in text.split("\n")]


def _csv_rows(path: str | os.PathLike, text: str,
             need: tuple[str, ...]) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header and (line number, row) of a CSV whose header has the columns `need`; every row
    holds those columns (DataError otherwise, also for what the csv module cannot read)."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fields = reader.fieldnames or []
        if not set(need) <= set(fields):
            raise DataError(f"{path}: CSV needs the columns {', '.join(need)} (has {', '.join(fields) or 'none'})")
        rows = []
        for row in reader:
            if any(row.get(name) is None for name in need):
                raise DataError(f"{path}:{reader.line_num}: a row without {', '.join(need)} fields")
            rows.append((reader.line_num, row))
    except csv.Error as exc:  # NUL bytes, an over-long field, a stray CR inside a field
        raise DataError(f"{path}:{reader.line_num}: not a readable CSV ({exc})") from None
    return fields, rows


def read_templates_file(path: str | os.PathLike) -> dict[str, str]:
    """Key -> template text, from an `EventId,EventTemplate` CSV or a one-template-per-line file."""
    text = _read_text(path)
    if text.startswith("EventId,"):
        _, rows = _csv_rows(path, text, ("EventId", "EventTemplate"))
        if not rows:
            raise DataError(f"{path}: no templates")
        return {r["EventId"]: r["EventTemplate"] for _, r in rows}
    lines = _lines(text)
    if lines and lines[-1] == "":
        lines.pop()  # the final newline does not start a template
    if not lines:
        raise DataError(f"{path}: no templates")
    return {str(i): t for i, t in enumerate(lines, start=1)}


def _parse_line_sessions(path: str | os.PathLike, fmt: str) -> tuple[list[str], list[list[str]], int]:
    """Sessions of a deeplog/ait file: (names, key lists, blank lines skipped)."""
    names, keys, blank = [], [], 0
    base = Path(path).name
    text = _read_text(path)
    lines = _lines(text)
    if text.endswith("\n"):
        lines.pop()  # the final newline does not start a line
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            blank += 1
            continue
        if fmt == "ait":
            sid, sep, seq = line.partition(",")
            if not sep or not sid:
                raise DataError(f"{path}:{n}: expected '<id>,<keys>' (ait format)")
        else:
            if "," in line:
                raise DataError(f"{path}:{n}: comma in a deeplog-format line (is this the ait format?)")
            sid, seq = f"{base}:{n}", line
        names.append(sid)
        keys.append(seq.split())
    return names, keys, blank


def _parse_blocks_csv(path: str | os.PathLike) -> tuple[list[str], list[list[str]], list, list]:
    """Sessions of a `BlockId,Label,Split,EventSequence` CSV: (names, keys, labels, splits)."""
    fields, rows = _csv_rows(path, _read_text(path), ("BlockId", "EventSequence"))
    names, keys, labels, splits = [], [], [], []
    for n, row in rows:
        label = (row.get("Label") or "").strip().lower()
        if "Label" in fields and label not in CSV_LABELS:
            raise DataError(f"{path}:{n}: unknown Label {row.get('Label')!r} (expected Normal or Anomaly)")
        names.append(row["BlockId"])
        keys.append((row["EventSequence"] or "").split())
        labels.append(CSV_LABELS[label] if "Label" in fields else None)
        splits.append(row.get("Split") if "Split" in fields else None)
    if not names:
        raise DataError(f"{path}: no sessions")
    return names, keys, labels, splits if "Split" in fields else []


def import_sequences(input_path: str | os.PathLike, fmt: str, out_path: str | os.PathLike,
                     label: str | None = None, vocab_path: str | os.PathLike | None = None,
                     templates_path: str | os.PathLike | None = None) -> dict:
    """Convert a benchmark session file into `out_path` (sequences.parquet); return a summary.

    Without `vocab_path`, a new `vocab.json` is written beside `out_path`; with it, its indices are
    reused and keys it lacks encode to UNK (import a test set with its training set's vocab).
    """
    if fmt not in FORMATS:
        raise DataError(f"unknown import format {fmt!r} (choose from {', '.join(FORMATS)})")
    if label is not None and label not in LABELS:
        raise DataError(f"unknown label {label!r} (choose normal or anomaly)")
    blank, splits = 0, []
    if fmt == "blocks-csv":
        if label is not None:
            raise DataError("blocks-csv files carry their own Label column; drop --label")
        names, keys, labels, splits = _parse_blocks_csv(input_path)
    else:
        names, keys, blank = _parse_line_sessions(input_path, fmt)
        if not names:
            raise DataError(f"{input_path}: no sessions")
        labels = [LABELS[label] if label else None] * len(names)
    if len(set(names)) != len(names):
        raise DataError(f"{input_path}: duplicate session ids")

    strings = keys
    if templates_path is not None:
        table = read_templates_file(templates_path)
        unknown = sorted({k for ks in keys for k in ks} - table.keys())
        if unknown:
            raise DataError(f"{input_path}: key(s) {', '.join(unknown[:5])} not in templates file {templates_path}")
        strings = [[table[k] for k in ks] for ks in keys]
    vocab = Vocab.load(vocab_path) if vocab_path else Vocab.build(s for ss in strings for s in ss)
    lengths = np.array([len(s) for s in strings], dtype=np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32), pa.int32())
    events = np.asarray(vocab.encode(s for ss in strings for s in ss), dtype=np.int32)
    empty = pa.ListArray.from_arrays(pa.array(np.zeros(len(names) + 1, np.int32)), pa.array([], pa.int64()))
    arrays = [pa.array(names, pa.string()), pa.ListArray.from_arrays(offsets, pa.array(events, pa.int32())),
              empty, empty, pa.nulls(len(names), pa.string()), pa.array(labels, pa.int8())]
    schema = SEQUENCES_SCHEMA
    if splits:
        arrays.append(pa.array(splits, pa.string()))
        schema = schema.append(pa.field("split", pa.string()))
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_sequences(pa.Table.from_arrays(arrays, schema=schema), out)
    if not vocab_path:
        vocab.save(out.parent / "vocab.json")
    label_arr = np.array([-1 if v is None else v for v in labels])
    summary = {
        "sequences": str(out),
        "vocab": str(vocab_path or out.parent / "vocab.json"),
        "vocab_reused": vocab_path is not None,
        "format": fmt,
        "sessions": len(names),
        "events": int(len(events)),
        "unknown_events": int((events == UNK).sum()),
        "empty_sessions": int((lengths == 0).sum()),
        "blank_lines_skipped": blank,
        "vocab_size": vocab.size,
        "labels": {"normal": int((label_arr == 0).sum()), "anomaly": int((label_arr == 1).sum()),
                   "unknown": int((label_arr == -1).sum())},
    }
    if splits:
        summary["splits"] = {s: splits.count(s) for s in sorted({s for s in splits if s is not None})}
    return summary
