"""The content of `report.json` / `report.md`: numbers and lines, no presentation.

Everything here is data (plain JSON types); human sentences are produced from it by
:mod:`.markdown` through the message table, and each reason keeps its message key and params.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from anomaly_log_detector.builders.string_codes import arrow_codes, missing_last
from anomaly_log_detector.reports.anomalies import to_records
from anomaly_log_detector.reports.ecs import iso_utc
from anomaly_log_detector.reports.hits import BASELINE_COMPONENTS, detectors_run, plain
from anomaly_log_detector.reports.inputs import BASELINE, PARSE_SUMMARY, PARSED, read_table
from anomaly_log_detector.reports.parsed_rows import ParsedRows
# reason_text / render_reasons live in .reasons; imported here too for the callers that take them from here
from anomaly_log_detector.reports.reasons import reason_text, render_reasons  # noqa: F401
from anomaly_log_detector.fileio.schema import UNSEEN_ID

# Lines of one record shown in a report (the result table keeps them all).
MAX_SHOWN_LINES = 10
TOP_TEMPLATES = 10
TOP_HOSTS = 20
NO_HOST = "-"  # the host of lines whose header names none


def summary(keys: pd.DataFrame, hits: pd.DataFrame, table: pd.DataFrame, ran: list[str],
            parse_summary: dict | None) -> dict[str, Any]:
    """Line, template and anomaly counts, per detector too."""
    tid = keys["template_id"].to_numpy()
    per = {}
    for name in ran:
        in_table = table["detectors"].map(lambda ds, n=name: n in ds) if len(table) else pd.Series([], dtype=bool)
        per[name] = {"records": int(in_table.sum()), "lines": int((hits["detector"] == name).sum())}
    out = {
        "lines": int(len(keys)), "sources": int(keys["source"].nunique()),
        "templates": int(len(np.unique(tid[tid != UNSEEN_ID]))), "unseen_lines": int((tid == UNSEEN_ID).sum()),
        "anomalies": int(len(table)),
        "multi_detector": int(table["detectors"].map(len).ge(2).sum()) if len(table) else 0,
        "detectors": per,
    }
    if parse_summary:
        out["lines_read"] = parse_summary.get("lines_read")
        out["lines_skipped"] = sum((parse_summary.get("lines_skipped") or {}).values())
    return out


def agreement(hits: pd.DataFrame, ran: list[str]) -> list[dict[str, Any]]:
    """For each pair of detectors that ran: lines flagged by both, by either, and Jaccard = both/either."""
    lines = {name: set(hits.loc[hits["detector"] == name, "row"].tolist()) for name in ran}
    out = []
    for a, b in itertools.combinations(ran, 2):
        both, either = len(lines[a] & lines[b]), len(lines[a] | lines[b])
        out.append({"a": a, "b": b, "both": both, "either": either,
                    "jaccard": round(both / either, 4) if either else None})
    return out


def top_records(d: Path, table: pd.DataFrame, top: int, lang: str,
                parsed: ParsedRows | None = None) -> list[dict[str, Any]]:
    """The first `top` records with their raw lines (up to MAX_SHOWN_LINES each) and reason sentences."""
    records = to_records(table.head(top))
    shown = [r["rows"][:MAX_SHOWN_LINES] for r in records]
    raw = (parsed or ParsedRows(d)).take([x for rows in shown for x in rows], ["line_no", "raw"])
    for r, rows in zip(records, shown):
        r["lines"] = [{"line_no": int(raw.at[x, "line_no"]), "raw": raw.at[x, "raw"]} for x in rows]
        r["more_lines"] = len(r["rows"]) - len(rows)
        r["reasons"] = render_reasons(r["reasons"], lang)
    return records


def top_windows(d: Path, top: int) -> list[dict[str, Any]]:
    """The baseline's flagged windows, highest score first."""
    if not (d / BASELINE).exists():
        return []
    df = read_table(d / BASELINE, ["source", "window_start_line", "window_end_line", "score", "is_anomaly"],
                    optional=BASELINE_COMPONENTS)  # not the evidence lists
    df = df[df["is_anomaly"].astype(bool)].sort_values("score", ascending=False, kind="stable").head(top)
    return [{"source": r["source"], "start": int(r["window_start_line"]), "end": int(r["window_end_line"]),
             "score": float(r["score"]), "components": {c: plain(r[c]) for c in BASELINE_COMPONENTS if c in r}}
            for r in df.to_dict("records")]


def table_rows(table: pd.DataFrame) -> np.ndarray:
    """The parsed rows of every record of the result table (its flagged lines), sorted."""
    if table.empty:
        return np.zeros(0, dtype=np.int64)
    return np.unique(np.concatenate([np.asarray(r, dtype=np.int64) for r in table["rows"]]))


