"""What DeepLog's network pass costs at inference, alone: ONNX Runtime's `log_probs` over the distinct
windows of an `infer` run's `sequences.parquet`, on its default threads and on one; prints JSON
(wall and CPU seconds each, and the ratio). The floor under `infer`'s time (docs/performance.md,
round 5): this pass and the parse cannot be avoided.

    .venv/bin/python benchmarks/network_floor.py --model BUNDLE_WITH_ONNX --sequences OUT/sequences.parquet
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import pandas as pd

from anomaly_log_detector.detectors.deeplog_onnx import DeepLogOnnx
from anomaly_log_detector.detectors.windows import build_windows, flatten, unique_rows


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="a bundle holding an ONNX export")
    ap.add_argument("--sequences", required=True, help="sequences.parquet of an infer output folder")
    args = ap.parse_args()
    values, lengths = flatten(pd.read_parquet(args.sequences)["events"])
    det = DeepLogOnnx.from_bundle(args.model)
    contexts = unique_rows(build_windows(values, lengths, det.seq_len, det.eos).inputs)[0]
    out: dict = {"distinct_windows": int(len(contexts))}
    for threads in (0, 1):
        det = DeepLogOnnx.from_bundle(args.model, threads=threads)
        det.log_probs(contexts[:2048])  # warm-up: the session's first run allocates
        cpu, wall = cpu_seconds(), time.perf_counter()
        for lo in range(0, len(contexts), 8192):
            det.log_probs(contexts[lo:lo + 8192])
        out["default_threads" if threads == 0 else "one_thread"] = {
            "wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(cpu_seconds() - cpu, 2)}
    out["one_over_default_wall"] = round(out["one_thread"]["wall_s"] / out["default_threads"]["wall_s"], 2)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
