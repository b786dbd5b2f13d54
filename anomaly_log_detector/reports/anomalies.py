"""The result table: one record per anomaly, whatever detectors ran on a processed folder.

Detector results become hits (one flagged line each; rules and score scales in :mod:`.hits`). A record
is a run of consecutive parsed rows of one source that all carry hits, cut every ``MAX_RECORD_LINES``
rows: a line flagged by several detectors, or a burst of adjacent flagged lines, is one record. Each
detector's best hit in the record gives one entry of ``reasons``; the record's ``score`` is the mean of
those detectors' best scores (so it rewards agreement as well as strength); ``time``, ``host``,
``process``, ``template`` and ``raw`` are those of the record's single highest-scoring line. Records are
ranked by number of detectors, then score, then position in the file.

Columns (``RECORD_COLUMNS``): rank, source, line_nos (1-based, in the source), rows (0-based positions in
parsed.parquet), time, host, process, detectors, score, template_id, template, raw, reasons (a list of
``{"detector", "key", "params", "line_no"}``; `key` is a message-table key).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.detectors.baseline import SEVERE_LEVELS
from anomaly_log_detector.reports.hits import DETECTORS, collect_hits, plain
from anomaly_log_detector.reports.inputs import ANOMALIES_JSONL, ANOMALIES_PARQUET, read_keys, take_rows

MAX_RECORD_LINES = 100
RECORD_COLUMNS = ["rank", "source", "line_nos", "rows", "time", "host", "process", "detectors", "score",
                  "template_id", "template", "raw", "reasons"]
_ROW_INFO = ["source", "timestamp", "host", "process", "template_id", "template", "raw"]


def assign_records(hits: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """The record number of every hit (runs of consecutive flagged rows of one source)."""
    rows = np.unique(hits["row"].to_numpy())
    src = keys["source"].to_numpy()[rows]
    new = np.ones(len(rows), dtype=bool)
    new[1:] = (np.diff(rows) != 1) | (src[1:] != src[:-1])
    # Long runs are cut every MAX_RECORD_LINES rows so a record stays readable.
    run_start = np.flatnonzero(new)[np.cumsum(new) - 1]
    new |= (np.arange(len(rows)) - run_start) % MAX_RECORD_LINES == 0
    return (np.cumsum(new) - 1)[np.searchsorted(rows, hits["row"].to_numpy())]


def _records(hits: pd.DataFrame, line_no: np.ndarray) -> pd.DataFrame:
    """One row per record, in record order. Vectorised over all records at once: a loop per record
    takes minutes when a large target has tens of thousands of them."""
    order = {name: i for i, name in enumerate(DETECTORS)}
    hits = hits.sort_values(["record", "score", "row"], ascending=[True, False, True], kind="stable")
    # First hit of each (record, detector) = that detector's strongest; listed in DETECTORS order.
    best = hits.drop_duplicates(["record", "detector"])
    best = best.assign(_order=best["detector"].map(order)).sort_values(["record", "_order"], kind="stable")
    reasons = [{"detector": h.detector, "key": h.key, "params": h.params, "line_no": int(line_no[h.row])}
               for h in best.itertuples()]
    by_record = best.groupby("record", sort=True)
    pairs = np.unique(hits[["record", "row"]].to_numpy(np.int64), axis=0)  # sorted by record, then row
    cuts = np.flatnonzero(np.diff(pairs[:, 0])) + 1
    bounds = np.concatenate([[0], np.cumsum(by_record.size().to_numpy())])
    return pd.DataFrame({
        "rows": [r.tolist() for r in np.split(pairs[:, 1], cuts)],
        "best_row": _best_rows(hits),
        "score": by_record["score"].mean().to_numpy(float),
        "detectors": by_record["detector"].agg(list).tolist(),
        "reasons": [reasons[a:b] for a, b in zip(bounds[:-1], bounds[1:])],
    }).assign(line_nos=lambda t: [line_no[r].tolist() for r in t["rows"]])


def _best_rows(hits: pd.DataFrame) -> np.ndarray:
    """The line each record shows: the one flagged by the most detectors, then an error-level line,
    then the highest summed score, then the earliest (a record's strongest single score is often a
    normal neighbour inside a flagged baseline window, while the line that is also novel or a DeepLog
    miss is the anomaly)."""
    per_row = hits.groupby(["record", "row"], sort=False).agg(
        n=("detector", "nunique"), severe=("_severe", "max"), s=("score", "sum"))
    per_row = per_row.reset_index().sort_values(["record", "n", "severe", "s", "row"],
                                                ascending=[True, False, False, False, True], kind="stable")
    return per_row.drop_duplicates("record")["row"].to_numpy(np.int64)


def _severe_rows(d: Path, rows: np.ndarray) -> np.ndarray:
    """Which of `rows` have an error-level `level` (what operators look at first)."""
    levels = take_rows(d, rows, ["level"])
    if "level" not in levels.columns:
        return np.zeros(len(rows), dtype=bool)
    severe = levels["level"].astype("string").str.strip().str.lower().isin(SEVERE_LEVELS).fillna(False)
    return severe.reindex(rows).fillna(False).to_numpy(bool)


def anomaly_table(d: Path, keys: pd.DataFrame, hits: pd.DataFrame) -> pd.DataFrame:
    """Group `hits` (see :func:`.hits.collect_hits`) into the ranked result table."""
    if hits.empty:
        return pd.DataFrame(columns=RECORD_COLUMNS)
    hits = hits.assign(record=assign_records(hits, keys), _severe=_severe_rows(d, hits["row"].to_numpy()))
    table = _records(hits, keys["line_no"].to_numpy())
    info = take_rows(d, table["best_row"], _ROW_INFO).loc[table["best_row"]].reset_index(drop=True)
    table = pd.concat([table, info.rename(columns={"timestamp": "time"})], axis=1)
    severe = hits.loc[hits["_severe"], "row"].unique()
    # Rank: more detectors first; among equals, a record whose shown line is error-level; then score.
    table = table.assign(_n=table["detectors"].map(len), _sev=table["best_row"].isin(severe),
                         _first=table["rows"].map(min))
    table = table.sort_values(["_n", "_sev", "score", "_first"], ascending=[False, False, False, True],
                              kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    return table[RECORD_COLUMNS].reset_index(drop=True)


def collect_anomalies(processed_dir: str | os.PathLike) -> pd.DataFrame:
    """The result table of a processed folder (``RECORD_COLUMNS``, most anomalous first)."""
    d = Path(processed_dir)
    keys = read_keys(d)
    return anomaly_table(d, keys, collect_hits(d, keys))


def to_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The table as JSON-ready dicts (time as ISO 8601 or null, lists of plain ints)."""
    out = []
    for r in table.to_dict("records"):
        r = {k: (v if isinstance(v, (list, dict)) else plain(v)) for k, v in r.items()}
        r["time"] = None if r["time"] is None or pd.isna(r["time"]) else pd.Timestamp(r["time"]).isoformat()
        r["line_nos"], r["rows"] = [int(x) for x in r["line_nos"]], [int(x) for x in r["rows"]]
        out.append(r)
    return out


