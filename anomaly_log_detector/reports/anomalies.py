"""The result table: one record per incident, whatever detectors ran on a processed folder.

Detector results become hits (one flagged line each; rules and score scales in :mod:`.hits`). A record
is an *incident*: the flagged lines of one entity (``host/process``; the source file when a line has
neither) that follow each other with at most ``gap`` seconds between consecutive flagged lines (or
``gap`` lines of the file where times are missing), cut every ``MAX_RECORD_LINES`` flagged lines. So one
daemon's burst is one record, two machines are never one record, and a record never spans a day of
quiet. Per-entity incidents that happen together are then **grouped** (:func:`group_incidents`) into one
record: those that write the same message less than ``STORM_GAP`` seconds apart (on any host), and those
of one host whose flagged lines come within ``HOST_GAP`` seconds of each other. An error storm (the same
errors from several daemons of a host and from a few other hosts within seconds) is one record listing
its ``entities``, not one record per host/process. Unrelated incidents on different hosts with different
messages stay apart however close in time. Each detector's best hit in the record gives one entry of
``reasons``; the record's ``score`` is its strongest hit (every detector's hit score is on the same [0, 1]
scale, see hits.py); ``time``, ``host``, ``process``, ``template`` and ``raw`` are those of the line
the record shows (the line flagged by most detectors, then an error-level one, then the strongest).
Records are ranked by score; the number of detectors and then of flagged lines break ties.

Columns (``RECORD_COLUMNS``): rank, source, entity (of the shown line), entities (every ``host/process``
of the record, sorted: one for a plain incident, several for a grouped one), line_nos (1-based, in the
source: exactly the flagged lines), rows (0-based positions in parsed.parquet), time, first_time,
last_time, host, process, pid, level (as written in the shown line's header), detectors, score,
template_id, template, template_training_count (occurrences of the shown template in training, when the
folder has `template_counts.json`; -1 unknown), expected (DeepLog's expected templates, or the steps an
identifier flow normally takes, at the shown line, when it missed there), raw, recurrence (records
showing the same message, this one included), rank_score (what the ranking sorts by, see above),
reasons (a list of ``{"detector", "key", "params", "line_no"}``; `key`
is a message-table key). `anomalies.parquet` holds these columns; `anomalies.jsonl` the same records as
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
    ANOMALIES_JSONL, ANOMALIES_PARQUET, LINE_ALERTS, TEMPLATE_COUNTS, read_keys,
)
from anomaly_log_detector.reports.parsed_rows import ParsedRows

MAX_RECORD_LINES = 100
DEFAULT_GAP = 60.0
# The incident settings `infer` writes next to its results (from the bundle): {"gap", "storm_gap"}.
INCIDENTS = "incidents.json"
STORM_GAP = 10.0      # seconds: per-entity incidents closer than this may form one record
HOST_GAP = 1.0        # seconds: one host's incidents with flagged lines this close are one record
WINDOW_DETECTORS = ("baseline", "mscred")  # detectors that flag windows of lines, not single lines
STORM_MAX_SPAN = 600.0  # seconds: a grouped record never spans more (the session gap of the streams)
RECORD_COLUMNS = ["rank", "source", "entity", "entities", "line_nos", "rows", "time", "first_time", "last_time", "host",
                  "process", "pid", "level", "detectors", "score", "template_id", "template", "template_training_count",
                  "expected", "raw", "recurrence", "rank_score", "reasons"]
_ROW_INFO = ["source", "timestamp", "host", "process", "pid", "level", "template_id", "template", "raw"]
_ROW_KEYS = [c for c in _ROW_INFO if c not in ("template", "raw")]  # read for every flagged line


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


def group_incidents(hits: pd.DataFrame, info: pd.DataFrame, gap: float = STORM_GAP,
                    max_span: float = STORM_MAX_SPAN, host_gap: float = HOST_GAP) -> np.ndarray:
    """Per-entity incidents (``hits["record"]``) that belong together, as new record numbers.

    Two incidents are linked when lines of theirs that a line-level detector flagged write **the same
    message** (:func:`_signatures`) at most `gap` seconds apart (on any host), come from **the same
    host** at most `host_gap` seconds apart (one host's daemons failing together), or are steps of **the
    same identifier flow** (the flow detector's hits: one host, one identifier; at most `max_span` apart). Linked incidents
    form one record (union-find) as long as it spans at most `max_span` seconds. Lines are compared,
    not incident spans: an incident's span can cover a minute of unrelated lines. ``info`` holds
    ``host``, ``template_id``, ``masked``, ``source`` and ``timestamp`` of the flagged rows (index =
    row). Incidents of different sources, or lines without times, are never linked (line distance says
    nothing across entities).

    The trade-off: a record is no longer one entity. Its ``entities`` list them, its ``line_nos`` are
    every entity's flagged lines; what a per-entity record would have said is recoverable from the
    lines' own host/process. Two unrelated problems that write the same message at once are one record.
    """
    rec = hits["record"].to_numpy(np.int64)
    rows = hits["row"].to_numpy(np.int64)
    t = pd.to_datetime(info.loc[rows, "timestamp"], utc=True).to_numpy(dtype="datetime64[ns]")
    sec = (t - np.datetime64(0, "ns")) / np.timedelta64(1, "s")
    host = info.loc[rows, "host"].astype("string").to_numpy()
    # A flow detector's hits name their flow (host and identifier): one flow's steps are one incident
    # even when they come from several processes minutes apart.
    flow = [f"{h}\t{p.get('identifier')}" if d == "flows" and isinstance(p, dict) else None
            for d, h, p in zip(hits["detector"].tolist(), host.tolist(), hits["params"].tolist())]
    lines = pd.DataFrame({"record": rec, "t": sec, "source": info.loc[rows, "source"].astype("string").to_numpy(),
                          "host": host, "message": _signatures(info).reindex(rows).to_numpy(dtype=object),
                          "flow": np.asarray(flow, dtype=object)})
    # Only lines a line-level detector flagged link: a window detector (baseline, MS-CRED) flags a
    # window's normal neighbours too, and two incidents holding the same normal line are not related.
    ids = np.unique(rec)
    span = lines.groupby("record")["t"].agg(["min", "max"]).reindex(ids)
    own = ~hits["detector"].isin(WINDOW_DETECTORS).to_numpy(bool)
    lines = lines[own & lines["t"].notna().to_numpy(bool)].drop_duplicates(["record", "t", "host", "message", "flow"])
    # Each group's time span, kept at its root.
    g_lo, g_hi = span["min"].to_numpy(float).copy(), span["max"].to_numpy(float).copy()
    parent = np.arange(len(ids))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    def link(key: str, within: float) -> None:
        """Link the records of consecutive lines (by `key`, then time) at most `within` s apart."""
        sub = lines[lines[key].notna()].sort_values(["source", key, "t"], kind="stable")
        same = ((sub["source"].to_numpy(object)[1:] == sub["source"].to_numpy(object)[:-1])
                & (sub[key].to_numpy(object)[1:] == sub[key].to_numpy(object)[:-1])
                & (np.diff(sub["t"].to_numpy(float)) <= within))
        r = np.searchsorted(ids, sub["record"].to_numpy(np.int64))
        for a, b in zip(r[:-1][same].tolist(), r[1:][same].tolist()):
            ra, rb = find(a), find(b)
            if ra != rb and max(g_hi[ra], g_hi[rb]) - min(g_lo[ra], g_lo[rb]) <= max_span:
                parent[rb] = ra
                g_lo[ra], g_hi[ra] = min(g_lo[ra], g_lo[rb]), max(g_hi[ra], g_hi[rb])

    link("message", gap)
    link("host", host_gap)
    link("flow", max_span)
    root = np.array([find(i) for i in range(len(ids))], dtype=np.int64)
    _, new = np.unique(root, return_inverse=True)
    return new[np.searchsorted(ids, rec)]


def _signatures(info: pd.DataFrame) -> pd.Series:
    """What makes two lines "the same message": the training template, or for a line no training
    template matched the masked message (numbers, ids, addresses masked), when the parse kept it."""
    tid = pd.to_numeric(info["template_id"], errors="coerce")
    masked = info["masked"] if "masked" in info else pd.Series(None, index=info.index, dtype=object)
    known = [f"t{int(t)}" if t >= 0 else (f"m{m}" if isinstance(m, str) and m else None)
             for t, m in zip(tid.fillna(-1).tolist(), masked.tolist())]
    return pd.Series(known, index=info.index, dtype=object)


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
    reasons = [{"detector": detector, "key": key, "params": params, "line_no": int(line_no[row])}
               for detector, key, params, row in zip(*(best[c].tolist() for c in ("detector", "key", "params", "row")))]
    by_record = best.groupby("record", sort=True)
    pairs = np.unique(hits[["record", "row"]].to_numpy(np.int64), axis=0)  # sorted by record, then row
    cuts = np.flatnonzero(np.diff(pairs[:, 0])) + 1
    bounds = np.concatenate([[0], np.cumsum(by_record.size().to_numpy())])
    detectors = best["detector"].tolist()
    return pd.DataFrame({
        "rows": [r.tolist() for r in np.split(pairs[:, 1], cuts)],
        "best_row": _best_rows(hits),
        "score": by_record["score"].max().to_numpy(float),
        "detectors": [detectors[a:b] for a, b in zip(bounds[:-1], bounds[1:])],  # in DETECTORS order (as sorted)
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


def anomaly_table(d: Path, keys: pd.DataFrame, hits: pd.DataFrame, gap: float = DEFAULT_GAP,
                  storm_gap: float | None | str = "folder", parsed: ParsedRows | None = None) -> pd.DataFrame:
    """Group `hits` (see :func:`.hits.collect_hits`) into the ranked result table of incidents.
    `storm_gap`: seconds for :func:`group_incidents`; None = one entity per record; "folder" = what
    the folder's `incidents.json` says (`infer` writes it from the bundle), else None."""
    if storm_gap == "folder":
        storm_gap = folder_storm_gap(d)
    if hits.empty:
        return pd.DataFrame(columns=RECORD_COLUMNS)
    # The columns the table needs, for the flagged rows only, in one read; the text (raw line, template)
    # later, for the line each record shows only (with the lines other parts show: ParsedRows.shown).
    parsed = parsed or ParsedRows(d)
    where = parsed.take(np.unique(hits["row"].to_numpy()), [*_ROW_KEYS, "masked", "line_no"])
    hits = hits.assign(record=assign_records(hits, where, gap),
                       _severe=_is_severe(where["level"]).astype(bool)[where.index.get_indexer(hits["row"])])
    if (d / LINE_ALERTS).exists():
        # A frequency change alone is an incident only as a burst of one entity: the same template spread
        # thinly over many machines is a different mix of normal lines, not a burst.
        only = hits["detector"].eq("baseline").groupby(hits["record"]).all()  # no other detector's hit
        n = hits.groupby("record")["row"].nunique()
        alone = only.index[only.to_numpy(bool) & (n.reindex(only.index).to_numpy() < BURST_MIN)]
        hits = hits[~hits["record"].isin(alone)]
        if hits.empty:
            return pd.DataFrame(columns=RECORD_COLUMNS)
    if storm_gap is not None:
        hits = hits.assign(record=group_incidents(hits, where, storm_gap))
    hits = hits.assign(record=np.unique(hits["record"].to_numpy(), return_inverse=True)[1])
    table = _records(hits, keys["line_no"].to_numpy())
    times = pd.to_datetime(where["timestamp"], utc=True).reindex(hits["row"].to_numpy())
    span = pd.DataFrame({"record": hits["record"].to_numpy(), "t": times.to_numpy()}).groupby("record")["t"]
    table["first_time"], table["last_time"] = span.min().to_numpy(), span.max().to_numpy()
    row_entity = dict(zip(where.index.tolist(), _entities(where).tolist()))
    table["entities"] = [sorted({row_entity[x] for x in r}) for r in table["rows"]]
    info = where.loc[table["best_row"], _ROW_KEYS].reset_index(drop=True)
    table = pd.concat([table, info.rename(columns={"timestamp": "time"})], axis=1)
    table["entity"] = _entities(where.loc[table["best_row"]].reset_index(drop=True)).to_numpy(dtype=object)
    table["expected"] = [_expected(reasons) for reasons in table["reasons"]]
    # Rank: the strongest hit, combined over the records showing the same message (module docstring);
    # more detectors, then more flagged lines, then the earliest break ties.
    message = _signatures(where).reindex(table["best_row"]).fillna("").to_numpy(dtype=object)
    table["recurrence"] = pd.Series(message).map(pd.Series(message).value_counts()).to_numpy(np.int64)
    table["rank_score"] = 1.0 - (1.0 - table["score"].to_numpy(float)) ** table["recurrence"].to_numpy(float)
    table = table.assign(_n=table["detectors"].map(len), _lines=table["rows"].map(len), _first=table["rows"].map(min))
    table = table.sort_values(["rank_score", "_n", "_lines", "_first"], ascending=[False, False, False, True],
                              kind="stable")
    table["rank"] = np.arange(1, len(table) + 1)
    best = table["best_row"].to_numpy(np.int64)
    table = table.assign(template=None, raw=None, template_training_count=-1)[RECORD_COLUMNS].reset_index(drop=True)
    _add_text(d, table, best, parsed)
    return table


def _add_text(d: Path, table: pd.DataFrame, best: np.ndarray, parsed: ParsedRows) -> None:
    """Fill in the `template` and `raw` of each record's shown line (`best`: its row; fetched in one
    pass with the lines the report shows, ParsedRows.fetch_text) and the template's training count.
    In place: the parts of the report that ask `parsed` about this very table find what it computed."""
    parsed.fetch_text(table, best)
    text = parsed.take(best, ["template", "raw"]).loc[best]
    table["template"], table["raw"] = text["template"].array, text["raw"].array
    counts = _training_counts(d)
    table["template_training_count"] = [(-1 if counts is None else counts.get(str(t), 0)) if isinstance(t, str)
                                        else -1 for t in table["template"]]


def folder_storm_gap(d: Path) -> float | None:
    """The `storm_gap` of the folder's `incidents.json`, or None (no file, no setting, or negative)."""
    try:
        value = json.loads((d / INCIDENTS).read_text(encoding="utf-8")).get("storm_gap")
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if isinstance(value, (int, float)) and value >= 0 else None


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
    """DeepLog's expected templates, from its reason (when it missed in the record), else what an
    identifier flow normally does at the flagged step."""
    for r in reasons:
        if r["detector"] in ("deeplog", "flows") and r["params"].get("expected"):
            return [str(x) for x in r["params"]["expected"]]
    return []


def collect_anomalies(processed_dir: str | os.PathLike, gap: float = DEFAULT_GAP,
                      storm_gap: float | None | str = "folder") -> pd.DataFrame:
    """The result table of a processed folder (``RECORD_COLUMNS``, most anomalous first)."""
    d = Path(processed_dir)
    keys = read_keys(d)
    return anomaly_table(d, keys, collect_hits(d, keys), gap, storm_gap)


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
    ("rank", pa.int64()), ("source", pa.string()), ("entity", pa.string()), ("entities", pa.list_(pa.string())),
    ("line_nos", pa.list_(pa.int64())),
    ("rows", pa.list_(pa.int64())), ("time", pa.timestamp("us", tz="UTC")),
    ("first_time", pa.timestamp("us", tz="UTC")), ("last_time", pa.timestamp("us", tz="UTC")), ("host", pa.string()),
    ("process", pa.string()), ("pid", pa.string()), ("level", pa.string()), ("detectors", pa.list_(pa.string())),
    ("score", pa.float64()), ("template_id", pa.int64()), ("template", pa.string()), ("template_training_count", pa.int64()),
    ("expected", pa.list_(pa.string())), ("raw", pa.string()), ("recurrence", pa.int64()),
    ("rank_score", pa.float64()), ("reasons", pa.string()),  # JSON text: the params differ per reason kind
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
