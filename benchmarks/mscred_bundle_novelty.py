"""Who reports a storm of new messages in a `train --mscred` bundle, now that MS-CRED leaves the
``<unseen>`` series out (``unseen="mask"``); prints JSON.

Usage: .venv/bin/python benchmarks/mscred_bundle_novelty.py [--seeds 1] [--workdir DIR] [--out FILE]

Dev data only (never the test log of benchmarks/mscred.py): a bundle trained with ``alog-detect train
--mscred`` on a clean generated log (seed 1, 20,000 lines; DeepLog reduced to ``--ensemble 1
--max-steps 300`` to save time, as ``benchmarks/mscred.py --heldout`` does), then ``alog-detect infer``
on a generated log with injected anomalies (seed 11, anomaly rate 0.02 over burst, error_storm,
reordered and correlation_break: the dev log of benchmarks/mscred_rules.py). Per anomaly kind: its
lines and events, the lines the alerting layer alerts on (``line_alerts.parquet``, ``is_alert``), the
events with at least one alerted line, and the windows MS-CRED flags among the windows holding that
kind; plus the alerted normal lines (false alerts). The baseline's and MS-CRED's flagged windows come
from ``inference_summary.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from report_json import emit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
KINDS = "burst,error_storm,reordered,correlation_break"


def _cli(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "anomaly_log_detector", *args], capture_output=True, text=True,
                          check=False, cwd=REPO)
    if proc.returncode not in (0, 1):  # infer: 1 = anomalies reported
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")


def run(work: Path, seed: int) -> dict:
    from anomaly_log_detector.synth import generate_synthetic_log

    work.mkdir(parents=True, exist_ok=True)
    train, dev = work / "train.log", work / "dev.log"
    if not train.exists():
        generate_synthetic_log(str(train), 20_000, 0.0, seed=1)
        generate_synthetic_log(str(dev), 20_000, 0.02, seed=11, anomaly_types=KINDS)
    model, out = work / f"model-seed{seed}", work / f"infer-seed{seed}"
    start = time.perf_counter()
    _cli("train", "--input", str(train), "--model-dir", str(model), "--overwrite", "--mscred", "--seed", str(seed),
         "--threads", "1", "--quiet", "--ensemble", "1", "--max-steps", "300")
    train_s = time.perf_counter() - start
    _cli("infer", "--model-dir", str(model), "--input", str(dev), "--out-dir", str(out), "--threads", "1", "--quiet")
    labels = pd.read_parquet(work / "dev.log.labels.parquet")
    alerts = pd.read_parquet(out / "line_alerts.parquet")
    alerted = set(alerts.loc[alerts["is_alert"], "line_no"].astype(int))
    windows = pd.read_parquet(out / "mscred_infer.parquet")
    kinds = labels["anomaly_type"].fillna("").to_numpy(dtype=object)
    per_kind = {}
    for kind in KINDS.split(","):
        sel = labels[labels["anomaly_type"] == kind]
        events = sel.groupby("anomaly_event")["line_no"].apply(list)
        holds = np.array([(kinds[a - 1:b] == kind).any() for a, b in zip(windows["start_line"], windows["end_line"])])
        per_kind[kind] = {"lines": len(sel), "alerted_lines": int(sel["line_no"].isin(alerted).sum()),
                          "events": len(events),
                          "events_with_an_alerted_line": int(sum(any(l in alerted for l in v) for v in events)),
                          "windows": int(holds.sum()), "mscred_flagged_windows": int(windows["is_anomaly"][holds].sum())}
    normal = labels.loc[~labels["is_anomaly"], "line_no"].astype(int)
    summary = json.loads((out / "inference_summary.json").read_text())["detect"]
    return {"kinds": per_kind, "normal_lines": len(normal), "alerted_normal_lines": int(normal.isin(alerted).sum()),
            "mscred_flagged_windows": int(summary["mscred"]["flagged_windows"]),
            "baseline_flagged_windows": int(summary["baseline"]["flagged_windows"]),
            "windows": int(summary["mscred"]["windows"]), "train_s": round(train_s, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="1")
    ap.add_argument("--workdir", default="/tmp/alog-mscred-novelty")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    start = time.perf_counter()
    report = {"runs": {s: run(Path(args.workdir), int(s)) for s in args.seeds.split(",")},
              "seconds": round(time.perf_counter() - start, 1)}
    emit(report, args.out)


if __name__ == "__main__":
    main()
