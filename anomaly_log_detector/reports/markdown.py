"""`report.md` (+ its twin `report.json`): the human view of a processed folder's results.

All sentences come from the message table (:mod:`.messages`); log text is shown verbatim in code
blocks and code spans, never interpreted as Markdown.
"""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from anomaly_log_detector.reports.anomalies import DEFAULT_GAP, anomaly_table, write_anomalies
from anomaly_log_detector.reports.hits import collect_hits
from anomaly_log_detector.reports.inputs import read_keys
from anomaly_log_detector.reports.messages import check_lang, t
from anomaly_log_detector.reports.summary import report_data

REPORT_MD = "report.md"
REPORT_JSON = "report.json"


def code_block(lines: list[str]) -> str:
    """A fenced block longer than any backtick run inside (log lines may contain backticks)."""
    fence = "`" * max(3, _longest_backticks("\n".join(lines)) + 1)
    return "\n".join([fence, *lines, fence])


def _longest_backticks(text: str) -> int:
    return max(map(len, re.findall("`+", text)), default=0)


def code_span(text: str) -> str:
    """Inline code safe for table cells: `|` escaped, newlines flattened, fence wider than the text's."""
    text = str(text).replace("\n", " ").replace("|", "\\|")
    fence = "`" * (_longest_backticks(text) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def lines_label(line_nos: list[int]) -> str:
    """`5-9` for a contiguous run of line numbers, else `3, 7, 8`."""
    if len(line_nos) > 1 and line_nos[-1] - line_nos[0] == len(line_nos) - 1:
        return f"{line_nos[0]}-{line_nos[-1]}"
    return ", ".join(map(str, line_nos))


def render_report(data: dict[str, Any], lang: str = "en") -> str:
    """The Markdown text of a report built by :func:`.summary.report_data`."""
    s = data["summary"]
    md = [f"# {t('report.title', lang)}", ""]
    for warning in data.get("warnings") or []:  # right under the title: read before any finding
        md += [f"> **{t('report.warning', lang)}** " + " ".join(str(warning).split()), ""]
    md += [t("report.generated", lang, dir=data["processed_dir"], time=data["generated_utc"]), ""]
    md += [f"## {t('report.summary', lang)}", ""]
    rows = [[t("report.lines", lang), f"{s['lines']:,}"], [t("report.sources", lang), s["sources"]],
            [t("report.templates", lang), s["templates"]], [t("report.unseen", lang), f"{s['unseen_lines']:,}"],
            [t("report.anomalies", lang), f"{s['anomalies']:,}"], [t("report.multi", lang), s["multi_detector"]]]
    md += _table(["", ""], rows) + ["", f"### {t('report.per_detector', lang)}", ""]
    md += _table([t("report.detector", lang), t("report.records", lang), t("report.flagged_lines", lang)],
                 [[name, f"{v['records']:,}", f"{v['lines']:,}"] for name, v in s["detectors"].items()])
    md += ["", f"## {t('report.top', lang, n=len(data['top']))}", ""]
    if not data["top"]:
        md += [t("report.none", lang), ""]
    for r in data["top"]:
        md += ["### " + t("report.record_head", lang, rank=r["rank"], score=r["score"],
                             detectors=", ".join(r["detectors"]), source=code_span(r["source"]),
                             lines=lines_label(r["line_nos"])), ""]
        md += [t("report.record_meta", lang, time=r["time"] or "-", host=r["host"] or "-",
                 process=r["process"] or "-")]
        if r.get("entity"):
            md += ["", t("report.record_span", lang, entity=code_span(r["entity"]), n=len(r["line_nos"]),
                         first=r.get("first_time") or "-", last=r.get("last_time") or "-")]
        count = r.get("template_training_count")
        if count is not None and count >= 0:
            md += ["", t("report.record_training", lang, count=count) if count else
                   t("report.record_training_new", lang)]
        if r.get("expected"):
            md += ["", t("report.record_expected", lang, expected=", ".join(code_span(x) for x in r["expected"]))]
        md += [""]
        md += [f"- {reason['text']}" for reason in r["reasons"]] + [""]
        md += [code_block([f"{x['line_no']}: {x['raw']}" for x in r["lines"]])]
        if r["more_lines"]:
            md += [t("report.more_lines", lang, n=r["more_lines"])]
        md += [""]
    if data["windows"]:
        md += [f"## {t('report.windows', lang)}", ""]
        for w in data["windows"]:
            comps = ", ".join(f"{k}={v:.3f}" for k, v in w["components"].items() if v is not None)
            md += ["- " + code_span(w["source"]) + " " + t("report.window_row", lang, start=w["start"], end=w["end"],
                                                           score=w["score"], components=f" ({comps})" if comps else "")]
        md += [""]
    md += [f"## {t('report.dominant', lang)}", ""]
    md += _table([t("report.count", lang), t("report.share", lang), t("report.template", lang)],
                 [[f"{x['count']:,}", f"{x['share']:.1%}", code_span(x["template"])] for x in data["templates"]])
    if data["agreement"]:
        md += ["", f"## {t('report.agreement', lang)}", "", t("report.agreement_note", lang), ""]
        md += _table([t("report.pair", lang), t("report.both", lang), t("report.either", lang),
                      t("report.jaccard", lang)],
                     [[f"{a['a']} / {a['b']}", a["both"], a["either"],
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
                 lang: str = "en", warnings: list[str] | None = None, gap: float = DEFAULT_GAP) -> dict[str, Path]:
    """Write `report.md`, `report.json`, `anomalies.jsonl` and `anomalies.parquet` into the folder
    (and the log-samples analysis with `with_samples`); return the paths written. `warnings`
    (sentences, e.g. "this log does not fit the model") become a banner under the title and the
    report JSON's `warnings`."""
    check_lang(lang)
    d = Path(processed_dir)
    keys = read_keys(d)
    hits = collect_hits(d, keys)
    table = anomaly_table(d, keys, hits, gap)
    paths = write_anomalies(table, d)
    data = {**report_data(d, keys, hits, table, top, lang), "generated_utc": _utc_now(),
            "warnings": list(warnings or [])}
    if with_samples:
        from anomaly_log_detector.analyzers.samples import analyze_samples

        sample_paths = analyze_samples(d, lang=lang, table=table)
        data["samples"] = str(sample_paths["samples_md"].relative_to(d))
        paths.update(sample_paths)
    _write_text(d / REPORT_JSON, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    _write_text(d / REPORT_MD, render_report(data, lang))
    return {**paths, "report_md": d / REPORT_MD, "report_json": d / REPORT_JSON}
