"""Peak RSS and wall time of each stage of `alog-detect infer`, for one or more code trees; prints JSON.

    .venv/bin/python benchmarks/infer_stages.py --model MODEL_DIR --target LOG [--code DIR ...] [--out-dir DIR]

For each `--code` tree (default: this checkout; e.g. a `git worktree` of an older commit to compare
against), a fresh process imports the package from that tree (PYTHONPATH), runs `infer_logs` with
the `infer` command's environment (system Arrow pool, passive OpenMP waiting) and samples its RSS
(/proc/self/statm) and its main thread's stack every 20 ms. Each sample is charged to a stage by the
innermost function of the stack that names one (:data:`STAGES`): parse, each detector, each part of
the report. Reported per tree: `peak_rss_mib` (the samples' max; `ru_maxrss` of the process as a
check), each stage's peak RSS and seconds (samples x interval), the wall time; with two trees, the
ratios last/first. Sampling costs a few per cent of the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from code_trees import add_code_option, code_trees, run_child

# (function name, stage): the innermost frame whose function is listed names the stage.
STAGES = {"parse_target": "parse", "read_lines": "detect.read_lines", "score_windows": "detect.baseline",
          "_run_deeplog": "detect.deeplog", "_run_mscred": "detect.mscred", "_run_flows": "detect.flows",
          "components": "detect.alerting", "_with_masked": "detect.alerting", "build_report": "report.results",
          "analyze_samples": "report.samples", "analyze_temporal": "report.temporal",
          "analyze_mscred": "report.mscred", "write_html_report": "report.html", "load_bundle": "load"}

_CHILD = r"""
import json, os, resource, sys, threading, time
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
stages, interval = json.loads(sys.argv[4]), 0.02
page = os.sysconf("SC_PAGE_SIZE") / 2**20
main = threading.main_thread().ident
peak, seconds, done = {}, {}, threading.Event()

def sample():
    with open("/proc/self/statm") as f:
        while not done.wait(interval):
            f.seek(0)
            rss = int(f.read().split()[1]) * page
            frame, stage = sys._current_frames().get(main), "other"
            while frame is not None:
                if frame.f_code.co_name in stages:
                    stage = stages[frame.f_code.co_name]
                    break
                frame = frame.f_back
            peak[stage] = max(peak.get(stage, 0.0), rss)
            seconds[stage] = seconds.get(stage, 0.0) + interval

threading.Thread(target=sample, daemon=True).start()
start = time.perf_counter()
from anomaly_log_detector.workflows.infer import infer_logs
result = infer_logs(sys.argv[1], sys.argv[2], sys.argv[3], quiet=True)
wall = time.perf_counter() - start
done.set()
import anomaly_log_detector
print(json.dumps({"package": os.path.dirname(anomaly_log_detector.__file__), "wall_s": round(wall, 2), "peak_rss_mib": round(max(peak.values()), 1),
                  "ru_maxrss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                  "stage_seconds": result["seconds"],
                  "stages": {k: {"peak_rss_mib": round(peak[k], 1), "sampled_s": round(seconds[k], 2)}
                             for k in sorted(peak, key=lambda k: -peak[k])}}))
"""


def run(code: Path, model: Path, target: Path, out_dir: Path) -> dict:
    return {"code": str(code), **run_child(code, _CHILD, str(model), str(target), str(out_dir), json.dumps(STAGES))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True, help="a trained bundle")
    ap.add_argument("--target", type=Path, required=True, help="the log to analyse")
    add_code_option(ap)
    ap.add_argument("--out-dir", type=Path, help="infer's output folder (default: a temporary one; reused per tree)")
    args = ap.parse_args()
    out_dir = args.out_dir or Path(tempfile.mkdtemp(prefix="alog-stages-")) / "out"
    result: dict = {"load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}
    runs = result["runs"] = [run(c, args.model, args.target, out_dir) for c in code_trees(args)]
    if len(runs) >= 2:
        a, b = runs[0], runs[-1]
        result["ratios_last_over_first"] = {"peak_rss": round(b["peak_rss_mib"] / a["peak_rss_mib"], 3),
                                            "wall": round(b["wall_s"] / a["wall_s"], 3)}
    result["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
