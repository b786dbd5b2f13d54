"""`alog-detect train`: normal logs in, a model bundle out.

1. Parse the inputs with a fresh template state (or, incremental, a copy of the old bundle's).
2. Hold out the last `holdout` share of the parsed lines (input order); train on the rest.
3. Vocabulary over the training part's templates only; baseline statistics; the alerting layer;
   DeepLog on the first `deeplog_max_lines` training lines, converged, its miss threshold calibrated
   on the held-out lines (or, incremental, the old models continued: see :mod:`.incremental`);
   MS-CRED (unless `mscred` is off) on the training part's line windows, at most `mscred_max_steps`
   optimiser steps, its threshold then raised above the training windows' own scores.
4. Run that model over the held-out lines exactly as inference would (templates the training part
   lacks are unseen there) and record its false alarms: an honest measure.
5. The shipped model then learns from every line: the vocabulary, DeepLog's known keys and
   transitions, the baseline statistics and the alerting layer's templates take in the held-out part;
   MS-CRED's threshold is raised above the scores of every window of the whole log (so the bundle
   reports no window of its own training log; its network is not retrained).
6. Warn (stderr, summary, metadata) when the held-out false alarms exceed the budget or a network
   did not converge.
7. Write the bundle atomically (bundle/store.py): a crash or kill leaves nothing at the final path.

Intermediate files live in a hidden `.NAME.work-PID-*` folder beside the bundle, removed at the end (a
killed run's by the next one: see BundleWriter). The writer's lock makes a second training of the same
bundle fail at once; a full disk is one error naming the bundle, with every partial file removed.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd
import pyarrow.parquet as pq

from anomaly_log_detector.parsing.run import parse_logs
from anomaly_log_detector.builders.deeplog import read_parsed, template_vocab
from anomaly_log_detector.bundle import BundleWriter, input_fingerprints
from anomaly_log_detector.bundle.store import scratch_folder
from anomaly_log_detector.detectors.flows import flow_columns
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.parsing.miner import explosion_note
from anomaly_log_detector.parsing.sources import skipped_note
from anomaly_log_detector.reports.escape import terminal_safe
from anomaly_log_detector.reports.inputs import PARSED
from anomaly_log_detector.fileio.schema import UNSEEN_ID, UNSEEN_TEMPLATE
from anomaly_log_detector.workflows.detect import LINE_COLUMNS, OPTIONAL_COLUMNS, sequences
from anomaly_log_detector.workflows.holdout import holdout_rows, measure_normal, write_tail
from anomaly_log_detector.workflows.paths import check_out_dir
from anomaly_log_detector.workflows.model import DEEPLOG, DRAIN_STATE, MSCRED, TrainedModel, trainer_metadata, write_components
from anomaly_log_detector.workflows.settings import AUTO_SESSION_BY, TrainSettings

# Held-out false alarms above this share of lines get a warning at training time.
FALSE_ALARM_BUDGET = 0.01
# Fewer line windows than this in the training part: MS-CRED is left out of the bundle (with a warning).
MSCRED_MIN_WINDOWS = 10


@contextmanager
def work_folder(target: Path) -> Iterator[Path]:
    """A hidden scratch folder ``.NAME.work-PID-*`` beside `target`, removed on exit (a killed run
    leaves it, never a bundle; the next BundleWriter of `target` removes it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    path = scratch_folder(target, "work")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def parse_training_logs(paths: list[str], work: Path, settings: TrainSettings, rules: str | None,
                        disabled_masks: Iterable[str]) -> dict:
    """Parse into `work/parsed`, mining templates into `work/drain3_state.json` (continued if it exists)."""
    summary = parse_logs(paths, str(work / "parsed"), drain_state=str(work / DRAIN_STATE), rules=rules,
                         format=settings.format, log_format=settings.log_format, disabled_masks=disabled_masks,
                         session_regex=settings.session_regex, year=settings.year, tz=settings.tz,
                         quiet=settings.quiet)
    note = skipped_note(summary)
    if note:  # loud even with --quiet, like parse: a file a user expected may not have been read
        print(terminal_safe(note), file=sys.stderr, flush=True)
    explosion = explosion_note(summary)  # a noisy or hostile training log: templates were folded
    if explosion:
        print(explosion, file=sys.stderr, flush=True)
    if summary["lines_parsed"] == 0:
        raise DataError(f"no log lines to train on in {', '.join(paths)} ({summary['lines_read']:,} lines read)")
    return summary


def resolve_session_by(lines: pd.DataFrame, choice: str) -> str:
    """`choice`, or for `auto`: `entity` when some line has a host or a process, else `none`."""
    if choice != "auto":
        return choice
    has = any(c in lines.columns and lines[c].notna().any() for c in ("host", "process"))
    return AUTO_SESSION_BY[0] if has else "none"


def _unseen_outside(lines: pd.DataFrame, known: set) -> pd.DataFrame:
    """`lines` with every template outside `known` turned into `<UNSEEN>` (what a frozen parse
    against the training part would give)."""
    seen = lines["template"].isin(known)
    return lines.assign(template=lines["template"].where(seen, UNSEEN_TEMPLATE),
                        template_id=lines["template_id"].where(seen, UNSEEN_ID))


def fit_parsed(work: Path, parse_summary: dict, settings: TrainSettings, rules: list[dict],
               previous: TrainedModel | None = None) -> TrainedModel:
    """Train every detector on the parsed lines in `work` (all but the held-out tail), measure the
    held-out false alarms, then let the shipped model take in the held-out lines. With `previous`, its
    vocabulary is extended and its detectors continued."""
    from anomaly_log_detector.detectors.alerting import AlertingDetector
    from anomaly_log_detector.detectors.baseline import BaselineDetector
    from anomaly_log_detector.detectors.deeplog import DeepLogDetector
    from anomaly_log_detector.workflows.finetune import finetune_deeplog

    parsed = work / "parsed" / PARSED
    lines = read_parsed(parsed, [*LINE_COLUMNS, "template_id"], optional=OPTIONAL_COLUMNS)
    n = len(lines)
    n_hold = holdout_rows(n, settings.holdout)
    train, hold = lines.iloc[:n - n_hold], lines.iloc[n - n_hold:]
    known = set(train["template"].unique()) - {UNSEEN_TEMPLATE}
    vocab = previous.vocab.extend(sorted(known)) if previous else template_vocab(known)
    session_by = resolve_session_by(lines, settings.session_by)
    gap = settings.session_gap

    def seq(part: pd.DataFrame, v) -> pd.DataFrame:
        return sequences(part, v, session_by, gap).to_pandas()

    baseline = (previous.baseline.partial_fit(train) if previous
                else BaselineDetector(**settings.baseline_params()).fit(train))
    flow_lines = read_parsed(parsed, flow_columns(pq.read_schema(parsed).names))
    flows = _fit_flows(flow_lines.iloc[:n - n_hold], previous)
    alerting = AlertingDetector(sequence=False, alert_at=settings.alert_at).fit(train)
    deeplog_lines = train.iloc[:settings.deeplog_max_lines]
    # Calibration replays the whole log (so held-out lines keep their real context) and scores only the
    # predictions of held-out lines, with templates the training part lacks unseen.
    held = seq(pd.concat([train, _unseen_outside(hold, known)]), vocab) if n_hold else None
    cal = {"calibration_X": held, "calibration_from_row": n - n_hold}
    if previous and previous.deeplog is not None:
        deeplog = finetune_deeplog(previous.deeplog, seq(deeplog_lines, vocab), vocab, epochs=settings.epochs,
                                   lr=settings.lr, seed=settings.seed, quiet=settings.quiet, **cal)
    else:
        deeplog = DeepLogDetector(**settings.deeplog_params()).fit(seq(deeplog_lines, vocab), vocab=vocab, **cal)
    mscred, mscred_note = (_fit_mscred(train, vocab, settings, previous.mscred if previous else None)
                           if settings.mscred else (None, None))
    model = TrainedModel(vocab=vocab, baseline=baseline, deeplog=deeplog, rules=rules, alerting=alerting,
                         drain_state=(work / DRAIN_STATE).read_bytes(), mscred=mscred,
                         temporal_profile=training_temporal_profile(lines, previous), flows=flows)
    # "mixed": files of several formats, each detected; inference then detects per file too.
    parser_format = "auto" if parse_summary["format"] == "mixed" else parse_summary["format"]
    model.metadata = {"params": {
        "parser": {"format": parser_format, "log_format": settings.log_format,
                   "session_regex": settings.session_regex, "tz": settings.tz, "drain": parse_summary["drain_config"],
                   "masking_rules": parse_summary["masking_rules"]},
        "sequences": {"session_by": session_by, "session_gap": gap},
        "incidents": {"gap": settings.incident_gap, "storm_gap": settings.storm_gap or None},
        "workflow": settings.to_dict(),
    }}
    if mscred is not None:
        params = {**mscred.get_params(), "channels": list(mscred.channels), "stride": settings.stride}
        model.metadata["params"]["mscred"] = {**params, "scales": None if mscred.scales is None else list(mscred.scales)}
    holdout = None
    if n_hold:
        write_tail(parsed, n - n_hold, train["template_id"].unique(), work / "holdout")
        holdout = measure_normal(work / "holdout", model)
        # The shipped model knows every line it was given (measured above, before it did).
        vocab = vocab.extend(sorted(set(lines["template"].unique()) - {UNSEEN_TEMPLATE}))
        deeplog.absorb(seq(lines, vocab), vocab)  # every transition of the whole log as inference replays it
        baseline = previous.baseline.partial_fit(lines) if previous else BaselineDetector(**settings.baseline_params()).fit(lines)
        alerting.extend(hold)
        flows = _fit_flows(flow_lines, previous)
        model.vocab, model.baseline, model.flows = vocab, baseline, flows
    if mscred is not None:  # every window of the whole log, as inference will score it
        _cover_mscred(mscred, lines, vocab, settings)
    model.metadata.update({
        "log_format": settings.log_format or parse_summary["format"],
        "vocab_size": vocab.size,
        "templates": len(vocab.templates),
        "losses": {"deeplog": list(deeplog.history_),
                   **({"mscred": [float(x) for x in mscred.history_]} if mscred is not None else {})},
        "thresholds": {"baseline": baseline.threshold_, "baseline_line": baseline.line_threshold_,
                       "deeplog": deeplog.threshold_, "alerting": alerting.threshold_,
                       **({"mscred": mscred.threshold_} if mscred is not None else {})},
        "training": {"lines_read": parse_summary["lines_read"], "lines_parsed": n,
                     "lines_skipped": parse_summary["lines_skipped"], "train_lines": n - n_hold,
                     "holdout_lines": n_hold, "deeplog_lines": int(len(deeplog_lines)),
                     "deeplog": deeplog.train_stats_, "baseline_windows": baseline.train_windows_,
                     "flows": flows.summary(),
                     "mscred": (mscred.train_stats_ if mscred is not None
                                else {"skipped": mscred_note} if mscred_note else None)},
        "holdout": holdout,
    })
    model.metadata["params"].update({"baseline": {**baseline.get_params(), "weights": list(baseline.weights)},
                                     "deeplog": deeplog.get_params(), "alerting": alerting.get_params(),
                                     "flows": flows.get_params()})
    model.metadata["warnings"] = training_warnings(model.metadata, settings)
    return model


def _fit_flows(lines: pd.DataFrame, previous: TrainedModel | None = None):
    """The identifier-flow detector over `lines`; an incremental run extends the old bundle's."""
    from anomaly_log_detector.detectors.flows import FlowDetector

    if previous is not None and previous.flows is not None:
        return FlowDetector.from_dict(previous.flows.to_dict()).extend(lines)
    return FlowDetector().fit(lines)


def training_temporal_profile(lines: pd.DataFrame, previous: TrainedModel | None = None) -> dict[str, Any] | None:
    """The hour-of-day x weekday profile of every training line (analyzers/temporal.py), which `infer`
    compares a target with; None when no line has a timestamp. Incremental training profiles its new
    lines, or keeps the old bundle's profile when those have no timestamps."""
    from anomaly_log_detector.analyzers.temporal import temporal_profile

    if "timestamp" in lines.columns and lines["timestamp"].notna().any():
        return temporal_profile(lines)
    return previous.temporal_profile if previous is not None else None


def _fit_mscred(train: pd.DataFrame, vocab, settings: TrainSettings, previous=None):
    """(MS-CRED fitted on the training part's line windows, None) or (None, why it was not): its
    threshold is raised above every training window's score (:meth:`MSCREDDetector.cover`). With
    `previous` (incremental), that model is fine-tuned on the windows instead (its series and scaling
    kept: :meth:`MSCREDDetector.continue_fit`); with too few windows it is kept unchanged."""
    from anomaly_log_detector.builders.mscred import window_counts
    from anomaly_log_detector.detectors.mscred_files import continue_mscred, train_mscred

    counts = window_counts(train, vocab, settings.window_size, settings.stride)
    if len(counts) < MSCRED_MIN_WINDOWS:
        if previous is not None:
            return previous, None
        return None, (f"{len(counts)} window(s) of {settings.window_size} lines in the training part; it needs "
                      f"at least {MSCRED_MIN_WINDOWS}")
    if previous is not None:
        # unseen: an old bundle's model (saved before bundles masked <unseen>) takes the current
        # treatment; continue_fit computes its held-out scores and thresholds again anyway
        det = continue_mscred(previous, counts, vocab, max_steps=settings.mscred_max_steps, seed=settings.seed,
                              quiet=settings.quiet, unseen=settings.mscred_params()["unseen"])
    else:
        det = train_mscred(counts, vocab, **settings.mscred_params())
    _cover_mscred(det, train, vocab, settings, counts)
    return det, None


def _cover_mscred(det, lines: pd.DataFrame, vocab, settings: TrainSettings, counts: pd.DataFrame | None = None) -> None:
    """Raise MS-CRED's threshold above the scores of `lines`' windows, computed as inference does."""
    from anomaly_log_detector.builders.mscred import window_counts
    from anomaly_log_detector.detectors.mscred_files import infer_mscred

    if counts is None:
        counts = window_counts(lines, vocab, settings.window_size, settings.stride)
    det.cover(infer_mscred(det, counts, vocab, keep="none").table["score"].to_numpy())


def training_warnings(meta: dict[str, Any], settings: TrainSettings) -> list[str]:
    """What an operator must hear about a trained model (empty when all is well)."""
    out = []
    stats = meta["training"]["deeplog"]
    if not stats.get("converged", True):
        out.append(f"DeepLog did not converge ({', '.join(stats.get('stop_reasons', []))} after "
                   f"{stats.get('steps', 0):,} steps): its loss was still falling; train longer "
                   f"(--epochs / --max-steps) or give it more data")
    skipped = (meta["training"].get("mscred") or {}).get("skipped")
    if skipped and settings.mscred:
        out.append(f"MS-CRED was not trained: {skipped}")
    h = meta.get("holdout")
    budget = FALSE_ALARM_BUDGET
    if h and h["false_alarm_rate"] > budget:
        out.append(f"{h['false_alarm_rate']:.1%} of the held-out normal lines would be reported "
                   f"(budget {budget:.1%}): the training logs may be too short or too varied for the "
                   f"model to know what normal looks like; give it more normal logs")
    if h and h["lines"] and h["template_coverage"] < 0.9:
        out.append(f"only {h['template_coverage']:.0%} of the held-out lines match a training template: "
                   f"the logs keep producing new messages; expect novelty alerts")
    return out


def vet_training_inputs(paths: list[str], writer: BundleWriter, settings: TrainSettings) -> list[str]:
    """`train --vet`: vet the inputs (report in ``MODEL_DIR.vet`` beside the bundle, verdicts on stderr, a
    copy of the result in the bundle as ``baseline_validation.json``); return the inputs to train on."""
    from anomaly_log_detector.analyzers.baseline_validation import BUNDLE_FILE, vet_for_training

    kept, result = vet_for_training(paths, writer.final_dir, settings.vet, format=settings.format,
                                    log_format=settings.log_format, quiet=settings.quiet)
    writer.write_json(BUNDLE_FILE, result)
    return kept


def train_model(inputs: str | Iterable[str], model_dir: str | os.PathLike,
                settings: TrainSettings = TrainSettings(), overwrite: bool = False) -> dict[str, Any]:
    """Train a bundle at `model_dir` on normal logs (files, folders, .gz); return a summary."""
    from anomaly_log_detector.parsing.masking import Masker

    paths = [inputs] if isinstance(inputs, str) else [str(p) for p in inputs]
    check_out_dir(model_dir, paths, option="--model-dir")
    started = time.perf_counter()
    rules = Masker.from_file(settings.rules, settings.disabled_masks).to_list()
    with (BundleWriter(model_dir, overwrite=overwrite) as writer, work_folder(writer.final_dir) as work,
          writer.output_errors()):
        if settings.vet:  # validate-baseline first: refuse, drop or keep rejected files (docs/baseline-validation.md)
            paths = vet_training_inputs(paths, writer, settings)
        summary = parse_training_logs(paths, work, settings, settings.rules, settings.disabled_masks)
        model = fit_parsed(work, summary, settings, rules)
        model.metadata["inputs"] = input_fingerprints(e["source"] for e in summary["sources"])  # files read
        model.metadata["training"]["seconds"] = round(time.perf_counter() - started, 3)
        write_components(writer, model)
        final = writer.commit(trainer_metadata(model))
    onnx = export_onnx(final, settings)
    for warning in model.metadata["warnings"]:
        print(terminal_safe(f"WARNING: {warning}"), file=sys.stderr, flush=True)
    return {**training_summary(final, model.metadata), "onnx": onnx}


def export_onnx(bundle_dir: Path, settings: TrainSettings) -> dict[str, Any] | None:
    """With ``settings.onnx``, add the bundle's networks as a validated portable ONNX export (what
    ``convert-onnx --portable --validate`` writes); return what was exported, or None. An export that
    cannot be made or does not validate leaves the bundle as it is (``infer`` then runs on torch) and is
    reported as a warning: the training itself succeeded."""
    from anomaly_log_detector.onnx_export.pipeline import convert_bundle

    if not settings.onnx or not any((bundle_dir / n).is_file() for n in (DEEPLOG, MSCRED)):
        return None
    try:
        result = convert_bundle(bundle_dir, portable=True, validate=True)
    except Exception as exc:  # noqa: BLE001 - the bundle is complete; torch's exporter and ONNX Runtime raise
        # their own exception types, and a failed optional export must not turn a finished training into a
        # traceback: it is reported, and `infer` uses torch
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(terminal_safe(f"WARNING: no ONNX export (infer will use torch): {why}"), file=sys.stderr, flush=True)
        return {"error": why}
    return {"files": sorted(result["files"]), "seconds": result["seconds"].get("total")}


def training_summary(model_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """What `train` prints: where the bundle is and the key numbers of its metadata."""
    t, h = meta["training"], meta.get("holdout")
    losses = meta["losses"]["deeplog"]
    return {
        "model_dir": str(model_dir), "lines": t["lines_parsed"], "train_lines": t["train_lines"],
        "holdout_lines": t["holdout_lines"], "templates": meta["templates"], "vocab_size": meta["vocab_size"],
        "baseline_threshold": meta["thresholds"]["baseline"], "deeplog_epochs": len(losses),
        "deeplog_loss": [losses[0], losses[-1]] if losses else None,
        "holdout_false_alarm_rate": h["false_alarm_rate"] if h else None, "seconds": t["seconds"],
        "deeplog_converged": t["deeplog"].get("converged"), "deeplog_threshold": meta["thresholds"]["deeplog"],
        "mscred": _mscred_summary(meta), "flows": t.get("flows"), "warnings": meta.get("warnings", []),
    }


def _mscred_summary(meta: dict[str, Any]) -> dict[str, Any] | None:
    stats = meta["training"].get("mscred")
    if not stats or "skipped" in stats:
        return None
    return {"steps": stats.get("steps"), "seconds": stats.get("seconds"), "windows": stats.get("windows"),
            "converged": stats.get("converged"), "threshold": meta["thresholds"].get("mscred")}
