"""Choosing MS-CRED's default decision rule on held-out NORMAL windows only (dev data); prints JSON.

Usage: .venv/bin/python benchmarks/mscred_rules.py [--systems BGL,Linux,...] [--seeds 1,2] [--jobs 2]
       [--workdir DIR] [--max-steps 100] [--top-k 32] [--out FILE]

No test label is read. For each Loghub 2k system (BGL: its normal lines only) the first 80 % of the
lines are the training log and the last 20 % the held-out normal log (as ``benchmarks/mscred.py
--heldout``, but MS-CRED alone, through the library, without a DeepLog to train); for ``gen-synth`` the
training log is a clean generated log (seed 1, 20,000 lines) and the held-out normal log a clean log of
another seed (3, 20,000 lines), and a third log (seed 11, anomaly rate 0.02) shows which injected kinds
each rule still catches (a sanity check on dev data, never the benchmark's test log of seed 7).

MS-CRED is trained as ``train --mscred`` does by default (``top_k`` 32, ``max_steps`` 100, 50-line
windows at stride 25); each candidate threshold is computed from the model's stored training scores
only (the last 20 % of its training windows, held out from fitting), then applied to every window of
the held-out normal log: every flagged window there is a false alarm. Every candidate is computed for
each treatment of the ``<unseen>`` series (``MSCREDDetector.unseen``: each, mask, once, none) on the
same trained network (the stored scores and thresholds recomputed by ``recalibrate``), reported as
``unseen=U RULE``. Each candidate is reported alone
(what ``mscred-train`` ships) and "covered" (raised above every window of the training log, what a
``train`` bundle ships).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from report_json import emit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LOGHUB = REPO.parent / "shared" / "data" / "loghub_2k"
SYSTEMS = "BGL,Linux,OpenSSH,Zookeeper,Spark,HDFS,Apache,Hadoop,gen-synth"
KINDS = "burst,error_storm,reordered,correlation_break"


def candidates(train_scores: np.ndarray, heldout: np.ndarray, percentile: float) -> dict[str, float]:
    """Every candidate threshold, from the model's stored scores only."""
    ref = heldout if len(heldout) else train_scores
    out = {"percentile_95": percentile, "quantile_0.95": float(np.quantile(ref, 0.95)),
           "quantile_0.99": float(np.quantile(ref, 0.99)), "max": float(ref.max())}
    for m in (0.25, 0.5, 1.0, 2.0):
        out[f"max_x{1 + m:g}"] = float(ref.max()) * (1 + m)
    return out


def prepare(work: Path, system: str) -> Path:
    from anomaly_log_detector.api import parse_logs
    from anomaly_log_detector.builders.mscred import build_mscred_inputs
    from anomaly_log_detector.synth import generate_synthetic_log

    d = work / system
    if (d / "heldout" / "window_counts.parquet").exists():
        return d
    d.mkdir(parents=True, exist_ok=True)
    fmt = "auto"
    if system == "gen-synth":
        generate_synthetic_log(str(d / "train.log"), 20_000, 0.0, seed=1)
        generate_synthetic_log(str(d / "heldout.log"), 20_000, 0.0, seed=3)
        generate_synthetic_log(str(d / "dev.log"), 20_000, 0.02, seed=11, anomaly_types=KINDS)
    else:
        lines = (LOGHUB / system / "corrected" / f"{system}_2k.log").read_text(errors="replace").splitlines()
        if system == "BGL":
            lines, fmt = [l for l in lines if l.startswith("- ")], "bgl"
        cut = int(len(lines) * 0.8)
        (d / "train.log").write_text("\n".join(lines[:cut]) + "\n")
        (d / "heldout.log").write_text("\n".join(lines[cut:]) + "\n")
    parse_logs(str(d / "train.log"), str(d / "train"), drain_state=str(d / "state.json"), format=fmt)
    build_mscred_inputs(d / "train" / "parsed.parquet", d / "train", window_size=50, stride=25)
    for part in ("heldout", "dev"):
        if (d / f"{part}.log").exists():
            parse_logs(str(d / f"{part}.log"), str(d / part), drain_state=str(d / "state.json"), format=fmt,
                       frozen=True)
            build_mscred_inputs(d / part / "parsed.parquet", d / part, window_size=50, stride=25,
                                vocab_path=d / "train" / "vocab.json")
    return d


