"""Scoring distinct (context, target) windows with a next-key network, whatever runs the network.

:func:`score_pairs` is the one loop both DeepLog scorers use (detectors/deeplog.py on torch,
detectors/deeplog_onnx.py on ONNX Runtime): each distinct context goes through the network once, in
batches of ``batch_size``, and every (context, target) row of the batch gets its target's rank, its
probability and its *tail* (the mass of the target and of every key ranked at or below it). The
network is a ``log_probs`` callable; the arithmetic on a batch of its output is ``pair_stats``:

* :func:`numpy_pair_stats`, numpy float64 (the ONNX scorer: no torch);
* :func:`torch_pair_stats`, the same formulas in torch float64, on the torch detector's tensors.

Two arithmetics and not one because their results differ in the last bits: on a 1M-line gen-synth
target (230,117 distinct windows), numpy's exp and sum over torch's log-probabilities left ranks
equal but changed prob on 11,664 windows and the tail on 156,049 by up to 7e-16, which moved the
float32 surprise written to deeplog_infer.parquet on 8,219 of them. The torch path keeps its exact
results; the ONNX path's verdicts equal torch's (tests/test_onnx_export.py).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from anomaly_log_detector.detectors.windows import CHUNK, unique_rows
from anomaly_log_detector.progress import Progress

#: Rows per step of numpy_pair_stats.
STATS_ROWS = 1024

PairStats = Callable[[Any, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def score_pairs(pairs: np.ndarray, log_probs: Callable[[np.ndarray], Any], pair_stats: PairStats,
                batch_size: int, quiet: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(rank, prob, tail) of each distinct (context, target) row of ``pairs`` (n, seq_len + 1), each
    context computed once, and the number of distinct contexts. ``log_probs`` maps (m, seq_len)
    contexts to (m, vocab) log-probabilities; ``pair_stats(logp, row_of, targets)`` turns them into the
    three columns for rows ``row_of`` of ``logp`` with target keys ``targets`` (k, 1)."""
    contexts, ctx_inv, _ = unique_rows(pairs[:, :-1])
    order = np.argsort(ctx_inv, kind="stable")
    bounds = np.searchsorted(ctx_inv[order], np.arange(0, len(contexts) + batch_size, batch_size))
    rank = np.zeros(len(pairs), dtype=np.int64)
    prob = np.zeros(len(pairs), dtype=np.float64)
    tail = np.zeros(len(pairs), dtype=np.float64)
    progress = Progress("deeplog scoring", total=len(contexts), unit="windows", quiet=quiet, leave=False)
    for b, lo in enumerate(range(0, len(contexts), batch_size)):
        sel = order[bounds[b]:bounds[b + 1]]
        rank[sel], prob[sel], tail[sel] = pair_stats(log_probs(contexts[lo:lo + batch_size]), ctx_inv[sel] - lo,
                                                     pairs[sel, -1:].astype(np.int64))
        progress.update(min(batch_size, len(contexts) - lo))
    progress.close()
    return rank, prob, tail, len(contexts)


def numpy_pair_stats(logp: Any, row_of: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rank, prob, tail) in numpy float64 from a numpy batch of log-probabilities, ``STATS_ROWS``
    rows at a time (each row's result depends on that row alone; the float64 copies of a whole batch
    were ~30 MB at a time)."""
    logp = np.asarray(logp)
    rank = np.empty(len(row_of), dtype=np.int64)
    prob = np.empty(len(row_of), dtype=np.float64)
    tail = np.empty(len(row_of), dtype=np.float64)
    for lo in range(0, len(row_of), STATS_ROWS):
        part = slice(lo, lo + STATS_ROWS)
        rows = logp[row_of[part]].astype(np.float64)
        target_logp = np.take_along_axis(rows, targets[part], 1)
        above = rows > target_logp
        rank[part] = above.sum(1) + 1
        prob[part] = np.exp(target_logp[:, 0])
        # Summing the small side keeps precision where 1 - (mass above) would lose it.
        tail[part] = (np.exp(rows) * ~above).sum(1)
    return rank, prob, tail


def torch_pair_stats(logp: Any, row_of: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`numpy_pair_stats` in torch float64, from a torch batch of log-probabilities."""
    import torch

    rows = logp.double()[torch.from_numpy(row_of)]
    target_logp = rows.gather(1, torch.from_numpy(targets))
    above = rows > target_logp
    return ((above.sum(1) + 1).numpy(), target_logp.exp().squeeze(1).numpy(),
            (rows.exp() * ~above).sum(1).numpy())


def window_hits(hit: np.ndarray, seen: np.ndarray, novel: np.ndarray, surprise: np.ndarray,
                pair_inv: np.ndarray, tau: np.ndarray | None) -> np.ndarray:
    """Per window (``pair_inv``: its distinct pair): not a miss. ``hit`` (the top-k / top-p test),
    ``seen`` and ``novel`` are per pair; with ``tau`` (per window) the pair's float64 surprise must
    also be <= tau. A chunk of windows at a time: no float64 column of every window."""
    if tau is None:
        return ((hit | seen) & ~novel)[pair_inv]
    out = np.empty(len(pair_inv), dtype=bool)
    for lo in range(0, len(pair_inv), CHUNK):
        inv = pair_inv[lo:lo + CHUNK]
        out[lo:lo + CHUNK] = (hit[inv] & (surprise[inv] <= tau[lo:lo + CHUNK]) | seen[inv]) & ~novel[inv]
    return out
