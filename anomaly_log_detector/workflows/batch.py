"""`alog-detect batch-analysis`: one file of a folder against the others.

Every other file under the folder (recursively; hidden files skipped) is the normal baseline: a bundle
is trained on them (`OUT/model`), then the target is analysed with it (`OUT/inference`: report, result
table, log samples). `enhanced` also writes the comparative statistics of the target against that
baseline (:mod:`anomaly_log_detector.analyzers.comparative`: templates only in the target, frequency
changes, cosine similarity and smoothed KL divergence) into `OUT/inference`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from anomaly_log_detector.errors import InputError
from anomaly_log_detector.analyzers.comparative import write_comparative
from anomaly_log_detector.workflows.infer import infer_logs
from anomaly_log_detector.workflows.model import load_bundle
from anomaly_log_detector.workflows.settings import TrainSettings
from anomaly_log_detector.workflows.train import train_model

BATCH_SUMMARY = "batch_summary.json"


def baseline_files(log_dir: str | os.PathLike, target: str | os.PathLike,
                   out_dir: str | os.PathLike | None = None) -> list[str]:
    """The files under `log_dir` (as the parser lists a folder) except `target` and anything under
    `out_dir` (results of an earlier run kept inside the folder are not logs)."""
    from anomaly_log_detector.parsing.sources import list_sources

    if not Path(log_dir).is_dir():
        raise InputError(f"{log_dir}: not a folder")
    if not Path(target).is_file():
        raise InputError(f"{target}: target log not found")
    me = Path(target).resolve()
    skip = Path(out_dir).resolve() if out_dir is not None else None
    files = [f for f in list_sources(str(log_dir))
             if Path(f).resolve() != me and not (skip and Path(f).resolve().is_relative_to(skip))]
    if not files:
        raise InputError(f"{log_dir}: no file besides the target to use as the normal baseline")
    return files


def batch_analysis(log_dir: str | os.PathLike, target: str | os.PathLike, out_dir: str | os.PathLike, *,
                   settings: TrainSettings = TrainSettings(), enhanced: bool = False) -> dict[str, Any]:
    """Train on the folder's other files, analyse `target`; return a summary with the exit status."""
    files = baseline_files(log_dir, target, out_dir)
    out = Path(out_dir)
    trained = train_model(files, out / "model", settings)
    inferred = infer_logs(out / "model", str(target), out / "inference", quiet=settings.quiet, year=settings.year)
    result: dict[str, Any] = {"log_dir": str(log_dir), "target": str(target), "baseline_files": files,
                              "train": trained, "infer": inferred, "exit_status": inferred["exit_status"]}
    if enhanced:
        paths = write_comparative(load_bundle(out / "model"), str(target), out / "inference", settings.quiet)
        result["comparative"] = {k: str(v) for k, v in paths.items()}
    tmp = out / (BATCH_SUMMARY + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out / BATCH_SUMMARY)
    return result
