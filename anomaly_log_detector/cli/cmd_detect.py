"""`alog-detect detect`: the statistical baseline over sliding windows of parsed lines."""

from __future__ import annotations

import click

from anomaly_log_detector.cli.options import FiniteFloatRange, output_options, say

from anomaly_log_detector.errors import DataError


@click.command("detect")
@click.option("--parsed", required=True, type=click.Path(exists=True, dir_okay=False),
              help="parsed.parquet written by `alog-detect parse`.")
@click.option("--out-dir", type=click.Path(file_okay=False),
              help="Output folder for baseline_scores.parquet (and baseline_stats.json when fitting).")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False),
              help="Score with saved statistics (baseline_stats.json) instead of fitting on --parsed.")
@click.option("--save-model", type=click.Path(dir_okay=False),
              help="Fit on --parsed (normal logs) and save the statistics to this JSON file.")
@click.option("--window-size", type=click.IntRange(1), default=None,
              help="Lines per window when fitting [default: 50].")
@click.option("--stride", type=click.IntRange(1), default=None,
              help="Lines between window starts when fitting [default: 25].")
@click.option("--quantile", type=FiniteFloatRange(0, 1), default=None,
              help="Threshold = this quantile of the training window scores [default: 0.95].")
@click.option("--line-quantile", type=FiniteFloatRange(0, 1), default=None,
              help="Evidence lines score above this quantile of the training line scores [default: 0.95].")
@output_options
def detect_command(parsed, out_dir, model_path, save_model, window_size, stride, quantile, line_quantile):
    """Score windows of lines by template novelty, frequency change and error levels."""
    from anomaly_log_detector.detectors.baseline import run_baseline

    given = [name for name, v in (("--window-size", window_size), ("--stride", stride),
                                  ("--quantile", quantile), ("--line-quantile", line_quantile)) if v is not None]
    if model_path and given:
        raise DataError(f"{', '.join(given)} cannot be used with --model (the model's own settings apply)")
    s = run_baseline(parsed, out_dir, model_path=model_path, save_model=save_model,
                     window_size=window_size or 50, stride=stride or 25,
                     quantile=0.95 if quantile is None else quantile,
                     line_quantile=0.95 if line_quantile is None else line_quantile)
    source = f"model {s['model']}" if s["model"] else "fitted on this input"
    say(f"threshold: {s['threshold']:.4f} ({source}; windows of {s['window_size']} lines, "
        f"stride {s['stride']})")
    if "windows" in s:
        say(f"windows: {s['windows']:,}, anomalous: {s['flagged_windows']:,}, "
            f"evidence lines in them: {s['evidence_lines']:,}")
        for w in s["top"]:
            say(f"  lines {w['window_start_line']}-{w['window_end_line']}: score {w['score']:.4f}")
    for path in s["outputs"].values():
        say(f"wrote {path}")


COMMANDS = [detect_command]
