"""`alog-detect parse`: raw logs -> parsed.parquet (+ preview.json, parse_summary.json)."""

from __future__ import annotations

import click

from anomaly_log_detector.cli.options import FINITE_FLOAT, quiet_option, say, time_range_options, verbose_option
from anomaly_log_detector.parsing.masking import FLAG_GROUPS as MASK_GROUPS  # stdlib-only module


def mask_options(f):
    """One `--no-mask-<group>` flag per masking-rule group of rules.json."""
    for group in reversed(MASK_GROUPS):
        f = click.option(f"--no-mask-{group}", f"no_mask_{group}", is_flag=True,
                         help=f"Do not apply the '{group}' masking rules.")(f)
    return f


@click.command("parse")
@click.option("--input", "inputs", required=True, multiple=True, metavar="PATH",
              help="Log file, folder (recursive, sorted), .gz file, or - for stdin. Repeatable.")
@click.option("--out-dir", type=click.Path(file_okay=False), required=True,
              help="Output folder for parsed.parquet, preview.json and parse_summary.json.")
@click.option("--drain-state", type=click.Path(dir_okay=False),
              help="Template state (plain JSON): loaded if it exists, saved after the run.")
@click.option("--rules", "rules_path", type=click.Path(dir_okay=False),
              help="Masking rules JSON replacing the packaged rules.json.")
@click.option("--format", "format_name", default="auto", show_default=True, metavar="NAME",
              help="Header format preset (syslog, rfc5424, dmesg, journal-json, iso, python, apt-history, "
                   "apt-term, alternatives, access, nginx-error, apache, bgl, hdfs, ..., raw; docs/formats.md) "
                   "or auto to detect it from the first lines of each file.")
@click.option("--log-format", metavar="FMT",
              help="Custom header format in the logparser convention, e.g. "
                   "'<Date> <Time> <Pid> <Level> <Component>: <Content>' (overrides --format).")
@click.option("--year", type=int, default=None,
              help="Year of timestamps that carry none (syslog's `Jan  2 03:04:05`) [default: the year of "
                   "each file's modification time; dates after it are the year before].")
@click.option("--tz", metavar="ZONE",
              help="Time zone of timestamps that carry none: an IANA name (Asia/Seoul), UTC or an offset "
                   "(+09:00) [default: UTC]. Times are stored in UTC; times with an offset keep theirs.")
@mask_options
@click.option("--sim-th", type=FINITE_FLOAT, default=None, help="Drain similarity threshold (default from config).")
@click.option("--depth", type=int, default=None, help="Drain prefix-tree depth (default from config).")
@click.option("--session-regex", metavar="RE",
              help=r"Regex whose first match in a line is its session id, e.g. 'blk_-?\d+' for HDFS.")
@click.option("--frozen", is_flag=True,
              help="Match existing templates of --drain-state only; unmatched lines are <UNSEEN> (id -1). "
                   "The state is not changed.")
@click.option("--max-line-bytes", type=click.IntRange(256), default=None,
              help="Cut longer lines to this many bytes (default 65536); counted in the summary.")
@time_range_options
@quiet_option
@verbose_option
def parse_command(inputs, out_dir, drain_state, rules_path, format_name, log_format, year, tz, sim_th, depth,
                  session_regex, frozen, max_line_bytes, since, until, quiet, **mask_flags):
    """Parse logs: split headers, mask variables, mine templates with Drain."""
    from anomaly_log_detector.parsing.run import parse_logs

    disabled = [g for g in MASK_GROUPS if mask_flags.get(f"no_mask_{g}")]
    summary = parse_logs(list(inputs), out_dir, drain_state=drain_state, rules=rules_path,
                         format=format_name, log_format=log_format, year=year, tz=tz, disabled_masks=disabled,
                         sim_th=sim_th, depth=depth, session_regex=session_regex, frozen=frozen,
                         max_line_bytes=max_line_bytes, quiet=quiet, since=since, until=until)
    echo_summary(summary)


def echo_summary(s: dict) -> None:
    from anomaly_log_detector.reports.escape import terminal_safe

    """Print a parse summary for people (the JSON file has everything)."""
    from anomaly_log_detector.parsing.miner import explosion_note
    from anomaly_log_detector.parsing.sources import skipped_note

    skipped = sum(s["lines_skipped"].values())
    detected = " (detected per file)" if s["format_detected"] else ""
    note = skipped_note(s)
    if note:
        click.echo(terminal_safe(note), err=True)
    if s["lines_read"] == 0:
        all_skipped = s.get("files_skipped") and not s.get("files_read")
        why = "every input file was skipped" if all_skipped else "the input is empty"
        click.echo(terminal_safe(f"No lines to parse: {why}."), err=True)
    say(f"format: {s['format']}{_format_counts(s)}{detected}")
    say(f"lines: {s['lines_read']:,} read, {s['lines_parsed']:,} parsed, {skipped:,} skipped "
        f"{s['lines_skipped'] or ''}".rstrip())
    if s["header_unmatched"]:
        say(f"header not matched: {s['header_unmatched']:,} lines (parsed with the whole line as message)")
    for key, label in (("lines_invalid_utf8", "invalid UTF-8"), ("lines_with_nul", "NUL bytes"),
                       ("lines_truncated", f"truncated to {s['max_line_bytes']} bytes")):
        if s[key]:
            say(f"{label}: {s[key]:,} lines")
    extra = f", {s['unseen_lines']:,} unseen lines" if s["frozen"] else f", {s['templates_new']:,} new"
    say(f"templates: {s['templates']:,}{extra}")
    explosion = explosion_note(s)
    if explosion:
        click.echo(explosion, err=True)
    say(f"time: {s['seconds']:.2f} s ({s['lines_per_second'] or 0:,.0f} lines/s)")
    for err in s["source_errors"]:
        click.echo(terminal_safe(f"Warning: {err['source']}: {err['error']}"), err=True)
    for name, path in s["outputs"].items():
        say(terminal_safe(f"wrote {path}"))


def _format_counts(s: dict) -> str:
    """" (syslog 3 files, journal-json 1 file)" when the sources' formats differ."""
    if s["format"] != "mixed":
        return ""
    counts: dict[str, int] = {}
    for entry in s["sources"]:
        if entry.get("format"):
            counts[entry["format"]] = counts.get(entry["format"], 0) + 1
    return " (" + ", ".join(f"{name} {n} file{'s' * (n != 1)}" for name, n in counts.items()) + ")"


COMMANDS = [parse_command]
