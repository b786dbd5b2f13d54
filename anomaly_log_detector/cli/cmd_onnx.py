"""`alog-detect convert-onnx` and `hybrid-pipeline`: the hybrid system's ONNX export and its automation
(library: anomaly_log_detector.onnx_export; format: hybrid_system/README.md)."""

from __future__ import annotations

import click

from anomaly_log_detector.cli.cmd_workflow import settings_from, train_options
from anomaly_log_detector.cli.options import quiet_option, say, set_threads, threads_option, verbose_option

MODEL_FILE = click.Path(exists=True, dir_okay=False)


def _echo_conversion(s: dict) -> None:
    from anomaly_log_detector.reports.escape import terminal_safe

    say(terminal_safe(f"{s['mode']}: {s['output_dir']}"))
    for name, size in s["files"].items():
        say(f"  {name} ({size:,} bytes)")
    shape = f"seq_len {s['seq_len']}" if s["seq_len"] is not None else ""
    if s["feature_dim"] is not None:
        shape += f"{', ' if shape else ''}feature_dim {s['feature_dim']}"
    say(f"opset {s['opset']}, vocab size {s['vocab_size']:,}{', ' + shape if shape else ''}; "
        f"{'portable only' if s['portable'] else 'portable + optimised for this machine'}")
    for note in s["notes"]:
        say(f"note: {note}")
    v = s["validation"]
    if v and "deeplog" in v:
        d = v["deeplog"]
        diffs = ", ".join(f"{k} {x:.2g}" for k, x in d["max_abs_diff"].items())
        say(f"validated DeepLog on {d['windows']:,} windows ({d['real_windows']:,} real): max |ORT - torch| "
            f"{diffs} (<= {d['tolerance']:g}); top-k sets differing: {d['topk']['sets_differ']} "
            f"(+{d['topk']['sets_differ_at_ties']} at float ties); verdicts differing: {d['verdicts_differ']} "
            f"of {d['predictions']:,}, sessions: {d['session_verdicts_differ']} of {d['sessions']:,}")
    if v and "mscred" in v:
        m = v["mscred"]
        diffs = ", ".join(f"{k} {x:.2g}" for k, x in m["max_abs_diff"].items())
        say(f"validated MS-CRED on {m['inputs']} inputs: max |ORT - torch| {diffs}")
    say("time: " + ", ".join(f"{k} {x:.2f} s" for k, x in s["seconds"].items()))


@click.command("convert-onnx")
@click.option("--deeplog-model", type=MODEL_FILE, help="DeepLog model (deeplog.pth of a bundle or of deeplog-train).")
@click.option("--mscred-model", type=MODEL_FILE, help="MS-CRED model (mscred.pth).")
@click.option("--vocab", "vocab_path", required=True, type=MODEL_FILE,
              help="vocab.json the models were trained with (keyed by template strings; one keyed by Drain "
                   "template ids is refused: see scripts/fix_vocab_format.py).")
@click.option("--output-dir", required=True, type=click.Path(file_okay=False),
              help="A bundle folder (the export is added to it, checksummed) or a new folder (a bundle holding "
                   "only the export).")
@click.option("--portable", is_flag=True,
              help="Write only the generic graph (recommended for the C engine); without it, also a graph "
                   "optimised by ONNX Runtime for this machine (*_optimized.onnx).")
@click.option("--validate", is_flag=True,
              help="Run the ONNX checker, then ONNX Runtime against torch on the same windows: max |diff| <= 1e-5, "
                   "same top-k sets and verdicts, or fail (nothing is written).")
@click.option("--seq-len", type=click.IntRange(1, 1024), default=None,
              help="DeepLog window length recorded as the recommendation [default: the model's]; the graph "
                   "accepts any length.")
@click.option("--feature-dim", type=click.IntRange(1), default=None,
              help="MS-CRED matrix size (series); must equal the model's (top templates + 2) [default: the model's].")
@click.option("--sequences", type=MODEL_FILE, default=None,
              help="With --validate: also compare on the windows and sessions of this sequences.parquet.")
@threads_option
@quiet_option
@verbose_option
def convert_onnx_command(deeplog_model, mscred_model, vocab_path, output_dir, portable, validate, seq_len,
                         feature_dim, sequences, threads, quiet):
    """Export DeepLog (and MS-CRED) to ONNX for ONNX Runtime and the C engine, with metadata.json and the C
    engine's vocab_c.json; optionally validate against torch."""
    from anomaly_log_detector.onnx_export.converter import convert_onnx

    if deeplog_model is None and mscred_model is None:
        raise click.UsageError("pass --deeplog-model and/or --mscred-model")
    if sequences is not None and not validate:
        raise click.UsageError("--sequences is used by --validate; pass both")
    set_threads(threads)
    _echo_conversion(convert_onnx(vocab_path, output_dir, deeplog_model=deeplog_model, mscred_model=mscred_model,
                                  portable=portable, validate=validate, seq_len=seq_len, feature_dim=feature_dim,
                                  sequences=sequences))


@click.command("hybrid-pipeline")
@click.option("--log-file", "log_files", required=True, multiple=True, metavar="PATH",
              help="Normal log(s) to train on: file, folder, .gz. Repeatable.")
@click.option("--models-dir", required=True, type=click.Path(file_okay=False),
              help="Folder for MODELS/model (the bundle, with its ONNX export), MODELS/deployment and "
                   "pipeline_results.json.")
@click.option("--auto-deploy", is_flag=True,
              help="Also write MODELS/deployment: the bundle without its torch weights, for inference-only hosts.")
@click.option("--portable", is_flag=True, help="Export only the generic graph (see convert-onnx --portable).")
@click.option("--overwrite", is_flag=True, help="Replace an existing MODELS/model bundle.")
@train_options
@threads_option
@quiet_option
@verbose_option
def hybrid_pipeline_command(log_files, models_dir, auto_deploy, portable, overwrite, threads, quiet, **kw):
    """Train a bundle, export it to ONNX, validate the export against torch, and deploy it."""
    import dataclasses

    from anomaly_log_detector.onnx_export.pipeline import run_hybrid_pipeline
    from anomaly_log_detector.reports.escape import terminal_safe

    set_threads(threads)
    settings = dataclasses.asdict(settings_from(kw, quiet))
    r = run_hybrid_pipeline(list(log_files), models_dir, auto_deploy=auto_deploy, portable=portable,
                            overwrite=overwrite, **settings)
    stages = r["stages"]
    say(terminal_safe(f"trained: {stages['training']['bundle']} ({stages['training']['seconds']:.1f} s)"))
    _echo_conversion(stages["conversion"])
    if "deployment" in stages:
        say(terminal_safe(f"deployed: {stages['deployment']['bundle']} "
                                 f"({', '.join(stages['deployment']['files'])})"))
    say(f"total: {r['seconds']:.1f} s")


COMMANDS = [convert_onnx_command, hybrid_pipeline_command]
