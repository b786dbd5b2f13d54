"""`report.md` (+ its twin `report.json`): the human view of a processed folder's results.

Two steps, so that a caller can run analyzers in between and link them from the report:
:func:`build_report` computes the result table (writing `anomalies.jsonl` / `anomalies.parquet`) and
the report's data; :func:`write_report_files` writes `report.md` and `report.json` from that data.
:func:`write_report` does both (and, with `with_samples`, the log-samples analysis).

The Markdown is rendered from the Jinja2 template `templates/report.md.j2` (:mod:`.templating`). All
sentences come from the message catalogs (:mod:`.messages`); text from logs and file names (lines,
templates, sources, hosts, processes, sessions, warnings) goes through :mod:`.escape` filters: shown
verbatim in code blocks and code spans, or escaped as text, never interpreted as Markdown or HTML, and
with no control character that a terminal would act on when the file is printed.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from anomaly_log_detector.reports.anomalies import DEFAULT_GAP, anomaly_table, write_anomalies
from anomaly_log_detector.reports.hits import collect_hits
from anomaly_log_detector.reports.parsed_rows import ParsedRows
from anomaly_log_detector.reports.messages import check_lang
from anomaly_log_detector.reports.summary import report_data
from anomaly_log_detector.reports.templating import render

REPORT_MD = "report.md"
REPORT_JSON = "report.json"
TEMPLATE = "report.md.j2"


def render_report(data: dict[str, Any], lang: str = "en") -> str:
    """The Markdown text of a report built by :func:`.summary.report_data` (or :func:`build_report`)."""
    context = {"warnings": [], "links": {}, "flagged_templates": [], "hosts": [], "hosts_total": 0, **data}
    if data.get("samples") and "samples" not in context["links"]:  # data of an older report.json
        context["links"] = {"samples": data["samples"], **context["links"]}
    context["warnings"] = list(context["warnings"] or [])
    return render(TEMPLATE, lang, context)


def _utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_report(processed_dir: str | os.PathLike, top: int = 20, lang: str = "en",
                 warnings: list[str] | None = None, gap: float = DEFAULT_GAP,
                 shown_dir: str | os.PathLike | None = None,
                 parsed: ParsedRows | None = None) -> tuple[pd.DataFrame, dict[str, Any], dict[str, Path]]:
    """The result table of the folder, written as `anomalies.jsonl` + `anomalies.parquet`, and the
    report's data: returns (table, data, {"jsonl": path, "parquet": path}). `warnings` (plain
    sentences, e.g. "this log does not fit the model") become a banner under the title and the report
    JSON's `warnings`. `shown_dir` is the folder the report names (default: the one written; `infer`
    writes into a staging folder moved into place at the end). Add analyses to ``data["links"]``
    (name -> path relative to the folder) before :func:`write_report_files` to list them under
    "Further analysis". `parsed`: the folder's parse as every part of the report reads it (shared)."""
    check_lang(lang)
    d = Path(processed_dir)
    parsed = parsed or ParsedRows(d)
    keys = parsed.keys
    hits = collect_hits(d, keys, parsed.between)
    table = anomaly_table(d, keys, hits, gap, parsed=parsed)
    parsed.between()
    paths = write_anomalies(table, d)
    data = {**report_data(d, keys, hits, table, top, lang, parsed), "generated_utc": _utc_now(),
            "warnings": list(warnings or [])}
    if shown_dir is not None:
        data["processed_dir"] = str(shown_dir)
    return table, data, paths


def write_report_files(processed_dir: str | os.PathLike, data: dict[str, Any], lang: str = "en") -> dict[str, Path]:
    """Write `report.md` (rendered in `lang`) and `report.json` (`data`) into the folder; return their paths."""
    check_lang(lang)
    d = Path(processed_dir)
    _write_text(d / REPORT_JSON, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    _write_text(d / REPORT_MD, render_report(data, lang))
    return {"report_md": d / REPORT_MD, "report_json": d / REPORT_JSON}


def write_report(processed_dir: str | os.PathLike, top: int = 20, with_samples: bool = False,
                 lang: str = "en", warnings: list[str] | None = None, gap: float = DEFAULT_GAP,
                 shown_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write `report.md`, `report.json`, `anomalies.jsonl` and `anomalies.parquet` into the folder
    (and the log-samples analysis with `with_samples`, linked from the report); return the paths
    written. :func:`build_report` then :func:`write_report_files`."""
    d = Path(processed_dir)
    table, data, paths = build_report(d, top=top, lang=lang, warnings=warnings, gap=gap, shown_dir=shown_dir)
    if with_samples:
        from anomaly_log_detector.analyzers.samples import analyze_samples

        sample_paths = analyze_samples(d, lang=lang, table=table, shown_dir=shown_dir)
        data["samples"] = str(sample_paths["samples_md"].relative_to(d))
        data["links"]["samples"] = data["samples"]
        paths.update(sample_paths)
    return {**paths, **write_report_files(d, data, lang)}
