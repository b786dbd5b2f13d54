"""`alog-detect report` and `alog-detect analyze-samples`: human reports over a processed folder."""

from __future__ import annotations

import click

from anomaly_log_detector.cli.options import LANGUAGES, lang_option, output_options, say

__all__ = ["LANGUAGES", "lang_option", "processed_dir_option", "COMMANDS"]

PROCESSED_HELP = ("Processed folder: parsed.parquet plus whatever detector results are there "
                  "(baseline_scores.parquet, deeplog_infer.parquet, deeplog_sessions.parquet).")


def processed_dir_option(f):
    return click.option("--processed-dir", required=True, type=click.Path(exists=True, file_okay=False),
                        help=PROCESSED_HELP)(f)


@click.command("report")
@processed_dir_option
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
              help="Number of anomalies (and baseline windows) shown in detail.")
@click.option("--with-samples", is_flag=True,
              help="Also write the log-samples analysis (see analyze-samples) and link it.")
@click.option("--html", "html", is_flag=True,
              help="Also write report.html: one self-contained page (timeline, sortable records "
                   "expanding to their raw lines, hosts, templates) that opens with no network.")
@lang_option
@output_options
def report_command(processed_dir, top, with_samples, html, lang):
    """Write report.md + report.json and the result table (anomalies.jsonl, anomalies.parquet)."""
    from anomaly_log_detector.reports.escape import terminal_safe
    from anomaly_log_detector.reports.markdown import write_report

    paths = write_report(processed_dir, top=top, with_samples=with_samples, lang=lang)
    if html:
        from anomaly_log_detector.reports.html import write_html_from_outputs

        paths["report_html"] = write_html_from_outputs(processed_dir, lang=lang)
    for path in paths.values():
        say(terminal_safe(f"wrote {path}"))


@click.command("analyze-samples")
@processed_dir_option
@click.option("--max-samples", type=click.IntRange(min=1), default=10, show_default=True,
              help="Number of top anomalies to show.")
@click.option("--context-lines", type=click.IntRange(min=0), default=3, show_default=True,
              help="Lines of context before and after each anomaly.")
@lang_option
@output_options
def analyze_samples_command(processed_dir, max_samples, context_lines, lang):
    """Show the top anomalies' raw lines in context and why each was flagged
    (log_samples_analysis/anomaly_analysis_report.md + anomaly_samples.json)."""
    from anomaly_log_detector.analyzers.samples import analyze_samples
    from anomaly_log_detector.reports.escape import terminal_safe

    paths = analyze_samples(processed_dir, max_samples=max_samples, context_lines=context_lines, lang=lang)
    for path in paths.values():
        say(terminal_safe(f"wrote {path}"))


COMMANDS = [report_command, analyze_samples_command]
