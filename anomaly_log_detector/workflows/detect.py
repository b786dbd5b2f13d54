"""Run a trained model's detectors over a processed folder (one with `parsed.parquet`).

Writes what the reports read (docs/reports.md): `baseline_scores.parquet`, `sequences.parquet` and
`vocab.json` (the model's vocabulary), `deeplog_infer.parquet` and `deeplog_sessions.parquet`. All of it
is columnar (numpy / pandas / Arrow); DeepLog scores each distinct window once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.builders.deeplog import (
    encode_templates, group_sequences, read_parsed, session_keys, write_sequences,
)
from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.reports.inputs import BASELINE, DEEPLOG_INFER, DEEPLOG_SESSIONS, PARSED, SEQUENCES, VOCAB
from anomaly_log_detector.workflows.model import TrainedModel

# Columns of parsed.parquet the detectors use (`level` for the baseline's severity; the grouping
# columns for sessions).
LINE_COLUMNS = ["line_no", "source", "template"]
OPTIONAL_COLUMNS = ["level", "host", "process", "session"]
#: Every file :func:`run_detectors` writes (removed first, so no stale result of an earlier run is mixed in).
RESULT_FILES = (BASELINE, SEQUENCES, VOCAB, DEEPLOG_INFER, DEEPLOG_SESSIONS)


def read_lines(parsed_path: str | os.PathLike) -> pd.DataFrame:
    """The parsed lines the detectors need (templates as strings; text columns are not read)."""
    return read_parsed(parsed_path, LINE_COLUMNS, optional=OPTIONAL_COLUMNS)


def sequences(lines: pd.DataFrame, vocab: Vocab, session_by: str) -> pa.Table:
    """The lines grouped into DeepLog sessions over `vocab` (`sequences.parquet` rows). When the
    grouping column is empty on every line (a target whose headers did not match), each source file is
    one sequence instead of an error: the lines are still scored."""
    if session_by != "none" and (session_by not in lines.columns or lines[session_by].isna().all()):
        session_by = "none"
    keys = session_keys(lines, session_by)
    events = encode_templates(vocab, lines["template"])
    return group_sequences(keys, events, lines["line_no"].to_numpy(), lines["source"])


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
    os.replace(tmp, path)


def run_detectors(processed_dir: str | os.PathLike, model: TrainedModel) -> dict[str, Any]:
    """Score the folder's parsed lines with every detector of `model`; return counts and timings."""
    d = Path(processed_dir)
    for name in RESULT_FILES:
        (d / name).unlink(missing_ok=True)
    lines = read_lines(d / PARSED)
    started = time.perf_counter()
    windows = model.baseline.score_windows(lines)
    _write_parquet(windows, d / BASELINE)
    out: dict[str, Any] = {"lines": int(len(lines)), "baseline": {
        "windows": int(len(windows)), "flagged_windows": int(windows["is_anomaly"].sum()),
        "seconds": round(time.perf_counter() - started, 3)}}
    if model.deeplog is None:
        return out
    started = time.perf_counter()
    table = sequences(lines, model.vocab, model.session_by)
    write_sequences(table, d / SEQUENCES)
    model.vocab.save(d / VOCAB)
    seq = table.to_pandas()
    scores = model.deeplog.evaluate(seq)
    per_window, per_session = model.deeplog.tables(seq, scores)
    _write_parquet(per_window, d / DEEPLOG_INFER)
    _write_parquet(per_session, d / DEEPLOG_SESSIONS)
    out["deeplog"] = {
        "sessions": int(len(per_session)), "flagged_sessions": int(per_session["is_anomaly"].sum()),
        "predictions": int(len(per_window)), "distinct_windows": int(scores.distinct_windows),
        "misses": int((~per_window["in_topk"]).sum()), "novel": int(per_window["is_novel"].sum()),
        "seconds": round(time.perf_counter() - started, 3)}
    return out
