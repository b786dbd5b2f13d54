"""`alog-detect build-deeplog`, `build-mscred` and `import-sequences`: model inputs from parsed logs
or from public benchmark session files."""

from __future__ import annotations

import click

from anomaly_log_detector.cli.options import FiniteFloatRange, out_dir_option, output_options, say

PARSED = click.option("--parsed", required=True, type=click.Path(exists=True, dir_okay=False),
                      help="parsed.parquet written by `alog-detect parse`.")
VOCAB = click.option("--vocab", "vocab_path", type=click.Path(exists=True, dir_okay=False),
                     help="Reuse this vocab.json (test sets must use the training vocab); "
                          "templates not in it become UNK. Default: build a new one.")


@click.command("build-deeplog")
@PARSED
@out_dir_option(help="Output folder for sequences.parquet and vocab.json (created if missing).")
@click.option("--session-by", type=click.Choice(["none", "host", "process", "session", "entity"]), default="none",
              show_default=True,
              help="Group lines into sessions: none = one session per source file; host/process/session = "
                   "by that column; entity = host and process together (lines without a value go to the "
                   "session '<none>').")
@click.option("--session-gap", type=FiniteFloatRange(0, min_open=True), default=None,
              help="Also cut a session where two consecutive lines are more than this many seconds apart "
                   "(lines without a timestamp never cut).")
@VOCAB
@output_options
def build_deeplog_command(parsed, out_dir, session_by, session_gap, vocab_path):
    """Build DeepLog inputs: one event sequence per session over a template vocabulary."""
    from anomaly_log_detector.builders.deeplog import build_deeplog_inputs

    s = build_deeplog_inputs(parsed, out_dir, session_by=session_by, vocab_path=vocab_path, session_gap=session_gap)
    say(f"sessions: {s['sessions']:,} from {s['lines']:,} lines (session-by {s['session_by']}; "
        f"length min {s['session_length']['min']}, median {s['session_length']['median']:g}, "
        f"max {s['session_length']['max']})")
    if s["lines_without_key"]:
        say(f"lines without a {session_by} value: {s['lines_without_key']:,} (session '<none>')")
    say(f"vocab: {s['vocab_size']} indices ({'reused' if s['vocab_reused'] else 'new'}), "
        f"unknown events: {s['unknown_events']:,}")
    say(f"wrote {s['sequences']}")
    say(f"wrote {s['vocab']}")


@click.command("build-mscred")
@PARSED
@out_dir_option(help="Output folder for window_counts.parquet and vocab.json (created if missing).")
@click.option("--window-size", type=click.IntRange(1), default=50, show_default=True,
              help="Lines per window.")
@click.option("--stride", type=click.IntRange(1), default=25, show_default=True,
              help="Lines between the starts of consecutive windows.")
@click.option("--bucket", default=None, metavar="DURATION",
              help="Count per time bucket instead of line windows, e.g. 60s, 5m, 1h (empty buckets kept; "
                   "needs timestamps; not with --window-size / --stride).")
@VOCAB
@click.pass_context
@output_options
def build_mscred_command(ctx, parsed, out_dir, window_size, stride, bucket, vocab_path):
    """Build MS-CRED inputs: template counts per sliding window of lines (or per time bucket)."""
    from click.core import ParameterSource

    from anomaly_log_detector.builders.mscred import build_mscred_inputs

    if bucket is not None and any(ctx.get_parameter_source(p) == ParameterSource.COMMANDLINE
                                  for p in ("window_size", "stride")):
        raise click.UsageError("--bucket counts per time bucket: leave out --window-size / --stride")
    s = build_mscred_inputs(parsed, out_dir, window_size=window_size, stride=stride, vocab_path=vocab_path,
                            bucket=bucket)
    if s["bucket_seconds"] is None:
        say(f"windows: {s['windows']:,} of {window_size} lines, stride {stride}, over {s['lines']:,} lines")
    else:
        say(f"buckets: {s['windows']:,} of {s['bucket_seconds']:g} s ({s['empty_buckets']:,} empty) "
            f"over {s['lines']:,} lines")
    say(f"vocab: {s['vocab_size']} indices ({'reused' if s['vocab_reused'] else 'new'}), "
        f"unknown events: {s['unknown_events']:,}")
    say(f"wrote {s['window_counts']}")
    say(f"wrote {s['vocab']}")


@click.command("import-sequences")
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Benchmark session file to import.")
@click.option("--format", "fmt", required=True, type=click.Choice(["deeplog", "ait", "blocks-csv"]),
              help="deeplog: one session per line of space-separated keys; ait: '<id>,<keys>' per line; "
                   "blocks-csv: BlockId,Label,Split,EventSequence CSV.")
@click.option("--label", type=click.Choice(["normal", "anomaly"]),
              help="Label of every session (deeplog/ait files); default unknown.")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="sequences.parquet to write; a new vocab.json is written beside it unless --vocab.")
@VOCAB
@click.option("--templates", "templates_path", type=click.Path(exists=True, dir_okay=False),
              help="Use template text instead of the keys as vocab strings: an EventId,EventTemplate CSV, "
                   "or a file with one template per line (key n = line n).")
@output_options
def import_sequences_command(input_path, fmt, label, out_path, vocab_path, templates_path):
    """Import public benchmark sessions (DeepLog, ait, loglizer blocks) as sequences.parquet."""
    from anomaly_log_detector.builders.importers import import_sequences

    s = import_sequences(input_path, fmt, out_path, label=label, vocab_path=vocab_path,
                         templates_path=templates_path)
    lab = s["labels"]
    say(f"sessions: {s['sessions']:,} ({lab['normal']:,} normal, {lab['anomaly']:,} anomaly, "
        f"{lab['unknown']:,} unknown), events: {s['events']:,}")
    if s["blank_lines_skipped"]:
        say(f"blank lines skipped: {s['blank_lines_skipped']:,}")
    if "splits" in s:
        say("splits: " + ", ".join(f"{k} {v:,}" for k, v in s["splits"].items()))
    say(f"vocab: {s['vocab_size']} indices ({'reused' if s['vocab_reused'] else 'new'}), "
        f"unknown events: {s['unknown_events']:,}")
    say(f"wrote {s['sequences']}")
    if not s["vocab_reused"]:
        say(f"wrote {s['vocab']}")


COMMANDS = [build_deeplog_command, build_mscred_command, import_sequences_command]
