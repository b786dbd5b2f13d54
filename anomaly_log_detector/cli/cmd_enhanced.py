"""`alog-detect deeplog-infer-enhanced`: DeepLog's misses turned into few alerts with their evidence."""

from __future__ import annotations

import click

from anomaly_log_detector.cli.options import (
    FiniteFloatRange, quiet_option, rule_options, say, set_threads, threads_option, verbose_option,
)

FILE = click.Path(exists=True, dir_okay=False)


@click.command("deeplog-infer-enhanced")
@click.option("--seq", "seq_path", required=True, type=FILE,
              help="sequences.parquet from `build-deeplog` (its 'rows' locate every event in --parsed).")
@click.option("--parsed", "parsed_path", type=FILE, default=None,
              help="parsed.parquet the sequences were built from (times, hosts, raw lines) "
                   "[default: parsed.parquet beside --seq].")
@click.option("--model", "model_path", required=True, type=FILE, help="Model file written by `deeplog-train`.")
@click.option("--vocab", "vocab_path", type=FILE, default=None,
              help="vocab.json the sequences were built with [default: vocab.json beside --seq].")
@rule_options
@click.option("--k-of-n-k", "kofn_k", type=click.IntRange(1), default=7, show_default=True,
              help="A sequence alert fires at a miss when at least this many of the last N non-novel "
                   "predictions of its entity are misses.")
@click.option("--k-of-n-n", "kofn_n", type=click.IntRange(1), default=10, show_default=True,
              help="N of the K-of-N rule (>= K).")
@click.option("--cooldown-seq", type=FiniteFloatRange(0), default=60, show_default=True,
              help="Repeat interval of sequence alerts: a firing of the same (entity, template) within this "
                   "many seconds of the previous one is folded into its alert (lines where times are missing; "
                   "0 = never fold).")
@click.option("--cooldown-novelty", type=FiniteFloatRange(0), default=60, show_default=True,
              help="Repeat interval of novelty alerts (every never-seen template fires one), as --cooldown-seq.")
@click.option("--entity-column", type=click.Choice(["host", "process", "session"]), default="host",
              show_default=True,
              help="parsed.parquet column an alert is about; where it is null, the DeepLog session name.")
@click.option("--session-timeout", type=FiniteFloatRange(0, min_open=True), default=None,
              help="Seconds of silence after which an entity starts a new session (K-of-N starts empty) "
                   "[default: never].")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Folder for deeplog_enhanced_{detailed,alerts}.parquet and deeplog_enhanced_summary.json "
                   "[default: folder of --seq].")
@threads_option
@quiet_option
@verbose_option
def deeplog_infer_enhanced_command(seq_path, parsed_path, model_path, vocab_path, k, top_p, kofn_k, kofn_n,
                                   cooldown_seq, cooldown_novelty, entity_column, session_timeout, out_dir,
                                   threads, quiet):
    """DeepLog Enhanced: score every event with DeepLog, then alert per entity (K-of-N misses in a row
    -> sequence alert; a never-seen template -> novelty alert), folding repeats within the cooldown into
    one alert that lists its lines. See docs/deeplog-enhanced.md."""
    from anomaly_log_detector.alerts.engine import AlertSettings
    from anomaly_log_detector.alerts.enhanced import infer_enhanced

    set_threads(threads)
    settings = AlertSettings(k=kofn_k, n=kofn_n, cooldown_seq=cooldown_seq, cooldown_novelty=cooldown_novelty,
                             session_timeout=session_timeout)
    s = infer_enhanced(seq_path, parsed_path, model_path, vocab_path, out_dir, top_k=k, top_p=top_p,
                       settings=settings, entity_column=entity_column, quiet=quiet)
    by_type = s["alerts_by_type"]
    say(f"predictions: {s['predictions']:,} ({s['rule']}), misses: {s['misses']:,}, "
        f"novel: {s['novel']:,}, entities ({entity_column}): {s['entities']:,}")
    say(f"alerts: {s['alerts']:,} (sequence {by_type['sequence']:,}, novelty {by_type['novelty']:,}), "
        f"suppressed repeats: {s['suppressed']:,}")
    if s["failed"]:
        say(f"{s['failed']:,} failed predictions -> {s['alerts']:,} alerts "
            f"({s['reduction']:.1%} fewer)")
    for path in s["outputs"].values():
        say(f"wrote {path}")


COMMANDS = [deeplog_infer_enhanced_command]
