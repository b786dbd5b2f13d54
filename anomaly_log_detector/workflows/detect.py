"""Run a trained model's detectors over a processed folder (one with `parsed.parquet`).

Writes what the reports read (docs/reports.md): `baseline_scores.parquet`, `sequences.parquet` and
`vocab.json` (the model's vocabulary), `deeplog_infer.parquet` and `deeplog_sessions.parquet`, the
DeepLog Enhanced alerts `deeplog_alerts.parquet` + `deeplog_summary.json` (alerts/engine.py), and the
alerting layer's verdicts `line_alerts.parquet` (every line it scores above 0), and MS-CRED's
`mscred_infer.parquet` + `mscred_residuals.npz` over the bundle's line windows. All of it is columnar
(numpy / pandas / Arrow); DeepLog scores each distinct window once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.builders.deeplog import encode_templates, read_parsed, write_sequences
from anomaly_log_detector.builders.session_codes import entity_categories
from anomaly_log_detector.builders.vocab import PAD, UNK, Vocab
from anomaly_log_detector.detectors.windows import arrow_lists
from anomaly_log_detector.fileio.jsonio import write_json_atomic
from anomaly_log_detector.reports.inputs import (
    BASELINE, DEEPLOG_ALERTS, DEEPLOG_INFER, DEEPLOG_SESSIONS, DEEPLOG_SUMMARY, FLOWS_INFER, LINE_ALERTS, MSCRED_INFER,
    MSCRED_RESIDUALS, PARSED, SEQUENCES, TEMPLATE_COUNTS, VOCAB,
)
from anomaly_log_detector.fileio.schema import UNSEEN_ID
from anomaly_log_detector.reports.anomalies import DEFAULT_GAP, INCIDENTS, STORM_GAP
from anomaly_log_detector.workflows.memory import release_memory, trim_heap
from anomaly_log_detector.workflows.model import TrainedModel

# Columns of parsed.parquet the detectors use (`level` for the baseline's severity; the grouping
# columns for sessions).
LINE_COLUMNS = ["line_no", "source", "template"]
OPTIONAL_COLUMNS = ["level", "host", "process", "pid", "session", "timestamp"]
#: Every file :func:`run_detectors` writes (removed first, so no stale result of an earlier run is mixed in).
RESULT_FILES = (BASELINE, SEQUENCES, VOCAB, DEEPLOG_INFER, DEEPLOG_SESSIONS, DEEPLOG_ALERTS, DEEPLOG_SUMMARY,
                LINE_ALERTS, TEMPLATE_COUNTS, MSCRED_INFER, MSCRED_RESIDUALS, INCIDENTS, FLOWS_INFER)


def read_lines(parsed_path: str | os.PathLike) -> pd.DataFrame:
    """The parsed lines the detectors need (templates as strings; text columns are not read)."""
    return read_parsed(parsed_path, LINE_COLUMNS, optional=OPTIONAL_COLUMNS)


def sequences(lines: pd.DataFrame, vocab: Vocab, session_by: str, gap: float | None = None) -> pa.Table:
    """The lines grouped into DeepLog sessions over `vocab` (`sequences.parquet` rows), cut at `gap`
    seconds of quiet. When the grouping column(s) are empty on every line (a target whose headers did
    not match), each source file is one sequence instead of an error: the lines are still scored."""
    from anomaly_log_detector.builders.deeplog import group_codes
    from anomaly_log_detector.builders.session_codes import session_codes
    from anomaly_log_detector.builders.string_codes import string_codes

    columns = ["host", "process"] if session_by == "entity" else [session_by]
    if session_by != "none" and not any(c in lines.columns and lines[c].notna().any() for c in columns):
        session_by = "none"
    # Integer codes of the session keys (builders/session_codes.py): no key string per line.
    session, names = session_codes(lines, session_by, gap)
    events = encode_templates(vocab, lines["template"])
    table = group_codes(session, names, events, lines["line_no"].to_numpy(), lines["source"])
    del events
    if "process" in lines.columns:
        # Each stream's process: DeepLog calibrates a miss threshold per process (detectors/deeplog.py).
        # The first non-null process of each session; the table's rows are the keys' codes, in order.
        process, names = string_codes(lines["process"])  # null -> -1
        known = np.flatnonzero(process >= 0)
        first = np.full(table.num_rows, len(lines), dtype=np.int64)
        np.minimum.at(first, session[known], known)
        has = first < len(lines)
        of_session = np.full(table.num_rows, -1, dtype=np.int64)
        of_session[has] = process[first[has]]
        table = table.append_column("group", pa.array([names[c] if c >= 0 else None for c in of_session.tolist()],
                                                      pa.string()))
    return table


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
    os.replace(tmp, path)


def run_detectors(processed_dir: str | os.PathLike, model: TrainedModel) -> dict[str, Any]:
    """Score the folder's parsed lines with every detector of `model`; return counts and timings."""
    d = Path(processed_dir)
    for name in RESULT_FILES:
        (d / name).unlink(missing_ok=True)
    # How the report groups results into incidents (reports/anomalies.py reads it back).
    write_json_atomic(d / INCIDENTS, {"gap": float(model.incidents.get("gap", DEFAULT_GAP)),
                                      "storm_gap": model.incidents.get("storm_gap", STORM_GAP)})
    lines = read_lines(d / PARSED)
    started = time.perf_counter()
    windows = model.baseline.score_windows(lines)
    _write_parquet(windows, d / BASELINE)
    out: dict[str, Any] = {"lines": int(len(lines)), "baseline": {
        "windows": int(len(windows)), "flagged_windows": int(windows["is_anomaly"].sum()),
        "seconds": round(time.perf_counter() - started, 3)}}
    del windows
    release_memory()
    seq_miss = None
    if model.deeplog is not None:
        started = time.perf_counter()
        seq_miss = _run_deeplog(d, lines, model, out)
        out["deeplog"]["seconds"] = round(time.perf_counter() - started, 3)
        release_memory()  # each detector's working set goes back before the next one's
    if model.mscred is not None:
        started = time.perf_counter()
        out["mscred"] = _run_mscred(d, lines, model)
        out["mscred"]["seconds"] = round(time.perf_counter() - started, 3)
        release_memory()  # each detector's working set goes back before the next one's
    if model.flows is not None:
        started = time.perf_counter()
        out["flows"] = _run_flows(d, lines, model)
        out["flows"]["seconds"] = round(time.perf_counter() - started, 3)
        release_memory()  # each detector's working set goes back before the next one's
    if model.alerting is not None:
        started = time.perf_counter()
        # Only the lines scoring above 0 become a frame (alerting.py line_alerts).
        alerts, counts = model.alerting.line_alerts(_with_masked(d, lines), seq_miss=seq_miss)
        write_json_atomic(d / TEMPLATE_COUNTS, model.alerting.template_counts_)
        _write_parquet(alerts, d / LINE_ALERTS)
        out["alerting"] = {**counts, "threshold": model.alerting.threshold_,
                           "seconds": round(time.perf_counter() - started, 3)}
    return out


