"""A DeepLog checkpoint back into a detector, every field checked before anything is built.

What :meth:`DeepLogDetector.from_checkpoint <anomaly_log_detector.detectors.deeplog.DeepLogDetector.from_checkpoint>`
runs: the constructor's arguments must have their exact JSON types and bounds, the key count must fit
the bundle's vocabulary, every weight's shape must match the arguments (computed, nothing allocated),
thresholds must be finite numbers and the known keys / transitions must lie inside the vocabulary. A
small file claiming a huge vocabulary or width is refused without allocating what it claims.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from anomaly_log_detector.builders.vocab import EOS, FIRST_TEMPLATE_INDEX
from anomaly_log_detector.detectors.checkpoint import check_state_dict
from anomaly_log_detector.errors import AlogError, ModelError
from anomaly_log_detector.fileio.jsonio import check_format, finite

# Upper bound of the key count a model file may claim (checked before anything is allocated).
MAX_VOCAB = 1 << 24
CHECKPOINT_FORMAT = "alog-detect/deeplog"
CHECKPOINT_VERSION = 2


def detector_from_checkpoint(cls: type, ckpt: Any, where: str = "DeepLog model", vocab_size: int | None = None):
    """``cls`` (DeepLogDetector or a subclass) rebuilt from ``ckpt``; ModelError naming ``where``."""
    import torch

    from anomaly_log_detector.detectors.nets import NextKeyLSTM

    check_format(ckpt, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, where, "DeepLog model", ModelError)
    config = ckpt.get("config")
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    missing = [p for p in [*params, "vocab_size"] if not isinstance(config, dict) or p not in config]
    if missing:
        raise ModelError(f"{where}: model config lacks {', '.join(missing)}")
    try:
        args = _checked_args(config, params)
        keys = _checked_int(config["vocab_size"], "vocab_size", EOS + 1, MAX_VOCAB)
        if vocab_size is not None and keys != vocab_size:
            raise ValueError(f"the model predicts {keys:,} keys but the vocabulary has {vocab_size:,}")
        vocab = ckpt.get("vocab")
        if vocab is not None:
            _check_vocab(vocab, keys)
        det = cls(**args)
        det._check_settings()
    except (AlogError, ValueError) as exc:
        raise ModelError(f"{where}: invalid model arguments: {exc}") from None
    states = ckpt.get("state_dicts")
    if not isinstance(states, list) or len(states) != det.ensemble:
        raise ModelError(f"{where}: expected {det.ensemble} networks' weights")
    shapes = NextKeyLSTM.state_shapes(keys, det.embed_dim, det.hidden, det.layers)  # nothing allocated
    for state in states:
        check_state_dict(state, shapes, where)
    try:
        det.vocab_size_ = keys
        det.models_ = []
        for state in states:
            model = NextKeyLSTM(det.vocab_size_, det.embed_dim, det.hidden, det.layers)
            model.load_state_dict(state)
            det.models_.append(model.eval())
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        raise ModelError(f"{where}: weights do not match the model config: {str(exc).splitlines()[0]}") from None
    try:  # finite numbers only: a NaN threshold would silently turn every miss off
        det.tau_ = finite(ckpt.get("tau"), "tau", 0.0)
        groups = ckpt.get("tau_by_group") or {}
        if not isinstance(groups, dict):
            raise ValueError("tau_by_group must map groups to thresholds")
        det.tau_by_group_ = {str(k): finite(v, f"the tau of {k!r}", 0.0) for k, v in groups.items()}
        history = ckpt.get("history") or []
        det.history_ = [finite(x, "a loss") for x in (history if isinstance(history, list) else [None])]
    except ValueError as exc:
        raise ModelError(f"{where}: invalid model values: {exc}") from None
    seen = ckpt.get("seen_keys")
    if not isinstance(seen, list) or not all(type(x) is int and 0 <= x < det.vocab_size_ for x in seen):
        raise ModelError(f"{where}: model lacks a valid 'seen_keys' list")
    det.seen_keys_ = np.asarray(seen, dtype=np.int64)
    pairs = ckpt.get("seen_pairs")
    if pairs is not None and not (isinstance(pairs, torch.Tensor) and pairs.dim() == 2
                                  and pairs.shape[1] == det.seq_len + 1 and not pairs.is_floating_point()
                                  and not pairs.is_complex() and pairs.dtype != torch.bool):
        raise ModelError(f"{where}: 'seen_pairs' is not an integer (n, seq_len + 1) table")
    det.seen_pairs_ = None if pairs is None else pairs.numpy().astype(np.int64)
    if det.seen_pairs_ is not None and len(det.seen_pairs_) and not (
            (det.seen_pairs_ >= 0).all() and (det.seen_pairs_ < det.vocab_size_).all()):
        raise ModelError(f"{where}: 'seen_pairs' holds keys outside the model's {det.vocab_size_:,}")
    det.vocab_ = vocab
    det.train_stats_ = dict(ckpt.get("train_stats") or {})
    det.threshold_ = det._threshold()
    return det


def _checked_int(value: Any, name: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{name} must be an integer in [{low:,}, {high:,}], not {value!r}")
    return value


# The types of the constructor's arguments, as a checkpoint must store them (None: may be null).
_INT_ARGS = ("seq_len", "hidden", "layers", "embed_dim", "epochs", "batch_size", "patience", "seed",
             "ensemble", "max_steps", "infer_batch_size")
_FLOAT_ARGS = ("lr", "calibration", "fa_budget", "unk_rate", "min_delta")
_BOOL_ARGS = ("eos", "seen_is_normal", "quiet")


def _checked_args(config: dict, params: list[str]) -> dict[str, Any]:
    """The constructor's arguments from a checkpoint's config, each of its exact JSON type (an int is
    not a bool, a float is finite); ValueError naming the first that is not."""
    args: dict[str, Any] = {}
    for name in params:
        v = config[name]
        if name in _INT_ARGS or (name == "k" and v is not None):
            args[name] = _checked_int(v, name, -(1 << 62) if name == "seed" else 0, 1 << 62)
        elif name in _FLOAT_ARGS or (name == "top_p" and v is not None):
            args[name] = finite(v, name)
        elif name in _BOOL_ARGS:
            if not isinstance(v, bool):
                raise ValueError(f"{name} must be true or false, not {v!r}")
            args[name] = v
        else:
            args[name] = v
    return args


def _check_vocab(vocab: Any, keys: int) -> None:
    """A checkpoint's template -> index map must be a vocabulary of exactly its ``keys`` indices."""
    if not isinstance(vocab, dict) or not all(isinstance(t, str) and type(i) is int and FIRST_TEMPLATE_INDEX <= i < keys
                                              for t, i in vocab.items()):
        raise ValueError(f"'vocab' must map templates to indices {FIRST_TEMPLATE_INDEX}..{keys - 1}")
    if FIRST_TEMPLATE_INDEX + len(vocab) != keys:
        raise ValueError(f"'vocab' has {len(vocab):,} templates for {keys:,} keys")
