"""DeepLog scoring speed: the torch path against the ONNX Runtime path, in one run; prints one JSON object.

    .venv/bin/python benchmarks/onnx_infer.py [--bundle DIR] [--windows 200000] [--vocab 200]
        [--threads 1,0] [--out FILE] [--quick]

Without ``--bundle``, a DeepLog of the workflow's default size (2 x 64 LSTM, 16-dim embedding, one
network; ``--ensemble`` to change) is trained for a few steps on synthetic sessions over ``--vocab``
templates (speed does not depend on what the weights learnt), exported with ``convert_onnx(validate=
True)`` (export and validation timed), and both paths score the same windows:

* ``log_probs``: distinct windows through the network, ``infer_batch_size`` at a time (windows/s);
* ``evaluate``: the detector's whole scoring of sessions (windows, dedup, ranks, tails, verdicts), the
  numbers ``infer`` spends in DeepLog (windows/s of predictions, and the verdicts must be equal).

Each is run with torch / ONNX Runtime at every ``--threads`` value (0 = the library's default: one per
core), best of ``--repeat`` runs. ``--quick``: 20,000 windows, one repeat (a smoke run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _sessions(rng: np.random.Generator, vocab_size: int, n_windows: int) -> pd.DataFrame:
    """Sessions of a random sparse Markov chain over the templates (mostly likely transitions)."""
    keys = np.arange(3, vocab_size)
    succ = {int(k): rng.choice(keys, size=3, replace=False) for k in keys}
    rows, total = [], 0
    while total < n_windows:
        length = int(rng.integers(20, 200))
        k = int(rng.choice(keys))
        ev = [k]
        for _ in range(length - 1):
            k = int(succ[k][rng.choice(3, p=[0.7, 0.2, 0.1])]) if rng.random() > 0.02 else int(rng.choice(keys))
            ev.append(k)
        rows.append(ev)
        total += length
    return pd.DataFrame({"session": [f"s{i}" for i in range(len(rows))], "events": rows,
                         "line_nos": [[] for _ in rows], "rows": [[] for _ in rows], "source": "bench",
                         "label": pd.array([0] * len(rows), dtype="Int8")})


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", help="A bundle with deeplog.pth (exported into a copy; default: train one)")
    ap.add_argument("--windows", type=int, default=200_000)
    ap.add_argument("--vocab", type=int, default=200, help="Templates of the synthetic model")
    ap.add_argument("--ensemble", type=int, default=1)
    ap.add_argument("--threads", default="1,0", help="Comma-separated thread counts (0 = library default)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", help="Also write the JSON here")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.windows, args.repeat = 20_000, 1

    import onnxruntime as ort
    import torch

    from anomaly_log_detector.builders.vocab import Vocab
    from anomaly_log_detector.detectors.deeplog import DeepLogDetector
    from anomaly_log_detector.detectors.deeplog_onnx import DeepLogOnnx
    from anomaly_log_detector.detectors.windows import build_windows, flatten, unique_rows
    from anomaly_log_detector.onnx_export.converter import convert_onnx, load_deeplog

    rng = np.random.default_rng(7)
    work = Path(tempfile.mkdtemp(prefix="alog-onnx-bench-"))
    torch.set_num_threads(1)
    started = time.perf_counter()
    if args.bundle:
        vocab = Vocab.load(Path(args.bundle) / "vocab.json")
        model_path, vocab_path = Path(args.bundle) / "deeplog.pth", Path(args.bundle) / "vocab.json"
        det, _ = load_deeplog(model_path, vocab)
    else:
        vocab = Vocab.build(f"template {i} <NUM>" for i in range(args.vocab))
        train = _sessions(rng, vocab.size, 20_000)
        det = DeepLogDetector(ensemble=args.ensemble, eos=False, max_steps=30, epochs=1, seen_is_normal=True).fit(
            train, vocab=vocab)
        model_path, vocab_path = work / "deeplog.pth", work / "vocab.json"
        det.save(model_path)
        vocab.save(vocab_path)
    train_s = time.perf_counter() - started
    conv = convert_onnx(vocab_path, work / "export", deeplog_model=model_path, validate=True)
    seq = _sessions(rng, vocab.size, args.windows)
    values, lengths = flatten(seq["events"])
    contexts = unique_rows(build_windows(det._known(values), lengths, det.seq_len, det.eos).inputs)[0]

    def all_log_probs(d) -> None:
        for lo in range(0, len(contexts), d.infer_batch_size):
            d.log_probs(contexts[lo:lo + d.infer_batch_size])

    results = []
    reference = None
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads or (os.cpu_count() or 1))
        scorer = DeepLogOnnx.from_bundle(work / "export", threads=threads)
        row = {"threads": threads or f"default ({os.cpu_count()} cores)"}
        for name, d in (("torch", det), ("onnxruntime", scorer)):
            lp = _best(lambda: all_log_probs(d), args.repeat)
            ev_holder = {}
            ev = _best(lambda: ev_holder.__setitem__("ws", d.evaluate(seq)), args.repeat)
            ws = ev_holder["ws"]
            if reference is None:
                reference = ws.in_topk
            row[name] = {"log_probs_windows_per_s": round(len(contexts) / lp), "evaluate_predictions_per_s":
                         round(len(ws.in_topk) / ev), "verdicts_equal_to_torch": bool(np.array_equal(ws.in_topk, reference))}
        row["speedup_log_probs"] = round(row["onnxruntime"]["log_probs_windows_per_s"] / row["torch"]["log_probs_windows_per_s"], 2)
        row["speedup_evaluate"] = round(row["onnxruntime"]["evaluate_predictions_per_s"] / row["torch"]["evaluate_predictions_per_s"], 2)
        results.append(row)
    out = {
        "benchmark": "onnx_infer", "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                               "platform": platform.platform()},
        "versions": {"torch": torch.__version__, "onnxruntime": ort.__version__},
        "model": {"vocab_size": vocab.size, "seq_len": det.seq_len, "hidden": det.hidden, "layers": det.layers,
                  "embed_dim": det.embed_dim, "ensemble": len(det.models_), "source": args.bundle or "synthetic"},
        "windows": int(len(contexts)), "predictions": int(len(reference)),
        "export": {"seconds": conv["seconds"], "files": conv["files"],
                   "max_abs_diff": conv["validation"]["deeplog"]["max_abs_diff"],
                   "verdicts_differ": conv["validation"]["deeplog"]["verdicts_differ"]},
        "train_seconds": round(train_s, 2), "runs": results,
    }
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
