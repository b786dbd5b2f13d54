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

from anomaly_log_detector.detectors.windows import unique_rows
from anomaly_log_detector.progress import Progress

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
    """(rank, prob, tail) in numpy float64 from a numpy batch of log-probabilities."""
    rows = np.asarray(logp, dtype=np.float64)[row_of]
    target_logp = np.take_along_axis(rows, targets, 1)
    above = rows > target_logp
    # Summing the small side keeps precision where 1 - (mass above) would lose it.
    return above.sum(1) + 1, np.exp(target_logp[:, 0]), (np.exp(rows) * ~above).sum(1)


def torch_pair_stats(logp: Any, row_of: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`numpy_pair_stats` in torch float64, from a torch batch of log-probabilities."""
    import torch

    rows = logp.double()[torch.from_numpy(row_of)]
    target_logp = rows.gather(1, torch.from_numpy(targets))
    above = rows > target_logp
    return ((above.sum(1) + 1).numpy(), target_logp.exp().squeeze(1).numpy(),
            (rows.exp() * ~above).sum(1).numpy())
