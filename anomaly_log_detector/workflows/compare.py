"""`alog-detect compare` and `bundle-info`: the key facts of bundles, side by side.

Facts come from each bundle's metadata (templates, vocabulary, losses, thresholds, held-out false
alarms, quality score). With a test log both bundles run over it (full inference each), and the table
adds their anomaly counts, flagged lines per detector, and how many flagged lines they share.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from anomaly_log_detector.reports.escape import terminal_safe
from anomaly_log_detector.reports.inputs import ANOMALIES_JSONL
from anomaly_log_detector.workflows.infer import infer_logs
from anomaly_log_detector.workflows.paths import check_out_dir
from anomaly_log_detector.workflows.model import TrainedModel, load_bundle
from anomaly_log_detector.workflows.validate import quality

COMPARE_JSON = "compare.json"


def model_facts(model: TrainedModel) -> dict[str, Any]:
    """Label -> value of a loaded bundle (what `bundle-info` prints and `compare` puts side by side)."""
    meta = model.metadata
    t, h = meta["training"], meta.get("holdout")
    losses = meta["losses"].get("deeplog") or []
    facts: dict[str, Any] = {
        "created (UTC)": meta.get("created_utc"),
        "alog-detect / torch": f"{meta['environment'].get('alog_detect')} / {meta['environment'].get('torch')}",
        "log format": meta.get("log_format"),
        "training inputs": f"{len(meta.get('inputs', []))} file(s), {t['lines_parsed']:,} lines",
        "trained on / held out": f"{t['train_lines']:,} / {t['holdout_lines']:,} lines",
        "templates": meta["templates"],
        "vocab size": meta["vocab_size"],
        "deeplog epochs": len(losses),
        "deeplog loss first -> last": f"{losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "-",
        "deeplog converged": t.get("deeplog", {}).get("converged", "-"),
        "deeplog miss threshold": (f"surprise > {meta['thresholds']['deeplog']:.2f}"
                                   if meta["thresholds"].get("deeplog") is not None else "-"),
        "baseline threshold": round(meta["thresholds"]["baseline"], 4),
        "held-out false alarms": f"{h['false_alarm_rate']:.2%} of {h['lines']:,} lines" if h else "-",
        "quality score": quality(model, h, "held-out tail")["score"] if h else "-",
    }
    mscred = t.get("mscred") or {}
    if model.mscred is not None:
        facts["mscred windows / steps"] = f"{mscred.get('windows', 0):,} / {mscred.get('steps', 0):,}"
        facts["mscred loss first -> last"] = (f"{model.mscred.history_[0]:.4f} -> {model.mscred.history_[-1]:.4f}"
                                              if model.mscred.history_ else "-")
        facts["mscred threshold"] = round(model.mscred.threshold_, 4)
    else:
        facts["mscred"] = f"not trained ({mscred['skipped']})" if mscred.get("skipped") else "not in the bundle"
    if "incremental" in meta:
        facts["continued from"] = meta["incremental"]["from"]
    return facts


def _flagged_lines(out_dir: Path) -> set[tuple[str, int]]:
    with open(out_dir / ANOMALIES_JSONL, encoding="utf-8") as f:
        return {(r["source"], n) for r in map(json.loads, f) for n in r["line_nos"]}


def _run_both(a: TrainedModel, b: TrainedModel, test_log: str, out: Path, quiet: bool) -> dict[str, dict[str, Any]]:
    runs = {"A": infer_logs(a.dir, test_log, out / "A", quiet=quiet, model=a),
            "B": infer_logs(b.dir, test_log, out / "B", quiet=quiet, model=b)}
    lines = {k: _flagged_lines(out / k) for k in runs}
    rows: dict[str, dict[str, Any]] = {
        "test: anomalies (records)": {k: r["anomalies"] for k, r in runs.items()},
        "test: unseen lines": {k: r["unseen_lines"] for k, r in runs.items()},
        "test: flagged lines": {k: len(v) for k, v in lines.items()},
        "test: flagged by both": {k: len(lines["A"] & lines["B"]) for k in runs},
    }
    for det in ("novelty", "deeplog", "baseline", "mscred"):
        rows[f"test: {det} lines"] = {k: r["detectors"].get(det, {}).get("lines", "-") for k, r in runs.items()}
    rows["test: seconds"] = {k: r["seconds"]["total"] for k, r in runs.items()}
    return rows


def compare_models(model_a: str | os.PathLike, model_b: str | os.PathLike, test_log: str | None = None,
                   out_dir: str | os.PathLike | None = None, quiet: bool = True) -> dict[str, Any]:
    """Side-by-side facts of two bundles, plus their results on `test_log` when given (inference
    outputs under `out_dir/A` and `out_dir/B`, or a temporary folder). With `out_dir` the result is
    also written to `out_dir/compare.json` (its path under `output`)."""
    if out_dir is not None:
        for model_dir in (model_a, model_b):
            check_out_dir(out_dir, [test_log] if test_log else [], model_dir=model_dir)
    a, b = load_bundle(model_a), load_bundle(model_b)
    fa, fb = model_facts(a), model_facts(b)
    rows = {label: {"A": fa.get(label, "-"), "B": fb.get(label, "-")} for label in {**fa, **fb}}
    if test_log is not None:
        if out_dir is not None:
            rows.update(_run_both(a, b, test_log, Path(out_dir), quiet))
        else:
            with tempfile.TemporaryDirectory(prefix="alog-compare-") as tmp:
                rows.update(_run_both(a, b, test_log, Path(tmp), quiet))
    result: dict[str, Any] = {"A": str(model_a), "B": str(model_b), "test_log": test_log, "rows": rows}
    if out_dir is not None:
        path = Path(out_dir) / COMPARE_JSON
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        result["output"] = str(path)
    return result


def format_columns(columns: dict[str, str], rows: dict[str, dict[str, Any]]) -> str:
    """A plain-text table: one row per label, one column per key of `columns` (key -> heading). Cells
    are terminal-safe (paths and formats may hold control characters: reports/escape.py)."""
    cells = [[terminal_safe(c) for c in row] for row in
             [["", *columns.values()]] + [[label, *(str(v.get(k, "-")) for k in columns)] for label, v in rows.items()]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])