def child(work: Path, system: str, seed: int, max_steps: int, top_k: int) -> dict:
    import pandas as pd
    import torch

    from anomaly_log_detector.builders.mscred import read_window_counts
    from anomaly_log_detector.builders.vocab import Vocab
    from anomaly_log_detector.detectors.mscred import UNSEEN_COUNTS
    from anomaly_log_detector.detectors.mscred_files import infer_mscred, train_mscred

    torch.set_num_threads(1)
    d = prepare(work, system)
    vocab = Vocab.load(d / "train" / "vocab.json")
    train = read_window_counts(d / "train" / "window_counts.parquet")
    start = time.perf_counter()
    det = train_mscred(train, vocab, top_k=top_k, max_steps=max_steps, window_size=50, seed=seed, unseen="each")
    train_s = time.perf_counter() - start
    out = {"train_windows": len(train), "train_s": round(train_s, 1), "rules": {}, "thresholds": {},
           "heldout_top_scores": {}, "dev_recall": {}}
    held_counts = read_window_counts(d / "heldout" / "window_counts.parquet")
    dev_counts = (read_window_counts(d / "dev" / "window_counts.parquet")
                  if (d / "dev" / "window_counts.parquet").exists() else None)
    # Each way of counting the <unseen> entries, on the same trained network: the stored training
    # scores and thresholds are recomputed for it from the training counts (MSCREDDetector.recalibrate).
    for unseen in UNSEEN_COUNTS:
        det.unseen = unseen
        det.recalibrate(train)
        cands = candidates(det.train_scores_, det.heldout_scores_, det.thresholds_["percentile"])
        cover = float(infer_mscred(det, train, vocab, keep="none").table["score"].max())
        out["heldout_calibration_windows"] = len(det.heldout_scores_)
        out["thresholds"][unseen] = {**cands, "cover": cover}
        scores = infer_mscred(det, held_counts, vocab, keep="none").table["score"].to_numpy(float)
        out["heldout_windows"] = len(scores)
        out["heldout_top_scores"][unseen] = sorted(np.round(scores, 2).tolist())[-5:]
        for name, thr in cands.items():
            out["rules"][f"unseen={unseen} {name}"] = {"alone": int((scores > thr).sum()),
                                                        "covered": int((scores > max(thr, cover)).sum())}
        if dev_counts is not None:
            dev = infer_mscred(det, dev_counts, vocab, keep="none").table
            labels = pd.read_parquet(d / "dev.log.labels.parquet")
            kinds = labels["anomaly_type"].fillna("").to_numpy(dtype=object)
            s = dev["score"].to_numpy(float)
            spans = list(zip(dev["start_line"].astype(int), dev["end_line"].astype(int)))
            per_kind = {k: np.array([(kinds[a - 1:b] == k).any() for a, b in spans])
                        for k in sorted(set(kinds) - {""})}
            for name, thr in cands.items():
                out["dev_recall"][f"unseen={unseen} {name}"] = {
                    k: round(float((s[m] > max(thr, cover)).mean()), 3) for k, m in per_kind.items()}
            out["dev_windows"] = {k: int(m.sum()) for k, m in per_kind.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", default=SYSTEMS)
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--workdir", default="/tmp/alog-mscred-rules")
    ap.add_argument("--max-steps", type=int, default=100)
    ap.add_argument("--top-k", type=int, default=32)
    ap.add_argument("--out", default=None)
    ap.add_argument("--child", default=None)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    work = Path(args.workdir)
    if args.child:
        print(json.dumps(child(work, args.child, args.seed, args.max_steps, args.top_k)))
        return
    from concurrent.futures import ThreadPoolExecutor

    work.mkdir(parents=True, exist_ok=True)
    systems, seeds = args.systems.split(","), [int(s) for s in args.seeds.split(",")]
    for s in systems:  # data once, before the children run in parallel
        prepare(work, s)

    def run(system: str, seed: int) -> dict:
        cmd = [sys.executable, __file__, "--child", system, "--seed", str(seed), "--workdir", str(work),
               "--max-steps", str(args.max_steps), "--top-k", str(args.top_k)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(f"{system} seed {seed} failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout)

    start = time.perf_counter()
    with ThreadPoolExecutor(max(1, args.jobs)) as pool:
        futures = {(s, seed): pool.submit(run, s, seed) for s in systems for seed in seeds}
        runs = {k: f.result() for k, f in futures.items()}
    rules = list(next(iter(runs.values()))["rules"])
    summary = {}
    for mode in ("alone", "covered"):
        for r in rules:
            flagged = sum(runs[k]["rules"][r][mode] for k in runs)
            windows = sum(runs[k]["heldout_windows"] for k in runs)
            loghub = [k for k in runs if k[0] != "gen-synth"]
            per_seed = [sum(runs[(s, seed)]["rules"][r][mode] for s in systems if s != "gen-synth")
                        / max(1, sum(runs[(s, seed)]["heldout_windows"] for s in systems if s != "gen-synth"))
                        for seed in seeds]
            summary[f"{r} ({mode})"] = {
                "false_alarm_rate_all": round(flagged / windows, 4),
                "false_alarm_rate_loghub": round(sum(runs[k]["rules"][r][mode] for k in loghub)
                                                 / max(1, sum(runs[k]["heldout_windows"] for k in loghub)), 4),
                "loghub_per_seed": [round(x, 4) for x in per_seed],
                "systems_with_alarm": sorted({k[0] for k in runs if runs[k]["rules"][r][mode]})}
    report = {"settings": {"systems": systems, "seeds": seeds, "max_steps": args.max_steps, "top_k": args.top_k},
              "summary": summary, "runs": {f"{s}/{seed}": runs[(s, seed)] for s, seed in runs},
              "seconds": round(time.perf_counter() - start, 1)}
    emit(report, args.out)


if __name__ == "__main__":
    main()
