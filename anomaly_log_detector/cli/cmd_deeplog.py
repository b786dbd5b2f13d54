"""`alog-detect deeplog-train` and `deeplog-infer`: the DeepLog next-template LSTM over sessions."""

from __future__ import annotations

import click

from anomaly_log_detector.cli.options import (
    FiniteFloatRange, quiet_option, rule_options, say, seed_option, set_threads, threads_option, top_k_option,
    verbose_option,
)

SEQ = click.option("--seq", "seq_path", required=True, type=click.Path(exists=True, dir_okay=False),
                   help="sequences.parquet from `build-deeplog` or `import-sequences`.")
SPLIT = click.option("--split", default=None,
                     help="Use only the sessions whose 'split' column equals this value (imported benchmark "
                          "sets, e.g. train / test).")
TOP_P = click.option("--top-p", type=FiniteFloatRange(0, 1, min_open=True), default=None,
                     help="A key must lie in the smallest set of predictions holding this much probability "
                          "(alone: pure nucleus; with --top-k: both must hold) [default: the calibrated rule].")


@click.command("deeplog-train")
@SEQ
@click.option("--vocab", "vocab_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="vocab.json the sequences were built with [default: vocab.json beside --seq].")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False),
              help="Model file to write (a torch state dict with its config, e.g. deeplog.pth).")
@click.option("--seq-len", type=click.IntRange(1), default=10, show_default=True,
              help="Keys in the history window that predicts the next key.")
@click.option("--epochs", type=click.IntRange(1), default=100, show_default=True,
              help="Most passes over the training windows (training stops earlier on a loss plateau).")
@click.option("--patience", type=click.IntRange(1), default=10, show_default=True,
              help="Converged when the best exact loss is less than 0.1% better than this many epochs before.")
@click.option("--max-steps", type=click.IntRange(1), default=20000, show_default=True,
              help="Most optimiser steps per network.")
@click.option("--ensemble", type=click.IntRange(1), default=3, show_default=True,
              help="Networks trained with consecutive seeds; their log-probabilities are averaged.")
@click.option("--fa-budget", type=FiniteFloatRange(0, 1, min_open=True, max_open=True), default=1e-4,
              show_default=True, help="Calibrated rule: share of held-out normal predictions allowed to be misses.")
@click.option("--calibration", type=FiniteFloatRange(0, 1, max_open=True), default=0.1, show_default=True,
              help="Share of the normal sessions held out to calibrate the miss threshold (few sessions: the "
                   "last share of each).")
@click.option("--hidden", type=click.IntRange(1), default=64, show_default=True, help="LSTM hidden units.")
@click.option("--layers", type=click.IntRange(1), default=2, show_default=True, help="LSTM layers.")
@click.option("--embed-dim", type=click.IntRange(1), default=16, show_default=True,
              help="Size of the key embedding fed to the LSTM.")
@click.option("--batch-size", type=click.IntRange(1), default=128, show_default=True,
              help="Distinct training windows per optimiser step.")
@click.option("--lr", type=FiniteFloatRange(0, min_open=True), default=3e-3, show_default=True,
              help="Adam learning rate.")
@top_k_option(None, "Store the paper's top-k rule instead of the calibrated threshold (deeplog-infer --top-k "
                    "overrides it; --k is an alias).")
@TOP_P
@click.option("--no-eos", is_flag=True,
              help="Do not predict an end-of-session key (for one long stream rather than sessions).")
@SPLIT
@seed_option()
@threads_option
@quiet_option
@verbose_option
def deeplog_train_command(seq_path, vocab_path, out_path, seq_len, epochs, patience, max_steps, ensemble, fa_budget,
                          calibration, hidden, layers, embed_dim, batch_size, lr, k, top_p, no_eos, split, seed,
                          threads, quiet):
    """Train DeepLog on the normal sessions of a sequences file (sessions labelled 1 are left out)."""
    from anomaly_log_detector.detectors.deeplog_files import train_deeplog

    set_threads(threads)
    s = train_deeplog(seq_path, out_path, vocab_path=vocab_path, split=split, seq_len=seq_len, epochs=epochs,
                      patience=patience, max_steps=max_steps, ensemble=ensemble, fa_budget=fa_budget,
                      calibration=calibration, hidden=hidden, layers=layers, embed_dim=embed_dim,
                      batch_size=batch_size, lr=lr, k=k, top_p=top_p, eos=not no_eos, seed=seed, quiet=quiet)
    say(f"trained on {s['sessions']:,} sessions ({s['excluded_anomalous']:,} anomalous left out): "
        f"{s['windows']:,} windows, {s['distinct_windows']:,} distinct")
    say(f"epochs: {s['epochs']}{' (converged)' if s['converged'] else ' (NOT converged)'}, "
        f"final loss {s['final_loss']:.4f}, {s['steps']:,} steps, {s['seconds']:.1f} s")
    say(f"rule: {s['rule']}")
    say(f"wrote {s['model']}")


@click.command("deeplog-infer")
@SEQ
@click.option("--model", "model_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Model file written by `deeplog-train`.")
@rule_options
@click.option("--out-dir", type=click.Path(file_okay=False), default=None,
              help="Folder for deeplog_infer.parquet and deeplog_sessions.parquet [default: folder of --seq].")
@SPLIT
@threads_option
@quiet_option
@verbose_option
def deeplog_infer_command(seq_path, model_path, k, top_p, out_dir, split, threads, quiet):
    """Score sessions: a session with at least one missed key is anomalous."""
    import inspect

    from anomaly_log_detector.detectors.deeplog_files import infer_deeplog

    set_threads(threads)
    # `quiet` is new in infer_deeplog; pass it only where the library already takes it.
    extra = {"quiet": quiet} if "quiet" in inspect.signature(infer_deeplog).parameters else {}
    s = infer_deeplog(seq_path, model_path, out_dir, k=k, top_p=top_p, split=split, **extra)
    rule = f"top-{s['k']}" + (f", top-p {s['top_p']:g}" if s["top_p"] is not None else "")
    say(f"sessions: {s['sessions']:,}, anomalous: {s['anomalous_sessions']:,} ({rule})")
    say(f"windows: {s['windows']:,} ({s['distinct_windows']:,} distinct), misses: {s['misses']:,}, "
        f"novel keys: {s['novel']:,}, {s['windows_per_s']:,.0f} windows/s")
    for t in s["top"]:
        at = f", first miss at line {t['first_miss_line']}" if t["first_miss_line"] is not None else ""
        say(f"  {t['session']}: {t['misses']} misses, score {t['score']:.3f}{at}")
    for path in s["outputs"].values():
        say(f"wrote {path}")


COMMANDS = [deeplog_train_command, deeplog_infer_command]
