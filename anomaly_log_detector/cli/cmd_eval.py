"""`alog-detect eval`: precision / recall / F1 / ROC-AUC of the results in a processed folder."""

from __future__ import annotations

import click

from anomaly_log_detector.cli.options import output_options, say


@click.command("eval")
@click.option("--processed-dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder with baseline_scores.parquet, deeplog_sessions.parquet and/or deeplog_infer.parquet; "
                   "eval.json is written here.")
@click.option("--labels", "labels_path", type=click.Path(exists=True, dir_okay=False),
              help="Truth: gen-synth labels Parquet, a BlockId,Label CSV (sessions), or a raw BGL/Thunderbird "
                   "log ('-' first = normal line). Optional when the sessions carry labels.")
@click.option("--level", type=click.Choice(["line", "window", "session"]),
              help="Evaluate only this level [default: every level the files and labels allow].")
@click.option("--window-size", type=click.IntRange(1), default=50, show_default=True,
              help="Window length (lines) for window-level scores of per-line results.")
@click.option("--stride", type=click.IntRange(1), default=25, show_default=True,
              help="Lines between window starts for window-level scores of per-line results.")
@click.option("--train", "train_path", type=click.Path(exists=True, dir_okay=False),
              help="Training sequences.parquet or window_counts.parquet: report test items that duplicate it.")
@click.option("--split", default=None, metavar="NAME",
              help="Evaluate only the DeepLog sessions whose 'split' column (in sequences.parquet) equals NAME. "
                   "Without it, DeepLog results that include sessions of the 'train' split are refused: rerun "
                   "deeplog-infer with --split test, or pass --split train if that is what you mean.")
@output_options
def eval_command(processed_dir, labels_path, level, window_size, stride, train_path, split):
    """Evaluate detection results against labels; print a table (each row with its flag_all reference:
    the scores of flagging everything) and write eval.json."""
    from anomaly_log_detector.evaluation.runner import evaluate_dir, format_table

    report = evaluate_dir(processed_dir, labels_path, level=level, window_size=window_size, stride=stride,
                          train_path=train_path, split=split)
    say(format_table(report))
    say(f"wrote {processed_dir}/eval.json")


COMMANDS = [eval_command]
