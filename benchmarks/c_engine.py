"""Lines/s of the C engine (hybrid_system/inference) against `alog-detect infer` on the same generated
log, plus the engine's start-up time and both peak RSS. Prints JSON.

    python benchmarks/c_engine.py [--lines 1000000] [--threads 1] [--bundle DIR --log FILE]

Without --bundle it generates the log (gen-synth --seed 7) and trains a default bundle on 20,000 normal
lines (hybrid-pipeline --auto-deploy); --bundle reuses an exported bundle and --log an existing log.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENGINE = REPO / "hybrid_system" / "inference" / "build" / "alog-engine"


def timed(cmd: list[str], stdin=None) -> tuple[float, int, subprocess.CompletedProcess]:
    """Wall seconds and peak RSS (KiB) of this one child (os.wait4: its own rusage, not the maximum
    over every child so far)."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdin=stdin, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, usage.ru_maxrss, subprocess.CompletedProcess(cmd, p.returncode, out.read(), err.read())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bundle", help="an exported bundle (deployment folder) instead of training one")
    ap.add_argument("--log", help="the log to score instead of generating --lines lines")
    a = ap.parse_args()
    subprocess.run(["make", "-s", "-C", str(ENGINE.parent.parent), "all"], check=True)
    cli = [sys.executable, "-m", "anomaly_log_detector"]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        target = Path(a.log) if a.log else d / "target.log"
        if not a.log:
            subprocess.run([*cli, "gen-synth", "--out", str(target), "--lines", str(a.lines), "--seed", "7"],
                           check=True, capture_output=True)
        with open(target, "rb") as f:
            a.lines = sum(1 for _ in f)
        if a.bundle:
            bundle = a.bundle
        else:
            subprocess.run([*cli, "gen-synth", "--out", str(d / "normal.log"), "--lines", "20000",
                            "--anomaly-rate", "0"], check=True, capture_output=True)
            subprocess.run([*cli, "hybrid-pipeline", "--log-file", str(d / "normal.log"), "--models-dir",
                            str(d / "m"), "--auto-deploy", "--quiet"], check=True, capture_output=True)
            bundle = str(d / "m" / "deployment")
        # start-up: load + verify the bundle (sizes, sha256) + ORT session, on empty input
        start, start_rss, _ = timed([str(ENGINE), "--bundle", bundle], stdin=subprocess.DEVNULL)
        c_wall, c_rss, proc = timed([str(ENGINE), "--bundle", bundle, "--threads", str(a.threads), "--stats",
                                     str(target)])
        stats = json.loads(proc.stderr.decode().strip().splitlines()[-1])
        p_wall, p_rss, pproc = timed([*cli, "infer", "--model-dir", bundle, "--input", str(target), "--out-dir", str(d / "out"), "--quiet"])
        summary = d / "out" / "deeplog_summary.json"
        print(json.dumps({
            "lines": a.lines, "threads": a.threads, "exit_status": {"c_engine": proc.returncode,
                                                                   "python_infer": pproc.returncode},
            "c_engine": {"seconds": round(c_wall, 3), "lines_per_s": round(a.lines / c_wall), "startup_s": round(start, 3),
                         "startup_rss_mib": round(start_rss / 1024, 1),
                         "peak_rss_mib": round(c_rss / 1024, 1), "stats": stats},
            "python_infer": {"seconds": round(p_wall, 3), "lines_per_s": round(a.lines / p_wall),
                             "peak_rss_mib": round(p_rss / 1024, 1)},
            "speedup": round(p_wall / c_wall, 2), "target_3x_met": p_wall / c_wall >= 3,
            # both apply infer's alert rules: the engine prints one line per alert
            "alerts": {"c_engine": len(proc.stdout.splitlines()),
                       "python_infer": json.loads(summary.read_text())["alerts"] if summary.exists() else None},
        }, indent=1))


if __name__ == "__main__":
    main()
