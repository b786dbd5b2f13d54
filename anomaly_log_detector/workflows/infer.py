"""`alog-detect infer`: a bundle and a target log in, results and a report out, and an exit status.

1. Open and verify the bundle (checksums, schema version; nothing in it is executed).
2. Parse the target with the bundle's templates frozen, its masking rules and its log format: lines no
   training template matches become `<UNSEEN>` (novelty), never new templates.
3. Run every detector of the bundle (:mod:`.detect`).
4. Write the result table (`anomalies.jsonl`, `anomalies.parquet`), `inference_report.md` (+ `.json`)
   and the log samples analysis (`log_samples_analysis/`); when MS-CRED flags a window, its analysis
   (`mscred_analysis/`: top templates, residual heatmaps, raw lines), linked from the report.

Everything is written into a staging folder and moved into the output folder only when the run has
succeeded (:class:`.paths.StagedOutputs`): a failed run leaves the previous results untouched. An
output folder that is, holds or lies inside the bundle or an input is refused first
(:func:`.paths.check_out_dir`). Inputs that could not be read whole (a truncated .gz, an unreadable
file of a folder, skipped files and links) are named on stderr, in a banner at the top of the report
and in `inference_summary.json`.

Exit status (from the CLI): 0 = no anomaly, 1 = anomalies found, 2 = error.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable

from anomaly_log_detector.parsing.run import parse_logs
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.fileio.jsonio import write_json_atomic
from anomaly_log_detector.parsing.pipeline import PREVIEW_FILE
from anomaly_log_detector.parsing.sources import skipped_note
from anomaly_log_detector.reports.escape import terminal_safe
from anomaly_log_detector.reports.inputs import ANOMALIES_JSONL, ANOMALIES_PARQUET, PARSE_SUMMARY, PARSED
from anomaly_log_detector.reports.messages import t
from anomaly_log_detector.workflows.detect import RESULT_FILES, run_detectors
from anomaly_log_detector.workflows.fit_check import fit_warning, sample_lines, target_fit
from anomaly_log_detector.workflows.memory import release_memory
from anomaly_log_detector.workflows.model import TrainedModel, load_bundle
from anomaly_log_detector.workflows.paths import StagedOutputs, check_out_dir
from anomaly_log_detector.workflows.reporting import (MSCRED_ANALYSIS, REPORT_HTML, SAMPLES_DIR,
                                                      TEMPORAL_ANALYSIS)

INFERENCE_REPORT = "inference_report.md"
INFERENCE_REPORT_JSON = "inference_report.json"
INFERENCE_SUMMARY = "inference_summary.json"
#: Every entry an `infer` run writes into its output folder (results of an earlier run that this one
#: does not write, e.g. DeepLog's for a bundle without DeepLog, are removed when the new ones move in).
OUTPUTS = (PARSED, PARSE_SUMMARY, PREVIEW_FILE, *RESULT_FILES, ANOMALIES_JSONL, ANOMALIES_PARQUET, INFERENCE_REPORT,
           INFERENCE_REPORT_JSON, REPORT_HTML, SAMPLES_DIR, TEMPORAL_ANALYSIS, MSCRED_ANALYSIS, INFERENCE_SUMMARY)
NO_ANOMALY, ANOMALIES_FOUND = 0, 1
# Source errors named one by one in the report banner (all of them are in inference_summary.json).
SHOWN_ERRORS = 5

log = logging.getLogger(__name__)


def parse_target(model: TrainedModel, paths: list[str], out_dir: Path, quiet: bool = True,
                 year: int | None = None, tz: str | None = None, *, since: datetime | None = None,
                 until: datetime | None = None) -> dict:
    """Parse `paths` into `out_dir` as the model's training parse did, with its templates frozen.
    `tz` defaults to the training's zone (the same machines); the year to each file's own; `since` /
    `until` keep only the lines of that time range (parse_logs). What was skipped and every source that
    could not be read to the end are named on stderr, even with `quiet`."""
    with tempfile.TemporaryDirectory(prefix="alog-model-") as tmp:
        state, rules = model.write_parse_inputs(Path(tmp))
        p = model.parser
        summary = parse_logs(paths, str(out_dir), drain_state=str(state), rules=str(rules), format=p["format"],
                             log_format=p.get("log_format"), session_regex=p.get("session_regex"), frozen=True,
                             year=year, tz=tz or p.get("tz"), quiet=quiet, since=since, until=until)
    note = skipped_note(summary)
    if note:  # loud even with --quiet, like parse
        print(terminal_safe(note), file=sys.stderr, flush=True)
    errors = summary.get("source_errors") or []
    if summary["lines_parsed"] == 0:
        why = f"; {errors[0]['source']}: {errors[0]['error']}" if errors else ""
        if since is not None or until is not None:
            why += f"; skipped {summary['lines_skipped']} with the time range asked for"
        raise DataError(f"no log lines to analyse in {', '.join(paths)} ({summary['lines_read']:,} lines read{why})")
    for err in errors:  # a truncated .gz or a read error: the lines after it were never seen
        print(terminal_safe(f"WARNING: {err['source']}: {err['error']} (lines before it were analysed)"),
              file=sys.stderr, flush=True)
    return summary


def input_warnings(parsed: dict, lang: str = "en") -> list[str]:
    """Plain sentences for the report banner: sources not read to the end, files and links skipped."""
    out = []
    errors = parsed.get("source_errors") or []
    if errors:
        shown = [f"{e['source']}: {e['error']}" for e in errors[:SHOWN_ERRORS]]
        if len(errors) > SHOWN_ERRORS:
            shown.append(t("warning.more", lang, n=len(errors) - SHOWN_ERRORS, file=INFERENCE_SUMMARY))
        out.append(t("warning.source_errors", lang, n=len({e["source"] for e in errors}), errors="; ".join(shown)))
    note = skipped_note(parsed)
    if note:
        out.append(t("warning.skipped", lang, note=note))
    return out


def report(out_dir: Path, top: int = 20, lang: str = "en", warnings: list[str] | None = None,
           gap: float = 60.0, shown_dir: str | os.PathLike | None = None,
           temporal_baseline: dict | None = None) -> dict[str, Any]:
    """The report under its inference names with every analysis linked (workflows/reporting.py):
    log samples, the temporal profile against the bundle's training profile, MS-CRED's analysis when
    it flagged a window, and report.html. Returns the report's summary plus `analyses`.
    Records are incidents cut at `gap` seconds of quiet (the bundle's setting); `shown_dir` is the
    folder the report names (the final one, when `out_dir` is a staging folder)."""
    from anomaly_log_detector.workflows.reporting import write_reports

    written = write_reports(out_dir, top=top, lang=lang, warnings=warnings, gap=gap, shown_dir=shown_dir,
                            temporal_baseline=temporal_baseline, report_md=INFERENCE_REPORT,
                            report_json=INFERENCE_REPORT_JSON)
    return {**written["data"]["summary"], "analyses": written["analyses"], "links": written["data"]["links"]}


def _set_torch_threads(model: TrainedModel, threads: int | None) -> None:
    """torch's thread count when the bundle's DeepLog runs on torch (never imports torch otherwise)."""
    if not threads or model.deeplog is None or getattr(model.deeplog, "runtime", "torch") != "torch":
        return
    import torch

    torch.set_num_threads(threads)


def infer_logs(model_dir: str | os.PathLike, inputs: str | Iterable[str], out_dir: str | os.PathLike, *,
               top: int = 20, lang: str = "en", quiet: bool = True,
               model: TrainedModel | None = None, year: int | None = None, tz: str | None = None,
               threads: int | None = None, since: datetime | None = None,
               until: datetime | None = None) -> dict[str, Any]:
    """Run a bundle over target logs into `out_dir`; return a summary whose `exit_status` is 0 (no
    anomaly) or 1 (anomalies found). `model` skips loading when the caller already has the bundle.
    An `out_dir` that is, holds or lies inside the bundle or an input is refused (InputError); the
    results appear in `out_dir` only once the run has succeeded, replacing an earlier run's. A bundle
    holding a current ONNX export (`convert-onnx`) is scored with ONNX Runtime, without torch; `threads`
    (0 = the runtime's default) applies to whichever scores. `since` / `until` analyse only the lines
    of that time range (``since <= time < until``; the others are counted as skipped)."""
    paths = [inputs] if isinstance(inputs, str) else [str(p) for p in inputs]
    check_out_dir(out_dir, paths, model_dir=model.dir if model is not None and model.dir is not None else model_dir)
    started = time.perf_counter()
    model = model or load_bundle(model_dir, onnx=True, threads=threads or 0)
    _set_torch_threads(model, threads)
    out = Path(out_dir)
    staged = StagedOutputs(out, OUTPUTS, marker=INFERENCE_SUMMARY)
    with staged as work:
        result = _infer(model, model_dir, paths, work, out, started, top=top, lang=lang, quiet=quiet, year=year,
                        tz=tz, since=since, until=until)
        write_json_atomic(work / INFERENCE_SUMMARY, result, indent=1)
        staged.commit()
    return result


def _infer(model: TrainedModel, model_dir: str | os.PathLike, paths: list[str], work: Path, out: Path,
           started: float, *, top: int, lang: str, quiet: bool, year: int | None, tz: str | None,
           since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    """Parse, detect and report into the staging folder `work`; the summary names the final folder `out`."""
    loaded = time.perf_counter()
    log.debug("infer: bundle %s loaded in %.2f s; parsing %s", model_dir, loaded - started, paths)
    parsed = parse_target(model, paths, work, quiet, year, tz, since=since, until=until)
    release_memory()
    _name_final_outputs(work, out)
    fit = target_fit(parsed, model.metadata, sample=sample_lines(work), lang=lang)
    warning = fit_warning(fit, lang)
    if warning:  # loud even with --quiet: the whole result is doubtful
        print(terminal_safe(f"WARNING: {warning}"), file=sys.stderr, flush=True)
    parsed_at = time.perf_counter()
    if model.deeplog is not None:  # its scoring progress bar follows --quiet
        model.deeplog.quiet = quiet
    log.debug("infer: %d lines parsed (%d unseen) in %.2f s; running the detectors", parsed["lines_parsed"],
              parsed["unseen_lines"], parsed_at - loaded)
    detected = run_detectors(work, model)
    release_memory()
    detected_at = time.perf_counter()
    log.debug("infer: detectors done in %.2f s; writing the report", detected_at - parsed_at)
    warnings = input_warnings(parsed, lang) + ([warning] if warning else [])
    summary = report(work, top=top, lang=lang, warnings=warnings, gap=float(model.incidents.get("gap", 60.0)),
                     shown_dir=out, temporal_baseline=model.temporal_profile)
    n = summary["anomalies"]
    return {
        "model_dir": str(model_dir), "inputs": paths, "out_dir": str(out), "lines": parsed["lines_parsed"],
        "lines_skipped": sum(parsed["lines_skipped"].values()), "unseen_lines": parsed["unseen_lines"],
        "anomalies": n, "multi_detector": summary["multi_detector"], "detectors": summary["detectors"], "fit": fit,
        "source_errors": parsed.get("source_errors") or [], "files_skipped": parsed.get("files_skipped") or [],
        "links_skipped": parsed.get("links_skipped") or [], "warnings": warnings,
        "time_range": parsed.get("time_range"),
        "exit_status": ANOMALIES_FOUND if n else NO_ANOMALY, "detect": detected,
        "seconds": {"load": round(loaded - started, 3), "parse": round(parsed_at - loaded, 3),
                    "detect": round(detected_at - parsed_at, 3), "report": round(time.perf_counter() - detected_at, 3),
                    "total": round(time.perf_counter() - started, 3)},
        "analyses": summary["analyses"],
        "outputs": {"report": str(out / INFERENCE_REPORT), "report_html": str(out / REPORT_HTML),
                    "anomalies": str(out / ANOMALIES_JSONL), "summary": str(out / INFERENCE_SUMMARY),
                    **{name: str(out / path) for name, path in summary["links"].items() if name != "html"}},
    }


def _name_final_outputs(work: Path, out: Path) -> None:
    """`parse_summary.json` names its outputs where they will be once moved in, not in the staging folder."""
    path = work / PARSE_SUMMARY
    summary = json.loads(path.read_text(encoding="utf-8"))
    summary["outputs"] = {name: str(out / name) for name in summary.get("outputs") or {}}
    write_json_atomic(path, summary, indent=2, default=str)
