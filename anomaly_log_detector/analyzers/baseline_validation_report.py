"""The vetting result of :mod:`.baseline_validation` as text: the Markdown report, the JSON file, one
line per file for a terminal. Every sentence comes from the message catalogs (``vet.*``)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from anomaly_log_detector.errors import OutputError, output_error

REPORT_MD = "baseline_validation_report.md"
REPORT_JSON = "baseline_validation.json"


def reason_text(reason: dict[str, Any], lang: str = "en") -> str:
    """One reason (or note) as a sentence in `lang` (params that come from files shown as they are)."""
    from anomaly_log_detector.reports.messages import t

    return t(reason["key"], lang, **reason["params"])


def write_outputs(result: dict[str, Any], output_dir: str | os.PathLike, lang: str = "en") -> dict[str, str]:
    """Write the JSON and the Markdown report into `output_dir` (created); return their paths."""
    out = Path(output_dir)
    paths = {"json": str(out / REPORT_JSON), "report": str(out / REPORT_MD)}
    try:
        out.mkdir(parents=True, exist_ok=True)
        Path(paths["json"]).write_text(json.dumps({**result, "outputs": paths}, indent=2, ensure_ascii=False,
                                                  default=str) + "\n", encoding="utf-8")
        Path(paths["report"]).write_text(render_markdown(result, lang), encoding="utf-8")
    except OSError as exc:
        raise output_error(exc, out) or OutputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    return paths


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def render_markdown(result: dict[str, Any], lang: str = "en") -> str:
    """The Markdown report: a verdict table, then each file's reasons and measures. Every sentence
    comes from the catalog; every path and log text is escaped (reports/escape.py)."""
    from anomaly_log_detector.reports.escape import code_span, md_text
    from anomaly_log_detector.reports.messages import t

    c = result["counts"]
    lines = [f"# {t('vet.title', lang)}", "",
             t("vet.intro", lang, n=len(result["files"]), good=c["good"], suspicious=c["suspicious"],
               reject=c["reject"], time=result["generated_utc"]), "",
             t("vet.rules", lang), "",
             f"| {t('vet.col.file', lang)} | {t('vet.col.verdict', lang)} | {t('vet.col.lines', lang)} | "
             f"{t('vet.col.errors', lang)} | {t('vet.col.warnings', lang)} | {t('vet.col.novelty', lang)} | "
             f"{t('vet.col.rare', lang)} | {t('vet.col.spikes', lang)} | {t('vet.col.gap', lang)} |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in result["files"]:
        m = r["metrics"] or {}
        vol, gaps = m.get("volume") or {}, m.get("gaps") or {}
        gap = gaps.get("longest_gap_s")
        gap_text = "-" if gap is None else f"{gap / 3600:.1f} h" if gap >= 3600 else f"{gap:.0f} s"
        n = "-" if not m else f"{m['lines_parsed']:,}"
        lines.append(f"| {code_span(r['source'], table=True)} | **{t('vet.verdict.' + r['verdict'], lang)}** | "
                     f"{n} | {_pct(m.get('error_share'))} | {_pct(m.get('warning_share'))} | "
                     f"{_pct(m.get('novelty_share'))} | {_pct(m.get('rare_share'))} | {_pct(vol.get('spike_share'))} | "
                     f"{gap_text} |")
    for r in result["files"]:
        lines += ["", f"## {md_text(r['source'])}", "",
                  t("vet.file_verdict", lang, verdict=t("vet.verdict." + r["verdict"], lang)), ""]
        if r["reasons"]:
            lines += [f"- {_md_reason(x, lang)}" for x in r["reasons"]]
        else:
            lines.append(f"- {t('vet.no_reasons', lang)}")
        for note in r["notes"]:
            lines.append(f"- {t('vet.note', lang)}: {_md_reason(note, lang)}")
        m = r["metrics"]
        if m:
            lines += ["", t("vet.measures", lang, read=m["lines_read"], parsed=m["lines_parsed"],
                            skipped=m["lines_skipped"], unreadable=m["lines_unreadable"],
                            templates=m["templates"], evidence=t("vet.evidence." + m["error_evidence"], lang),
                            format=md_text(m["format"] or "raw"))]
    if result["walk_skipped"]:
        lines += ["", f"## {t('vet.walk_skipped', lang)}", ""]
        lines += [f"- {code_span(s['source'])}: {md_text(s['reason'])}" for s in result["walk_skipped"]]
    lines += ["", f"## {t('vet.thresholds', lang)}", "", "```json",
              json.dumps(result["thresholds"], indent=2), "```", ""]
    return "\n".join(lines)


def _md_reason(reason: dict[str, Any], lang: str) -> str:
    """A reason sentence for Markdown: params from files (errors, times) as escaped text."""
    from anomaly_log_detector.reports.escape import md_text
    from anomaly_log_detector.reports.messages import t

    params = {k: (md_text(v) if isinstance(v, str) else v) for k, v in reason["params"].items()}
    return t(reason["key"], lang, **params)


def format_verdicts(result: dict[str, Any], lang: str = "en") -> str:
    """Plain text for a terminal: one line per file (verdict, path, reasons); escape it for the terminal."""
    from anomaly_log_detector.reports.messages import t

    out = []
    for r in result["files"]:
        why = "; ".join(reason_text(x, lang) for x in r["reasons"])
        out.append(f"{t('vet.verdict.' + r['verdict'], lang)}: {r['source']}" + (f" - {why}" if why else ""))
    return "\n".join(out)
