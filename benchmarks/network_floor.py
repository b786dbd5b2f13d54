"""What DeepLog's network pass costs at inference, alone: ONNX Runtime's `log_probs` over the distinct
windows of an `infer` run's `sequences.parquet`, in the scoring loop's batches, on its default threads
and on one; prints JSON (wall and CPU seconds each, and the ratios). The floor under `infer`'s time
(docs/performance.md, round 5): this pass and the parse cannot be avoided.

Two ways when the bundle's export has the step and head graphs (``onnx.deeplog.trie``): the whole
graph (``deeplog.onnx``, one LSTM step per key of every window) and the prefix trie (the step graph
once per distinct prefix; what `infer` runs); ``trie_over_graph_cpu`` is the CPU-time ratio, and
``rows_not_bit_identical`` counts the windows whose log-probabilities differ in any bit. Each timing is the best of
``--repeat`` passes, the two ways alternating.

    .venv/bin/python benchmarks/network_floor.py --model BUNDLE_WITH_ONNX --sequences OUT/sequences.parquet
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import pandas as pd

from anomaly_log_detector.detectors.deeplog_onnx import DeepLogOnnx
from anomaly_log_detector.detectors.windows import build_windows, flatten, unique_rows


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def one_pass(log_probs, contexts: np.ndarray, batch: int) -> tuple[float, float]:
    """(wall s, CPU s) of one pass over ``contexts``."""
    cpu, wall = cpu_seconds(), time.perf_counter()
    for lo in range(0, len(contexts), batch):
        log_probs(contexts[lo:lo + batch])
    return time.perf_counter() - wall, cpu_seconds() - cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a bundle holding an ONNX export")
    ap.add_argument("--sequences", required=True, help="sequences.parquet of an infer output folder")
    ap.add_argument("--repeat", type=int, default=2, help="passes per way and thread setting (the best is kept)")
    args = ap.parse_args()
    values, lengths = flatten(pd.read_parquet(args.sequences)["events"])
    det = DeepLogOnnx.from_bundle(args.model)
    contexts = unique_rows(build_windows(values, lengths, det.seq_len, det.eos).inputs)[0]
    batch = det.infer_batch_size
    out: dict = {"distinct_windows": int(len(contexts)), "steps_graph": int(contexts.size), "batch": batch,
                 "trie": det.trie_ is not None}
    if det.trie_ is not None:
        prefixes = 0
        for lo in range(0, len(contexts), batch):  # distinct prefixes per call: what the trie steps
            x = contexts[lo:lo + batch]
            new = np.zeros(len(x), dtype=bool)
            new[0] = True
            for t in range(x.shape[1]):
                new[1:] |= x[1:, t] != x[:-1, t]
                prefixes += int(new.sum())
        out["steps_trie"] = prefixes
    for threads in (0, 1):
        det = DeepLogOnnx.from_bundle(args.model, threads=threads)
        ways = {"graph": det.graph_log_probs}
        if det.trie_ is not None:
            ways["trie"] = det.trie_log_probs
        best: dict[str, tuple[float, float]] = {}
        for f in ways.values():
            f(contexts[:2048])  # warm-up: the session's first run allocates
        for _ in range(max(1, args.repeat)):
            for name, f in ways.items():
                wall, cpu = one_pass(f, contexts, batch)
                old = best.get(name, (np.inf, np.inf))
                best[name] = (min(old[0], wall), min(old[1], cpu))
        if "trie" in ways and threads == 0:  # untimed: the two ways' outputs, bit for bit
            differ = [int((ways["trie"](x) != ways["graph"](x)).any(1).sum())
                      for x in (contexts[lo:lo + batch] for lo in range(0, len(contexts), batch))]
            out["rows_not_bit_identical"] = sum(differ)
        key = "default_threads" if threads == 0 else "one_thread"
        out[key] = {name: {"wall_s": round(w, 2), "cpu_s": round(c, 2)} for name, (w, c) in best.items()}
        if "trie" in best:
            out[key]["trie_over_graph_cpu"] = round(best["trie"][1] / best["graph"][1], 2)
            out[key]["trie_over_graph_wall"] = round(best["trie"][0] / best["graph"][0], 2)
    one, default = out["one_thread"]["graph"]["wall_s"], out["default_threads"]["graph"]["wall_s"]
    out["one_over_default_wall"] = round(one / default, 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
