"""`anomalies.jsonl` in the Elastic Common Schema (ECS): one alert document per result-table record.

A SIEM (Elastic, or anything that reads ECS) files each record without a mapping of its own: the
record's start is ``@timestamp``, its host, process and pid are ``host.name``, ``process.name``,
``process.pid``, the line it shows is ``message`` with its ``log.level``, the log file is
``log.file.path``, and our one score is ``event.risk_score`` (0-1, as we compute it) and
``event.risk_score_norm`` / ``event.severity`` (0-100). Everything ECS has no field for (rank, entity,
line numbers, detectors, templates, reasons) lives under one namespace, ``alog``, as ECS advises for
custom fields (a proper name, so no future ECS field can collide).

Dotted ECS names are written as nested objects (``{"host": {"name": ...}}``), the form ECS documents
and Elasticsearch stores; ingest accepts both. An ECS field whose value is unknown is left out (a log
without times has no ``@timestamp``; Elastic's ingest can set the time of ingestion), while the
``alog`` fields are always present (null when unknown), so a program sees one shape. The field
reference is in docs/formats.md; :func:`from_ecs` turns a document back into the table's columns.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from typing import Any

import pandas as pd

from anomaly_log_detector.reports.reasons import reason_text

ECS_VERSION = "8.11.0"
NAMESPACE = "alog"
MODULE = "alog_detect"
DATASET = "alog_detect.anomalies"
STDIN_SOURCE = "-"  # parsed.parquet's source for stdin: not a file, so no log.file.path
# The result table's own columns kept under `alog` (the others map onto ECS fields).
OWN_FIELDS = ("rank", "source", "entity", "entities", "line_nos", "rows", "time", "detectors", "template_id",
              "template", "template_training_count", "expected", "recurrence", "rank_score", "reasons")


# What the result table's records hold (reports/anomalies.py `to_records`: pd.Timestamp.isoformat of
# a UTC time): the form iso_utc gives once the offset is a "Z", so a check replaces a parse and two
# zone conversions per time. Microseconds other than zero, as isoformat writes them; years well inside
# pandas' range.
_UTC_ISO = re.compile(r"(1[7-9]\d\d|2[01]\d\d)-\d\d-\d\dT\d\d:\d\d:\d\d(\.(?!0{6})\d{6})?\+00:00")


def iso_utc(value: Any) -> str | None:
    """ISO 8601 in UTC with a ``Z`` (microseconds when there are any), or None for no time."""
    if type(value) is str and _UTC_ISO.fullmatch(value):
        try:
            datetime.fromisoformat(value)  # a real date and time (else pandas says what is wrong below)
            return value[:-6] + "Z"
        except ValueError:
            pass
    if value is None or (not isinstance(value, (list, dict)) and pd.isna(value)):
        return None
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.tz_localize(None).isoformat() + "Z"


def _pid(value: Any) -> tuple[int | None, str | None]:
    """(process.pid, the pid as written when it is not a number)."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None, None
    text = str(value).strip()
    if text.isdecimal() and text.isascii():
        return int(text), None
    return None, str(value) or None


# Values json_safe keeps as they are, by exact type: checked inline, not by a call per list item
# (a record's line numbers and rows are lists of up to a hundred ints).
_KEPT = frozenset({str, int, bool, type(None)})


def json_safe(value: Any) -> Any:
    """`value` with every NaN or infinite float (nested in lists and dicts) as None: JSON has no NaN,
    and Elasticsearch refuses a document holding one."""
    if type(value) in _KEPT:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: v if type(v) in _KEPT else json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [v if type(v) in _KEPT else json_safe(v) for v in value]
    return value


def _drop_empty(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` without None values and without objects left empty (ECS fields that are unknown)."""
    out = {}
    for key, value in doc.items():
        if isinstance(value, dict):
            value = _drop_empty(value)
            if not value:
                continue
        if value is None:
            continue
        out[key] = value
    return out


def to_ecs(record: dict[str, Any], lang: str = "en") -> dict[str, Any]:
    """One result-table record (a dict of :data:`.anomalies.RECORD_COLUMNS`, as
    :func:`.anomalies.to_records` gives it) as an ECS alert document."""
    score = float(record["score"])
    pid, pid_text = _pid(record.get("pid"))
    source = record.get("source")
    start, end = iso_utc(record.get("first_time")), iso_utc(record.get("last_time"))
    ecs = _drop_empty({
        "@timestamp": start,
        "ecs": {"version": ECS_VERSION},
        "event": {
            "kind": "alert", "module": MODULE, "dataset": DATASET,
            "start": start, "end": end,
            "severity": int(round(score * 100)), "risk_score": score, "risk_score_norm": round(score * 100, 2),
            "reason": " ".join(reason_text(r, lang) for r in record["reasons"]) or None,
        },
        "message": record.get("raw"),
        "log": {"level": record.get("level") or None,
                "file": {"path": source if source and source != STDIN_SOURCE else None}},
        "host": {"name": record.get("host") or None},
        "process": {"name": record.get("process") or None, "pid": pid},
    })
    own = {name: record.get(name) for name in OWN_FIELDS}
    own["time"] = iso_utc(own["time"])
    if pid_text is not None:
        own["pid"] = pid_text
    ecs[NAMESPACE] = own
    return json_safe(ecs)


def from_ecs(doc: dict[str, Any]) -> dict[str, Any]:
    """An ECS document of `anomalies.jsonl` back as a result-table record (times as ISO strings)."""
    own = dict(doc[NAMESPACE])
    event, process = doc.get("event", {}), doc.get("process", {})
    pid_text = own.pop("pid", None)
    return {
        **own,
        "first_time": event.get("start"), "last_time": event.get("end"),
        "host": doc.get("host", {}).get("name"), "process": process.get("name"),
        "pid": str(process["pid"]) if "pid" in process else pid_text,
        "level": doc.get("log", {}).get("level"), "score": event.get("risk_score"), "raw": doc.get("message"),
    }
