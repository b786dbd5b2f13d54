"""DeepLog Enhanced: DeepLog's verdict on every event, turned by the alert rules (:mod:`.engine`) into
alerts per host, process or session, each with its lines, times, raw text and what the model expected.

What `alog-detect deeplog-infer-enhanced` calls. Inputs: the `sequences.parquet` DeepLog scores (built
by `build-deeplog`, whose ``rows`` column points every event at its row of `parsed.parquet`), that
`parsed.parquet` (times, hosts, raw lines) and a model from `deeplog-train`. A prediction is placed at
its event's parsed row; the end-of-session prediction (EOS) at the session's last row and line, with
template ``<EOS>``. Its entity is the row's ``entity_column`` value, or the DeepLog session name where that is
null or the column is absent. Expected templates (the model's top 3) are computed for misses only,
once per distinct context. Outputs, written atomically into ``out_dir``: :data:`DETAILED`,
:data:`ALERTS`, :data:`SUMMARY` (docs/deeplog-enhanced.md).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.alerts.engine import AlertSettings, run_alerts
from anomaly_log_detector.builders.session_codes import merge_labels
from anomaly_log_detector.builders.string_codes import index_dtype, string_codes, take_frame
from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.detectors.windows import CHUNK, list_values, unique_rows
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.fileio.jsonio import write_json_atomic

DETAILED = "deeplog_enhanced_detailed.parquet"
ALERTS = "deeplog_enhanced_alerts.parquet"
SUMMARY = "deeplog_enhanced_summary.json"
ENTITY_COLUMNS = ("host", "process", "session")
EOS_TEMPLATE = "<EOS>"
TOP_EXPECTED = 3
PARSED_REQUIRED = ("line_no", "source", "template")
# The parsed columns a prediction shows (with the entity column).
PREDICTION_COLUMNS = ("line_no", "source", "template", "timestamp", "raw")
# The per-window columns a prediction row reads (_predictions).
WINDOW_COLUMNS = ("session", "line_no", "idx", "in_topk", "is_novel", "rank", "prob", "surprise")
# Arrow types of the list columns (pandas holds them as Python lists).
_LISTS = {"expected": pa.list_(pa.string()), "rows": pa.list_(pa.int64()), "line_nos": pa.list_(pa.int64()),
          "templates": pa.list_(pa.string()), "expected_templates": pa.list_(pa.string()),
          "sample_raw": pa.list_(pa.string())}


def infer_enhanced(seq_path: str | os.PathLike, parsed_path: str | os.PathLike | None,
                   model_path: str | os.PathLike, vocab_path: str | os.PathLike | None = None,
                   out_dir: str | os.PathLike | None = None, *, top_k: int | None = None,
                   top_p: float | None = None, settings: AlertSettings = AlertSettings(),
                   entity_column: str = "host", quiet: bool = True) -> dict:
    """Score the sequences, raise alerts, write the three outputs; return the summary with their paths.
    ``parsed_path`` / ``vocab_path`` default to the files beside the sequences; ``top_k`` / ``top_p``
    replace the model's calibrated rule (both given: both must hold)."""
    from anomaly_log_detector.builders.deeplog import read_sequences
    from anomaly_log_detector.detectors.deeplog import DeepLogDetector
    from anomaly_log_detector.detectors.deeplog_files import rule_name

    started = time.perf_counter()
    seq_path = Path(seq_path)
    parsed_path = Path(parsed_path) if parsed_path is not None else seq_path.parent / "parsed.parquet"
    det = DeepLogDetector.load(model_path)
    det.quiet = quiet  # its scoring progress bar follows --quiet
    if top_k is not None or top_p is not None:
        det.set_rule(k=top_k, top_p=top_p)
    names = _template_names(det, seq_path, vocab_path)
    seq = read_sequences(seq_path)
    _say(quiet, f"deeplog-enhanced: scoring {len(seq):,} sessions")
    ws = det.evaluate(seq)
    per_window, _ = det.tables(seq, ws)
    rows = parsed_rows(seq, ws.windows, seq_path)
    lines = _parsed_lines(parsed_path, rows, entity_column)
    _check_lines(lines, per_window["line_no"], rows, parsed_path)
    preds = predictions(per_window, ws, rows, lines, entity_column, expected_templates(det, ws, names))
    _say(quiet, f"deeplog-enhanced: alert rules over {len(preds):,} predictions")
    result = run_alerts(preds, settings)

    out = Path(out_dir) if out_dir is not None else seq_path.parent
    out.mkdir(parents=True, exist_ok=True)
    paths = {"detailed": out / DETAILED, "alerts": out / ALERTS, "summary": out / SUMMARY}
    write_alerts_parquet(result.detailed, paths["detailed"])
    write_alerts_parquet(result.alerts, paths["alerts"])
    summary: dict[str, Any] = {
        "model": str(model_path), "sequences": str(seq_path), "parsed": str(parsed_path),
        "rule": rule_name(det), "entity_column": entity_column, **result.summary,
        "predictions_without_line": int((rows < 0).sum()),
        "seconds": round(time.perf_counter() - started, 3),
        "outputs": {key: str(path) for key, path in paths.items()},
    }
    write_json_atomic(paths["summary"], summary, indent=1)
    return summary


