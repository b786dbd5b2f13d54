"""DeepLog scored by ONNX Runtime from an exported bundle: the verdicts of :class:`DeepLogDetector`,
without torch.

``convert-onnx`` exports the ensemble as one graph that outputs what :meth:`DeepLogDetector.log_probs`
returns (the members' log-softmax averaged and renormalised, float32), and copies everything else the
scorer reads into the bundle's ``metadata.json`` (``onnx.deeplog``: window length, rule, ``tau_``,
``tau_by_group_``, known keys) and ``deeplog_seen_pairs.npz``. :class:`DeepLogOnnx` is a
``DeepLogDetector`` whose network-facing methods (``log_probs``, ``top_keys``) run that graph, and whose
scoring loop (the parent's, detectors/deeplog_scoring.py) does its arithmetic in numpy float64; everything
else (windows, novelty, seen transitions, thresholds, per-session scores, the result tables) is the
parent's code. So ``evaluate`` / ``tables`` / ``score`` / ``predict`` give the torch path's verdicts;
probabilities agree to float32 rounding (the graph's output differs from torch's by <= 1e-5, checked
by ``convert-onnx --validate``).

It scores only: ``fit``, ``continue_fit``, ``absorb``, ``grow_to`` and ``save`` raise. Importing this
module, loading a bundle and scoring never import torch (tests/test_onnx_export.py runs it with torch
made unimportable).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import numpy as np

from anomaly_log_detector.builders.vocab import FIRST_TEMPLATE_INDEX, Vocab
from anomaly_log_detector.detectors.deeplog import DeepLogDetector
from anomaly_log_detector.detectors.deeplog_scoring import numpy_pair_stats
from anomaly_log_detector.errors import AlogError, BundleError, ModelError
from anomaly_log_detector.onnx_export.layout import (
    DEEPLOG_INPUT, DEEPLOG_OUTPUT, DeepLogExport, deeplog_export, read_seen_pairs, section,
)
from anomaly_log_detector.onnx_export.vocab_c import read_c_vocab

#: Rows per ONNX Runtime call (the scoring loop's batches are cut to this size).
ORT_BATCH = 1024
_SCORES_ONLY = "DeepLogOnnx only scores; train with DeepLogDetector (torch) and export with convert-onnx"


class DeepLogOnnx(DeepLogDetector):
    """DeepLog on ONNX Runtime. Build it with :meth:`from_bundle`; ``session_`` is the ORT session."""

    runtime = "onnxruntime"  # what scores (the torch detector has none: callers read "torch")

    # ---- loading ----------------------------------------------------------------------------
    @classmethod
    def from_bundle(cls, bundle: Any, threads: int = 0) -> "DeepLogOnnx":
        """Load the export of a bundle (a folder, or a :class:`~anomaly_log_detector.bundle.Bundle`
        already opened): the folder is verified first (every sha256, bundle/store.py), and every file
        is read through the bundle, which checks its bytes again. ``threads``: ONNX Runtime intra-op
        threads (0 = its default, one per core)."""
        from anomaly_log_detector.bundle import Bundle, open_bundle

        b = bundle if isinstance(bundle, Bundle) else open_bundle(bundle)
        where = str(b.dir)
        s = section(b.metadata, where)
        if s is None:
            raise BundleError(f"{where}: the bundle holds no ONNX export; run `alog-detect convert-onnx "
                              f"--output-dir {where}` first")
        d = deeplog_export(s, where)
        vocab_file = s.get("vocab")
        if not isinstance(vocab_file, str):
            raise BundleError(f"{where}: onnx.vocab must name the C engine's vocabulary file")
        strings = read_c_vocab(b.read_bytes(vocab_file), str(b.dir / vocab_file))
        pairs = (read_seen_pairs(b.read_bytes(d.seen_pairs), d.seq_len, d.vocab_size, str(b.dir / d.seen_pairs))
                 if d.seen_pairs is not None else None)
        return cls.from_export(b.read_bytes(d.model), d, strings, pairs, str(b.dir / d.model), threads)

    @classmethod
    def from_export(cls, model: bytes | str | os.PathLike, d: DeepLogExport, strings: list[str],
                    seen_pairs: np.ndarray | None, where: str, threads: int = 0) -> "DeepLogOnnx":
        """Build the scorer from the parts of an export (``model``: the graph's bytes or path). What
        :meth:`from_bundle` and ``convert-onnx --validate`` (before the bundle is committed) call."""
        names = [p for p in inspect.signature(DeepLogDetector.__init__).parameters if p != "self"]
        try:
            det = cls(**{p: d.params[p] for p in names if p in d.params})
            det.seq_len = d.seq_len
            det._check_settings()
        except (AlogError, TypeError, ValueError) as exc:
            raise BundleError(f"{where}: invalid DeepLog settings in the export: {exc}") from None
        if len(strings) != d.vocab_size:
            raise BundleError(f"{where}: the vocabulary has {len(strings):,} indices, the model {d.vocab_size:,}")
        det.vocab_size_ = d.vocab_size
        det.vocab_ = {s: i for i, s in enumerate(strings) if i >= FIRST_TEMPLATE_INDEX}
        det.seen_keys_ = d.seen_keys
        det.seen_pairs_ = seen_pairs
        det.tau_ = d.tau
        det.tau_by_group_ = dict(d.tau_by_group)
        det.history_ = list(d.history)
        det.train_stats_ = dict(d.train_stats)
        det.session_ = _session(model, threads, where)
        _check_io(det.session_, d.vocab_size, where)
        det.threshold_ = det._threshold()
        return det

    # ---- the network, on ONNX Runtime -------------------------------------------------------
    def log_probs(self, contexts: np.ndarray) -> np.ndarray:
        """Ensemble log-probabilities of the next key for (n, seq_len) context windows: float32
        (n, vocab_size), a numpy array where the torch detector returns a tensor."""
        x = np.ascontiguousarray(contexts, dtype=np.int64)
        if len(x) == 0:
            return np.zeros((0, self.vocab_size_), dtype=np.float32)
        # ONNX Runtime sizes the LSTM's buffers by the batch and keeps them in its arena: 8,192 rows
        # held ~250 MB for the rest of a 1M-line `infer`; 1,024 hold ~30 MB and run no slower.
        return np.concatenate([self.session_.run([DEEPLOG_OUTPUT], {DEEPLOG_INPUT: x[lo:lo + ORT_BATCH]})[0]
                               for lo in range(0, len(x), ORT_BATCH)])

    def top_keys(self, contexts: np.ndarray, n: int = 3) -> np.ndarray:
        """The ``n`` most likely next keys for each context window, most likely first (ties: lower key
        first)."""
        k = min(n, self.vocab_size_)
        if len(contexts) == 0:
            return np.zeros((0, n), dtype=np.int64)
        out = [np.argsort(-self.log_probs(contexts[lo:lo + self.infer_batch_size]), axis=1, kind="stable")[:, :k]
               for lo in range(0, len(contexts), self.infer_batch_size)]
        return np.concatenate(out).astype(np.int64)

    # The scoring loop is the torch detector's (deeplog_scoring.py), in numpy arithmetic.
    pair_stats = staticmethod(numpy_pair_stats)

    # ---- what an exported model cannot do ---------------------------------------------------
    def fit(self, *args: Any, **kwargs: Any) -> "DeepLogOnnx":
        raise ModelError(_SCORES_ONLY)

    def continue_fit(self, *args: Any, **kwargs: Any) -> "DeepLogOnnx":
        raise ModelError(_SCORES_ONLY)

    def absorb(self, *args: Any, **kwargs: Any) -> "DeepLogOnnx":
        raise ModelError(_SCORES_ONLY)

    def grow_to(self, *args: Any, **kwargs: Any) -> "DeepLogOnnx":
        raise ModelError(_SCORES_ONLY)

    def to_checkpoint(self) -> dict:
        raise ModelError(_SCORES_ONLY)

    def save(self, path: Any) -> None:
        raise ModelError(_SCORES_ONLY)


def bundle_deeplog(bundle: Any, vocab: Vocab | None = None, threads: int = 0) -> DeepLogOnnx | None:
    """The ONNX DeepLog of an opened bundle, or None when the bundle holds no *current* export: none
    at all, or one made from another ``deeplog.pth`` than the bundle's (then the caller loads the
    torch model). With ``vocab`` (the bundle's vocab.json), the export's vocabulary must equal it."""
    where = str(bundle.dir)
    s = section(bundle.metadata, where)
    if s is None or "deeplog" not in s:
        return None
    source = (s.get("source") or {}).get("deeplog.pth")
    if bundle.has("deeplog.pth") and source != bundle.files["deeplog.pth"]["sha256"]:
        return None  # exported from an older deeplog.pth: stale
    det = DeepLogOnnx.from_bundle(bundle, threads=threads)
    if vocab is not None and Vocab(dict(det.vocab_)).strings() != vocab.strings():
        raise BundleError(f"{where}: the ONNX export's vocabulary differs from vocab.json; run convert-onnx again")
    return det


def _session(model: bytes | str | os.PathLike, threads: int, where: str) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT's warnings are not the user's business
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    try:
        source = model if isinstance(model, bytes) else os.fspath(model)
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types (InvalidGraph, Fail, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(f"{where}: ONNX Runtime cannot load the model: {first}") from None


def _check_io(session: Any, vocab_size: int, where: str) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if set(inputs) != {DEEPLOG_INPUT} or DEEPLOG_OUTPUT not in outputs:
        raise BundleError(f"{where}: expected input {DEEPLOG_INPUT!r} and output {DEEPLOG_OUTPUT!r}, found "
                          f"{sorted(inputs)} -> {sorted(outputs)}")
    width = outputs[DEEPLOG_OUTPUT].shape[-1]
    if isinstance(width, int) and width != vocab_size:
        raise BundleError(f"{where}: the graph predicts {width:,} keys, the export says {vocab_size:,}")
