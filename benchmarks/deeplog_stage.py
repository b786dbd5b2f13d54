"""Peak RSS and wall time of DeepLog's step of `infer` alone (`_run_deeplog`: sequences, scoring, the
per-window tables, the Enhanced alerts), for one or more code trees, alternating; prints JSON.

    .venv/bin/python -P benchmarks/deeplog_stage.py --model MODEL_DIR --processed DIR [--code DIR ...] [--repeat N]

``--processed``: an `infer` output folder (its `parsed.parquet` is copied into a scratch folder per
run). Each run is a fresh process importing the package from its tree (PYTHONPATH): it loads the
bundle and reads the detectors' lines (not measured), hands the heap back, then samples its RSS every
20 ms while `_run_deeplog` runs. Reported per run: the RSS when the step started, its peak, the
step's wall time and the load average; per tree the medians; with two trees, the ratios last/first
of the medians. Trees alternate (A B A B ...) so that a change of machine load falls on both.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from code_trees import STAGE_CHILD_HEAD, last_over_first, run_stage, stage_args, tree_medians


_CHILD = STAGE_CHILD_HEAD + r"""
t0 = time.perf_counter()
out = {}
detect._run_deeplog(Path(work), lines, model, out)
wall = time.perf_counter() - t0
done.set()
print(json.dumps({"package": os.path.dirname(anomaly_log_detector.__file__), "start_rss_mib": round(start_rss, 1),
                  "peak_rss_mib": round(max(peak[0], rss()), 1), "wall_s": round(wall, 2), "deeplog": out["deeplog"]}))
"""


def main() -> None:
    args = stage_args(__doc__.splitlines()[0], "a trained bundle")
    codes, runs = run_stage(args, _CHILD, Path(tempfile.mkdtemp(prefix="alog-deeplog-stage-")) / "run")
    trees = tree_medians(codes, runs, ["peak_rss_mib", "wall_s", "start_rss_mib"])
    result: dict = {"runs": runs, "trees": trees}
    if len(trees) >= 2:
        result["ratios_last_over_first"] = last_over_first(trees, {"peak_rss": "peak_rss_mib", "wall": "wall_s"})
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