def _say(quiet: bool, message: str) -> None:
    if not quiet and sys.stderr.isatty():
        print(message, file=sys.stderr)


def _template_names(det, seq_path: Path, vocab_path) -> list[str]:
    """Index -> template string for decoding expected keys, after refusing a vocabulary that gives the
    model's templates other indices (see ``check_vocab``)."""
    from anomaly_log_detector.detectors.deeplog_files import check_vocab

    if vocab_path is None:
        check_vocab(det, seq_path)
        vocab_path = seq_path.parent / "vocab.json"
    elif det.vocab_ is not None:
        theirs = Vocab.load(vocab_path).templates
        moved = [t for t, i in det.vocab_.items() if theirs.get(t, i) != i]
        if moved:
            raise DataError(f"{vocab_path}: template indices differ from the model's vocabulary ({len(moved)} "
                            f"templates); rebuild the sequences with the training vocab.json (build-deeplog --vocab)")
    if det.vocab_ is not None:
        return Vocab(dict(det.vocab_)).strings()
    return Vocab.load(vocab_path).strings() if Path(vocab_path).exists() else []


def parsed_rows(seq: pd.DataFrame, w, seq_path: Path) -> np.ndarray:
    """The parsed row of every prediction (EOS: the session's last row; -1 for an empty session)."""
    values, lengths = list_values(seq["rows"])  # read in place: no int64 copy of a million rows
    events = list_values(seq["events"])[1]
    if values.size == 0 and events.sum() > 0:
        raise DataError(f"{seq_path}: the sequences carry no parsed row positions (imported benchmark "
                        f"sequences?); build them from a parsed.parquet with build-deeplog")
    bad = np.flatnonzero(lengths != events)
    if bad.size:
        raise DataError(f"{seq_path}: session {seq['session'].iloc[bad[0]]!r}: 'rows' and 'events' differ in length")
    starts = np.cumsum(lengths) - lengths
    rows = np.full(len(w), -1, dtype=np.int64)
    for lo in range(0, len(w), CHUNK):  # a chunk of windows at a time: no million-row temporaries
        part = slice(lo, lo + CHUNK)
        session = w.session[part]
        n = lengths[session]
        has = n > 0
        rows[part][has] = values[starts[session[has]] + np.minimum(w.pos[part][has], n[has] - 1)]
    return rows


def _parsed_lines(path: Path, rows: np.ndarray, entity_column: str) -> pd.DataFrame:
    """The parsed columns the alerts show, one row per prediction (empty where ``rows`` is -1)."""
    from anomaly_log_detector.builders.deeplog import parsed_columns

    names = parsed_columns(path, PARSED_REQUIRED)
    columns = list(dict.fromkeys([*PARSED_REQUIRED, *(c for c in ("timestamp", "raw", entity_column) if c in names)]))
    table = pq.read_table(path, columns=columns)
    if rows.size and rows.max() >= table.num_rows:
        raise DataError(f"{path}: the sequences point at row {int(rows.max())} but the file has {table.num_rows} "
                        f"rows; pass the parsed.parquet the sequences were built from")
    has = rows >= 0
    distinct, inverse = np.unique(rows[has], return_inverse=True)
    at = np.full(len(rows), -1, dtype=np.int64)
    at[has] = inverse.reshape(-1)
    # Each needed row is converted once; -1 (no row) becomes a row of nulls.
    return table.take(pa.array(distinct, pa.int64())).to_pandas().reindex(at).reset_index(drop=True)


def _check_lines(lines: pd.DataFrame, line_no: pd.Series, rows: np.ndarray, path: Path) -> None:
    """A parsed file other than the one the sequences came from shows up as other line numbers."""
    ours = pd.array(line_no, dtype="Int64")
    theirs = pd.array(lines["line_no"], dtype="Int64")
    known = (~pd.isna(ours)) & (rows >= 0)
    differ = np.flatnonzero(known & (np.asarray(ours.fillna(-1)) != np.asarray(theirs.fillna(-1))))
    if differ.size:
        i = differ[0]
        raise DataError(f"{path}: row {int(rows[i])} has line {theirs[i]}, the sequences say line {ours[i]}; "
                        f"pass the parsed.parquet the sequences were built from")