_PARQUET_SCHEMA = pa.schema([
    ("rank", pa.int64()), ("source", pa.string()), ("line_nos", pa.list_(pa.int64())),
    ("rows", pa.list_(pa.int64())), ("time", pa.timestamp("us", tz="UTC")), ("host", pa.string()),
    ("process", pa.string()), ("detectors", pa.list_(pa.string())), ("score", pa.float64()),
    ("template_id", pa.int64()), ("template", pa.string()), ("raw", pa.string()),
    ("reasons", pa.string()),  # JSON text: the params differ per reason kind
])


def write_anomalies(table: pd.DataFrame, processed_dir: str | os.PathLike) -> dict[str, Path]:
    """Write `anomalies.jsonl` (one JSON object per line) and `anomalies.parquet`; return their paths."""
    d = Path(processed_dir)
    records = to_records(table)
    jsonl, parquet = d / ANOMALIES_JSONL, d / ANOMALIES_PARQUET
    with open(f"{jsonl}.tmp", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    os.replace(f"{jsonl}.tmp", jsonl)
    columns = {name: [r[name] for r in records] for name in _PARQUET_SCHEMA.names}
    columns["time"] = [None if t is None else pd.Timestamp(t) for t in columns["time"]]
    columns["reasons"] = [json.dumps(r, ensure_ascii=False) for r in columns["reasons"]]
    pq.write_table(pa.table(columns, schema=_PARQUET_SCHEMA), f"{parquet}.tmp")
    os.replace(f"{parquet}.tmp", parquet)
    return {"jsonl": jsonl, "parquet": parquet}
