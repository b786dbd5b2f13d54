"""`report.md` (+ its twin `report.json`): the human view of a processed folder's results.

All sentences come from the message table (:mod:`.messages`); text from logs and file names (lines,
templates, sources, hosts, processes, sessions, warnings) goes through :mod:`.escape`: shown verbatim
in code blocks and code spans, or escaped as text, never interpreted as Markdown or HTML, and with no
control character that a terminal would act on when the file is printed.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from anomaly_log_detector.reports.anomalies import DEFAULT_GAP, anomaly_table, write_anomalies
from anomaly_log_detector.reports.escape import code_block, code_span, md_text
from anomaly_log_detector.reports.hits import collect_hits
from anomaly_log_detector.reports.inputs import read_keys
from anomaly_log_detector.reports.messages import check_lang, t
from anomaly_log_detector.reports.summary import lines_label, reason_text, report_data

REPORT_MD = "report.md"
REPORT_JSON = "report.json"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A GFM table; the cells must already be Markdown (md_text, or code_span(..., table=True))."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _or_dash(value: Any, quote=code_span) -> str:
    return quote(value) if value is not None and value != "" else "-"


def render_report(data: dict[str, Any], lang: str = "en") -> str:
    """The Markdown text of a report built by :func:`.summary.report_data`."""
    s = data["summary"]
    md = [f"# {t('report.title', lang)}", ""]
    for warning in data.get("warnings") or []:  # right under the title: read before any finding
        md += [f"> **{t('report.warning', lang)}** " + md_text(" ".join(str(warning).split())), ""]
    md += [t("report.generated", lang, dir=code_span(data["processed_dir"]), time=md_text(data["generated_utc"])), ""]
    md += [f"## {t('report.summary', lang)}", ""]
    rows = [[t("report.lines", lang), f"{s['lines']:,}"], [t("report.sources", lang), s["sources"]],
            [t("report.templates", lang), s["templates"]], [t("report.unseen", lang), f"{s['unseen_lines']:,}"],
            [t("report.anomalies", lang), f"{s['anomalies']:,}"], [t("report.multi", lang), s["multi_detector"]]]
    md += _table(["", ""], rows) + ["", f"### {t('report.per_detector', lang)}", ""]
    md += _table([t("report.detector", lang), t("report.records", lang), t("report.flagged_lines", lang)],
                 [[md_text(name), f"{v['records']:,}", f"{v['lines']:,}"] for name, v in s["detectors"].items()])
    md += ["", f"## {t('report.top', lang, n=len(data['top']))}", ""]
    if not data["top"]:
        md += [t("report.none", lang), ""]
    for r in data["top"]:
        md += ["### " + t("report.record_head", lang, rank=r["rank"], score=r["score"],
                             detectors=md_text(", ".join(r["detectors"])), source=code_span(r["source"]),
                             lines=lines_label(r["line_nos"])), ""]
        md += [t("report.record_meta", lang, time=_or_dash(r["time"], md_text), host=_or_dash(r["host"]),
                 process=_or_dash(r["process"]))]
        if r.get("entity"):
            md += ["", t("report.record_span", lang, entity=code_span(r["entity"]), n=len(r["line_nos"]),
                         first=_or_dash(r.get("first_time"), md_text), last=_or_dash(r.get("last_time"), md_text))]
        count = r.get("template_training_count")
        if count is not None and count >= 0:
            md += ["", t("report.record_training", lang, count=count) if count else
                   t("report.record_training_new", lang)]
        if r.get("expected"):
            md += ["", t("report.record_expected", lang, expected=", ".join(code_span(x) for x in r["expected"]))]
        md += [""]
        md += [f"- {reason_text(reason, lang, code_span)}" for reason in r["reasons"]] + [""]
        md += [code_block([f"{x['line_no']}: {x['raw']}" for x in r["lines"]])]
        if r["more_lines"]:
            md += [t("report.more_lines", lang, n=r["more_lines"])]
        md += [""]
    if data["windows"]:
        md += [f"## {t('report.windows', lang)}", ""]
        for w in data["windows"]:
            comps = ", ".join(f"{md_text(k)}={v:.3f}" for k, v in w["components"].items() if v is not None)
            md += ["- " + code_span(w["source"]) + " " + t("report.window_row", lang, start=w["start"], end=w["end"],
                                                           score=w["score"], components=f" ({comps})" if comps else "")]
        md += [""]
    md += [f"## {t('report.dominant', lang)}", ""]
    md += _table([t("report.count", lang), t("report.share", lang), t("report.template", lang)],
                 [[f"{x['count']:,}", f"{x['share']:.1%}", code_span(x["template"], table=True)]
                  for x in data["templates"]])
    if data["agreement"]:
        md += ["", f"## {t('report.agreement', lang)}", "", t("report.agreement_note", lang), ""]
        md += _table([t("report.pair", lang), t("report.both", lang), t("report.either", lang),
                      t("report.jaccard", lang)],
                     [[md_text(f"{a['a']} / {a['b']}"), a["both"], a["either"],
                       "-" if a["jaccard"] is None else f"{a['jaccard']:.3f}"] for a in data["agreement"]])
    if data.get("samples"):
        md += ["", t("report.samples_link", lang, path=code_span(data["samples"]))]
    return "\n".join(md) + "\n"


def _utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(processed_dir: str | os.PathLike, top: int = 20, with_samples: bool = False,
                 lang: str = "en", warnings: list[str] | None = None, gap: float = DEFAULT_GAP,
                 shown_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Write `report.md`, `report.json`, `anomalies.jsonl` and `anomalies.parquet` into the folder
    (and the log-samples analysis with `with_samples`); return the paths written. `warnings`
    (plain sentences, e.g. "this log does not fit the model") become a banner under the title and the
    report JSON's `warnings`. `shown_dir` is the folder the reports name (default: the one written;
    `infer` writes into a staging folder moved into place at the end)."""
    check_lang(lang)
    d = Path(processed_dir)
    keys = read_keys(d)
    hits = collect_hits(d, keys)
    table = anomaly_table(d, keys, hits, gap)
    paths = write_anomalies(table, d)
    data = {**report_data(d, keys, hits, table, top, lang), "generated_utc": _utc_now(),
            "warnings": list(warnings or [])}
    if shown_dir is not None:
        data["processed_dir"] = str(shown_dir)
    if with_samples:
        from anomaly_log_detector.analyzers.samples import analyze_samples

        sample_paths = analyze_samples(d, lang=lang, table=table, shown_dir=shown_dir)
        data["samples"] = str(sample_paths["samples_md"].relative_to(d))
        paths.update(sample_paths)
    _write_text(d / REPORT_JSON, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    _write_text(d / REPORT_MD, render_report(data, lang))
    return {**paths, "report_md": d / REPORT_MD, "report_json": d / REPORT_JSON}
