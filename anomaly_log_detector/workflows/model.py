"""A trained model in memory (`TrainedModel`) and its bundle folder: `save_bundle` / `load_bundle`.

The bundle holds `vocab.json`, `baseline_stats.json`, `deeplog.pth`, `mscred.pth` (when trained with
MS-CRED), `alerting.json` (the severity / novelty / sequence line-alert layer), `flows.json` (the
identifier-flow detector, detectors/flows.py), `drain3_state.json` (template state, plain JSON), `rules.json`
(the masking rules used), `temporal_profile.json` (the training lines' hour-of-day / weekday profile,
analyzers/temporal.py; only when they had timestamps) and `metadata.json` (see docs/bundle.md).
Loading verifies every checksum first (bundle/store.py), then rebuilds each component from the verified
bytes: JSON, and `torch.load(weights_only=True)` for DeepLog and MS-CRED; nothing in the folder is executed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.bundle import BundleWriter, open_bundle
from anomaly_log_detector.bundle.manifest import METADATA, RESERVED_KEYS
from anomaly_log_detector.errors import AlogError, BundleError

if TYPE_CHECKING:  # the detectors import numpy/pandas/torch: loaded when a model is
    from anomaly_log_detector.detectors.alerting import AlertingDetector
    from anomaly_log_detector.detectors.baseline import BaselineDetector
    from anomaly_log_detector.detectors.deeplog import DeepLogDetector

VOCAB, BASELINE, DEEPLOG, ALERTING = "vocab.json", "baseline_stats.json", "deeplog.pth", "alerting.json"
MSCRED = "mscred.pth"
FLOWS = "flows.json"
TEMPORAL = "temporal_profile.json"
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
    mscred: "MSCREDDetector | None" = None
    #: the training lines' temporal profile (analyzers.temporal.temporal_profile); None when they had no
    #: timestamps or the bundle predates it
    temporal_profile: dict[str, Any] | None = None
    #: the identifier-flow detector; None in bundles that predate it
    flows: "FlowDetector | None" = None

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

    @property
    def mscred_windows(self) -> tuple[int, int]:
        """(window_size, stride) of the line windows MS-CRED scores (its training's)."""
        p = self.metadata["params"]["mscred"]
        return int(p["window_size"]), int(p["stride"])

    def write_parse_inputs(self, folder: Path) -> tuple[Path, Path]:
        """Write the template state and the rules as files for `parse_logs`; return their paths."""
        folder.mkdir(parents=True, exist_ok=True)
        state, rules = folder / DRAIN_STATE, folder / RULES
        state.write_bytes(self.drain_state)
        rules.write_text(json.dumps(self.rules, ensure_ascii=False), encoding="utf-8")
        return state, rules


def write_components(writer: BundleWriter, model: TrainedModel) -> None:
    """Write every component of `model` into an open bundle writer (not committed yet). Metadata that
    `load_bundle` would refuse (a missing key, a non-finite number) is refused here, before writing."""
    try:
        check_metadata(model.metadata)
    except ValueError as exc:
        raise BundleError(f"cannot write the bundle: its metadata {exc}") from None
    model.vocab.save(writer.path(VOCAB))
    model.baseline.save(writer.path(BASELINE))
    if model.deeplog is not None:
        model.deeplog.save(writer.path(DEEPLOG))
    if model.mscred is not None:
        model.mscred.save(writer.path(MSCRED))
    if model.alerting is not None:
        writer.write_json(ALERTING, model.alerting.to_dict())
    if model.flows is not None:
        writer.write_json(FLOWS, model.flows.to_dict())
    if model.temporal_profile is not None:
        writer.write_json(TEMPORAL, model.temporal_profile)
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


def load_bundle(model_dir: str | os.PathLike, onnx: bool = False, threads: int = 0) -> TrainedModel:
    """Open, verify and load a bundle written by `save_bundle` (BundleError naming the problem).

    This is the one check of a bundle: `infer`, `validate` and `bundle-info` all load through it, so
    they accept and refuse the same bundles. Past the checksums it builds everything inference would
    use, without running it: every detector (numbers finite, network shapes matching the vocabulary),
    the masking rules, the template miner from its state, the header format and session regex, and
    every value of metadata.json that the three commands read (:func:`check_metadata`). With `onnx`,
    DeepLog is the bundle's ONNX export when it holds a current one (`convert-onnx`; ONNX Runtime with
    `threads`, no torch), else the torch model; training (`train-incremental`) needs the torch model."""
    from anomaly_log_detector.detectors.alerting import AlertingDetector
    from anomaly_log_detector.detectors.baseline import BaselineDetector

    bundle = open_bundle(model_dir)
    where = bundle.dir
    try:
        check_metadata(bundle.metadata)
    except ValueError as exc:
        raise BundleError(f"{where / METADATA}: {exc}") from None
    try:
        vocab = Vocab.from_dict(bundle.read_json(VOCAB), str(where / VOCAB))
        if bundle.metadata["vocab_size"] != vocab.size:
            raise BundleError(f"{where / METADATA}: vocab_size {bundle.metadata['vocab_size']:,} differs from "
                              f"the {vocab.size:,} indices of {VOCAB}")
        baseline = BaselineDetector.from_dict(bundle.read_json(BASELINE), str(where / BASELINE))
        deeplog = None
        if onnx:
            from anomaly_log_detector.detectors.deeplog_onnx import bundle_deeplog

            deeplog = bundle_deeplog(bundle, vocab, threads=threads)
        if deeplog is None and bundle.has(DEEPLOG):
            deeplog = _load_deeplog(bundle.read_bytes(DEEPLOG), where / DEEPLOG, vocab.size)
        mscred = _load_mscred(bundle.read_bytes(MSCRED), where / MSCRED) if bundle.has(MSCRED) else None
        if mscred is not None and not isinstance(bundle.metadata["params"].get("mscred"), dict):
            raise BundleError(f"{where / METADATA}: lacks params.mscred (the windows {MSCRED} scores)")
        alerting = (AlertingDetector.from_dict(bundle.read_json(ALERTING), str(where / ALERTING))
                    if bundle.has(ALERTING) else None)
        flows = None
        if bundle.has(FLOWS):
            from anomaly_log_detector.detectors.flows import FlowDetector

            flows = FlowDetector.from_dict(bundle.read_json(FLOWS), str(where / FLOWS))
        temporal = None
        if bundle.has(TEMPORAL):
            from anomaly_log_detector.analyzers.temporal import check_profile

            temporal = check_profile(bundle.read_json(TEMPORAL), str(where / TEMPORAL))
        model = TrainedModel(vocab=vocab, baseline=baseline, deeplog=deeplog, rules=bundle.read_json(RULES),
                             drain_state=bundle.read_bytes(DRAIN_STATE), metadata=bundle.metadata, dir=where,
                             alerting=alerting, mscred=mscred, temporal_profile=temporal, flows=flows)
        _check_parser(model)
    except BundleError:
        raise
    except AlogError as exc:
        raise BundleError(f"{where}: invalid component: {exc}") from None
    return model


def _check_parser(model: TrainedModel) -> None:
    """Build what `infer` builds to parse a target with the bundle's settings (AlogError if it cannot):
    the parse pipeline over the bundle's rules and template state, exactly as inference opens them,
    and the header format."""
    import tempfile

    from anomaly_log_detector.config import ParseConfig
    from anomaly_log_detector.parsing.formats import get_format
    from anomaly_log_detector.parsing.pipeline import ParsePipeline

    p = model.parser
    get_format(p["format"], p.get("log_format"), tz=p.get("tz"))
    with tempfile.TemporaryDirectory(prefix="alog-check-") as tmp:
        state, rules = model.write_parse_inputs(Path(tmp))
        try:
            ParsePipeline(ParseConfig(out_dir=tmp, format=p["format"], log_format=p.get("log_format"),
                                      tz=p.get("tz"), rules_path=str(rules), drain_state=str(state), frozen=True,
                                      session_regex=p.get("session_regex"), quiet=True))
        except AlogError as exc:  # name the bundle's files, not the temporary copies
            text = str(exc).replace(str(state), str(model.dir / DRAIN_STATE))
            raise BundleError(f"{model.dir}: invalid component: "
                              f"{text.replace(str(rules), str(model.dir / RULES))}") from None


# What metadata.json must hold beyond the bundle writer's part: dotted key -> kind. "?" = may be null
# or absent. A key below an absent or null object is not looked for. These are the values `infer`,
# `validate` and `bundle-info` read; a number must be a finite JSON number (not "nan", not a string).
_METADATA_KEYS = {
    "params": "object", "params.parser": "object", "params.parser.format": "text",
    "params.parser.log_format": "text?", "params.parser.session_regex": "text?", "params.parser.tz": "text?",
    "params.sequences": "object", "params.sequences.session_by": "text", "params.sequences.session_gap": "number?",
    "params.incidents": "object?", "params.incidents.gap": "number", "params.workflow": "object?",
    "params.mscred": "object?", "params.mscred.window_size": "count", "params.mscred.stride": "count",
    "log_format": "text?", "vocab_size": "count", "templates": "count",
    "losses": "object", "losses.deeplog": "numbers?", "losses.mscred": "numbers?",
    "thresholds": "object", "thresholds.baseline": "number",
    "training": "object", "training.lines_parsed": "count", "training.train_lines": "count",
    "training.holdout_lines": "count", "training.lines_total": "count?", "training.deeplog": "object?",
    "training.mscred": "object?",
    "holdout": "object?", "holdout.lines": "count", "holdout.flagged_lines": "count",
    "holdout.unseen_lines": "count", "holdout.windows": "count", "holdout.false_alarm_rate": "number",
    "holdout.template_coverage": "number", "holdout.baseline_threshold": "number",
    "holdout.window_score_quantile": "number", "holdout.flagged_lines_by_detector": "counts",
    "inputs": "list?", "warnings": "texts?", "incremental": "object?", "incremental.from": "text",
}
_MISSING = object()


def check_metadata(meta: dict[str, Any]) -> None:
    """Check every stored parameter of a bundle's metadata.json (ValueError naming the key): the
    types and ranges of `_METADATA_KEYS`, finite thresholds, and the settings `infer` reuses."""
    from anomaly_log_detector.builders.session_codes import SESSION_BY
    from anomaly_log_detector.workflows.settings import TrainSettings

    for key, kind in _METADATA_KEYS.items():
        *parents, name = key.split(".")
        node: Any = meta
        for parent in parents:
            node = node.get(parent) if isinstance(node, dict) else None
        if node is None:
            continue
        value = node.get(name, _MISSING)
        if kind.endswith("?"):
            if value is _MISSING or value is None:
                continue
            kind = kind[:-1]
        if value is _MISSING:
            raise ValueError(f"lacks {key} (not a bundle written by `alog-detect train`)")
        _check_value(value, kind, key)
    params = meta["params"]
    if params["sequences"]["session_by"] not in SESSION_BY:
        raise ValueError(f"params.sequences.session_by must be one of {', '.join(SESSION_BY)}")
    gap = params["sequences"].get("session_gap")
    if gap is not None and not gap > 0:
        raise ValueError("params.sequences.session_gap must be > 0 seconds")
    mscred = params.get("mscred")
    if mscred is not None and (mscred["window_size"] < 1 or mscred["stride"] < 1):
        raise ValueError("params.mscred.window_size and stride must be >= 1")
    if (params.get("incidents") or {}).get("gap", 0.0) < 0:
        raise ValueError("params.incidents.gap must be >= 0 seconds")
    for name, value in meta["thresholds"].items():
        if value is not None:
            _check_value(value, "number", f"thresholds.{name}")
    if params.get("workflow") is not None:
        try:
            TrainSettings.from_dict(params["workflow"])
        except (AlogError, TypeError, ValueError) as exc:
            raise ValueError(f"params.workflow: {exc}") from None


def _check_value(value: Any, kind: str, key: str) -> None:
    from anomaly_log_detector.fileio.jsonio import finite

    if kind == "number":
        finite(value, key)
    elif kind == "count":
        if type(value) is not int or value < 0:
            raise ValueError(f"{key} must be a count (an integer >= 0), not {value!r}")
    elif kind == "numbers":
        if not isinstance(value, list):
            raise ValueError(f"{key} must be a list of numbers")
        for item in value:
            finite(item, f"a value of {key}")
    elif kind == "counts":
        if not isinstance(value, dict):
            raise ValueError(f"{key} must map names to counts")
        for item in value.values():
            _check_value(item, "count", f"a value of {key}")
    elif kind == "texts":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"{key} must be a list of texts")
    elif not isinstance(value, {"object": dict, "list": list, "text": str}[kind]):
        raise ValueError(f"{key} must be {'an' if kind == 'object' else 'a'} {kind}, not {type(value).__name__}")


def _load_deeplog(data: bytes, where: Path, vocab_size: int) -> "DeepLogDetector":
    """DeepLog from verified checkpoint bytes: `torch.load(weights_only=True)`, so no code runs; its
    arguments and shapes are checked against the bundle's vocabulary before a network is built."""
    from anomaly_log_detector.detectors.checkpoint import load_checkpoint_bytes
    from anomaly_log_detector.detectors.deeplog import DeepLogDetector

    ckpt = load_checkpoint_bytes(data, str(where), "DeepLog model")
    return DeepLogDetector.from_checkpoint(ckpt, str(where), vocab_size=vocab_size)


def _load_mscred(data: bytes, where: Path) -> "MSCREDDetector":
    """MS-CRED from verified checkpoint bytes: `torch.load(weights_only=True)`, so no code runs; every
    tensor is checked (dense, backed by the file's bytes, shapes matching its arguments) before a
    network is built (detectors/checkpoint.py `check_state_dict`)."""
    from anomaly_log_detector.detectors.checkpoint import load_checkpoint_bytes
    from anomaly_log_detector.detectors.mscred import MSCREDDetector

    return MSCREDDetector.from_checkpoint(load_checkpoint_bytes(data, str(where), "MS-CRED model"), str(where))
