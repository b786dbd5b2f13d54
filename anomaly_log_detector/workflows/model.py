"""A trained model in memory (`TrainedModel`) and its bundle folder: `save_bundle` / `load_bundle`.

The bundle holds `vocab.json`, `baseline_stats.json`, `deeplog.pth`, `alerting.json` (the severity /
novelty / sequence line-alert layer), `drain3_state.json` (template state, plain JSON), `rules.json`
(the masking rules used) and `metadata.json` (see docs/bundle.md).
Loading verifies every checksum first (bundle/store.py), then rebuilds each component from the verified
bytes: JSON, and `torch.load(weights_only=True)` for DeepLog; nothing in the folder is executed.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.bundle import BundleWriter, open_bundle
from anomaly_log_detector.bundle.manifest import RESERVED_KEYS
from anomaly_log_detector.errors import AlogError, BundleError

if TYPE_CHECKING:  # the detectors import numpy/pandas/torch: loaded when a model is
    from anomaly_log_detector.detectors.alerting import AlertingDetector
    from anomaly_log_detector.detectors.baseline import BaselineDetector
    from anomaly_log_detector.detectors.deeplog import DeepLogDetector

VOCAB, BASELINE, DEEPLOG, ALERTING = "vocab.json", "baseline_stats.json", "deeplog.pth", "alerting.json"
DRAIN_STATE, RULES = "drain3_state.json", "rules.json"


@dataclass
class TrainedModel:
    """Everything inference needs. `metadata` is the trainer's part of `metadata.json` (inputs,
    params, log_format, vocab_size, losses, thresholds, holdout...); after `load_bundle` it also holds
    the keys the bundle writer added (environment, files, created_utc...)."""

    vocab: Vocab
    baseline: "BaselineDetector"
    deeplog: "DeepLogDetector | None"
    rules: list[dict]
    drain_state: bytes
    metadata: dict[str, Any] = field(default_factory=dict)
    dir: Path | None = None
    alerting: "AlertingDetector | None" = None

    @property
    def parser(self) -> dict[str, Any]:
        """`format`, `log_format`, `session_regex` the training parse used (inference reuses them)."""
        return self.metadata["params"]["parser"]

    @property
    def session_by(self) -> str:
        return self.metadata["params"]["sequences"]["session_by"]

    @property
    def session_gap(self) -> float | None:
        return self.metadata["params"]["sequences"].get("session_gap")

    @property
    def incidents(self) -> dict[str, Any]:
        """How results are grouped into incidents (`gap` seconds of quiet cut one)."""
        return self.metadata["params"].get("incidents") or {"gap": 60.0}

    def write_parse_inputs(self, folder: Path) -> tuple[Path, Path]:
        """Write the template state and the rules as files for `parse_logs`; return their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        state, rules = folder / DRAIN_STATE, folder / RULES
        state.write_bytes(self.drain_state)
        rules.write_text(json.dumps(self.rules, ensure_ascii=False), encoding="utf-8")
        return state, rules


def write_components(writer: BundleWriter, model: TrainedModel) -> None:
    """Write every component of `model` into an open bundle writer (not committed yet)."""
    model.vocab.save(writer.path(VOCAB))
    model.baseline.save(writer.path(BASELINE))
    if model.deeplog is not None:
        model.deeplog.save(writer.path(DEEPLOG))
    if model.alerting is not None:
        writer.write_json(ALERTING, model.alerting.to_dict())
    writer.path(DRAIN_STATE).write_bytes(model.drain_state)
    writer.write_json(RULES, model.rules)


def trainer_metadata(model: TrainedModel) -> dict[str, Any]:
    """The model's metadata without the keys the bundle writer fills in itself."""
    return {k: v for k, v in model.metadata.items() if k not in RESERVED_KEYS}


def save_bundle(model: TrainedModel, model_dir: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write `model` as a bundle at `model_dir`, atomically; return the final path."""
    with BundleWriter(model_dir, overwrite=overwrite) as writer:
        write_components(writer, model)
        return writer.commit(trainer_metadata(model))


def load_bundle(model_dir: str | os.PathLike) -> TrainedModel:
    """Open, verify and load a bundle written by `save_bundle` (BundleError naming the problem)."""
    from anomaly_log_detector.detectors.alerting import AlertingDetector
    from anomaly_log_detector.detectors.baseline import BaselineDetector
    from anomaly_log_detector.parsing.masking import Masker
    from anomaly_log_detector.parsing.state import validate_state

    bundle = open_bundle(model_dir)
    where = bundle.dir
    _check_params(bundle.metadata, where)
    try:
        vocab = Vocab.from_dict(bundle.read_json(VOCAB), str(where / VOCAB))
        baseline = BaselineDetector.from_dict(bundle.read_json(BASELINE), str(where / BASELINE))
        deeplog = _load_deeplog(bundle.read_bytes(DEEPLOG), where / DEEPLOG) if bundle.has(DEEPLOG) else None
        alerting = (AlertingDetector.from_dict(bundle.read_json(ALERTING), str(where / ALERTING))
                    if bundle.has(ALERTING) else None)
        rules = bundle.read_json(RULES)
        Masker.from_list(rules)
        drain_state = bundle.read_bytes(DRAIN_STATE)
        validate_state(json.loads(drain_state.decode("utf-8")))
    except BundleError:
        raise
    except AlogError as exc:
        raise BundleError(f"{where}: invalid component: {exc}") from None
    except ValueError as exc:  # the template state is not UTF-8 JSON
        raise BundleError(f"{where / DRAIN_STATE}: not a template state ({exc})") from None
    return TrainedModel(vocab=vocab, baseline=baseline, deeplog=deeplog, rules=rules, drain_state=drain_state,
                        metadata=bundle.metadata, dir=where, alerting=alerting)


def _check_params(metadata: dict[str, Any], where: Path) -> None:
    """The settings inference reuses must be there (a bundle from another trainer may lack them)."""
    params = metadata.get("params")
    ok = (isinstance(params, dict) and isinstance(params.get("parser"), dict)
          and isinstance(params.get("sequences"), dict) and "format" in params["parser"]
          and params["sequences"].get("session_by") is not None)
    if not ok:
        raise BundleError(f"{where}: metadata lacks params.parser / params.sequences: not a bundle written "
                          f"by `alog-detect train`")


def _load_deeplog(data: bytes, where: Path) -> "DeepLogDetector":
    """DeepLog from verified checkpoint bytes: `torch.load(weights_only=True)`, so no code runs."""
    import warnings

    import torch

    from anomaly_log_detector.detectors.deeplog import DeepLogDetector

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ckpt = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # refused by the safe unpickler, or not a torch file
        raise BundleError(f"{where}: not a loadable DeepLog model ({type(exc).__name__})") from None
    return DeepLogDetector.from_checkpoint(ckpt, str(where))
