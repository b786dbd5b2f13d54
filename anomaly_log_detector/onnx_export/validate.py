"""``convert-onnx --validate``: the exported graphs against torch, on the same inputs, or a loud failure.

1. ``onnx.checker.check_model`` (full check, shape inference included) on every portable graph.
2. DeepLog, per window, on each path of the scorer (the whole graph, and when exported the step and
   head graphs walked as a prefix trie, which ``infer`` runs; whether the two give bit-identical
   float32 is reported): ONNX Runtime's log-probabilities against :meth:`DeepLogDetector.log_probs`
   (``|ORT - torch| <= TOLERANCE + RELATIVE * |torch|``, numpy's ``allclose`` form: float32 rounding
   grows with the magnitude, and the log-probability of an unlikely key is large - a trained 20k-line
   model differed by 1.3e-05 at -11.5, 2e-06 in probability) and the top-k sets (k = 1, 3, 5 and the
   model's k): a set may differ only where torch itself ranks two keys within ``TOLERANCE`` of each
   other at the k-th place (a tie that float rounding may break either way; counted and reported). The
   windows: random keys, padded starts, windows of other lengths than the recommended one (the sequence
   axis is dynamic), and the windows of a real ``sequences.parquet`` when one is given.
3. DeepLog, per prediction and per session: :meth:`DeepLogOnnx.evaluate` against the torch detector's
   ``evaluate`` on the same sessions (random ones, with the bundle's process groups so per-group
   thresholds apply, plus the real ones): every verdict (``in_topk``), novelty flag and session verdict
   must be equal, under the model's own rule and thresholds, on each path.
4. MS-CRED: the reconstruction of random signature matrices, ORT against torch (<= ``TOLERANCE``).

Any failure raises ModelError with the numbers; the caller then writes nothing.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd

from anomaly_log_detector.builders.vocab import PAD, UNK
from anomaly_log_detector.errors import ModelError

TOLERANCE = 1e-5
RELATIVE = 1e-5
RANDOM_WINDOWS = 4000
RANDOM_SESSIONS = 300
MAX_REAL_WINDOWS = 50_000
VALIDATE_ROWS = 4096  # windows compared at a time
SEED = 20240101


def check_graph(path: str | os.PathLike) -> None:
    """``onnx.checker.check_model`` with full checks; ModelError naming the file."""
    import onnx

    try:
        onnx.checker.check_model(os.fspath(path), full_check=True)
    except Exception as exc:  # onnx raises ValidationError / InferenceError
        raise ModelError(f"{path}: the ONNX checker refuses the graph: {str(exc).strip().splitlines()[0]}") from None


def _contexts(rng: np.random.Generator, n: int, length: int, vocab_size: int) -> np.ndarray:
    """Random windows of keys UNK..vocab_size-1, a third of them with a PAD-padded start."""
    keys = rng.integers(UNK, vocab_size, size=(n, length), dtype=np.int64)
    cut = rng.integers(0, length + 1, size=n)
    padded = rng.random(n) < 1 / 3
    keys[padded[:, None] & (np.arange(length)[None, :] < cut[:, None])] = PAD
    return keys


def _sessions(rng: np.random.Generator, n: int, seq_len: int, det: Any, groups: list[str]) -> pd.DataFrame:
    """Random sessions mostly of keys the model knows (so that both hits and misses occur)."""
    known = np.asarray(det.seen_keys_, dtype=np.int64)
    rows = []
    for i in range(n):
        length = int(rng.integers(1, 3 * seq_len + 2))
        pool = known if len(known) and rng.random() < 0.8 else np.arange(UNK, det.vocab_size_)
        rows.append(rng.choice(pool, size=length).astype(np.int64).tolist())
    df = pd.DataFrame({"session": [f"random-{i}" for i in range(n)], "events": rows})
    if groups:
        df["group"] = [groups[i % len(groups)] for i in range(n)]
    return df


def _topk_compare(a: np.ndarray, b: np.ndarray, ks: list[int]) -> tuple[int, int]:
    """(sets that differ beyond ties, sets that differ at a tie) over every row and k. ``a`` is torch."""
    order_a = np.argsort(-a, axis=1, kind="stable")
    order_b = np.argsort(-b, axis=1, kind="stable")
    sorted_a = np.take_along_axis(a, order_a, 1)
    differ = ties = 0
    for k in ks:
        sa, sb = np.sort(order_a[:, :k], 1), np.sort(order_b[:, :k], 1)
        bad = (sa != sb).any(1)
        if not bad.any():
            continue
        gap = sorted_a[:, k - 1] - sorted_a[:, k] if k < a.shape[1] else np.full(len(a), np.inf)
        tie = gap <= TOLERANCE
        differ += int((bad & ~tie).sum())
        ties += int((bad & tie).sum())
    return differ, ties


def validate_deeplog(det: Any, scorer: Any, optimized: Any | None, sequences: pd.DataFrame | None) -> dict[str, Any]:
    """Compare the torch detector ``det`` with the ONNX scorer ``scorer`` (a DeepLogOnnx over the
    portable graph, and its step and head graphs when exported: both paths are checked) and, when
    given, ``optimized`` (one over the ORT-optimised graph). Returns the numbers; ModelError when a
    check fails."""
    from anomaly_log_detector.detectors.windows import build_windows, flatten, unique_rows

    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    V, L = det.vocab_size_, det.seq_len
    blocks = [_contexts(rng, RANDOM_WINDOWS, L, V)]
    if sequences is not None and len(sequences):
        values, lengths = flatten(sequences["events"])
        real = unique_rows(build_windows(det._known(values), lengths, L, det.eos).inputs)[0]
        blocks.append(real[rng.permutation(len(real))[:MAX_REAL_WINDOWS]] if len(real) > MAX_REAL_WINDOWS else real)
    contexts = np.concatenate(blocks)
    # The scorer's paths: the whole graph and, when exported, the step and head graphs (the prefix
    # trie, what `infer` runs); each must agree with torch on its own.
    paths = {"portable": scorer.graph_log_probs}
    if scorer.trie_ is not None:
        paths["trie"] = scorer.trie_log_probs
    if optimized is not None:
        paths["optimized"] = optimized.log_probs
    ks = sorted({k for k in (1, 3, 5, det.k) if k is not None and k < V})
    diffs, excess = dict.fromkeys(paths, 0.0), dict.fromkeys(paths, 0.0)
    topk_differ = topk_ties = 0
    trie_identical = True if "trie" in paths else None
    # VALIDATE_ROWS windows at a time: each path's output is rows x vocab float32 (and the top-k
    # comparison sorts it as int64), so a large vocabulary would hold gigabytes for 54k windows.
    for lo in range(0, len(contexts), VALIDATE_ROWS):
        block = contexts[lo:lo + VALIDATE_ROWS]
        want = det.log_probs(block).numpy()
        got = {name: f(block) for name, f in paths.items()}
        for name, logp in got.items():
            d, e = _differences(logp, want)
            diffs[name], excess[name] = max(diffs[name], d), max(excess[name], e)
            if name != "optimized":
                differ, ties = _topk_compare(want, logp, ks)
                topk_differ, topk_ties = topk_differ + differ, topk_ties + ties
        if trie_identical:
            trie_identical = bool(np.array_equal(got["trie"], got["portable"]))
        del want, got
    paths.pop("optimized", None)
    # Other window lengths: the sequence axis is dynamic.
    other_lengths = sorted({1, max(1, L // 2), L + 5} - {L})
    for length in other_lengths:
        ctx = _contexts(rng, 200, length, V)
        want = det.log_probs(ctx).numpy()
        for name, f in paths.items():
            key = f"length {length}" if name == "portable" else f"{name}, length {length}"
            diffs[key], excess[key] = _differences(f(ctx), want)

    groups = sorted(det.tau_by_group_)
    sessions = [_sessions(rng, RANDOM_SESSIONS, L, det, groups)]
    if sequences is not None and len(sequences):
        keep = [c for c in ("session", "events", "group") if c in sequences.columns]
        sessions.append(sequences[keep].reset_index(drop=True))
    seq = pd.concat(sessions, ignore_index=True)
    ws_torch = det.evaluate(seq)
    flagged_torch = det.session_scores(ws_torch) > det.threshold_
    verdicts = novel = ranks = session_diff = 0
    surprise = 0.0
    for scoring in [scorer] + ([scorer.without_trie()] if scorer.trie_ is not None else []):
        ws_onnx = scoring.evaluate(seq)
        verdicts += int((ws_torch.in_topk != ws_onnx.in_topk).sum())
        novel += int((ws_torch.is_novel != ws_onnx.is_novel).sum())
        ranks += int((ws_torch.rank != ws_onnx.rank).sum())
        surprise = max(surprise, float(np.abs(ws_torch.surprise.astype(np.float64)
                                              - ws_onnx.surprise.astype(np.float64)).max(initial=0.0)))
        flagged_onnx = scoring.session_scores(ws_onnx) > scoring.threshold_
        session_diff += int((flagged_torch != flagged_onnx).sum())
    report = {
        "tolerance": TOLERANCE, "relative_tolerance": RELATIVE, "windows": int(len(contexts)),
        "real_windows": int(len(contexts) - RANDOM_WINDOWS),
        "max_abs_diff": diffs, "topk": {"k": ks, "sets_differ": topk_differ, "sets_differ_at_ties": topk_ties},
        "predictions": int(len(ws_torch.in_topk)), "sessions": int(len(seq)), "verdicts_differ": verdicts,
        "novelty_differs": novel, "ranks_differ": ranks, "max_surprise_diff": surprise,
        "session_verdicts_differ": session_diff, "misses": int((~ws_torch.in_topk).sum()),
        "paths": sorted(paths), "trie_identical_to_graph": trie_identical,
        "seconds": round(time.perf_counter() - started, 3),
    }
    problems = [f"|ORT - torch| of the log-probabilities exceeds {TOLERANCE:g} + {RELATIVE:g} x |torch| by "
                f"{v - TOLERANCE:.3g} (max |ORT - torch| {diffs[name]:.3g}; {name})"
                for name, v in excess.items() if not v <= TOLERANCE]
    if topk_differ:
        problems.append(f"{topk_differ:,} top-k sets differ (k in {ks}) beyond float ties")
    if verdicts or novel or session_diff:
        problems.append(f"{verdicts:,} verdicts (of {len(ws_torch.in_topk):,} per path), {novel:,} novelty flags "
                        f"and {session_diff:,} session verdicts (of {len(seq):,}) differ")
    if problems:
        raise ModelError("ONNX validation failed: " + "; ".join(problems) + f" (windows {len(contexts):,}, "
                         f"predictions {len(ws_torch.in_topk):,})")
    return report


def _differences(got: np.ndarray, want: np.ndarray) -> tuple[float, float]:
    """(max |got - want|, max of |got - want| - RELATIVE * |want|): the second must be <= TOLERANCE."""
    diff = np.abs(np.asarray(got, dtype=np.float64) - want)
    return float(diff.max(initial=0.0)), float((diff - RELATIVE * np.abs(want)).max(initial=0.0))


def validate_mscred(net: Any, portable: str | os.PathLike, optimized: str | os.PathLike | None,
                    history: int, scales: int, n: int) -> dict[str, Any]:
    """Reconstructions of random standardised signature matrices, ORT against torch."""
    import onnxruntime as ort
    import torch

    from anomaly_log_detector.onnx_export.layout import MSCRED_INPUT, MSCRED_OUTPUT

    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal((64, history, scales, n, n)).astype(np.float32)
    with torch.inference_mode():
        ref = net(torch.from_numpy(x)).numpy()
    diffs = {}
    for name, path in (("portable", portable), ("optimized", optimized)):
        if path is None:
            continue
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
        diffs[name] = float(np.abs(session.run([MSCRED_OUTPUT], {MSCRED_INPUT: x})[0] - ref).max(initial=0.0))
    problems = [f"max |ORT - torch| of the reconstruction = {v:.3g} > {TOLERANCE:g} ({name})"
                for name, v in diffs.items() if not v <= TOLERANCE]
    if problems:
        raise ModelError("MS-CRED ONNX validation failed: " + "; ".join(problems))
    return {"tolerance": TOLERANCE, "inputs": int(len(x)), "max_abs_diff": diffs,
            "seconds": round(time.perf_counter() - started, 3)}
