"""Log samples: the top anomalies with lines of context and a plain-language reason for each.

Writes ``log_samples_analysis/anomaly_analysis_report.md`` and its twin ``anomaly_samples.json`` into a
processed folder. Context lines are the parsed rows just before the first and after the last flagged
line of a record, within the same source. Log text in the Markdown goes through reports/escape.py
(code spans and blocks, no control character); the JSON keeps it raw.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.reports.anomalies import collect_anomalies, to_records
from anomaly_log_detector.reports.inputs import VOCAB
from anomaly_log_detector.reports.parsed_rows import ParsedRows
from anomaly_log_detector.reports.escape import code_span
from anomaly_log_detector.reports.messages import check_lang, t
from anomaly_log_detector.reports.reasons import render_reasons
from anomaly_log_detector.reports.templating import components, render

SAMPLES_DIR = "log_samples_analysis"
SAMPLES_MD = "anomaly_analysis_report.md"
SAMPLES_JSON = "anomaly_samples.json"
SAMPLE_COLUMNS = ["line_no", "raw", "template"]


def context_rows(keys: pd.DataFrame, rows: list[int], context: int) -> list[int]:
    """The record's rows plus `context` rows before and after, not crossing into another source."""
    lo, hi = max(min(rows) - context, 0), min(max(rows) + context, len(keys) - 1)
    # Only the span's sources become Python objects (not the column's million, once per record).
    src = keys["source"].iloc[lo:hi + 1].to_numpy()
    span = np.arange(lo, hi + 1)
    return span[src == src[rows[0] - lo]].tolist()


def sample_rows(keys: pd.DataFrame, table: pd.DataFrame, max_samples: int = 10, context: int = 3) -> list[int]:
    """The parsed rows :func:`analyze_samples` shows (to fetch them with other parts' rows)."""
    return [x for rows in table.head(max_samples)["rows"] for x in context_rows(keys, list(rows), context)]


def explain(record: dict[str, Any], lines: pd.DataFrame, vocab: list[str] | None, lang: str) -> list[str]:
    """Sentences (Markdown) saying why the record was flagged: each detector's reason with its details,
    then the actual template of the line DeepLog or novelty flagged."""
    out, actual_at = [], None
    for reason in render_reasons(record["reasons"], lang, code_span):
        out.append(reason["text"])
        p = reason["params"]
        if reason["detector"] == "deeplog" and vocab is not None and p.get("expected"):
            names = [code_span(i) if isinstance(i, str) else code_span(vocab[i]) if 0 <= i < len(vocab) else f"#{i}"
                 for i in p["expected"]]
            out.append(t("explain.expected", lang, expected=", ".join(names)))
        if reason["detector"] == "baseline" and p.get("components"):
            out.append(t("explain.components", lang, components=components(p["components"])))
        if reason["detector"] in ("deeplog", "novelty") and actual_at is None:
            actual_at = reason["line_no"]
    if actual_at is not None:
        template = lines.loc[lines["line_no"] == actual_at, "template"]
        out.append(t("explain.actual", lang, line=actual_at, template=code_span(template.iloc[0])))
    return out


def _render(samples: list[dict], d: str, context: int, lang: str) -> str:
    return render("samples.md.j2", lang, {"samples": samples, "processed_dir": d, "context": context})


def analyze_samples(processed_dir: str | os.PathLike, max_samples: int = 10, context_lines: int = 3,
                    lang: str = "en", table: pd.DataFrame | None = None,
                    shown_dir: str | os.PathLike | None = None, parsed: ParsedRows | None = None) -> dict[str, Path]:
    """Write the samples report and JSON for the top `max_samples` anomalies; return their paths.

    `table` is the folder's result table when the caller already has it (else it is collected);
    `shown_dir` the folder the report names (default: `processed_dir`); `parsed` the folder's parse
    as the report reads it (shared by its parts)."""
    check_lang(lang)
    d = Path(processed_dir)
    parsed = parsed or ParsedRows(d)
    table = collect_anomalies(d) if table is None else table
    records = to_records(table.head(max_samples))
    spans = [context_rows(parsed.keys, r["rows"], context_lines) for r in records]
    text = parsed.take([x for span in spans for x in span], SAMPLE_COLUMNS)
    vocab = Vocab.load(d / VOCAB).strings() if (d / VOCAB).is_file() else None
    samples = []
    for r, span in zip(records, spans):
        lines = text.loc[span]
        flagged = set(r["rows"])
        samples.append({
            **{k: r[k] for k in ("rank", "source", "line_nos", "time", "host", "process", "detectors", "score")},
            "explanation": explain(r, lines, vocab, lang),
            "reasons": render_reasons(r["reasons"], lang),
            # Columns as lists: iterating rows of text columns (Arrow-backed) costs ~4 us per value
            "lines": [{"line_no": int(n), "raw": raw, "template": template, "flagged": x in flagged}
                      for x, n, raw, template in zip(lines.index.tolist(), lines["line_no"].tolist(),
                                                     lines["raw"].tolist(), lines["template"].tolist())],
        })
    out = d / SAMPLES_DIR
    out.mkdir(exist_ok=True)
    shown = str(d if shown_dir is None else shown_dir)
    doc = {"processed_dir": shown, "max_samples": max_samples, "context_lines": context_lines, "lang": lang,
           "samples": samples}
    paths = {"samples_json": out / SAMPLES_JSON, "samples_md": out / SAMPLES_MD}
    for path, content in ((paths["samples_json"], json.dumps(doc, ensure_ascii=False, indent=1) + "\n"),
                          (paths["samples_md"], _render(samples, shown, context_lines, lang))):
        path.with_name(path.name + ".tmp").write_text(content, encoding="utf-8")
        os.replace(path.with_name(path.name + ".tmp"), path)
    return paths
