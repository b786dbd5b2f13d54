"""`alog-detect mscred-train`, `mscred-infer` and `analyze-mscred`: MS-CRED over window counts."""

from __future__ import annotations

import os

import click

from anomaly_log_detector.cli.options import (
    lang_option, output_options, quiet_option, say, seed_option, set_threads, threads_option, verbose_option,
)

COUNTS = click.option("--window-counts", "counts_path", required=True, type=click.Path(exists=True, dir_okay=False),
                      help="window_counts.parquet from `build-mscred` (line windows or --bucket time buckets).")


def _ints(ctx, param, value):
    if value is None:
        return None
    try:
        out = tuple(int(v) for v in value.replace(" ", "").split(",") if v)
    except ValueError:
        raise click.BadParameter("give comma-separated whole numbers, e.g. 10,30,60") from None
    if not out or min(out) < 1:
        raise click.BadParameter("give comma-separated whole numbers >= 1, e.g. 10,30,60")
    return out


@click.command("mscred-train")
@COUNTS
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Model file to write (a torch state dict with its config, e.g. mscred.pth).")
@click.option("--vocab", "vocab_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="vocab.json the counts were built with [default: vocab.json beside --window-counts].")
@click.option("--epochs", type=click.IntRange(1), default=50, show_default=True,
              help="Most passes over the training windows (training stops earlier on a loss plateau or at --max-steps).")
@click.option("--window-size", type=click.IntRange(1), default=50, show_default=True,
              help="Lines the smallest scale covers (the window MS-CRED judges); the other scales are 3x and 6x "
                   "it, in rows of the counts. Counts of 5-line steps give the paper's 10/30/60 steps; the "
                   "default 50-line windows give 1/3/6 rows. Ignored with --scales or time buckets.")
@click.option("--scales", callback=_ints, default=None, metavar="W1,W2,...",
              help="Scales in rows (steps) of the counts, smallest first [default: from --window-size; "
                   "10,30,60 for time buckets].")
@click.option("--top-k", type=click.IntRange(1), default=64, show_default=True,
              help="Most frequent training templates kept as their own series (plus <other> and <unseen>).")
@click.option("--history", type=click.IntRange(1), default=5, show_default=True,
              help="Steps the attention ConvLSTM sees before reconstructing the current one (the paper's h).")
@click.option("--channels", callback=_ints, default="4,8,16,32", show_default=True, metavar="C1,C2,C3,C4",
              help="Channels of the four encoder levels (the paper: 32,64,128,256; CPU cost grows with the square).")
@click.option("--patience", type=click.IntRange(1), default=5, show_default=True,
              help="Converged when the best exact loss is less than 0.1% better than this many epochs before.")
@click.option("--max-steps", type=click.IntRange(1), default=500, show_default=True,
              help="Most optimiser steps.")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True, help="Windows per optimiser step.")
@click.option("--lr", type=click.FloatRange(0, min_open=True), default=1e-3, show_default=True,
              help="Adam learning rate.")
@click.option("--rule", type=click.Choice(["heldout-max", "calibrated", "percentile"]), default=None,
              help="heldout-max: threshold at (1 + --margin) x the highest score of the held-out training windows "
                   "(with margin 0: the highest); "
                   "calibrated: at their (1 - --fa-budget) quantile; percentile: the --threshold percentile of the "
                   "fitted windows' scores (the original's rule) [default: heldout-max; percentile when "
                   "--threshold is given].")
@click.option("--threshold", type=click.FloatRange(0, 100), default=None,
              help="Percentile of the percentile rule (95.0 is the original's); giving it selects that rule "
                   "unless --rule says otherwise.")
@click.option("--margin", type=click.FloatRange(0, 1e6, max_open=True), default=0.0, show_default=True,
              help="heldout-max rule: how far above the highest held-out score the threshold sits, as a share of it "
                   "(0.25: 25 %% above).")
@click.option("--calibration", type=click.FloatRange(0, 1, max_open=True), default=0.2, show_default=True,
              help="Last share of the training windows (in time order) held out to calibrate.")
@click.option("--fa-budget", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.05,
              show_default=True, help="Calibrated rule: share of held-out normal windows allowed above the threshold.")
@click.option("--scoring", type=click.Choice(["broken", "error"]), default="broken", show_default=True,
              help="broken: broken entries of the smallest scale (residual above its largest in training), ties "
                   "ordered by reconstruction error (the paper's score); error: the mean squared residual.")
@click.option("--unseen", type=click.Choice(["each", "mask", "once", "none"]), default="each",
              show_default=True,
              help="The <unseen> series (lines no training template matches). each: a series like the others, every "
                   "broken entry of its row counts (one new line breaks most of it); mask: kept out of the network's "
                   "input and of the broken entries - windows whose only news is new messages are not flagged, but "
                   "storms of a new message mostly are not either (what train --mscred uses: the alerting layer "
                   "reports new messages there); once: its entries count 1 together; none: not counted.")
