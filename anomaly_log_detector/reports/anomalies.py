"""The result table: one record per incident, whatever detectors ran on a processed folder.

Detector results become hits (one flagged line each; rules and score scales in :mod:`.hits`). A record
is an *incident*: the flagged lines of one entity (``host/process``; the source file when a line has
neither) that follow each other with at most ``gap`` seconds between consecutive flagged lines (or
``gap`` lines of the file where times are missing), cut every ``MAX_RECORD_LINES`` flagged lines. So
one daemon's burst is one record, two machines are never one record, and a record never spans a day
of quiet. Each detector's best hit in the record gives one entry of ``reasons``; the record's
``score`` is its strongest hit (every detector's hit score is on the same [0, 1] scale, see hits.py);
``time``, ``host``, ``process``, ``template`` and ``raw`` are those of the line the record shows (the
line flagged by most detectors, then an error-level one, then the strongest). Records are ranked by
score; the number of detectors and then of flagged lines break ties.

Columns (``RECORD_COLUMNS``): rank, source, entity, line_nos (1-based, in the source: exactly the
flagged lines), rows (0-based positions in parsed.parquet), time, first_time, last_time, host, process,
pid, level (as written in the shown line's header), detectors, score, template_id, template,
template_training_count (occurrences of the shown template in training, when the folder has
`template_counts.json`; -1 unknown), expected (DeepLog's expected templates at the shown line, when it
missed there), raw, reasons (a list of ``{"detector", "key", "params", "line_no"}``; `key` is a
message-table key). `anomalies.parquet` holds these columns; `anomalies.jsonl` the same records as
Elastic Common Schema alert documents (:mod:`.ecs`).
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
from anomaly_log_detector.reports.ecs import to_ecs
from anomaly_log_detector.reports.hits import BURST_MIN, DETECTORS, collect_hits, plain
from anomaly_log_detector.reports.inputs import (
    ANOMALIES_JSONL, ANOMALIES_PARQUET, LINE_ALERTS, TEMPLATE_COUNTS, read_keys, take_rows,
)

MAX_RECORD_LINES = 100
DEFAULT_GAP = 60.0
RECORD_COLUMNS = ["rank", "source", "entity", "line_nos", "rows", "time", "first_time", "last_time", "host",
                  "process", "pid", "level", "detectors", "score", "template_id", "template", "template_training_count",
                  "expected", "raw", "reasons"]
_ROW_INFO = ["source", "timestamp", "host", "process", "pid", "level", "template_id", "template", "raw"]


def assign_records(hits: pd.DataFrame, info: pd.DataFrame, gap: float = DEFAULT_GAP) -> np.ndarray:
    """The record number of every hit: flagged rows grouped per entity, cut at `gap` seconds (or rows,
    without times) between consecutive flagged rows and every MAX_RECORD_LINES rows. `info` holds
    `source`, `host`, `process`, `timestamp` of the flagged rows (index = row)."""
    rows = np.unique(hits["row"].to_numpy())
    entity = _entities(info.loc[rows]).to_numpy(dtype=object)
    times = pd.to_datetime(info.loc[rows, "timestamp"], utc=True).dt.tz_localize(None)
    order = np.lexsort((rows, entity))
    r, e, t = rows[order], entity[order], times.to_numpy(dtype="datetime64[ns]")[order]
    new = np.ones(len(r), dtype=bool)
    if len(r) > 1:
        dt = (t[1:] - t[:-1]) / np.timedelta64(1, "s")
        timed = ~np.isnan(dt)
        apart = np.where(timed, dt > gap, (r[1:] - r[:-1]) > gap)
        new[1:] = (e[1:] != e[:-1]) | apart
    run_start = np.flatnonzero(new)[np.cumsum(new) - 1]
    new |= (np.arange(len(r)) - run_start) % MAX_RECORD_LINES == 0
    record_sorted = np.cumsum(new) - 1
    record_of_row = np.empty(len(r), dtype=np.int64)
    record_of_row[order] = record_sorted
    return record_of_row[np.searchsorted(rows, hits["row"].to_numpy())]


def _entities(info: pd.DataFrame) -> pd.Series:
    """`host/process` of each row; the source where both are missing."""
    host, proc = info["host"].astype("string"), info["process"].astype("string")
    both_missing = host.isna() & proc.isna()
    return (host.fillna("") + "/" + proc.fillna("")).mask(both_missing, info["source"].astype("string")).fillna("")


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
        "score": by_record["score"].max().to_numpy(float),
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


def _is_severe(levels: pd.Series) -> np.ndarray:
    """Which levels are error-level (what operators look at first)."""
    return levels.astype("string").str.strip().str.lower().isin(SEVERE_LEVELS).fillna(False).to_numpy(bool)


def anomaly_table(d: Path, keys: pd.DataFrame, hits: pd.DataFrame, gap: float = DEFAULT_GAP) -> pd.DataFrame:
    """Group `hits` (see :func:`.hits.collect_hits`) into the ranked result table of incidents."""
    if hits.empty:
        return pd.DataFrame(columns=RECORD_COLUMNS)
    # Every column the table needs, for the flagged rows only, in one read.
    where = take_rows(d, np.unique(hits["row"].to_numpy()), _ROW_INFO)
    hits = hits.assign(record=assign_records(hits, where, gap),
                       _severe=_is_severe(where["level"]).astype(bool)[where.index.get_indexer(hits["row"])])
    table = _records(hits, keys["line_no"].to_numpy())
    times = pd.to_datetime(where["timestamp"], utc=True).reindex(hits["row"].to_numpy())
    span = pd.DataFrame({"record": hits["record"].to_numpy(), "t": times.to_numpy()}).groupby("record")["t"]
    table["first_time"], table["last_time"] = span.min().to_numpy(), span.max().to_numpy()
    if (d / LINE_ALERTS).exists():
        # A frequency change alone is an incident only as a burst of one entity: the same template spread
        # thinly over many machines is a different mix of normal lines, not a burst.
        alone = table["detectors"].map(lambda x: list(x) == ["baseline"]) & (table["rows"].map(len) < BURST_MIN)
        table = table[~alone].reset_index(drop=True)
        if table.empty:
            return pd.DataFrame(columns=RECORD_COLUMNS)
    info = where.loc[table["best_row"], _ROW_INFO].reset_index(drop=True)
    table = pd.concat([table, info.rename(columns={"timestamp": "time"})], axis=1)
    table["entity"] = _entities(where.loc[table["best_row"]].reset_index(drop=True)).to_numpy(dtype=object)
    counts = _training_counts(d)
    table["template_training_count"] = [(-1 if counts is None else counts.get(str(t), 0)) if isinstance(t, str)
                                        else -1 for t in table["template"]]
    table["expected"] = [_expected(reasons) for reasons in table["reasons"]]
    # Rank: the strongest hit; more detectors, then more flagged lines, then the earliest break ties.
    table = table.assign(_n=table["detectors"].map(len), _lines=table["rows"].map(len), _first=table["rows"].map(min))
    table = table.sort_values(["score", "_n", "_lines", "_first"], ascending=[False, False, False, True],
                              kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    return table[RECORD_COLUMNS].reset_index(drop=True)


def _training_counts(d: Path) -> dict[str, int] | None:
    path = d / TEMPLATE_COUNTS
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _expected(reasons: list[dict]) -> list[str]:
    """DeepLog's expected templates, from its reason (when it missed in the record)."""
    for r in reasons:
        if r["detector"] == "deeplog" and r["params"].get("expected"):
            return [str(x) for x in r["params"]["expected"]]
    return []


