"""`alog-detect train`, `infer`, `validate`, `compare`, `train-incremental`, `batch-analysis`: the
end-to-end workflows over a model bundle (library: anomaly_log_detector.workflows).

Paths and anything read from logs or bundles are printed through `terminal_safe` (reports/escape.py):
a file name holding an escape sequence cannot act on the terminal."""

from __future__ import annotations

import os
import sys

import click

from anomaly_log_detector.cli.cmd_parse import MASK_GROUPS, mask_options
from anomaly_log_detector.cli.options import (
    FiniteFloatRange, echo_json, json_option, lang_option, quiet_option, say, set_threads, threads_option,
    time_range_options, top_k_option, verbose_option,
)
from anomaly_log_detector.workflows.settings import SESSION_BY, TrainSettings

_D = TrainSettings()
MODEL_DIR = click.Path(file_okay=False)
EXISTING_MODEL = click.Path(exists=True, file_okay=False)


def _opt(name: str, type_, help: str, default=None, **kw):
    return click.option(name, type=type_, default=default, show_default=default is not None, help=help, **kw)


# Options that shape a new model (train and batch-analysis); defaults come from TrainSettings.
_TRAIN_OPTIONS = [
    _opt("--format", str, "Header format preset or auto (see `parse --help`).", _D.format, metavar="NAME"),
    _opt("--log-format", str, "Custom header format (logparser convention), overrides --format.", metavar="FMT"),
    _opt("--rules", click.Path(exists=True, dir_okay=False), "Masking rules JSON replacing the packaged rules.json."),
    _opt("--session-regex", str, "Regex whose first match is a line's session id (for --session-by session).",
         metavar="RE"),
    _opt("--year", int, "Year of timestamps that carry none (syslog) [default: each file's modification time; "
         "dates after it are the year before]."),
    _opt("--tz", str, "Time zone of timestamps that carry none: IANA name (Asia/Seoul), UTC or offset (+09:00) "
         "[default: UTC]; infer reuses it.", metavar="ZONE"),
    _opt("--session-by", click.Choice(SESSION_BY), "DeepLog sequences: entity = one per host + process (+ pid), "
         "or one per process/host/session value, or none = one per source file; auto = entity when lines have a "
         "host or process, else none.", _D.session_by),
    _opt("--session-gap", FiniteFloatRange(0, min_open=True), "DeepLog: cut a sequence where it pauses longer "
         "than this many seconds.", _D.session_gap),
    _opt("--holdout", FiniteFloatRange(0, 1, max_open=True), "Share of the parsed lines (the last ones) kept out of "
         "training to calibrate thresholds and measure false alarms (validate uses it); 0 = none.", _D.holdout),
    _opt("--window-size", click.IntRange(1), "Baseline: lines per window.", _D.window_size),
    _opt("--stride", click.IntRange(1), "Baseline: lines between window starts.", _D.stride),
    _opt("--quantile", FiniteFloatRange(0, 1), "Baseline: threshold = this quantile of the training windows' "
         "scores.", _D.quantile),
    _opt("--line-quantile", FiniteFloatRange(0, 1), "Baseline: evidence lines score above this quantile of the "
         "training lines' scores.", _D.line_quantile),
    _opt("--seq-len", click.IntRange(1), "DeepLog: keys in the history window.", _D.seq_len),
    _opt("--hidden", click.IntRange(1), "DeepLog: LSTM hidden units.", _D.hidden),
    _opt("--layers", click.IntRange(1), "DeepLog: LSTM layers.", _D.layers),
    _opt("--embed-dim", click.IntRange(1), "DeepLog: key embedding size.", _D.embed_dim),
    _opt("--epochs", click.IntRange(1), "DeepLog: most training epochs (stops earlier on a plateau).", _D.epochs),
    _opt("--batch-size", click.IntRange(1), "DeepLog: distinct windows per optimiser step.", _D.batch_size),
    _opt("--lr", FiniteFloatRange(0, min_open=True), "DeepLog: Adam learning rate.", _D.lr),
    _opt("--patience", click.IntRange(1), "DeepLog: stop after this many epochs without improvement.", _D.patience),
    top_k_option(_D.k, "DeepLog: a key outside the top-k predictions is a miss (--k is an alias)."),
    _opt("--top-p", FiniteFloatRange(0, 1, min_open=True), "DeepLog: a key must also lie within this much "
         "probability mass (1 = off).", _D.top_p),
    _opt("--ensemble", click.IntRange(1), "DeepLog: networks averaged (more = steadier verdicts, slower).", _D.ensemble),
    _opt("--fa-budget", FiniteFloatRange(0, 1, min_open=True, max_open=True), "DeepLog: false misses allowed per "
         "normal prediction when calibrating its threshold on the held-out lines.", _D.fa_budget),
    _opt("--max-steps", click.IntRange(1), "DeepLog: most optimiser steps per network (training stops earlier "
         "once converged).", _D.max_steps),
    click.option("--mscred/--no-mscred", default=_D.mscred, show_default=True,
                 help="Train MS-CRED over the baseline's windows too (mscred.pth in the bundle; off by default: "
                 "its training takes minutes on a CPU, see docs/mscred.md)."),
    _opt("--mscred-max-steps", click.IntRange(1), "MS-CRED: most optimiser steps (at least one epoch of 50 steps "
         "runs; a step takes 0.5-2 s on 2 CPU cores).", _D.mscred_max_steps),
    _opt("--mscred-top-k", click.IntRange(1), "MS-CRED: templates modelled as their own series (the others are "
         "summed); the cost grows with its square.", _D.mscred_top_k),
    _opt("--alert-at", float, "Alerting layer: a line alerts above this severity + novelty + sequence score.",
         _D.alert_at),
    _opt("--incident-gap", FiniteFloatRange(0), "Result records: an entity's flagged lines more than this many "
         "seconds apart are separate incidents.", _D.incident_gap),
    _opt("--storm-gap", FiniteFloatRange(0), "Result records: incidents of other hosts/processes writing the same "
         "message within this many seconds (or one host's lines within 1 s) are one record listing its entities; "
         "0 keeps one entity per record.", _D.storm_gap),
    _opt("--deeplog-max-lines", click.IntRange(1), "DeepLog trains on at most this many lines (the first of the "
         "training part), bounding training time on large logs.", _D.deeplog_max_lines),
    _opt("--seed", int, "Random seed; the same seed gives identical models.", _D.seed),
]


