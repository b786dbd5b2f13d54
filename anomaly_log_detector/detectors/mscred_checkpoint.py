"""MS-CRED model files: :func:`to_checkpoint` (tensors and plain types only, read back with
``torch.load(weights_only=True)``) and :func:`from_checkpoint` (every shape checked against the stored
arguments before a network is built; anything else is one ModelError naming the file)."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from anomaly_log_detector.builders.vocab import FIRST_TEMPLATE_INDEX
from anomaly_log_detector.detectors.checkpoint import check_state_dict
from anomaly_log_detector.detectors.mscred import RULES
from anomaly_log_detector.errors import AlogError, ModelError
from anomaly_log_detector.fileio.jsonio import check_format

CHECKPOINT_FORMAT = "alog-detect/mscred"
CHECKPOINT_VERSION = 1
# Rules and constructor arguments of the first version-1 files; later additions are optional when
# reading (their defaults apply, the thresholds of later rules are computed from the stored scores).
FIRST_RULES = ("calibrated", "percentile")
ADDED_LATER = ("margin", "unseen")
# What a file without a later argument meant, where that differs from today's default: a model saved
# before ``unseen`` existed counted every broken entry of the <unseen> row, and its stored scores and
# thresholds are of that score, so it keeps it (``MSCREDDetector.recalibrate`` with its training counts
# switches it to the current one).
BEFORE_ADDED = {"unseen": "each"}


def to_checkpoint(det) -> dict:
    """``det``'s weights, the arguments that rebuild the network and everything learned, as tensors
    and plain types only (``torch.load(weights_only=True)`` reads it without running code)."""
    import torch

    det._check_fitted()
    params = det.get_params()
    params["scales"] = None if det.scales is None else list(det.scales)
    params["channels"] = list(det.channels)
    return {
        "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
        "config": params, "state_dict": det.net_.state_dict(),
        "scales": [int(s) for s in det.scales_], "series": [int(i) for i in det.series_],
        "series_names": list(det.series_names_), "vocab_size": int(det.vocab_size_), "vocab": det.vocab_,
        "mean": torch.from_numpy(det.mean_.astype(np.float64)), "std": torch.from_numpy(det.std_.astype(np.float64)),
        "residual_bound": torch.from_numpy(det.residual_bound_), "error_scale": float(det.error_scale_),
        "train_scores": torch.from_numpy(det.train_scores_), "heldout_scores": torch.from_numpy(det.heldout_scores_),
        "thresholds": dict(det.thresholds_), "history": list(det.history_), "train_stats": det.train_stats_,
    }


def from_checkpoint(cls, ckpt: Any, where: str = "MS-CRED model"):
    """Validate a checkpoint dict (shapes against the stored arguments before any network is
    built) and rebuild the detector; ModelError naming ``where`` if anything is off."""
    import torch

    from anomaly_log_detector.detectors.mscred_net import MSCREDNet

    check_format(ckpt, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, where, "MS-CRED model", ModelError)
    config = ckpt.get("config")
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    missing = [p for p in params if not isinstance(config, dict) or (p not in config and p not in ADDED_LATER)]
    if missing:
        raise ModelError(f"{where}: model config lacks {', '.join(missing)}")
    try:
        det = cls(**{**BEFORE_ADDED, **{p: config[p] for p in params if p in config}})
        det._check_settings()
        series = ckpt["series"]
        scales = ckpt["scales"]
        if not (isinstance(series, list) and all(type(i) is int and i >= FIRST_TEMPLATE_INDEX for i in series)
                and len(series) <= det.top_k):
            raise ValueError("'series' is not a list of at most top_k template indices")
        if not (isinstance(scales, list) and scales and all(type(s) is int and s >= 1 for s in scales)):
            raise ValueError("'scales' is not a list of positive step counts")
        det.series_ = np.asarray(series, np.int64)
        det.scales_ = tuple(scales)
        det.vocab_size_ = int(ckpt["vocab_size"])
        det.vocab_ = ckpt.get("vocab")
        names = ckpt["series_names"]
        n = det.n_series_
        if not (isinstance(names, list) and len(names) == n and all(isinstance(s, str) for s in names)):
            raise ValueError(f"'series_names' is not a list of {n} strings")
        det.series_names_ = list(names)
        # Every tensor is checked to be dense and backed by the file's own bytes before it is read
        # (a zero-stride view could claim any size), and the weights' shapes against the arguments
        # before the network is built (a small file claiming huge channels is refused unallocated).
        arrays = {"mean": (n,), "std": (n,), "residual_bound": (n, n)}
        for key, shape in arrays.items():
            value = ckpt[key]
            if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
                raise ValueError(f"'{key}' is not a {shape} tensor")
        for key in ("train_scores", "heldout_scores"):
            value = ckpt[key]
            if not isinstance(value, torch.Tensor) or value.dim() != 1:
                raise ValueError(f"'{key}' is not a 1-d tensor")
            arrays[key] = tuple(value.shape)
        bad = f"{where}: invalid MS-CRED model"
        check_state_dict({k: ckpt[k] for k in arrays}, arrays, bad)
        with torch.device("meta"):
            shapes = {k: tuple(v.shape) for k, v in MSCREDNet(len(scales), det.channels).state_dict().items()}
        check_state_dict(ckpt["state_dict"], shapes, bad)
        det.mean_ = ckpt["mean"].numpy().astype(np.float64)
        det.std_ = ckpt["std"].numpy().astype(np.float64)
        det.residual_bound_ = ckpt["residual_bound"].numpy().astype(np.float32)
        det.error_scale_ = float(ckpt["error_scale"])
        det.train_scores_ = ckpt["train_scores"].numpy().astype(np.float32)
        det.heldout_scores_ = ckpt["heldout_scores"].numpy().astype(np.float32)
        det.train_stats_ = dict(ckpt.get("train_stats") or {})
        thresholds = ckpt["thresholds"]
        if not (isinstance(thresholds, dict) and set(FIRST_RULES) <= set(thresholds)):
            raise ValueError("'thresholds' lacks a rule")
        # A model saved before a rule existed gets that rule's threshold from its stored scores (raised
        # above its training log's windows when the model was covered, as it would have been).
        computed = det.rule_thresholds()
        covered = float((det.train_stats_.get("covered") or {}).get("max_training_score", -np.inf))
        det.thresholds_ = {k: float(thresholds[k]) if k in thresholds else max(computed[k], covered)
                           for k in RULES}
        if not np.isfinite([*det.thresholds_.values(), det.error_scale_]).all() or (det.std_ <= 0).any() \
                or det.error_scale_ <= 0:
            raise ValueError("thresholds or scaling are not finite")
        net = MSCREDNet(len(det.scales_), det.channels)
        net.load_state_dict(ckpt["state_dict"])
        det.net_ = net.eval()
    except ModelError:
        raise
    except (AlogError, RuntimeError, TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ModelError(f"{where}: invalid MS-CRED model: {str(exc).splitlines()[0]}") from None
    det.history_ = list(ckpt.get("history") or [])
    det.threshold_ = det.thresholds_[det.rule]
    return det

