#!/usr/bin/env bash
# Python and the C engine on the same logs: the same template index for every line, the same sessions
# and the same DeepLog verdicts (misses = the engine's alerts). Logs: a gen-synth log (always) and,
# without --quick, the Loghub 2k OpenSSH and Linux logs from ../shared/data when present (trained on
# their first half, judged on the whole file).
# Usage: scripts/test_python_c_vocab_consistency.sh [--quick]      exit 0 = PASS
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="$here/.venv/bin/python"; [[ -x "$py" ]] || py=python3
quick=0; [[ "${1:-}" == "--quick" ]] && quick=1
make -s -C "$here/hybrid_system/inference" all >/dev/null
engine="$here/hybrid_system/inference/build/alog-engine"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
train=(--epochs 2 --max-steps 60 --hidden 16 --layers 1 --embed-dim 8 --quiet --auto-deploy)

check() {  # name train.log target.log
    local name="$1" d="$work/$1"
    mkdir -p "$d"
    "$py" -m anomaly_log_detector hybrid-pipeline --log-file "$2" --models-dir "$d/m" "${train[@]}" >/dev/null
    "$py" -c "from anomaly_log_detector import api; api.infer_logs('$d/m/model', ['$3'], '$d/py')" >/dev/null
    set +e; "$engine" --bundle "$d/m/deployment" --all "$3" > "$d/c.jsonl"; local rc=$?; set -e
    [[ $rc -le 1 ]] || { echo "FAIL $name: engine exit $rc"; return 1; }
    "$py" - "$name" "$d/py" "$d/c.jsonl" <<'PY'
import json, sys
import numpy as np, pandas as pd
name, py_dir, c_file = sys.argv[1:]
w = pd.read_parquet(f"{py_dir}/deeplog_infer.parquet").dropna(subset=["line_no"])
c = pd.DataFrame([json.loads(x) for x in open(c_file)])
m = w.merge(c, left_on="line_no", right_on="line", how="outer", indicator=True, suffixes=("_py", "_c"))
b = m[m["_merge"] == "both"]
r = {"lines": len(c), "unpaired": int((m["_merge"] != "both").sum()),
     "template_differs": int((b["target"] != b["template"]).sum()),
     "session_differs": int((b["session_py"] != b["session_c"]).sum()),
     "verdict_differs": int((b["in_topk"].astype(bool) == b["alert"].astype(bool)).sum()),
     "max_surprise_diff": float(np.abs(b["surprise_py"] - b["surprise_c"]).max()) if len(b) else 0.0,
     "python_misses": int((~w["in_topk"].astype(bool)).sum()), "c_alerts": int(c["alert"].sum()) if len(c) else 0}
ok = (r["unpaired"] == r["template_differs"] == r["session_differs"] == r["verdict_differs"] == 0
      and r["python_misses"] == r["c_alerts"] and r["max_surprise_diff"] <= 1e-4)
print(("PASS" if ok else "FAIL"), name, json.dumps(r))
sys.exit(0 if ok else 1)
PY
}

"$py" -m anomaly_log_detector gen-synth --out "$work/normal.log" --lines 3000 --anomaly-rate 0 --seed 3 >/dev/null
"$py" -m anomaly_log_detector gen-synth --out "$work/target.log" --lines 2000 --anomaly-rate 0.05 --seed 4 >/dev/null
status=0
check gen-synth "$work/normal.log" "$work/target.log" || status=1
if [[ $quick == 0 ]]; then
    for sys in OpenSSH Linux; do
        log="$here/../shared/data/loghub_2k/$sys/original/${sys}_2k.log"
        [[ -f "$log" ]] || { echo "SKIP $sys: $log not present"; continue; }
        head -n 1000 "$log" > "$work/$sys.train.log"
        check "$sys" "$work/$sys.train.log" "$log" || status=1
    done
fi
exit $status