@seed_option()
@threads_option
@quiet_option
@verbose_option
def mscred_train_command(counts_path, out_path, vocab_path, epochs, window_size, scales, top_k, history, channels,
                         patience, max_steps, batch_size, lr, rule, threshold, margin, calibration, fa_budget, scoring,
                         unseen, seed, threads, quiet):
    """Train MS-CRED on the windows of a window counts file (all of them are taken as normal)."""
    from anomaly_log_detector.detectors.mscred_files import train_mscred_file

    set_threads(threads)
    rule = rule or ("percentile" if threshold is not None else "heldout-max")
    s = train_mscred_file(counts_path, out_path, vocab_path=vocab_path, epochs=epochs, window_size=window_size,
                          scales=scales, top_k=top_k, history=history, channels=channels, patience=patience,
                          max_steps=max_steps, batch_size=batch_size, lr=lr, rule=rule,
                          threshold=95.0 if threshold is None else threshold, margin=margin,
                          calibration=calibration, fa_budget=fa_budget, scoring=scoring, unseen=unseen, seed=seed,
                          quiet=quiet)
    say(f"trained on {s['fit_windows']:,} windows ({s['heldout_windows']:,} held out), "
        f"{s['series']} series, scales {','.join(map(str, s['scales']))} steps")
    say(f"epochs: {s['epochs']}{' (converged)' if s['converged'] else ' (NOT converged: ' + s['stop_reason'] + ')'}"
        f", best loss {s['final_loss']:.4f}, {s['steps']:,} steps, {s['seconds']:.1f} s")
    say(f"rule: {s['rule']}")
    say(f"wrote {s['model']}")


@click.command("mscred-infer")
@COUNTS
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Model file written by `mscred-train`.")
@click.option("--threshold", type=click.FloatRange(0, 100), default=None,
              help="Use the percentile rule at this percentile of the training windows' scores (95.0 is the "
                   "original's) [default: the model's rule].")
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Folder for mscred_infer.parquet and mscred_residuals.npz [default: folder of --window-counts].")
@threads_option
@quiet_option
@verbose_option
def mscred_infer_command(counts_path, model_path, threshold, out_dir, threads, quiet):
    """Score windows: a window whose score (broken entries / reconstruction error of the smallest scale) is
    above the threshold is anomalous."""
    from anomaly_log_detector.detectors.mscred_files import infer_mscred_file
    from anomaly_log_detector.reports.escape import terminal_safe

    set_threads(threads)
    s = infer_mscred_file(counts_path, model_path, out_dir, threshold=threshold)
    say(f"windows: {s['windows']:,}, anomalous: {s['anomalous_windows']:,}, {s['windows_per_s']:,.0f} windows/s")
    say(f"rule: {s['rule']}")
    for t in s["top"]:
        lines = f"lines {t['start_line']}-{t['end_line']}" if t["start_line"] is not None else "no lines"
        names = "; ".join(terminal_safe(x) for x in t["templates"][:3])
        say(f"  window {t['window_idx']} ({lines}): {t['broken']} broken entries, error {t['error']:.4g}"
            + (f" - {names}" if names else ""))
    for path in s["outputs"].values():
        say(f"wrote {path}")


@click.command("analyze-mscred")
@click.option("--data-dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder with mscred_infer.parquet (and mscred_residuals.npz, parsed.parquet for heatmaps and raw lines).")
@click.option("--output-dir", type=click.Path(file_okay=False), default=None,
              help="Folder for mscred_report.md and heatmaps/ [default: DATA_DIR/mscred_analysis].")
@click.option("--max-windows", type=click.IntRange(1), default=20, show_default=True,
              help="Anomalous windows shown, largest error first.")
@click.option("--max-lines", type=click.IntRange(1), default=40, show_default=True,
              help="Raw lines shown per window.")
@lang_option
@output_options
def analyze_mscred_command(data_dir, output_dir, max_windows, max_lines, lang):
    """MS-CRED analysis: per anomalous window the templates most responsible, its residual heatmap (PNG)
    and its raw lines, in mscred_report.md."""
    from anomaly_log_detector.analyzers.mscred import analyze_mscred

    s = analyze_mscred(data_dir, output_dir, max_windows=max_windows, max_lines=max_lines, lang=lang)
    say(f"anomalous windows: {s['anomalous_windows']:,} of {s['windows']:,}; {s['shown']} in the report"
        + ("" if s["raw_lines"] else " (no parsed.parquet: without raw lines)"))
    say(f"heatmaps: {len(s['heatmaps'])}" + (f" in {os.path.dirname(s['heatmaps'][0])}" if s["heatmaps"] else ""))
    say(f"wrote {s['report']}")


COMMANDS = [mscred_train_command, mscred_infer_command, analyze_mscred_command]
