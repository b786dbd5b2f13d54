"""DeepLog inputs: one event sequence per session (`sequences.parquet`) over a template vocabulary.

`sequences.parquet` has one row per session, in order of first appearance:

| column   | type          | meaning                                                                 |
|----------|---------------|-------------------------------------------------------------------------|
| session  | string        | session name                                                            |
| events   | list<int32>   | vocab indices in line order (unknown template -> UNK = 1)               |
| line_nos | list<int64>   | 1-based line numbers within the source (empty when imported)            |
| rows     | list<int64>   | 0-based row positions in `parsed.parquet` (empty when imported)         |
| source   | string (null) | the source of every line of the session; null when lines span sources   |
| label    | int8 (null)   | 0 normal, 1 anomaly, null unknown                                       |

Imported benchmark files may add columns (e.g. `split`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.builders.session_codes import NO_KEY_SESSION, session_codes
from anomaly_log_detector.builders.string_codes import compact_codes, string_codes
from anomaly_log_detector.builders.vocab import UNK, Vocab
from anomaly_log_detector.fileio.parquetio import read_parquet_checked
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.fileio.schema import UNSEEN_TEMPLATE

SEQUENCE_COLUMNS = ("session", "events", "line_nos", "rows", "source", "label")

SEQUENCES_SCHEMA = pa.schema([
    ("session", pa.string()),
    ("events", pa.list_(pa.int32())),
    ("line_nos", pa.list_(pa.int64())),
    ("rows", pa.list_(pa.int64())),
    ("source", pa.string()),
    ("label", pa.int8()),
])


def parsed_columns(path: str | os.PathLike, required: Iterable[str]) -> set[str]:
    """The column names of a `parsed.parquet` after checking it has `required`; DataError when the
    file is missing, not Parquet or lacks a required column."""
    try:
        names = set(pq.read_schema(path).names)
    except FileNotFoundError:
        raise DataError(f"{path}: parsed file not found") from None
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{path}: not a Parquet file ({exc})") from None
    missing = [c for c in required if c not in names]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} (is this a parsed.parquet?)")
    return names


def read_parsed(path: str | os.PathLike, columns: Iterable[str], optional: Iterable[str] = ()) -> pd.DataFrame:
    """Read the needed columns of a `parsed.parquet`; DataError when missing, empty or not Parquet."""
    columns, optional = list(columns), list(optional)
    names = parsed_columns(path, columns)
    df = pq.read_table(path, columns=columns + [c for c in optional if c in names]).to_pandas()
    if df.empty:
        raise DataError(f"{path}: no rows (empty parsed file)")
    return df


def template_vocab(templates: Iterable[str | None]) -> Vocab:
    """A fresh vocabulary over parsed templates; `<UNSEEN>` and nulls stay out (they encode to UNK)."""
    return Vocab.build(t for t in templates if t is not None and t != UNSEEN_TEMPLATE)


def encode_templates(vocab: Vocab, templates: pd.Series) -> np.ndarray:
    """Vocab index per line; `<UNSEEN>` maps to UNK even if a vocab was built with it by mistake."""
    # Each distinct template is looked up once (a million lines hold a few hundred templates); a
    # null template (code -1) takes the table's last entry, UNK.
    codes, uniques = pd.factorize(templates, sort=False)
    names = list(uniques)
    table = np.asarray(vocab.encode(names) + [UNK], dtype=np.int32)
    table[[i for i, name in enumerate(names) if name == UNSEEN_TEMPLATE]] = UNK
    return table[codes]


def group_sequences(keys: pd.Series, events: np.ndarray, line_nos: np.ndarray,
                    sources: pd.Series) -> pa.Table:
    """Group lines into sessions (order of first appearance, lines kept in input order)."""
    codes, names = pd.factorize(keys, sort=False)
    return group_codes(codes, [str(n) for n in names], events, line_nos, sources)


def group_codes(codes: np.ndarray, names: list[str], events: np.ndarray, line_nos: np.ndarray,
                sources: pd.Series) -> pa.Table:
    """:func:`group_sequences` of lines whose keys are given as codes (0.., numbered by first
    appearance) and the names of the codes (builders/session_codes.py)."""
    order = np.argsort(compact_codes(codes, len(names)), kind="stable")
    counts = np.bincount(codes, minlength=len(names))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    offs = pa.array(offsets, pa.int32())
    # A session's source: the one source of all its lines, else null (a null source is one value).
    src_code, src_names = string_codes(sources)  # null -> -1
    src_code = src_code[order]
    session_source: list[str | None] = [None] * len(names)
    if len(names):
        lo = np.minimum.reduceat(src_code, offsets[:-1])
        hi = np.maximum.reduceat(src_code, offsets[:-1])
        session_source = [src_names[a] if a == b and a >= 0 else None for a, b in zip(lo.tolist(), hi.tolist())]
    del src_code
    return pa.Table.from_arrays([
        pa.array(names, pa.string()),
        pa.ListArray.from_arrays(offs, pa.array(np.asarray(events)[order], pa.int32())),
        pa.ListArray.from_arrays(offs, pa.array(np.asarray(line_nos)[order], pa.int64())),
        pa.ListArray.from_arrays(offs, pa.array(order.astype(np.int64, copy=False), pa.int64())),
        pa.array(session_source, pa.string()),
        pa.nulls(len(names), pa.int8()),
    ], schema=SEQUENCES_SCHEMA)


def write_sequences(table: pa.Table, path: str | os.PathLike) -> None:
    """Write a sequences table atomically (a reader never sees a half-written file)."""
    tmp = f"{path}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def read_sequences(path: str | os.PathLike) -> pd.DataFrame:
    """Read and check a `sequences.parquet` (columns above; extra columns kept)."""
    table = read_parquet_checked(path, "sequences.parquet", SEQUENCE_COLUMNS)
    if not pa.types.is_list(table.schema.field("events").type):
        raise DataError(f"{path}: column 'events' must be a list of integers")
    df = table.to_pandas()
    df["label"] = df["label"].astype("Int8")  # nullable: unknown labels stay <NA>, not NaN floats
    return df


def build_deeplog_inputs(parsed_path: str | os.PathLike, out_dir: str | os.PathLike,
                         session_by: str = "none", vocab_path: str | os.PathLike | None = None,
                         session_gap: float | None = None) -> dict:
    """Write `sequences.parquet` and `vocab.json` into `out_dir`; return a summary dict.

    With `vocab_path` the existing vocabulary is reused (templates not in it encode to UNK) and copied
    into `out_dir`, so the folder is self-contained; otherwise a new one is built from these templates.
    """
    df = read_parsed(parsed_path, ["line_no", "source", "template"],
                     optional=["host", "process", "pid", "session", "timestamp"])
    codes, names = session_codes(df, session_by, session_gap)
    vocab = Vocab.load(vocab_path) if vocab_path else template_vocab(df["template"].unique())
    events = encode_templates(vocab, df["template"])
    table = group_codes(codes, names, events, df["line_no"].to_numpy(np.int64), df["source"])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_sequences(table, out / "sequences.parquet")
    vocab.save(out / "vocab.json")
    lengths = np.diff(table.column("events").combine_chunks().offsets.to_numpy())
    # The table's rows are the sessions in code order: the lines of the keyless sessions.
    keyless = [i for i, name in enumerate(names) if name.startswith(NO_KEY_SESSION)]
    return {
        "sequences": str(out / "sequences.parquet"),
        "vocab": str(out / "vocab.json"),
        "vocab_reused": vocab_path is not None,
        "session_by": session_by,
        "lines": int(len(df)),
        "sessions": int(table.num_rows),
        "lines_without_key": int(lengths[keyless].sum()) if session_by != "none" else 0,
        "session_gap": session_gap,
        "unknown_events": int((events == UNK).sum()),
        "vocab_size": vocab.size,
        "session_length": {"min": int(lengths.min()), "median": float(np.median(lengths)),
                           "max": int(lengths.max())},
    }
