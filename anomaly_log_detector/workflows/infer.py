"""`alog-detect infer`: a bundle and a target log in, results and a report out, and an exit status.

1. Open and verify the bundle (checksums, schema version; nothing in it is executed).
2. Parse the target with the bundle's templates frozen, its masking rules and its log format: lines no
   training template matches become `<UNSEEN>` (novelty), never new templates.
3. Run every detector of the bundle (:mod:`.detect`).
4. Write the result table (`anomalies.jsonl`, `anomalies.parquet`), `inference_report.md` (+ `.json`)
   and the log samples analysis (`log_samples_analysis/`).

Exit status (from the CLI): 0 = no anomaly, 1 = anomalies found, 2 = error.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

from anomaly_log_detector.api import parse_logs
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.parsing.sources import skipped_note
from anomaly_log_detector.reports.inputs import ANOMALIES_JSONL
from anomaly_log_detector.workflows.detect import run_detectors
from anomaly_log_detector.workflows.fit_check import fit_warning, sample_lines, target_fit
from anomaly_log_detector.workflows.model import TrainedModel, load_bundle

INFERENCE_REPORT = "inference_report.md"
INFERENCE_REPORT_JSON = "inference_report.json"
INFERENCE_SUMMARY = "inference_summary.json"
NO_ANOMALY, ANOMALIES_FOUND = 0, 1


def parse_target(model: TrainedModel, paths: list[str], out_dir: Path, quiet: bool = True,
                 year: int | None = None, tz: str | None = None) -> dict:
    """Parse `paths` into `out_dir` as the model's training parse did, with its templates frozen.
    `tz` defaults to the training's zone (the same machines); the year to each file's own."""
    with tempfile.TemporaryDirectory(prefix="alog-model-") as tmp:
        state, rules = model.write_parse_inputs(Path(tmp))
        p = model.parser
        summary = parse_logs(paths, str(out_dir), drain_state=str(state), rules=str(rules), format=p["format"],
                             log_format=p.get("log_format"), session_regex=p.get("session_regex"), frozen=True,
                             year=year, tz=tz or p.get("tz"), quiet=quiet)
    note = skipped_note(summary)
    if note:  # loud even with --quiet, like parse
        print(note, file=sys.stderr, flush=True)
    if summary["lines_parsed"] == 0:
        raise DataError(f"no log lines to analyse in {', '.join(paths)} ({summary['lines_read']:,} lines read)")
    return summary


def report(out_dir: Path, top: int = 20, lang: str = "en", warnings: list[str] | None = None,
           gap: float = 60.0) -> dict[str, Any]:
    """The report under its inference names plus the samples analysis; returns the report's summary.
    Records are incidents cut at `gap` seconds of quiet (the bundle's setting)."""
    from anomaly_log_detector.reports.markdown import REPORT_JSON, REPORT_MD, write_report

    write_report(out_dir, top=top, with_samples=True, lang=lang, warnings=warnings, gap=gap)
    os.replace(out_dir / REPORT_MD, out_dir / INFERENCE_REPORT)
    os.replace(out_dir / REPORT_JSON, out_dir / INFERENCE_REPORT_JSON)
    return json.loads((out_dir / INFERENCE_REPORT_JSON).read_text(encoding="utf-8"))["summary"]


def infer_logs(model_dir: str | os.PathLike, inputs: str | Iterable[str], out_dir: str | os.PathLike, *,
               top: int = 20, lang: str = "en", quiet: bool = True,
               model: TrainedModel | None = None, year: int | None = None, tz: str | None = None) -> dict[str, Any]:
    """Run a bundle over target logs into `out_dir`; return a summary whose `exit_status` is 0 (no
    anomaly) or 1 (anomalies found). `model` skips loading when the caller already has the bundle."""
    paths = [inputs] if isinstance(inputs, str) else [str(p) for p in inputs]
    started = time.perf_counter()
    model = model or load_bundle(model_dir)
    loaded = time.perf_counter()
    out = Path(out_dir)
    if model.dir is not None and out.resolve() == model.dir.resolve():
        raise DataError(f"{out_dir}: write results to another folder than the bundle (it would no longer verify)")
    out.mkdir(parents=True, exist_ok=True)
    parsed = parse_target(model, paths, out, quiet, year, tz)
    fit = target_fit(parsed, model.metadata, sample=sample_lines(out), lang=lang)
    warning = fit_warning(fit, lang)
    if warning:  # loud even with --quiet: the whole result is doubtful
        print(f"WARNING: {warning}", file=sys.stderr, flush=True)
    parsed_at = time.perf_counter()
    detected = run_detectors(out, model)
    detected_at = time.perf_counter()
    summary = report(out, top=top, lang=lang, warnings=[warning] if warning else None,
                     gap=float(model.incidents.get("gap", 60.0)))
    n = summary["anomalies"]
    result = {
        "model_dir": str(model_dir), "inputs": paths, "out_dir": str(out), "lines": parsed["lines_parsed"],
        "lines_skipped": sum(parsed["lines_skipped"].values()), "unseen_lines": parsed["unseen_lines"],
        "anomalies": n, "multi_detector": summary["multi_detector"], "detectors": summary["detectors"], "fit": fit,
        "exit_status": ANOMALIES_FOUND if n else NO_ANOMALY, "detect": detected,
        "seconds": {"load": round(loaded - started, 3), "parse": round(parsed_at - loaded, 3),
                    "detect": round(detected_at - parsed_at, 3), "report": round(time.perf_counter() - detected_at, 3),
                    "total": round(time.perf_counter() - started, 3)},
        "outputs": {"report": str(out / INFERENCE_REPORT), "anomalies": str(out / ANOMALIES_JSONL),
                    "summary": str(out / INFERENCE_SUMMARY)},
    }
    tmp = out / (INFERENCE_SUMMARY + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, out / INFERENCE_SUMMARY)
    return result