def _count_templates(tid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(template ids in order of first appearance, their lines, their first rows) by counting over
    the id range - a grouping of a million rows otherwise; None when the ids are too sparse."""
    if not len(tid) or int(tid.max()) - int(tid.min()) >= 1 << 24:
        return None
    low = int(tid.min())
    offset = tid - low
    counts = np.bincount(offset)
    first = np.full(len(counts), len(tid), dtype=np.int64)
    np.minimum.at(first, offset, np.arange(len(tid), dtype=np.int64))
    present = np.flatnonzero(counts)
    order = present[np.argsort(first[present], kind="stable")]
    return order + low, counts[order].astype(np.int64), first[order]


def template_stats(keys: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per template id of the parsed lines (`<UNSEEN>`'s too), in order of first appearance: `count`
    (lines), `flagged` (lines in a record of the result table) and `first_row` (its first parsed row).
    What the report's template lists and report.html's template table are cut from."""
    tid = keys["template_id"].to_numpy()
    counted = _count_templates(tid)
    if counted is None:
        first = pd.Series(np.arange(len(tid)), index=tid)
        first_row = first[~first.index.duplicated(keep="first")]
        counts = keys.groupby("template_id", sort=False).size()
    else:
        index = pd.Index(counted[0], name="template_id")
        counts, first_row = pd.Series(counted[1], index=index), pd.Series(counted[2], index=index)
    flagged = pd.Series(tid[table_rows(table)]).value_counts()
    return pd.DataFrame({"count": counts, "flagged": flagged.reindex(counts.index).fillna(0).astype(np.int64),
                         "first_row": first_row.reindex(counts.index)})


def _template_entries(parsed: ParsedRows, keys: pd.DataFrame, ids: pd.Index,
                      stats: pd.DataFrame) -> list[dict[str, Any]]:
    first_row = stats["first_row"]
    text = parsed.take(first_row.loc[ids], ["template"])
    return [{"template_id": int(tid), "template": text.at[int(first_row[tid]), "template"],
             "count": int(stats.at[tid, "count"]), "share": round(stats.at[tid, "count"] / len(keys), 4),
             "flagged": int(stats.at[tid, "flagged"])} for tid in ids]


def _top_templates(keys: pd.DataFrame, table: pd.DataFrame,
                   stats: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.Index, pd.Index]:
    """(template_stats (`stats` when the caller has it), the most frequent template ids, those with
    the most flagged lines)."""
    stats = template_stats(keys, table) if stats is None else stats
    counts = stats["count"].sort_values(ascending=False, kind="stable")
    flagged = stats.loc[stats["flagged"] > 0, "flagged"]
    dominant = counts.head(TOP_TEMPLATES).index
    # most flagged lines first; then the rarer template (a flagged share of it is more telling); then by id
    by_flagged = pd.DataFrame({"flagged": flagged, "count": counts.reindex(flagged.index)}).reset_index(names="tid")
    by_flagged = by_flagged.sort_values(["flagged", "count", "tid"], ascending=[False, True, True], kind="stable")
    most_flagged = pd.Index(by_flagged["tid"].head(TOP_TEMPLATES))
    return stats, dominant, most_flagged


def shown_rows(keys: pd.DataFrame, table: pd.DataFrame, top: int, stats: pd.DataFrame | None = None) -> list[int]:
    """The parsed rows the report shows (its records' lines, its templates' first lines), to fetch
    them with other parts' rows. `stats`: :func:`template_stats` when the caller has it."""
    stats, dominant, most_flagged = _top_templates(keys, table, stats)
    return [*(x for rows in table.head(top)["rows"] for x in list(rows)[:MAX_SHOWN_LINES]),
            *stats["first_row"].loc[dominant.append(most_flagged)].tolist()]


def template_summary(d: Path, keys: pd.DataFrame, table: pd.DataFrame,
                     parsed: ParsedRows | None = None) -> tuple[list[dict], list[dict]]:
    """(the most frequent templates, the templates with the most flagged lines): each with its `count`
    (lines), `share` of the lines and `flagged` (lines in a record of the result table)."""
    stats = parsed.per_table(table, template_stats) if parsed is not None else None  # `keys` are parsed.keys
    stats, dominant, most_flagged = _top_templates(keys, table, stats)
    parsed = parsed or ParsedRows(d)
    return _template_entries(parsed, keys, dominant, stats), _template_entries(parsed, keys, most_flagged, stats)


def _per_host(code: np.ndarray, n_codes: int, flagged: np.ndarray, times: pd.Series) -> pd.DataFrame:
    """Per code present: `lines`, `flagged_lines`, `first` / `last` time (NaT when it has none) - the
    aggregation of a groupby, by bincount and ufunc.at."""
    naive = times.dt.tz_convert(None).to_numpy()
    unit, ns = np.datetime_data(naive.dtype), naive.view(np.int64)  # ns: the column's own unit
    timed = ns != np.iinfo(np.int64).min  # NaT
    lines = np.bincount(code, minlength=n_codes)
    marked = np.bincount(code, weights=flagged, minlength=n_codes).astype(np.int64)
    first = np.full(n_codes, np.iinfo(np.int64).max)
    last = np.full(n_codes, np.iinfo(np.int64).min)
    np.minimum.at(first, code[timed], ns[timed])
    np.maximum.at(last, code[timed], ns[timed])
    none = last == np.iinfo(np.int64).min
    first[none] = last[none]  # NaT
    present = np.flatnonzero(lines)

    def as_times(values: np.ndarray) -> pd.Series:
        return pd.Series(values[present].view(f"datetime64[{unit[0]}]")).dt.tz_localize("UTC")

    return pd.DataFrame({"lines": lines[present].astype(np.int64), "flagged_lines": marked[present],
                         "first": as_times(first).array, "last": as_times(last).array}, index=present)


def host_summary(d: Path, table: pd.DataFrame, top: int = TOP_HOSTS) -> tuple[list[dict[str, Any]], int]:
    """(the `top` hosts with the most flagged lines, then the most lines; the number of hosts). Each:
    `host` (NO_HOST for lines without one), `lines`, `flagged_lines` (lines in a record of the result
    table), `records` (records of that host), `first`, `last` (its first and last line time, ISO 8601
    UTC, or None). ([], 0) when no line names a host (nothing to compare). The host column is read
    as codes: never a Python string per line."""
    path = Path(d) / PARSED
    names = pq.read_schema(path).names
    if "host" not in names:  # every line is NO_HOST's
        return [], 0
    present = [c for c in ("host", "timestamp") if c in names]
    # Hosts as dictionary codes (a code per line, each host named once), counted and their times'
    # bounds taken per code by numpy: not a Python string per line, nor a grouping of a million rows.
    parsed = pq.read_table(path, columns=present, read_dictionary=["host"])
    code, host = missing_last(*arrow_codes(parsed.column("host")), NO_HOST)  # int64 codes; a missing host: NO_HOST
    flagged = np.zeros(parsed.num_rows, dtype=bool)
    flagged[table_rows(table)] = True
    times = (pd.to_datetime(parsed.column("timestamp").to_pandas(), utc=True) if "timestamp" in present
             else pd.Series(pd.NaT, index=range(parsed.num_rows), dtype="datetime64[ns, UTC]"))
    del parsed
    per = _per_host(code, len(host), flagged, times)
    return host_rows(per.set_axis(pd.Index(host[per.index.to_numpy()], dtype=object), axis=0), table, top)


def host_rows(parts: pd.DataFrame, table: pd.DataFrame, top: int) -> tuple[list[dict[str, Any]], int]:
    """`host_summary`'s result from per-host partial counts (`parts`: index host; lines, flagged_lines,
    first, last; a host may repeat)."""
    per = parts.groupby(level=0).agg({"lines": "sum", "flagged_lines": "sum", "first": "min", "last": "max"})
    if list(per.index) == [NO_HOST]:  # no line names a host
        return [], 0
    hosts = table["host"].astype("string").fillna(NO_HOST) if len(table) else pd.Series([], dtype="string")
    per["records"] = hosts.value_counts().reindex(per.index).fillna(0).astype(int)
    per = per.reset_index(names="host").sort_values(["flagged_lines", "lines", "host"],
                                                    ascending=[False, False, True], kind="stable")
    return [{"host": r["host"], "lines": int(r["lines"]), "flagged_lines": int(r["flagged_lines"]),
             "records": int(r["records"]), "first": iso_utc(r["first"]), "last": iso_utc(r["last"])}
            for r in per.head(top).to_dict("records")], len(per)


def report_data(d: Path, keys: pd.DataFrame, hits: pd.DataFrame, table: pd.DataFrame, top: int,
                lang: str, parsed: ParsedRows | None = None) -> dict[str, Any]:
    """Everything `report.json` holds. `parsed`: the folder's parse as the report reads it (shared)."""
    parsed = parsed or ParsedRows(d)
    ran = detectors_run(d)
    parse_summary = json.loads((d / PARSE_SUMMARY).read_text()) if (d / PARSE_SUMMARY).is_file() else None
    templates, flagged_templates = template_summary(d, keys, table, parsed)
    hosts, hosts_total = host_summary(d, table)
    return {
        "processed_dir": str(d), "lang": lang, "detectors_run": ran,
        "summary": summary(keys, hits, table, ran, parse_summary),
        "top": top_records(d, table, top, lang, parsed),
        "windows": top_windows(d, top),
        "templates": templates,
        "flagged_templates": flagged_templates,
        "hosts": hosts, "hosts_total": hosts_total,
        "agreement": agreement(hits, ran),
        "links": {},
    }


def lines_label(line_nos: list[int]) -> str:
    """`5-9` for a contiguous run of line numbers, else `3, 7, 8`."""
    if len(line_nos) > 1 and line_nos[-1] - line_nos[0] == len(line_nos) - 1:
        return f"{line_nos[0]}-{line_nos[-1]}"
    return ", ".join(map(str, line_nos))