def _run_deeplog(d: Path, lines: pd.DataFrame, model: TrainedModel, out: dict[str, Any]) -> np.ndarray:
    """DeepLog over the lines' streams; DeepLog Enhanced alerts over its verdicts. Returns, per parsed
    row, whether DeepLog missed the line's key from a context of known keys (the sequence signal of the
    alerting layer: after an unseen key the context itself is new, and novelty is reported anyway)."""
    from anomaly_log_detector.alerts.engine import AlertSettings
    from anomaly_log_detector.alerts.enhanced import (PREDICTION_COLUMNS, WINDOW_COLUMNS, expected_templates,
                                                      parsed_rows, run_prediction_alerts, write_alerts_parquet)
    from anomaly_log_detector.detectors.deeplog_files import rule_name
    from anomaly_log_detector.builders.string_codes import int32_if_fits
    from anomaly_log_detector.detectors.deeplog_tables import context_flags
    from anomaly_log_detector.detectors.windows import list_values

    det = model.deeplog
    table = sequences(lines, model.vocab, model.session_by, model.session_gap)
    write_sequences(table, d / SEQUENCES)
    model.vocab.save(d / VOCAB)
    seq = table.to_pandas(types_mapper=arrow_lists)  # list columns stay Arrow (detectors/windows.py flatten)
    del table  # the peak of a large target is in the alert engine below: hold nothing twice
    trim_heap()  # the sessions' transient per-line arrays go back before the windows are built
    # entity_keys(lines).fillna(source), as categories (no string per line; builders/session_codes.py). Read
    # only after the scoring, but made here, below the scoring's working set: it is a few MB to hold.
    entity = entity_categories(lines, lines["source"])
    scores = det.evaluate(seq)
    trim_heap()  # the scoring's freed temporaries (sorts, batches) go back before the tables are built
    # The per-window table as the score arrays themselves, written a row group at a time below.
    per_window, per_session = det.window_table(seq, scores)
    trim_heap()  # its per-window temporaries go back
    # Per window: an unseen key in the context; fewer than half the context known (a chunk at a time).
    context_unseen, short_context = context_flags(scores.windows.inputs, UNK, PAD, det.seq_len // 2)
    per_window.add("context_unseen", context_unseen)
    # The stream holding a host/process's first line in the file may have been running before the file
    # began (a log cut by rotation starts daemons' streams in the middle): its first predictions, from
    # little context, are not judged. Later streams (a new pid, a stream resumed after a gap) start as
    # the training streams did, and are.
    row_values, row_lengths = list_values(seq["rows"])  # in place: no int64 copy
    first_row = np.full(len(row_lengths), -1, dtype=np.int64)  # each session's first parsed row
    starts = np.cumsum(row_lengths) - row_lengths
    first_row[row_lengths > 0] = row_values[starts[row_lengths > 0]]
    del row_values
    # Each prediction's parsed row; then the sessions' lists are not needed any more.
    rows = int32_if_fits(parsed_rows(seq, scores.windows, d / SEQUENCES))
    del seq
    release_memory()  # the sessions frame sits in reference cycles: it goes only with a collection
    opens_entity = np.zeros(len(row_lengths), dtype=bool)
    has = first_row >= 0
    # Each entity's first row (np.unique over the integer codes, not over a million strings).
    first_of_entity = np.unique(entity.cat.codes.to_numpy(), return_index=True)[1]
    opens_entity[has] = np.isin(first_row[has], first_of_entity)
    context_cut = short_context & opens_entity[scores.windows.session]
    del short_context
    per_window.add("context_cut", context_cut)
    trim_heap()  # the tables' and flags' per-window temporaries go back before the rows are written
    expected = expected_templates(det, scores, model.vocab.strings())
    per_window.add("expected", expected)
    per_window.write(d / DEEPLOG_INFER, between=trim_heap)  # each row group's frames go back as it is written
    per_window.keep_only(WINDOW_COLUMNS)  # the alerts below read a few rows of these columns only
    _write_parquet(per_session, d / DEEPLOG_SESSIONS)
    # What the rest needs of the scores; the windows' keys go before the engine.
    event, in_topk, is_novel = scores.windows.event, scores.in_topk, scores.is_novel
    distinct = scores.distinct_windows
    del scores
    trim_heap()
    # Positions in int32 for the alert engine (values unchanged; a million-row column is 4 MB less each).
    per_window.compact()
    event = int32_if_fits(event)
    gap = float(model.incidents.get("gap", 60.0))
    # The engine over integer codes: no table of a million predictions (alerts/enhanced.py).
    shown = lines[[c for c in PREDICTION_COLUMNS if c in lines.columns]].assign(entity=entity)  # same index
    result = run_prediction_alerts(per_window, event, rows, shown, "entity", expected,
                                   AlertSettings(k=1, n=1, cooldown_seq=gap, cooldown_novelty=gap))
    del shown, expected, entity
    write_alerts_parquet(result.alerts, d / DEEPLOG_ALERTS)
    write_json_atomic(d / DEEPLOG_SUMMARY, {"rule": rule_name(det), "threshold": det.threshold_,
                                            "k_of_n": [1, 1], "cooldown": gap, **result.summary}, indent=1)
    miss = np.zeros(len(lines), dtype=bool)
    real = (rows >= 0) & (event >= 0)
    flagged = real & ~in_topk & ~is_novel & ~context_unseen & ~context_cut
    miss[rows[flagged]] = True
    out["deeplog"] = {
        "sessions": int(len(per_session)), "flagged_sessions": int(per_session["is_anomaly"].sum()),
        "predictions": int(len(per_window)), "distinct_windows": int(distinct),
        "misses": int((~in_topk).sum()), "novel": int(is_novel.sum()),
        "sequence_misses": int(miss.sum()), "alerts": int(len(result.alerts)), "rule": rule_name(det)}
    return miss


def _run_mscred(d: Path, lines: pd.DataFrame, model: TrainedModel) -> dict[str, Any]:
    """MS-CRED over the lines' windows (the bundle's window settings and vocabulary): writes
    `mscred_infer.parquet` and `mscred_residuals.npz` (what analyze-mscred reads)."""
    from anomaly_log_detector.builders.mscred import window_counts
    from anomaly_log_detector.detectors.mscred_files import infer_mscred, rule_name, write_infer_outputs

    size, stride = model.mscred_windows
    result = infer_mscred(model.mscred, window_counts(lines, model.vocab, size, stride), model.vocab)
    write_infer_outputs(result, d)
    return {"windows": int(len(result.table)), "flagged_windows": int(result.table["is_anomaly"].sum()),
            "threshold": float(model.mscred.threshold_), "rule": rule_name(model.mscred)}


def _run_flows(d: Path, lines: pd.DataFrame, model: TrainedModel) -> dict[str, Any]:
    """The identifier-flow detector over the lines of templates that carry its identifiers: writes
    `flows_infer.parquet`, one row per flagged step."""
    from anomaly_log_detector.detectors.flow_scoring import lookup
    from anomaly_log_detector.detectors.flows import flow_columns

    det = model.flows
    path = d / PARSED
    columns = flow_columns(pq.read_schema(path).names)
    if not det.split_:  # masked text only tells split steps apart
        columns = [c for c in columns if c != "masked"]
    # A row group at a time: the detector keeps codes and identifier tokens of its templates' lines
    # only; the repetitive text columns stay dictionary-encoded.
    f = pq.ParquetFile(path, read_dictionary=[c for c in columns if c not in ("content", "timestamp")])
    value_set = pa.array(sorted(det.templates()), pa.large_string())
    inside = [0]

    def row_groups():
        for i in range(f.num_row_groups):
            group = f.read_row_group(i, columns=columns)
            inside[0] += int((lookup(group, "template", value_set) >= 0).sum())  # once per distinct template
            yield group
            del group
            # The group's transient text goes back once the detector has taken it in: it lies among
            # what the detector keeps of it, where glibc would not reuse it for the next group.
            trim_heap()

    # Each source's first and last time over all its lines (the file's edges), taken from the row groups.
    flagged = det.flag_batches(row_groups(), f.metadata.num_rows, columns, edges="file",
                               between=trim_heap)
    flagged.insert(1, "line_no", lines["line_no"].to_numpy(np.int64)[flagged["row"].to_numpy(np.int64)])
    _write_parquet(flagged, d / FLOWS_INFER)
    return {"lines_in_flows": int(inside[0]), "flagged_lines": int(flagged["row"].nunique()),
            "by_kind": {str(k): int(v) for k, v in flagged["kind"].value_counts().items()}}


def _with_masked(d: Path, lines: pd.DataFrame) -> pd.DataFrame:
    """`lines` plus the masked text of the lines no training template matched (what the alerting
    layer compares with the known templates); other rows get an empty string. The text is read a row
    group at a time and for those lines only, and held as categories (no string per line)."""
    import pyarrow.compute as pc

    # Read as a dictionary, a row group's text is decoded for its unseen lines only (the whole
    # column, decoded, is ~65 MB at a million lines).
    f = pq.ParquetFile(d / PARSED, read_dictionary=["masked"])
    parts, at, start = [], [], 0
    for i in range(f.num_row_groups):
        ids = f.read_row_group(i, columns=["template_id"]).column(0)
        unseen = np.flatnonzero(pc.equal(ids, UNSEEN_ID).to_numpy(zero_copy_only=False))
        if unseen.size:
            column = f.read_row_group(i, columns=["masked"]).column(0)
            parts.append(column.take(pa.array(unseen)).cast(pa.string()))
            at.append(unseen + start)
        start += len(ids)
    # A missing text reads as the empty one, as it would in the alerting layer.
    texts = [t if t is not None else "" for part in parts for t in part.to_pylist()]
    code, names = pd.factorize(np.asarray(texts + [""], dtype=object), sort=False)
    masked = np.full(len(lines), code[-1], dtype=np.int32)
    if at:
        masked[np.concatenate(at)] = code[:-1]
    return lines.assign(masked=pd.Categorical.from_codes(masked, categories=pd.Index(names, dtype=object)))