def expected_templates(det, ws, names: list[str]) -> list:
    """Per prediction, the model's top templates for its context: misses only (empty list otherwise)."""
    miss = np.flatnonzero(~ws.in_topk)
    empty: list[str] = []
    out = [empty] * len(ws.in_topk)
    if miss.size == 0:
        return out
    contexts, inverse, _ = unique_rows(ws.windows.inputs[miss])
    decoded = [[names[k] if k < len(names) else f"<key {k}>" for k in top]
               for top in det.top_keys(contexts, TOP_EXPECTED).tolist()]
    for i, j in zip(miss.tolist(), inverse.tolist()):
        out[i] = decoded[j]
    return out


def predictions(per_window: pd.DataFrame, ws, rows: np.ndarray, lines: pd.DataFrame, entity_column: str,
                 expected: list) -> pd.DataFrame:
    """The engine's input table, in log order (parsed row; EOS after its session's last event)."""
    return _predictions(per_window, ws.windows.event < 0, rows, lines, entity_column, expected)


def run_prediction_alerts(per_window: Any, event: np.ndarray, rows: np.ndarray, lines: pd.DataFrame,
                          entity_column: str, expected: list, settings: AlertSettings = AlertSettings()):
    """``run_alerts(predictions(per_window, ws, ...), settings)`` without the predictions table, from
    ``event = ws.windows.event`` (-1: EOS); here ``lines`` holds one row per *parsed* row (``rows``
    points into it), and the engine runs over integer codes of the entities
    and templates (engine.py ``run_alerts_columns``); only the rows its alerts show are turned into
    table rows, by :func:`predictions` itself. The same alerts and summary (``detailed`` is None), in a
    fraction of the memory: a million predictions were a million rows of Python strings. ``per_window``
    is a ``WindowTable`` (detectors/deeplog_tables.py), which builds only the rows the alerts show, or
    any object with its ``column(name, rows)`` and ``frame(rows, columns)`` (:class:`FrameWindows`
    over a per-window frame)."""
    from anomaly_log_detector.alerts.engine import nanoseconds_at, run_alerts_columns

    keep = np.flatnonzero(rows >= 0)
    keep = keep[np.argsort(rows[keep], kind="stable")]  # the table's rows, in its order
    keep = keep.astype(index_dtype(len(rows)), copy=False)  # positions of a million rows: 4 MB less through the engine
    at = rows[keep]
    entity_code, entity_names = _entity_codes(lambda r: per_window.column("session", r), keep,
                                              lines[entity_column] if entity_column in lines.columns else None, at)
    template_code, template_names = _template_codes(lines["template"])
    template_code = template_code[at]
    eos = event[keep] < 0
    if eos.any():
        names = list(template_names)
        if EOS_TEMPLATE not in names:
            names.append(EOS_TEMPLATE)
        template_code[eos] = names.index(EOS_TEMPLATE)
        template_names = pd.Index(names, dtype=object)
    # The engine's times as int64 nanoseconds of the rows it reads (no converted copies of the column).
    time_ = (nanoseconds_at(lines["timestamp"], at) if "timestamp" in lines.columns
             else pd.Series(pd.NaT, index=range(len(at)), dtype="datetime64[us, UTC]"))
    shown = [c for c in (*PREDICTION_COLUMNS, entity_column) if c in lines.columns]

    def rows_of(needed: np.ndarray) -> pd.DataFrame:
        w = keep[needed]
        return _predictions(per_window.frame(w, list(WINDOW_COLUMNS)), event[w] < 0, rows[w],
                            take_frame(lines[shown], rows[w]), entity_column,
                            [expected[i] for i in w.tolist()])

    return run_alerts_columns(entity_code, len(entity_names), lambda codes: entity_names[codes], template_code,
                              template_names, at, time_, ~per_window.column("in_topk", keep).astype(bool),
                              per_window.column("is_novel", keep).astype(bool), rows_of, settings)


