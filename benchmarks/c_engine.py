"""Lines/s of the C engine (hybrid_system/inference) against `alog-detect infer` on the same generated
log, plus the engine's start-up time and both peak RSS. Prints JSON.

    python benchmarks/c_engine.py [--lines 1000000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENGINE = REPO / "hybrid_system" / "inference" / "build" / "alog-engine"


def timed(cmd: list[str], **kw) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (KiB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, **kw)
    wall = time.perf_counter() - t
    return wall, max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before), proc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    subprocess.run(["make", "-s", "-C", str(ENGINE.parent.parent), "all"], check=True)
    cli = [sys.executable, "-m", "anomaly_log_detector"]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        subprocess.run([*cli, "gen-synth", "--out", str(d / "normal.log"), "--lines", "20000", "--anomaly-rate", "0"],
                       check=True, capture_output=True)
        subprocess.run([*cli, "gen-synth", "--out", str(d / "target.log"), "--lines", str(a.lines), "--seed", "7"],
                       check=True, capture_output=True)
        subprocess.run([*cli, "hybrid-pipeline", "--log-file", str(d / "normal.log"), "--models-dir", str(d / "m"),
                        "--auto-deploy", "--quiet"], check=True, capture_output=True)
        bundle = str(d / "m" / "deployment")
        start, _, _ = timed([str(ENGINE), "--bundle", bundle], stdin=subprocess.DEVNULL)
        c_wall, c_rss, proc = timed([str(ENGINE), "--bundle", bundle, "--threads", str(a.threads), "--stats",
                                     str(d / "target.log")])
        stats = json.loads(proc.stderr.decode().strip().splitlines()[-1])
        # ru_maxrss of children is the maximum over all children so far: run Python last.
        p_wall, p_rss, _ = timed([*cli, "infer", "--model-dir", str(d / "m" / "deployment"), "--input",
                                  str(d / "target.log"), "--out-dir", str(d / "out"), "--quiet"])
        print(json.dumps({
            "lines": a.lines, "threads": a.threads,
            "c_engine": {"seconds": round(c_wall, 3), "lines_per_s": round(a.lines / c_wall), "startup_s": round(start, 3),
                         "peak_rss_mib": round(c_rss / 1024, 1), "stats": stats},
            "python_infer": {"seconds": round(p_wall, 3), "lines_per_s": round(a.lines / p_wall),
                             "peak_rss_mib_max_of_children": round(p_rss / 1024, 1)},
            "speedup": round(p_wall / c_wall, 2),
        }, indent=1))


if __name__ == "__main__":
    main()
