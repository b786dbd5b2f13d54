"""The ONNX export's file names, opset and the ``onnx`` section of ``metadata.json``, and reading it back.

An export is part of a bundle (docs/bundle.md): ``convert-onnx`` adds its files to an existing bundle,
or writes a new bundle that holds only them; either way every file is checksummed in the manifest's
``files`` and the export is described by ``metadata["onnx"]`` (hybrid_system/README.md specifies every
key; this module is the reference reader). Nothing here imports torch.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from anomaly_log_detector.builders.vocab import EOS
from anomaly_log_detector.errors import BundleError

SECTION = "onnx"
FORMAT = "alog-detect/onnx"
VERSION = 1
#: Every graph is exported at this opset (ONNX Runtime >= 1.13 runs it; the C API has no say in it).
OPSET = 17

DEEPLOG_ONNX = "deeplog.onnx"
DEEPLOG_OPTIMIZED = "deeplog_optimized.onnx"
DEEPLOG_SEEN_PAIRS = "deeplog_seen_pairs.npz"
DEEPLOG_STEP = "deeplog_step.onnx"
DEEPLOG_HEAD = "deeplog_head.onnx"
MSCRED_ONNX = "mscred.onnx"
MSCRED_OPTIMIZED = "mscred_optimized.onnx"
MSCRED_STATE = "mscred_state.npz"
VOCAB_C = "vocab_c.json"
#: Every file an export may write; re-exporting into a bundle replaces all of them.
EXPORT_FILES = (DEEPLOG_ONNX, DEEPLOG_OPTIMIZED, DEEPLOG_SEEN_PAIRS, DEEPLOG_STEP, DEEPLOG_HEAD, MSCRED_ONNX,
                MSCRED_OPTIMIZED, MSCRED_STATE, VOCAB_C)

DEEPLOG_INPUT = "input_sequence"     # (batch, sequence) int64 keys (the original's input name)
DEEPLOG_OUTPUT = "log_probs"         # (batch, vocab_size) float32: ensemble log-probabilities of the next key
MSCRED_INPUT = "input_features"      # (batch, history, scales, n, n) float32 signature matrices
MSCRED_OUTPUT = "reconstructed"      # (batch, scales, n, n) float32
SEEN_PAIRS_ARRAY = "seen_pairs"      # the one array of deeplog_seen_pairs.npz
# deeplog_step.onnx: one LSTM step of every member, every layer (the prefix-trie path, DeepLogOnnx.log_probs)
STEP_KEY = "key"                     # (batch,) int64: the next key of each prefix
STEP_STATE = "state"                 # (batch, members, layers, 2, hidden) float32: [..., 0, :] h, [..., 1, :] c
STEP_OUTPUT = "next_state"           # the same shape: the states after the key
# deeplog_head.onnx: the top layer's h of every member -> what deeplog.onnx outputs for the window
HEAD_INPUT = "hidden"                # (batch, members, hidden) float32
HEAD_OUTPUT = "log_probs"            # (batch, vocab_size) float32

# Bounds on what a metadata section may claim (the same as DeepLog's checkpoint checks).
_MAX_SEQ_LEN = 1024
_MAX_VOCAB = 1 << 24


@dataclass(frozen=True)
class DeepLogExport:
    """The DeepLog part of an export, checked: everything the ONNX scorer needs besides the graph."""

    model: str                       # file name of the graph
    seq_len: int                     # window length the scorer uses
    vocab_size: int
    params: dict[str, Any]           # DeepLogDetector's constructor arguments
    tau: float
    tau_by_group: dict[str, float]
    seen_keys: np.ndarray            # int64
    seen_pairs: str | None           # file name of the seen (window, next key) table, or None
    history: list[float]
    train_stats: dict[str, Any]
    trie: "TrieExport | None" = None  # the step and head graphs; None in exports made before them


@dataclass(frozen=True)
class TrieExport:
    """``onnx.deeplog.trie``: the graphs that run the network one key at a time, so that windows sharing
    a prefix share its LSTM steps (``deeplog.onnx`` split in two; the C engine keeps the whole graph)."""

    step: str                        # file name of the step graph
    head: str                        # file name of the head graph
    members: int
    layers: int
    hidden: int

    @property
    def state_shape(self) -> tuple[int, int, int, int]:
        """The shape of one prefix's state, after the batch axis: (members, layers, 2, hidden)."""
        return (self.members, self.layers, 2, self.hidden)


def section(meta: dict[str, Any], where: str) -> dict[str, Any] | None:
    """``metadata["onnx"]`` checked for format and version; None when the bundle holds no export."""
    s = meta.get(SECTION)
    if s is None:
        return None
    if not isinstance(s, dict) or s.get("format") != FORMAT:
        raise BundleError(f"{where}: metadata '{SECTION}' is not an alog-detect ONNX export (format {FORMAT!r})")
    if type(s.get("version")) is not int or s["version"] != VERSION:
        raise BundleError(f"{where}: ONNX export version {s.get('version')!r} is not supported (this alog-detect "
                          f"reads version {VERSION}); run convert-onnx again")
    return s


