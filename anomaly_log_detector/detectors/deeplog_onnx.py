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

The network pass. ``deeplog.onnx`` is the whole network (what the C engine runs). Exports made since
also hold it in two parts (``onnx.deeplog.trie``): ``deeplog_step.onnx``, one key through every
member's LSTM from given states, and ``deeplog_head.onnx``, the top layer's h to the same
log-probabilities. With them :meth:`DeepLogOnnx.log_probs` walks the windows as a prefix trie: the
windows of a call, grouped by prefix, share the LSTM steps of their common prefixes (on a 1M-line
target 228,612 distinct windows of 10 keys are 2.29M steps, their distinct prefixes 869k). In every
measurement so far ONNX Runtime's LSTM gave the same float32 either way (0 of those 228,612 windows
differ in any bit); ``convert-onnx --validate`` checks both paths against torch with the same
tolerance and reports whether they are bit-identical. Without them (older exports), the whole graph.

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
    DEEPLOG_INPUT, DEEPLOG_OUTPUT, HEAD_INPUT, HEAD_OUTPUT, STEP_KEY, STEP_OUTPUT, STEP_STATE, DeepLogExport,
    deeplog_export, read_seen_pairs, section,
)
from anomaly_log_detector.onnx_export.vocab_c import read_c_vocab

#: Rows per ONNX Runtime call (the scoring loop's batches are cut to this size).
ORT_BATCH = 1024
#: Prefixes per call of the step graph (and windows per call of the head): the state arrays ORT sizes
#: its arena by stay small (members x layers x 2 x hidden float32 a prefix: 1 KB for one member of two
#: layers of 64), and the call overhead is amortised.
TRIE_BATCH = 2048
_SCORES_ONLY = "DeepLogOnnx only scores; train with DeepLogDetector (torch) and export with convert-onnx"