def collect_anomalies(processed_dir: str | os.PathLike, gap: float = DEFAULT_GAP) -> pd.DataFrame:
    """The result table of a processed folder (``RECORD_COLUMNS``, most anomalous first)."""
    d = Path(processed_dir)
    keys = read_keys(d)
    return anomaly_table(d, keys, collect_hits(d, keys), gap)


def to_records(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The table as JSON-ready dicts (time as ISO 8601 or null, lists of plain ints)."""
    out = []
    for r in table.to_dict("records"):
        r = {k: (v if isinstance(v, (list, dict)) else plain(v)) for k, v in r.items()}
        for key in ("time", "first_time", "last_time"):
            r[key] = None if r[key] is None or pd.isna(r[key]) else pd.Timestamp(r[key]).isoformat()
        r["line_nos"], r["rows"] = [int(x) for x in r["line_nos"]], [int(x) for x in r["rows"]]
        out.append(r)
    return out


_PARQUET_SCHEMA = pa.schema([
    ("rank", pa.int64()), ("source", pa.string()), ("entity", pa.string()), ("line_nos", pa.list_(pa.int64())),
    ("rows", pa.list_(pa.int64())), ("time", pa.timestamp("us", tz="UTC")),
    ("first_time", pa.timestamp("us", tz="UTC")), ("last_time", pa.timestamp("us", tz="UTC")), ("host", pa.string()),
    ("process", pa.string()), ("pid", pa.string()), ("level", pa.string()), ("detectors", pa.list_(pa.string())),
    ("score", pa.float64()), ("template_id", pa.int64()), ("template", pa.string()), ("template_training_count", pa.int64()),
    ("expected", pa.list_(pa.string())), ("raw", pa.string()),
    ("reasons", pa.string()),  # JSON text: the params differ per reason kind
])


def write_anomalies(table: pd.DataFrame, processed_dir: str | os.PathLike) -> dict[str, Path]:
    """Write `anomalies.jsonl` (one ECS alert document per line, see :mod:`.ecs`) and `anomalies.parquet`
    (the table's own columns); return their paths."""
    d = Path(processed_dir)
    records = to_records(table)
    jsonl, parquet = d / ANOMALIES_JSONL, d / ANOMALIES_PARQUET
    with open(f"{jsonl}.tmp", "w", encoding="utf-8") as f:
        f.writelines(json.dumps(to_ecs(r), ensure_ascii=False) + "\n" for r in records)
    os.replace(f"{jsonl}.tmp", jsonl)
    columns = {name: [r[name] for r in records] for name in _PARQUET_SCHEMA.names}
    for key in ("time", "first_time", "last_time"):
        columns[key] = [None if t is None else pd.Timestamp(t) for t in columns[key]]
    for key in ("pid", "level"):  # as written: text whatever type the parse gave them
        columns[key] = [None if v is None else str(v) for v in columns[key]]
    columns["reasons"] = [json.dumps(r, ensure_ascii=False) for r in columns["reasons"]]
    pq.write_table(pa.table(columns, schema=_PARQUET_SCHEMA), f"{parquet}.tmp")
    os.replace(f"{parquet}.tmp", parquet)
    return {"jsonl": jsonl, "parquet": parquet}
