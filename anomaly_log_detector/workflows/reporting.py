"""Every report of a processed folder in one pass, linked together.

1. The result table (`anomalies.jsonl`, `anomalies.parquet`) and the report data (reports/markdown.py
   `build_report`).
2. The analyses an analyst opens next: log samples with context (`log_samples_analysis/`), the
   temporal profile against normal data (`temporal_analysis/`, when the log has timestamps) and the
   MS-CRED analysis (`mscred_analysis/`, when MS-CRED flagged a window).
3. `report.md` + `report.json` linking them, and `report.html`: one self-contained page with the
   timeline, the records and their raw lines, the heatmaps.

Data flows one way: analyzers and renderers never call each other; this module calls both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from anomaly_log_detector.analyzers.samples import SAMPLES_DIR
from anomaly_log_detector.reports.anomalies import DEFAULT_GAP
from anomaly_log_detector.reports.parsed_rows import ParsedRows
from anomaly_log_detector.workflows.memory import release_memory, trim_heap

TEMPORAL_ANALYSIS = "temporal_analysis"
MSCRED_ANALYSIS = "mscred_analysis"
REPORT_HTML = "report.html"
MSCRED_INFER = "mscred_infer.parquet"


def _rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def _mscred_flagged(d: Path) -> int:
    """Windows MS-CRED flagged in this folder (0 when it did not run)."""
    path = d / MSCRED_INFER
    if not path.exists():
        return 0
    import pyarrow.parquet as pq

    flags = pq.read_table(path, columns=["is_anomaly"]).column("is_anomaly").to_pylist()
    return sum(1 for f in flags if f)


def _shown_rows(parsed: ParsedRows, table: Any, *, top: int, samples: bool, html: bool) -> list[int]:
    """The parsed rows the report, the log samples and report.html show for a result table (each part
    fetching its own would decode the raw text of most row groups again)."""
    from anomaly_log_detector.analyzers.samples import sample_rows
    from anomaly_log_detector.reports.html import shown_rows, source_codes, template_summary_rows
    from anomaly_log_detector.reports.summary import shown_rows as report_rows, template_stats

    keys, stats = parsed.keys, parsed.per_table(table, template_stats)
    rows = report_rows(keys, table, top, stats)
    if samples:
        rows += sample_rows(keys, table)
    if html:
        rows += shown_rows(table, source_codes(keys["source"]))
        rows += template_summary_rows(keys, table, stats)
    return rows


def write_reports(processed_dir: str | os.PathLike, *, top: int = 20, lang: str = "en",
                  warnings: list[str] | None = None, gap: float = DEFAULT_GAP,
                  shown_dir: str | os.PathLike | None = None, samples: bool = True, temporal: bool = True,
                  mscred: bool = True, html: bool = True, temporal_baseline: dict | None = None,
                  report_md: str | None = None, report_json: str | None = None) -> dict[str, Any]:
    """Write the result table, the analyses (each switchable) and the reports into `processed_dir`;
    return ``{"paths": {name: Path}, "data": report data, "analyses": {name: summary}}``.

    `temporal_baseline` is a bundle's training profile (analyzers/temporal.py `temporal_profile`);
    without it the temporal analysis profiles the log against itself. `report_md`/`report_json`
    rename the Markdown/JSON report (infer writes `inference_report.md`); `shown_dir` is the folder the
    reports name (infer writes into a staging folder moved into place at the end)."""
    from anomaly_log_detector.reports.markdown import build_report, write_report_files

    d = Path(processed_dir)
    # The parse's key columns read once for every part, and the lines every part shows fetched with
    # the result table's own (one pass over the raw text).
    parsed = ParsedRows(d)
    parsed.shown = lambda table: _shown_rows(parsed, table, top=top, samples=samples, html=html)
    parsed.between = trim_heap  # each step's freed arrays back to the OS before the next step's
    table, data, paths = build_report(d, top=top, lang=lang, warnings=warnings, gap=gap, shown_dir=shown_dir,
                                      parsed=parsed)
    release_memory()  # each analysis reads the folder again: its working set should not stack on the last one's
    links: dict[str, str] = {}
    extras: dict[str, Any] = {}
    analyses: dict[str, Any] = {}
    if samples:
        from anomaly_log_detector.analyzers.samples import analyze_samples

        sample_paths = analyze_samples(d, lang=lang, table=table, shown_dir=shown_dir, parsed=parsed)
        paths.update(sample_paths)
        links["samples"] = _rel(sample_paths["samples_md"], d)
        extras["samples"] = links["samples"]
        parsed.between()
    if temporal:
        from anomaly_log_detector.analyzers.temporal import analyze_temporal

        result = analyze_temporal(d, d / TEMPORAL_ANALYSIS, baseline_profile=temporal_baseline, lang=lang,
                                  shown_dir=shown_dir, parsed=parsed)
        analyses["temporal"] = {k: result.get(k) for k in ("status", "flagged_hours")}
        if result["status"] == "ok":
            links["temporal"] = _rel(Path(result["report"]), d)
            extras["temporal"] = {"heatmap": result.get("heatmap"), "baseline_heatmap": result.get("baseline_heatmap"),
                                  "report": links["temporal"]}
            paths["temporal_report"] = Path(result["report"])
        release_memory()
    flagged = _mscred_flagged(d) if mscred else 0
    if flagged:
        from anomaly_log_detector.analyzers.mscred import analyze_mscred

        result = analyze_mscred(d, d / MSCRED_ANALYSIS, lang=lang)
        links["mscred"] = _rel(Path(result["report"]), d)
        heatmaps = [_rel(Path(p), d) for p in result.get("heatmaps") or []]
        extras["mscred"] = {"report": links["mscred"], "heatmaps": heatmaps, "flagged_windows": flagged}
        analyses["mscred"] = {"flagged_windows": flagged, "report": links["mscred"]}
        paths["mscred_report"] = Path(result["report"])
    if html:
        links["html"] = REPORT_HTML
    data["links"] = links
    written = write_report_files(d, data, lang)
    for key, name in (("report_md", report_md), ("report_json", report_json)):
        if name and written[key].name != name:
            os.replace(written[key], d / name)
            written[key] = d / name
    paths.update(written)
    if html:
        from anomaly_log_detector.reports.html import write_html_report

        extras["reports"] = {k: written[k].name for k in ("report_md", "report_json")}
        paths["report_html"] = write_html_report(d, data, table, lang=lang, extras=extras, path=d / REPORT_HTML,
                                                 parsed=parsed)
    return {"paths": paths, "data": data, "analyses": analyses}