class DeepLogOnnx(DeepLogDetector):
    """DeepLog on ONNX Runtime. Build it with :meth:`from_bundle`; ``session_`` is the ORT session."""

    runtime = "onnxruntime"  # what scores (the torch detector has none: callers read "torch")
    #: (step session, head session, state shape after the batch axis), or None: the whole graph only
    trie_: tuple[Any, Any, tuple[int, int, int, int]] | None = None

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
        trie = (b.read_bytes(d.trie.step), b.read_bytes(d.trie.head)) if d.trie is not None else None
        return cls.from_export(b.read_bytes(d.model), d, strings, pairs, str(b.dir / d.model), threads, trie)

    @classmethod
    def from_export(cls, model: bytes | str | os.PathLike, d: DeepLogExport, strings: list[str],
                    seen_pairs: np.ndarray | None, where: str, threads: int = 0,
                    trie: tuple[bytes | str | os.PathLike, bytes | str | os.PathLike] | None = None) -> "DeepLogOnnx":
        """Build the scorer from the parts of an export (``model``: the graph's bytes or path; ``trie``:
        those of the step and head graphs, when the export has them and they are to be used). What
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
        _check_io(det.session_, {DEEPLOG_INPUT}, DEEPLOG_OUTPUT, d.vocab_size, where)
        if trie is not None:
            if d.trie is None:
                raise BundleError(f"{where}: step and head graphs given, but the export does not describe them")
            # No spinning: the trie's calls are many and short, with numpy between them, where the
            # waiting threads' spinning took a core from the caller (slower than one thread).
            step = _session(trie[0], threads, f"{where} ({d.trie.step})", spinning=False)
            head = _session(trie[1], threads, f"{where} ({d.trie.head})", spinning=False)
            _check_io(step, {STEP_KEY, STEP_STATE}, STEP_OUTPUT, None, f"{where} ({d.trie.step})")
            _check_io(head, {HEAD_INPUT}, HEAD_OUTPUT, d.vocab_size, f"{where} ({d.trie.head})")
            dims = [x for x in step.get_inputs() if x.name == STEP_STATE][0].shape[1:]
            if [x if isinstance(x, int) else None for x in dims] != list(d.trie.state_shape):
                raise BundleError(f"{where} ({d.trie.step}): the state is {dims}, the export says "
                                  f"{list(d.trie.state_shape)}")
            det.trie_ = (step, head, d.trie.state_shape)
        det.threshold_ = det._threshold()
        return det

    # ---- the network, on ONNX Runtime -------------------------------------------------------
    def log_probs(self, contexts: np.ndarray) -> np.ndarray:
        """Ensemble log-probabilities of the next key for (n, seq_len) context windows: float32
        (n, vocab_size), a numpy array where the torch detector returns a tensor. By the step and head
        graphs when the export has them (:meth:`trie_log_probs`), else by the whole graph."""
        if self.trie_ is not None and np.ndim(contexts) == 2 and np.shape(contexts)[1] > 0:
            return self.trie_log_probs(contexts)
        return self.graph_log_probs(contexts)

    def graph_log_probs(self, contexts: np.ndarray) -> np.ndarray:
        """:meth:`log_probs` by the whole graph, ``deeplog.onnx``."""
        x = np.ascontiguousarray(contexts, dtype=np.int64)
        if len(x) == 0:
            return np.zeros((0, self.vocab_size_), dtype=np.float32)
        # ONNX Runtime sizes the LSTM's buffers by the batch and keeps them in its arena: 8,192 rows
        # held ~250 MB for the rest of a 1M-line `infer`; 1,024 hold ~30 MB and run no slower.
        return np.concatenate([self.session_.run([DEEPLOG_OUTPUT], {DEEPLOG_INPUT: x[lo:lo + ORT_BATCH]})[0]
                               for lo in range(0, len(x), ORT_BATCH)])

    def trie_log_probs(self, contexts: np.ndarray) -> np.ndarray:
        """:meth:`log_probs` by the step and head graphs, over the windows as a prefix trie.

        Level t steps every run of rows that share their first t keys: a run of level t starts where
        one of level t - 1 does or where the t-th key differs from the row above, and each run's
        prefix goes through the LSTM once, from its parent run's states; the last level's top-layer h
        goes through the head once per run (a repeated window is computed once). Any row order gives
        the same values (each row's result is its own: ORT computes the rows of a batch independently);
        rows that share prefixes are adjacent in the scoring loop's batches (``unique_rows`` gives them
        grouped), which is what makes the runs long."""
        x = np.ascontiguousarray(contexts, dtype=np.int64)
        n, length = x.shape
        if n == 0:
            return np.zeros((0, self.vocab_size_), dtype=np.float32)
        step, head, shape = self.trie_
        state = np.zeros((1, *shape), dtype=np.float32)  # the empty prefix: zero h and c
        parent = np.zeros(n, dtype=np.int64)  # each row's run at the previous level (its row in `state`)
        new = np.zeros(n, dtype=bool)
        new[0] = True
        for t in range(length):
            key = x[:, t]
            new[1:] |= key[1:] != key[:-1]
            starts = np.flatnonzero(new)
            keys, src = key[starts], parent[starts]
            nxt = np.empty((len(starts), *shape), dtype=np.float32)
            for lo in range(0, len(starts), TRIE_BATCH):
                hi = lo + TRIE_BATCH
                nxt[lo:hi] = step.run([STEP_OUTPUT], {STEP_KEY: keys[lo:hi], STEP_STATE: state[src[lo:hi]]})[0]
            state, parent = nxt, np.cumsum(new) - 1
        top = np.ascontiguousarray(state[:, :, -1, 0, :])  # (runs, members, hidden): the top layer's h
        del state
        runs = np.empty((len(top), self.vocab_size_), dtype=np.float32)
        for lo in range(0, len(top), TRIE_BATCH):
            runs[lo:lo + TRIE_BATCH] = head.run([HEAD_OUTPUT], {HEAD_INPUT: top[lo:lo + TRIE_BATCH]})[0]
        return runs if len(runs) == n else runs[parent]

    def without_trie(self) -> "DeepLogOnnx":
        """A copy of this scorer that runs the whole graph only (``convert-onnx --validate`` checks both)."""
        import copy

        other = copy.copy(self)
        other.trie_ = None
        return other

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


def _session(model: bytes | str | os.PathLike, threads: int, where: str, spinning: bool = True) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT's warnings are not the user's business
    if threads:
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        source = model if isinstance(model, bytes) else os.fspath(model)
        return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types (InvalidGraph, Fail, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BundleError(f"{where}: ONNX Runtime cannot load the model: {first}") from None


def _check_io(session: Any, inputs_wanted: set[str], output: str, vocab_size: int | None, where: str) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    outputs = {o.name: o for o in session.get_outputs()}
    if set(inputs) != inputs_wanted or output not in outputs:
        raise BundleError(f"{where}: expected input(s) {sorted(inputs_wanted)} and output {output!r}, found "
                          f"{sorted(inputs)} -> {sorted(outputs)}")
    if vocab_size is None:
        return
    width = outputs[output].shape[-1]
    if isinstance(width, int) and width != vocab_size:
        raise BundleError(f"{where}: the graph predicts {width:,} keys, the export says {vocab_size:,}")
