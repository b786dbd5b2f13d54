"""The content of `report.json` / `report.md`: numbers and lines, no presentation.

Everything here is data (plain JSON types); human sentences are produced from it by
:mod:`.markdown` through the message table, and each reason keeps its message key and params.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from anomaly_log_detector.reports.anomalies import to_records
from anomaly_log_detector.reports.hits import BASELINE_COMPONENTS, detectors_run, plain
from anomaly_log_detector.reports.inputs import BASELINE, PARSE_SUMMARY, read_table, take_rows
from anomaly_log_detector.reports.messages import t
from anomaly_log_detector.fileio.schema import UNSEEN_ID

# Lines of one record shown in a report (the result table keeps them all).
MAX_SHOWN_LINES = 10
TOP_TEMPLATES = 10


def reason_text(reason: dict, lang: str, quote: Callable[[str], str] | None = None) -> str:
    """The sentence of one reason. Its text params come from the log (a session, the nearest known
    template): `quote` formats them for the output (escape.code_span for Markdown; as is for JSON)."""
    params = reason["params"]
    q = quote or (lambda v: v)
    # A list of log texts (MS-CRED's top templates) is shown as its quoted items, comma-separated.
    params = {k: q(v) if isinstance(v, str) else ", ".join(q(str(x)) for x in v) if isinstance(v, list) else v
              for k, v in params.items()}
    return t(reason["key"], lang, **params)


def render_reasons(reasons: list[dict], lang: str, quote: Callable[[str], str] | None = None) -> list[dict]:
    """Reasons with their sentence added under `text` (key and params kept for re-rendering)."""
    return [{**r, "text": reason_text(r, lang, quote)} for r in reasons]


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


def top_records(d: Path, table: pd.DataFrame, top: int, lang: str) -> list[dict[str, Any]]:
    """The first `top` records with their raw lines (up to MAX_SHOWN_LINES each) and reason sentences."""
    records = to_records(table.head(top))
    shown = [r["rows"][:MAX_SHOWN_LINES] for r in records]
    raw = take_rows(d, [x for rows in shown for x in rows], ["line_no", "raw"])
    for r, rows in zip(records, shown):
        r["lines"] = [{"line_no": int(raw.at[x, "line_no"]), "raw": raw.at[x, "raw"]} for x in rows]
        r["more_lines"] = len(r["rows"]) - len(rows)
        r["reasons"] = render_reasons(r["reasons"], lang)
    return records


def top_windows(d: Path, top: int) -> list[dict[str, Any]]:
    """The baseline's flagged windows, highest score first."""
    if not (d / BASELINE).exists():
        return []
    df = read_table(d / BASELINE, ["source", "window_start_line", "window_end_line", "score", "is_anomaly"])
    df = df[df["is_anomaly"].astype(bool)].sort_values("score", ascending=False, kind="stable").head(top)
    return [{"source": r["source"], "start": int(r["window_start_line"]), "end": int(r["window_end_line"]),
             "score": float(r["score"]), "components": {c: plain(r[c]) for c in BASELINE_COMPONENTS if c in r}}
            for r in df.to_dict("records")]


def dominant_templates(d: Path, keys: pd.DataFrame) -> list[dict[str, Any]]:
    """The most frequent templates with their count and share of the lines."""
    counts = keys.groupby("template_id", sort=False).size().sort_values(ascending=False, kind="stable")
    counts = counts.head(TOP_TEMPLATES)
    first_row = keys.reset_index().drop_duplicates("template_id").set_index("template_id")["index"]
    text = take_rows(d, first_row.loc[counts.index], ["template"])
    return [{"template_id": int(tid), "template": text.at[int(first_row[tid]), "template"], "count": int(n),
             "share": round(n / len(keys), 4)} for tid, n in counts.items()]


def report_data(d: Path, keys: pd.DataFrame, hits: pd.DataFrame, table: pd.DataFrame, top: int,
                lang: str) -> dict[str, Any]:
    """Everything `report.json` holds."""
    ran = detectors_run(d)
    parse_summary = json.loads((d / PARSE_SUMMARY).read_text()) if (d / PARSE_SUMMARY).is_file() else None
    return {
        "processed_dir": str(d), "lang": lang, "detectors_run": ran,
        "summary": summary(keys, hits, table, ran, parse_summary),
        "top": top_records(d, table, top, lang),
        "windows": top_windows(d, top),
        "templates": dominant_templates(d, keys),
        "agreement": agreement(hits, ran),
    }


def lines_label(line_nos: list[int]) -> str:
    """`5-9` for a contiguous run of line numbers, else `3, 7, 8`."""
    if len(line_nos) > 1 and line_nos[-1] - line_nos[0] == len(line_nos) - 1:
        return f"{line_nos[0]}-{line_nos[-1]}"
    return ", ".join(map(str, line_nos))