def _template_codes(template: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """``pd.factorize(template.astype("string").fillna("").astype(str), sort=False)`` without the two
    copies of a million strings: the column is factorized with nulls as a value of their own, and only
    its few distinct values are filled and factorized again (a null and a real "" become one code)."""
    codes, names = string_codes(template)  # null -> -1
    if (codes < 0).any():  # a null reads as "": one code with a real "" (session_codes.merge_labels)
        codes, names = merge_labels(codes, [*names, ""], null=len(names))
    return codes, pd.Index(names, dtype="str")


class FrameWindows:
    """A per-window frame (``DeepLogDetector.tables``' first) seen as :func:`run_prediction_alerts`
    reads a ``WindowTable``: ``column(name, rows)`` and ``frame(rows, columns)``."""

    def __init__(self, frame: pd.DataFrame):
        self._frame = frame

    def column(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        values = self._frame[name].to_numpy()
        return values if rows is None else values[rows]

    def frame(self, rows: np.ndarray | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        part = self._frame if columns is None else self._frame[[c for c in columns if c in self._frame.columns]]
        return (part if rows is None else part.iloc[rows]).reset_index(drop=True)


def _entity_codes(session_of: Any, keep: np.ndarray, entity: pd.Series | None,
                  at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of the predictions' entities (:func:`predictions`: the parsed row's entity, else
    the session name) and the names of the codes. Distinct values are turned into strings once, not
    a million rows; equal names get one code, whichever column they come from. ``session_of(rows)``:
    the session names of those prediction rows."""
    if entity is not None:
        # A categorical column factorizes as its strings would, without making them.
        line_code, names = pd.factorize(entity if isinstance(entity.dtype, pd.CategoricalDtype)
                                        else entity.astype("string"), sort=False)
        code = line_code[at]
        names = np.asarray(names.astype(object), dtype=object)
    else:
        code, names = np.full(len(at), -1, dtype=np.int64), np.zeros(0, dtype=object)
    missing = np.flatnonzero(code < 0)
    if missing.size:
        s_code, s_names = pd.factorize(session_of(keep[missing]), sort=False)
        known = {name: i for i, name in enumerate(names.tolist())}
        extra = [str(n) for n in s_names if str(n) not in known]
        known.update((n, len(names) + i) for i, n in enumerate(extra))
        code[missing] = np.asarray([known[str(n)] for n in s_names], dtype=np.int64)[s_code]
        names = np.concatenate([names, np.asarray(extra, dtype=object)])
    # The summary counts the entities that have predictions: the used codes, in order (a count per
    # code rather than a sort of a million).
    used = (np.flatnonzero(np.bincount(code, minlength=len(names))) if len(code) == 0 or code.min() >= 0
            else np.unique(code))
    dense = np.full(len(names), -1, dtype=index_dtype(len(names)))
    dense[used] = np.arange(len(used))
    return dense[code], names[used]


def _predictions(per_window: pd.DataFrame, eos: np.ndarray, rows: np.ndarray, lines: pd.DataFrame,
                 entity_column: str, expected: list) -> pd.DataFrame:
    session = per_window["session"].astype(str)
    entity = (lines[entity_column].astype("string") if entity_column in lines.columns
              else pd.Series(pd.NA, index=lines.index, dtype="string"))
    template = lines["template"].astype("string").fillna("").astype(str).to_numpy(dtype=object)
    template[eos] = EOS_TEMPLATE
    time_ = lines["timestamp"] if "timestamp" in lines.columns else pd.Series(pd.NaT, index=lines.index,
                                                                               dtype="datetime64[us, UTC]")
    score = (per_window["surprise"].to_numpy(np.float64) if "surprise" in per_window.columns
             else 1.0 - per_window["prob"].to_numpy(np.float64))
    preds = pd.DataFrame({
        "entity": entity.fillna(session).astype(str), "time": time_, "order": rows,
        # EOS has no line of its own: it is reported at its session's last line (template <EOS>).
        "line_no": per_window["line_no"].astype("Int64").fillna(lines["line_no"].astype("Int64")),
        "source": lines["source"].astype("string").fillna("").astype(str),
        "session": session, "idx": per_window["idx"].to_numpy(np.int64),
        "is_miss": ~per_window["in_topk"].to_numpy(bool), "is_novel": per_window["is_novel"].to_numpy(bool),
        "template": template, "expected": pd.Series(expected, dtype=object),
        "raw": (lines["raw"].astype("string").fillna("").astype(str) if "raw" in lines.columns else ""),
        "rank": per_window["rank"].to_numpy(np.int64), "prob": per_window["prob"].to_numpy(np.float64),
        "score": score,
    })
    keep = np.flatnonzero(rows >= 0)
    return preds.iloc[keep[np.argsort(rows[keep], kind="stable")]].reset_index(drop=True)


def write_alerts_parquet(df: pd.DataFrame, path: Path) -> None:
    """Atomically, with list columns as Arrow lists of a fixed type (also when every list is empty)."""
    schema = pa.Schema.from_pandas(df, preserve_index=False)  # keeps pandas' dtypes (Int64 stays Int64)
    for name, typ in _LISTS.items():
        if name in df.columns:
            schema = schema.set(schema.get_field_index(name), pa.field(name, typ))
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(pa.Table.from_pandas(df, schema=schema, preserve_index=False), tmp)
    os.replace(tmp, path)
