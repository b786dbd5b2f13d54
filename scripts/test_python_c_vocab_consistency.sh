#!/usr/bin/env bash
# Python and the C engine on the same logs: the same template index for every line, the same sessions
# and the same DeepLog verdicts (misses), and the same alerts (`infer`'s deeplog_alerts.parquet against
# the engine's default output: entity, type, source, line / row / time range, rows, counts, templates,
# expected templates, score). Logs: a gen-synth log (always) and, without --quick, the Loghub 2k OpenSSH
# and Linux logs from ../shared/data when present (corrected/ copies, else original/; trained on their
# first half, judged on the whole file).
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
    set +e; "$engine" --bundle "$d/m/deployment" --all "$3" > "$d/c.jsonl"; local rc=$?
    "$engine" --bundle "$d/m/deployment" "$3" > "$d/c_alerts.jsonl"; local rc2=$?; set -e
    [[ $rc -le 1 && $rc2 -le 1 ]] || { echo "FAIL $name: engine exit $rc / $rc2"; return 1; }
    "$py" - "$name" "$d/py" "$d/c.jsonl" "$d/c_alerts.jsonl" <<'PY'
import json, sys
import numpy as np, pandas as pd
name, py_dir, c_file, c_alerts = sys.argv[1:]
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
# The alerts: Python's rows in alert_id order against the engine's lines, field by field.
pa = pd.read_parquet(f"{py_dir}/deeplog_alerts.parquet")
ca = [json.loads(x) for x in open(c_alerts)]
def t(x):
    return None if x is None or pd.isna(x) else pd.Timestamp(x).tz_convert("UTC").isoformat()
fields = {"entity": str, "type": str, "source": str, "first_time": t, "last_time": t, "first_line": int,
          "last_line": int, "first_order": int, "last_order": int, "failed_count": int, "suppressed_count": int,
          "rows": list, "line_nos": list, "templates": list, "expected_templates": list}
diff = {}
for i in range(max(len(pa), len(ca))):
    if i >= len(pa) or i >= len(ca):
        diff["missing"] = diff.get("missing", 0) + 1
        continue
    p, c = pa.iloc[i], ca[i]
    for f, conv in fields.items():
        pv = conv(p[f]) if conv is not list else [x if isinstance(x, str) else int(x) for x in p[f]]
        cv = conv(c[f]) if conv is not list else c[f]
        if pv != cv:
            diff[f] = diff.get(f, 0) + 1
            if diff[f] <= 2:
                print("  alert", i, f, "python", repr(pv)[:200], "c", repr(cv)[:200], file=sys.stderr)
    ps, cs = float(p["score"]), c["score"]
    if not (np.isnan(ps) and cs is None) and (cs is None or abs(ps - cs) > 1e-4):
        diff["score"] = diff.get("score", 0) + 1
r.update({"python_alerts": len(pa), "c_alerts_rules": len(ca),
          "alerts_by_type": pa["type"].value_counts().to_dict() if len(pa) else {},
          "suppressed": int(pa["suppressed_count"].sum()) if len(pa) else 0, "alert_differs": diff})
ok = ok and not diff and len(pa) == len(ca)
print(("PASS" if ok else "FAIL"), name, json.dumps(r))
sys.exit(0 if ok else 1)
PY
}

"$py" -m anomaly_log_detector gen-synth --out "$work/normal.log" --lines 3000 --anomaly-rate 0 --seed 3 >/dev/null
"$py" -m anomaly_log_detector gen-synth --out "$work/target.log" --lines 2000 --anomaly-rate 0.05 --seed 4 >/dev/null
status=0
check gen-synth "$work/normal.log" "$work/target.log" || status=1
# Sequence alerts: a target with reordered runs, bursts and broken correlations only (no unseen
# template), so the misses are of known templates, not only novel ones.
"$py" -m anomaly_log_detector gen-synth --out "$work/reordered.log" --lines 2000 --anomaly-rate 0.2 --seed 5 \
    --anomaly-types reordered,burst,correlation_break >/dev/null
check gen-synth-reordered "$work/normal.log" "$work/reordered.log" || status=1
if [[ $quick == 0 ]]; then
    for sys in OpenSSH Linux; do
        log="$here/../shared/data/loghub_2k/$sys/corrected/${sys}_2k.log"
        [[ -f "$log" ]] || log="$here/../shared/data/loghub_2k/$sys/original/${sys}_2k.log"
        [[ -f "$log" ]] || { echo "SKIP $sys: no ${sys}_2k.log under ../shared/data/loghub_2k/$sys"; continue; }
        head -n 1000 "$log" > "$work/$sys.train.log"
        check "$sys" "$work/$sys.train.log" "$log" || status=1
    done
fi
exit $status
