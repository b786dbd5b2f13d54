"""`alog-detect train-incremental`: continue a bundle on new normal logs, keeping what it knew.

* Templates: the new logs are parsed with the old template state, not frozen: old clusters keep their
  ids, new messages become new clusters. (Drain may still generalise an old template's text when new
  lines join it; the count is recorded as `templates_generalised`.)
* Vocabulary: ``Vocab.extend``: old indices stay, new templates are appended.
* Baseline: ``BaselineDetector.partial_fit``: the EWM statistics continue over the new windows.
* DeepLog: grown (old rows copied) and fine-tuned on the new sessions (:mod:`.finetune`).
* MS-CRED (when the old bundle has one): fine-tuned from the old weights on the new logs' line windows
  (``MSCREDDetector.continue_fit``, at most `mscred_max_steps` steps). The bundle keeps no old window
  counts to retrain on, so the model's inputs keep their old meaning instead: the same series, scales
  and scaling (means and deviations), templates added since counted as `<other>`; the residual bound
  only grows (old bound, entry-wise max with the new windows' residuals), and the threshold is
  calibrated on the new windows and raised above them as in `train`; a model that still counts the
  `<unseen>` series (saved before bundles masked it) is fine-tuned with ``unseen="mask"``. With fewer
  than 10 new windows the old model is kept as it was.

Settings (log format, rules, windows, network shape...) are the old bundle's; epochs, learning rate,
holdout and seed may be changed. The new bundle is written atomically like any other.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable

from anomaly_log_detector.bundle import BundleWriter, input_fingerprints
from anomaly_log_detector.errors import BundleError
from anomaly_log_detector.workflows.model import DRAIN_STATE, RULES, load_bundle, trainer_metadata, write_components
from anomaly_log_detector.workflows.settings import TrainSettings
from anomaly_log_detector.workflows.train import (export_onnx, fit_parsed, parse_training_logs, training_summary,
                                                 work_folder)


def _templates(state: bytes) -> dict[int, str]:
    return {c["id"]: c["template"] for c in json.loads(state.decode("utf-8"))["clusters"]}


def train_incremental(old_dir: str | os.PathLike, inputs: str | Iterable[str], model_dir: str | os.PathLike, *,
                      epochs: int | None = None, lr: float | None = None, holdout: float | None = None,
                      seed: int | None = None, overwrite: bool = False, quiet: bool = True) -> dict[str, Any]:
    """Write a new bundle at `model_dir`: the bundle at `old_dir` continued on `inputs`; return a summary."""
    paths = [inputs] if isinstance(inputs, str) else [str(p) for p in inputs]
    started = time.perf_counter()
    old = load_bundle(old_dir)
    if Path(model_dir).absolute() == old.dir.absolute():
        raise BundleError(f"{model_dir}: write the continued model to a new folder, not over the one it continues")
    settings = TrainSettings.from_dict(old.metadata["params"]["workflow"]).with_overrides(
        format=old.parser["format"], session_by=old.session_by, epochs=epochs, lr=lr, holdout=holdout, seed=seed,
        quiet=quiet, mscred=old.mscred is not None)
    old_templates = _templates(old.drain_state)
    old_training = old.metadata["training"]
    with (BundleWriter(model_dir, overwrite=overwrite) as writer, work_folder(writer.final_dir) as work,
          writer.output_errors()):
        (work / DRAIN_STATE).write_bytes(old.drain_state)
        (work / RULES).write_text(json.dumps(old.rules, ensure_ascii=False), encoding="utf-8")
        summary = parse_training_logs(paths, work, settings, str(work / RULES), ())
        new_templates = _templates((work / DRAIN_STATE).read_bytes())
        lost = sorted(set(old_templates) - set(new_templates))
        if lost:  # the miner only ever adds clusters; anything else is a bug, not a user error
            raise RuntimeError(f"template ids {lost[:5]} of the old model disappeared")
        model = fit_parsed(work, summary, settings, old.rules, previous=old)
        meta = model.metadata
        meta["training"]["lines_total"] = meta["training"]["lines_parsed"] + old_training.get(
            "lines_total", old_training["lines_parsed"])
        meta["inputs"] = input_fingerprints(paths)
        meta["incremental"] = {
            "from": str(old.dir), "from_metadata_sha256": old.metadata["metadata_sha256"],
            "previous_inputs": old.metadata.get("inputs", []), "previous_vocab_size": old.vocab.size,
            "templates_before": len(old_templates), "templates_after": len(new_templates),
            "templates_generalised": sum(new_templates[i] != t for i, t in old_templates.items()),
            "previous_losses": old.metadata["losses"],
        }
        meta["training"]["seconds"] = round(time.perf_counter() - started, 3)
        write_components(writer, model)
        final = writer.commit(trainer_metadata(model))
    return {**training_summary(final, meta), "onnx": export_onnx(final, settings), "incremental": meta["incremental"]}
