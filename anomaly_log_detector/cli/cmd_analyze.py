"""`alog-detect analyze-temporal` and `alog-detect analyze-comparative`: analyst views over parsed logs.

Both are thin: parse the options, call :mod:`anomaly_log_detector.analyzers.temporal` /
:mod:`~anomaly_log_detector.analyzers.comparative`, print where the outputs are. Library errors
(a missing parsed.parquet, a baseline without timestamps) are AlogErrors, one line and exit 2 from the
root; a log without timestamps is not an error: its message goes to stderr and the exit status is 0.
"""

from __future__ import annotations

import click

from anomaly_log_detector.cli.options import lang_option, output_options, say, time_range_options


@click.command("analyze-temporal")
@click.option("--data-dir", required=True, type=click.Path(file_okay=False),
              help="Processed folder of the logs to analyse (holds parsed.parquet; `alog-detect parse --out-dir`).")
@click.option("--output-dir", default="temporal_analysis", show_default=True, type=click.Path(file_okay=False),
              help="Where temporal_report.md, temporal_profile.parquet, temporal_anomalies.parquet and "
                   "temporal_summary.json go (created if missing).")
@click.option("--baseline-dir", type=click.Path(file_okay=False), default=None,
              help="Processed folder of normal logs whose hour-of-day / weekday profile is the reference. "
                   "Without it each day of --data-dir is compared with all its other days (leave-one-day-out).")
@time_range_options
@lang_option
@output_options
def analyze_temporal_command(data_dir, output_dir, baseline_dir, since, until, lang):
    """Profile log volume and templates by hour of day and weekday; flag hours that deviate from
    normal data: activity at hours normal data never shows (night activity), volume far above or
    below the profile, templates at hours they never appear in normal data."""
    from anomaly_log_detector.analyzers.temporal import analyze_temporal
    from anomaly_log_detector.reports.escape import terminal_safe
    from anomaly_log_detector.reports.messages import t

    result = analyze_temporal(data_dir, output_dir, baseline_dir=baseline_dir, lang=lang, since=since, until=until)
    if result["status"] == "no_timestamps":
        click.echo(terminal_safe(t("temporal.no_timestamps", lang, data=data_dir, lines=f"{result['lines']:,}")),
                   err=True)
    else:
        say(terminal_safe(t("temporal.flagged", lang, n=result["flagged_hours"])))
    for path in result["outputs"].values():
        say(terminal_safe(f"wrote {path}"))


@click.command("analyze-comparative")
@click.option("--target", required=True, type=click.Path(),
              help="The target: a parsed.parquet or a processed folder holding one.")
@click.option("--baselines", required=True, multiple=True, type=click.Path(),
              help="A baseline parsed.parquet (or processed folder); repeat for several.")
@click.option("--output-dir", default="comparative_analysis", show_default=True, type=click.Path(file_okay=False),
              help="Where comparative_report.md and comparative_results.json go (created if missing).")
@time_range_options
@lang_option
@output_options
def analyze_comparative_command(target, baselines, output_dir, since, until, lang):
    """Compare the template distribution of a target with each baseline: cosine similarity, smoothed KL
    divergence (both directions), Jensen-Shannon divergence, templates only in the target (with their
    first line) and frequent baseline templates missing from it. Templates are matched by text: parse
    the files with one shared --drain-state for consistent templates."""
    from anomaly_log_detector.analyzers.comparative import analyze_comparative
    from anomaly_log_detector.reports.escape import terminal_safe

    result = analyze_comparative(target, list(baselines), output_dir, lang=lang, since=since, until=until)
    for b in result["baselines"]:
        cos = "-" if b["cosine"] is None else f"{b['cosine']:.3f}"
        kl = "-" if b["kl_target_baseline"] is None else f"{b['kl_target_baseline']:.3f}"
        say(terminal_safe(f"{b['baseline']}: cosine {cos}, KL(target||baseline) {kl} nats, "
                          f"{b['templates_only_in_target_count']} template(s) only in the target, "
                          f"{len(b['missing_in_target'])} missing"))
    for path in result["outputs"].values():
        say(terminal_safe(f"wrote {path}"))


COMMANDS = [analyze_temporal_command, analyze_comparative_command]
