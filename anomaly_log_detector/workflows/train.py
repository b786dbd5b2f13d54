"""`alog-detect train`: normal logs in, a model bundle out.

1. Parse the inputs with a fresh template state (or, incremental, a copy of the old bundle's).
2. Hold out the last `holdout` share of the parsed lines (input order); train on the rest.
3. Vocabulary over every template; baseline statistics; DeepLog on the first `deeplog_max_lines`
   training lines (or, incremental, the old models continued: see :mod:`.incremental`).
4. Run the trained model over the held-out lines as inference would and record its false alarms.
5. Write the bundle atomically (bundle/store.py): a crash or kill leaves nothing at the final path.

Intermediate files live in a hidden `.NAME.work-*` folder beside the bundle, removed at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from anomaly_log_detector.api import parse_logs
from anomaly_log_detector.builders.deeplog import read_parsed, template_vocab
from anomaly_log_detector.bundle import BundleWriter, input_fingerprints
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.reports.inputs import PARSED
from anomaly_log_detector.schema import UNSEEN_TEMPLATE
from anomaly_log_detector.workflows.detect import LINE_COLUMNS, OPTIONAL_COLUMNS, sequences
from anomaly_log_detector.workflows.holdout import holdout_rows, measure_normal, write_tail
from anomaly_log_detector.workflows.model import DRAIN_STATE, TrainedModel, trainer_metadata, write_components
from anomaly_log_detector.workflows.settings import AUTO_SESSION_BY, TrainSettings


@contextmanager
def work_folder(target: Path) -> Iterator[Path]:
    """A hidden scratch folder beside `target`, removed on exit (a killed run leaves it, never a bundle)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=f".{target.name}.work-", dir=target.parent))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def parse_training_logs(paths: list[str], work: Path, settings: TrainSettings, rules: str | None,
                        disabled_masks: Iterable[str]) -> dict:
    """Parse into `work/parsed`, mining templates into `work/drain3_state.json` (continued if it exists)."""
    summary = parse_logs(paths, str(work / "parsed"), drain_state=str(work / DRAIN_STATE), rules=rules,
                         format=settings.format, log_format=settings.log_format, disabled_masks=disabled_masks,
                         session_regex=settings.session_regex, quiet=settings.quiet)
    if summary["lines_parsed"] == 0:
        raise DataError(f"no log lines to train on in {', '.join(paths)} ({summary['lines_read']:,} lines read)")
    return summary


def resolve_session_by(lines: pd.DataFrame, choice: str) -> str:
    """`choice`, or for `auto` the first of AUTO_SESSION_BY with a value on some line (else `none`)."""
    if choice != "auto":
        return choice
    return next((c for c in AUTO_SESSION_BY if c in lines.columns and lines[c].notna().any()), "none")


def fit_parsed(work: Path, parse_summary: dict, settings: TrainSettings, rules: list[dict],
               previous: TrainedModel | None = None) -> TrainedModel:
    """Train every detector on the parsed lines in `work` (all but the held-out tail) and measure the
    held-out false alarms. With `previous`, its vocabulary is extended and its detectors continued."""
    from anomaly_log_detector.detectors.baseline import BaselineDetector
    from anomaly_log_detector.detectors.deeplog import DeepLogDetector
    from anomaly_log_detector.workflows.finetune import finetune_deeplog

    parsed = work / "parsed" / PARSED
    lines = read_parsed(parsed, [*LINE_COLUMNS, "template_id"], optional=OPTIONAL_COLUMNS)
    n = len(lines)
    n_hold = holdout_rows(n, settings.holdout)
    train = lines.iloc[:n - n_hold]
    templates = [t for t in lines["template"].unique() if t != UNSEEN_TEMPLATE]
    vocab = previous.vocab.extend(templates) if previous else template_vocab(templates)
    if previous:
        baseline = previous.baseline.partial_fit(train)
    else:
        baseline = BaselineDetector(**settings.baseline_params()).fit(train)
    session_by = resolve_session_by(lines, settings.session_by)
    deeplog_lines = train.iloc[:settings.deeplog_max_lines]
    seq = sequences(deeplog_lines, vocab, session_by).to_pandas()
    if previous and previous.deeplog is not None:
        deeplog = finetune_deeplog(previous.deeplog, seq, vocab, epochs=settings.epochs, lr=settings.lr,
                                   seed=settings.seed, quiet=settings.quiet)
    else:
        deeplog = DeepLogDetector(**settings.deeplog_params()).fit(seq, vocab=vocab)
    model = TrainedModel(vocab=vocab, baseline=baseline, deeplog=deeplog, rules=rules,
                         drain_state=(work / DRAIN_STATE).read_bytes())
    model.metadata = {
        "params": {
            "parser": {"format": parse_summary["format"], "log_format": settings.log_format,
                       "session_regex": settings.session_regex, "drain": parse_summary["drain_config"],
                       "masking_rules": parse_summary["masking_rules"]},
            "sequences": {"session_by": session_by},
            "baseline": {**baseline.get_params(), "weights": list(baseline.weights)},
            "deeplog": deeplog.get_params(),
            "workflow": settings.to_dict(),
        },
        "log_format": settings.log_format or parse_summary["format"],
        "vocab_size": vocab.size,
        "templates": len(vocab.templates),
        "losses": {"deeplog": list(deeplog.history_)},
        "thresholds": {"baseline": baseline.threshold_, "baseline_line": baseline.line_threshold_,
                       "deeplog": deeplog.threshold_},
        "training": {"lines_read": parse_summary["lines_read"], "lines_parsed": n,
                     "lines_skipped": parse_summary["lines_skipped"], "train_lines": n - n_hold,
                     "holdout_lines": n_hold, "deeplog_lines": int(len(deeplog_lines)),
                     "deeplog": deeplog.train_stats_, "baseline_windows": baseline.train_windows_},
    }
    holdout = None
    if n_hold:
        write_tail(parsed, n - n_hold, train["template_id"].unique(), work / "holdout")
        holdout = measure_normal(work / "holdout", model)
    model.metadata["holdout"] = holdout
    return model


def train_model(inputs: str | Iterable[str], model_dir: str | os.PathLike,
                settings: TrainSettings = TrainSettings(), overwrite: bool = False) -> dict[str, Any]:
    """Train a bundle at `model_dir` on normal logs (files, folders, .gz); return a summary."""
    from anomaly_log_detector.parsing.masking import Masker

    paths = [inputs] if isinstance(inputs, str) else [str(p) for p in inputs]
    started = time.perf_counter()
    rules = Masker.from_file(settings.rules, settings.disabled_masks).to_list()
    with BundleWriter(model_dir, overwrite=overwrite) as writer, work_folder(writer.final_dir) as work:
        summary = parse_training_logs(paths, work, settings, settings.rules, settings.disabled_masks)
        model = fit_parsed(work, summary, settings, rules)
        model.metadata["inputs"] = input_fingerprints(paths)
        model.metadata["training"]["seconds"] = round(time.perf_counter() - started, 3)
        write_components(writer, model)
        final = writer.commit(trainer_metadata(model))
    return training_summary(final, model.metadata)


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
    }
