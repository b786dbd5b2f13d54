"""CPU seconds, wall time and peak RSS of the flows step of `alog-detect infer` alone (`_run_flows`:
the identifier tokens, the flows, the flags), for one or more code trees, alternating; prints JSON.

    .venv/bin/python benchmarks/flows_stage.py --model MODEL_DIR --processed DIR [--code DIR ...] [--repeat N]

``--processed``: an `infer` output folder (its `parsed.parquet` is copied into a scratch folder per
run). Each run is a fresh process importing the package from its tree (PYTHONPATH): it loads the
bundle and reads the detectors' lines (not measured), then samples its RSS every 20 ms while
`_run_flows` runs. Reported per run: the step's CPU seconds (user + system of the process), wall time,
peak RSS, the load average and a digest of the `flows_infer.parquet` it wrote (equal digests: equal
flags); per tree the medians; with two trees, the ratios last/first of the medians. Trees alternate
(A B A B ...) so that a change of machine load falls on both.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from code_trees import STAGE_CHILD_HEAD, last_over_first, run_stage, stage_args, tree_medians

_CHILD = STAGE_CHILD_HEAD + r"""
import pandas as pd
c0, t0 = time.process_time(), time.perf_counter()
summary = detect._run_flows(Path(work), lines, model)
cpu, wall = time.process_time() - c0, time.perf_counter() - t0
done.set()
flags = pd.read_parquet(Path(work) / detect.FLOWS_INFER)
digest = hashlib.sha256(pd.util.hash_pandas_object(flags.astype(str), index=True).values.tobytes()).hexdigest()[:16]
print(json.dumps({"package": os.path.dirname(anomaly_log_detector.__file__), "cpu_s": round(cpu, 3),
                  "wall_s": round(wall, 3), "peak_rss_mib": round(peak[0], 1), "flags_digest": digest,
                  "flagged_lines": summary["flagged_lines"]}))
"""


def main() -> None:
    args = stage_args(__doc__.splitlines()[0], "a trained bundle (with flows.json)")
    codes, runs = run_stage(args, _CHILD, Path(tempfile.mkdtemp(prefix="alog-flows-stage-")) / "run")
    trees = tree_medians(codes, runs, ["cpu_s", "wall_s", "peak_rss_mib"])
    for tree in trees:
        tree["flags_digests"] = sorted({r["flags_digest"] for r in runs if r["code"] == tree["code"]})
    result: dict = {"runs": runs, "trees": trees}
    if len(trees) >= 2:
        result["same_flags"] = trees[0]["flags_digests"] == trees[-1]["flags_digests"]
        result["ratios_last_over_first"] = last_over_first(trees, {"cpu": "cpu_s", "wall": "wall_s",
                                                                   "peak_rss": "peak_rss_mib"})
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