def deeplog_export(s: dict[str, Any], where: str) -> DeepLogExport:
    """The ``deeplog`` entry of an export section, every value type- and range-checked (BundleError
    naming the key): the section is checksummed, but a hand-edited manifest must still fail cleanly."""
    d = s.get("deeplog")
    if not isinstance(d, dict):
        raise BundleError(f"{where}: the ONNX export holds no DeepLog model")

    def need(key: str, ok: bool, what: str) -> None:
        if not ok:
            raise BundleError(f"{where}: onnx.deeplog.{key} must be {what}, not {d.get(key)!r}")

    def integer(key: str, low: int, high: int) -> int:
        v = d.get(key)
        need(key, type(v) is int and low <= v <= high, f"an integer in [{low}, {high}]")
        return v

    def number(v: Any, key: str) -> float:
        ok = not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
        need(key, ok, "a finite number >= 0")
        return float(v)

    model = d.get("model")
    need("model", isinstance(model, str), "a file name")
    seq_len = integer("seq_len", 1, _MAX_SEQ_LEN)
    vocab_size = integer("vocab_size", EOS + 1, _MAX_VOCAB)
    params = d.get("params")
    need("params", isinstance(params, dict), "an object of DeepLog's arguments")
    tau = number(d.get("tau"), "tau")
    groups = d.get("tau_by_group")
    need("tau_by_group", isinstance(groups, dict), "an object")
    tau_by_group = {str(k): number(v, f"tau_by_group[{k!r}]") for k, v in groups.items()}
    seen = d.get("seen_keys")
    need("seen_keys", isinstance(seen, list) and all(type(x) is int and 0 <= x < vocab_size for x in seen),
         f"a list of keys < {vocab_size}")
    pairs = d.get("seen_pairs")
    need("seen_pairs", pairs is None or isinstance(pairs, str), "a file name or null")
    history = d.get("history") or []
    need("history", isinstance(history, list), "a list")
    stats = d.get("train_stats") or {}
    need("train_stats", isinstance(stats, dict), "an object")
    return DeepLogExport(model, seq_len, vocab_size, dict(params), tau, tau_by_group,
                         np.asarray(seen, dtype=np.int64), pairs, [float(x) for x in history if isinstance(x, (int, float))],
                         dict(stats), _trie(d.get("trie"), where))


def trie_section(members: int, layers: int, hidden: int, vocab_size: int) -> dict[str, Any]:
    """``onnx.deeplog.trie`` as the exporter writes it."""
    state = ["batch", members, layers, 2, hidden]
    return {"step": DEEPLOG_STEP, "head": DEEPLOG_HEAD, "members": members, "layers": layers, "hidden": hidden,
            "step_inputs": {STEP_KEY: {"type": "int64", "shape": ["batch"]},
                            STEP_STATE: {"type": "float32", "shape": state}},
            "step_output": {"name": STEP_OUTPUT, "type": "float32", "shape": state},
            "head_input": {"name": HEAD_INPUT, "type": "float32", "shape": ["batch", members, hidden]},
            "head_output": {"name": HEAD_OUTPUT, "type": "float32", "shape": ["batch", vocab_size]}}


def _trie(t: Any, where: str) -> TrieExport | None:
    """``onnx.deeplog.trie`` checked; None when absent (an export made before the step graphs)."""
    if t is None:
        return None
    if not isinstance(t, dict):
        raise BundleError(f"{where}: onnx.deeplog.trie must be an object or null, not {t!r}")
    for key in ("step", "head"):
        if not isinstance(t.get(key), str):
            raise BundleError(f"{where}: onnx.deeplog.trie.{key} must be a file name, not {t.get(key)!r}")
    sizes = {}
    for key, high in (("members", 1024), ("layers", 64), ("hidden", 1 << 16)):
        v = t.get(key)
        if type(v) is not int or not 1 <= v <= high:
            raise BundleError(f"{where}: onnx.deeplog.trie.{key} must be an integer in [1, {high}], not {v!r}")
        sizes[key] = v
    return TrieExport(t["step"], t["head"], **sizes)


def seen_pairs_bytes(pairs: np.ndarray) -> bytes:
    """``deeplog_seen_pairs.npz``: one uncompressed (stored) zip member ``seen_pairs.npy``, int32
    little-endian, C order, shape (n, seq_len + 1), rows sorted (a C reader can binary-search them)."""
    a = np.ascontiguousarray(pairs, dtype="<i4")
    if len(a):
        a = a[np.lexsort(a.T[::-1])]
    buf = io.BytesIO()
    np.savez(buf, **{SEEN_PAIRS_ARRAY: a})
    return buf.getvalue()


def read_seen_pairs(data: bytes, seq_len: int, vocab_size: int, where: str) -> np.ndarray:
    """The seen (window, next key) rows as int64 (n, seq_len + 1); BundleError when the file is not
    such a table (``allow_pickle=False``: an object array is refused, never unpickled)."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            a = z[SEEN_PAIRS_ARRAY]
    except (OSError, ValueError, KeyError) as exc:
        raise BundleError(f"{where}: not a seen-pairs table: {str(exc).splitlines()[0]}") from None
    if a.ndim != 2 or a.shape[1] != seq_len + 1 or a.dtype.kind not in "iu":
        raise BundleError(f"{where}: expected an integer (n, {seq_len + 1}) table, found {a.dtype} {a.shape}")
    a = a.astype(np.int64)
    if len(a) and not ((a >= 0).all() and (a < vocab_size).all()):
        raise BundleError(f"{where}: holds keys outside the model's {vocab_size:,}")
    return a