def train_options(f):
    for option in reversed(_TRAIN_OPTIONS):
        f = option(f)
    return mask_options(f)


# Commands that write a bundle for `infer` (not hybrid-pipeline, whose next stage is the export itself).
onnx_option = click.option("--onnx/--no-onnx", default=_D.onnx, show_default=True,
                           help="Add a validated portable ONNX export of the networks to the bundle, so that "
                           "`infer` runs without torch (less memory, faster start; docs/hybrid.md).")


def settings_from(kw: dict, quiet: bool) -> TrainSettings:
    """TrainSettings from the options of `train_options` (consumes the --no-mask-* flags)."""
    disabled = tuple(g for g in MASK_GROUPS if kw.pop(f"no_mask_{g}", False))
    return _D.with_overrides(**kw, disabled_masks=disabled, quiet=quiet)


def _echo(text: str, multiline: bool = False) -> None:
    """A summary line (silent under --quiet), made safe for a terminal."""
    from anomaly_log_detector.reports.escape import terminal_safe

    say(terminal_safe(text, multiline=multiline))


def echo_training(s: dict, lang: str = "en") -> None:
    """The end-of-training summary (reports/console.py), silent under --quiet."""
    from anomaly_log_detector.reports.console import training_lines

    for line in training_lines(s, lang):
        _echo(line)


def echo_inference(s: dict, lang: str = "en") -> None:
    """The end-of-inference summary (reports/console.py), silent under --quiet."""
    from anomaly_log_detector.reports.console import inference_lines

    for line in inference_lines(s, lang):
        _echo(line)


@click.command("train")
@click.option("--input", "inputs", required=True, multiple=True, metavar="PATH",
              help="Normal logs: file, folder (recursive), .gz, or - for stdin. Repeatable.")
@click.option("--model-dir", required=True, type=MODEL_DIR, help="Bundle folder to write (must not exist).")
@click.option("--overwrite", is_flag=True, help="Replace an existing bundle at --model-dir.")
@click.option("--vet", type=click.Choice(["refuse", "drop", "keep"]), is_flag=False, flag_value="refuse",
              default=None, metavar="[refuse|drop|keep]",
              help="Vet the inputs with validate-baseline first (report in MODEL_DIR.vet/, verdicts on stderr, "
                   "a copy in the bundle). A rejected file: --vet or --vet=refuse stops with exit status 2 naming "
                   "it; --vet=drop trains without it; --vet=keep trains on it anyway. [default: no vetting]")
