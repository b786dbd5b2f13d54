"""`alog-detect validate-baseline`: vet candidate normal log files before training
(library: anomaly_log_detector.analyzers.baseline_validation; docs/baseline-validation.md)."""

from __future__ import annotations

import click

from anomaly_log_detector.cli.options import (
    echo_json, json_option, lang_option, quiet_option, say, time_range_options, verbose_option,
)


@click.command("validate-baseline")
@click.argument("files", nargs=-1, required=True, type=click.Path(), metavar="FILE...")
@click.option("--output-dir", required=True, type=click.Path(file_okay=False),
              help="Folder for baseline_validation_report.md and baseline_validation.json (created if missing).")
@click.option("--format", "format_", default="auto", show_default=True, metavar="NAME",
              help="Header format preset or auto (see `parse --help`).")
@click.option("--log-format", metavar="FMT", help="Custom header format (logparser convention), overrides --format.")
@time_range_options
@json_option()
@lang_option
@quiet_option
@verbose_option
def validate_baseline_command(files, output_dir, format_, log_format, since, until, as_json, lang, quiet):
    """Vet candidate normal logs before training: a verdict per file (good / suspicious / reject) with
    its reasons, from error/warning rates, error storms, template novelty between files, rare
    templates, volume spikes and time gaps. A folder stands for its files. Exit status: 0 when every
    file is good or suspicious, 1 when any file is rejected, 2 on a usage or input error."""
    from anomaly_log_detector.analyzers.baseline_validation import format_verdicts, validate_baseline
    from anomaly_log_detector.reports.escape import terminal_safe

    result = validate_baseline(list(files), output_dir, lang=lang, format=format_, log_format=log_format,
                               quiet=quiet, since=since, until=until)
    if as_json:
        echo_json(result)
    else:
        say(terminal_safe(format_verdicts(result, lang), multiline=True))
        say(terminal_safe(f"report: {result['outputs']['report']}"))
    return result["exit_status"]


COMMANDS = [validate_baseline_command]