@train_options
@onnx_option
@threads_option
@quiet_option
@verbose_option
def train_command(inputs, model_dir, overwrite, quiet, threads, **kw):
    """Train a model bundle on normal logs: parse (fresh templates), baseline + DeepLog, held-out check."""
    from anomaly_log_detector.workflows.train import train_model

    set_threads(threads)
    echo_training(train_model(list(inputs), model_dir, settings_from(kw, quiet), overwrite=overwrite))


def _infer_process_settings() -> None:
    """Settings of the whole `infer` process, made here and not by the library it calls (a user's own
    environment wins; docs/performance.md): torch's OpenMP workers wait passively (they busy-wait between
    the LSTM's many small steps by default, which cost DeepLog scoring 2-9x its wall time on a host
    whose cores are shared; read when torch is first imported), and Arrow allocates with the system
    allocator, which hands freed buffers back to the OS (mimalloc kept ~100 MB per million parsed lines
    after each table had been converted)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ:
        if "pyarrow" not in sys.modules:
            # Read when pyarrow loads: Arrow's C++ code (the Parquet reader, compute kernels) then
            # allocates from the system pool too, not only what Python asks for (1M lines: ~60 MB less).
            os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "system"
        else:
            import pyarrow as pa

            pa.set_memory_pool(pa.system_memory_pool())


@click.command("infer")
@click.option("--model-dir", required=True, type=EXISTING_MODEL, help="Bundle written by `train`.")
@click.option("--input", "inputs", required=True, multiple=True, metavar="PATH",
              help="Target log(s) to analyse: file, folder, .gz, or -. Repeatable.")
@click.option("--out-dir", required=True, type=MODEL_DIR,
              help="Folder for inference_report.md, anomalies.jsonl and the detector results.")
@click.option("--top", type=click.IntRange(1), default=20, show_default=True, help="Anomalies shown in the report.")
@click.option("--year", type=int, default=None,
              help="Year of timestamps that carry none (syslog) [default: each file's modification time; "
                   "dates after it are the year before].")
@click.option("--tz", metavar="ZONE",
              help="Time zone of timestamps that carry none: IANA name, UTC or offset (+09:00) "
                   "[default: the one the bundle was trained with, else UTC].")
@time_range_options
@lang_option
@json_option()
@threads_option
@quiet_option
@verbose_option
def infer_command(model_dir, inputs, out_dir, top, year, tz, since, until, lang, as_json, quiet, threads):
    """Analyse logs with a bundle. Exit status: 0 no anomaly, 1 anomalies found, 2 error."""
    _infer_process_settings()  # before anything imports pyarrow
    from anomaly_log_detector.workflows.infer import infer_logs

    # Threads are set once the bundle is loaded: an ONNX bundle scores without importing torch.
    s = infer_logs(model_dir, list(inputs), out_dir, top=top, lang=lang, quiet=quiet, year=year, tz=tz,
                   threads=threads, since=since, until=until)
    if as_json:
        echo_json(s)
    else:
        echo_inference(s, lang)
    return s["exit_status"]


@click.command("validate")
@click.option("--model-dir", required=True, type=EXISTING_MODEL, help="Bundle written by `train`.")
@click.option("--validation-log", type=click.Path(exists=True),
              help="A log of normal lines to measure on [default: the bundle's held-out lines].")
@click.option("--out-dir", type=MODEL_DIR, help="Keep the validation log's processed results here.")
@click.option("--min-score", type=FiniteFloatRange(0, 100), default=None,
              help="Exit with status 1 when the score is below this (a gate for scripts) [default: no minimum, "
                   "exit 0].")
@lang_option
@json_option()
@threads_option
@quiet_option
@verbose_option
def validate_command(model_dir, validation_log, out_dir, min_score, lang, as_json, quiet, threads):
    """Score a bundle 0-100 (85+ is good) and explain each component. Exit status: 0, or 1 when the
    score is below --min-score, 2 error."""
    from anomaly_log_detector.workflows.validate import format_quality, validate_model

    set_threads(threads)
    result = validate_model(model_dir, validation_log, out_dir, quiet=quiet, min_score=min_score, lang=lang)
    if as_json:
        echo_json(result)
    else:
        _echo(format_quality(result, lang), multiline=True)
    return 0 if result["passed"] else 1


@click.command("compare")
@click.option("--model-a", required=True, type=EXISTING_MODEL, help="First bundle.")
@click.option("--model-b", required=True, type=EXISTING_MODEL, help="Second bundle.")
@click.option("--test-log", type=click.Path(exists=True), help="Run both bundles on this log and compare results.")
@click.option("--out-dir", type=MODEL_DIR, help="Keep both inference results (OUT/A, OUT/B) and compare.json here.")
@lang_option
@json_option()
@threads_option
@quiet_option
@verbose_option
def compare_command(model_a, model_b, test_log, out_dir, lang, as_json, quiet, threads):
    """Two bundles side by side: templates, vocab, losses, thresholds, quality, results on a test log."""
    from anomaly_log_detector.workflows.compare import compare_models, format_columns

    set_threads(threads)
    result = compare_models(model_a, model_b, test_log, out_dir, quiet=quiet, lang=lang)
    if as_json:
        echo_json(result)
        return
    say(format_columns({"A": f"A: {model_a}", "B": f"B: {model_b}"}, result["rows"], lang=lang))
    if "output" in result:
        _echo(f"wrote {result['output']}")


@click.command("train-incremental")
@click.option("--old-model-dir", required=True, type=EXISTING_MODEL, help="Bundle to continue.")
@click.option("--input", "inputs", required=True, multiple=True, metavar="PATH", help="New normal logs. Repeatable.")
@click.option("--model-dir", required=True, type=MODEL_DIR, help="New bundle folder to write.")
@click.option("--epochs", type=click.IntRange(1), help="DeepLog fine-tuning epochs [default: the old model's].")
@click.option("--lr", type=FiniteFloatRange(0, min_open=True), help="Fine-tuning learning rate [default: the old one].")
@click.option("--holdout", type=FiniteFloatRange(0, 1, max_open=True), help="Held-out share of the new lines.")
@click.option("--seed", type=int, help="Random seed [default: the old model's].")
@click.option("--overwrite", is_flag=True, help="Replace an existing bundle at --model-dir.")
@threads_option
@quiet_option
@verbose_option
def train_incremental_command(old_model_dir, inputs, model_dir, epochs, lr, holdout, seed, overwrite, quiet,
                              threads):
    """Continue a bundle on new normal logs: old templates and vocab indices kept, models fine-tuned."""
    from anomaly_log_detector.workflows.incremental import train_incremental

    set_threads(threads)
    s = train_incremental(old_model_dir, list(inputs), model_dir, epochs=epochs, lr=lr, holdout=holdout, seed=seed,
                          overwrite=overwrite, quiet=quiet)
    inc = s["incremental"]
    say(f"templates: {inc['templates_before']:,} -> {inc['templates_after']:,} "
        f"({inc['templates_generalised']:,} old templates generalised); vocab {inc['previous_vocab_size']:,} "
        f"-> {s['vocab_size']:,}")
    echo_training(s)


@click.command("batch-analysis")
@click.option("--log-dir", required=True, type=click.Path(exists=True, file_okay=False),
              help="Folder whose other files (recursively) are the normal baseline.")
@click.option("--target", required=True, type=click.Path(exists=True, dir_okay=False), help="The log to analyse.")
@click.option("--out-dir", required=True, type=MODEL_DIR, help="Folder for OUT/model and OUT/inference.")
@click.option("--enhanced", is_flag=True, help="Also write comparative statistics (templates only in the target, "
              "frequency ratios target vs baseline).")
@train_options
@onnx_option
@threads_option
@quiet_option
@verbose_option
def batch_analysis_command(log_dir, target, out_dir, enhanced, quiet, threads, **kw):
    """Train on the other files of a folder, analyse one target. Exit status as `infer`."""
    from anomaly_log_detector.workflows.batch import batch_analysis

    set_threads(threads)
    s = batch_analysis(log_dir, target, out_dir, settings=settings_from(kw, quiet), enhanced=enhanced)
    say(f"baseline: {len(s['baseline_files']):,} file(s)")
    echo_training(s["train"])
    echo_inference(s["infer"])
    for path in s.get("comparative", {}).values():
        _echo(f"comparative: {path}")
    return s["exit_status"]


COMMANDS = [train_command, infer_command, validate_command, compare_command, train_incremental_command,
            batch_analysis_command]
