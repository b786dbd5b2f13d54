"""`alog-detect compare` and `bundle-info`: the key facts of bundles, side by side.

Facts come from each bundle's metadata (templates, vocabulary, losses, thresholds, held-out false
alarms, quality score). With a test log both bundles run over it (full inference each), and the table
adds their anomaly counts, flagged lines per detector, and how many flagged lines they share.

Row labels are stable English keys (they name the rows of `compare.json`); :func:`format_columns` shows
them in the `lang` asked for through the message catalog (domain ``compare``: ``compare.<label slug>``),
and :func:`model_facts` words its values in that language.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from anomaly_log_detector.reports.console import display_width as _width, ljust as _ljust
from anomaly_log_detector.reports.escape import terminal_safe
from anomaly_log_detector.reports.inputs import ANOMALIES_JSONL
from anomaly_log_detector.reports.messages import catalog, check_lang, t
from anomaly_log_detector.workflows.infer import infer_logs
from anomaly_log_detector.workflows.paths import check_out_dir
from anomaly_log_detector.workflows.model import TrainedModel, load_bundle
from anomaly_log_detector.workflows.validate import quality

COMPARE_JSON = "compare.json"


def label_key(label: str) -> str:
    """The catalog key of a row label: ``compare.`` + the label's letters and digits joined by ``_``."""
    return "compare." + re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def model_facts(model: TrainedModel, lang: str = "en") -> dict[str, Any]:
    """Label -> value of a loaded bundle (what `bundle-info` prints and `compare` puts side by side);
    values that are words are in `lang`, labels stay the English keys (see :func:`format_columns`)."""
    check_lang(lang)
    meta = model.metadata
    tr, h = meta["training"], meta.get("holdout")
    losses = meta["losses"].get("deeplog") or []
    facts: dict[str, Any] = {
        "created (UTC)": meta.get("created_utc"),
        "alog-detect / torch": f"{meta['environment'].get('alog_detect')} / {meta['environment'].get('torch')}",
        "log format": meta.get("log_format"),
        "training inputs": t("compare.value.inputs", lang, files=len(meta.get("inputs", [])),
                             lines=tr["lines_parsed"]),
        "trained on / held out": t("compare.value.line_pair", lang, a=tr["train_lines"], b=tr["holdout_lines"]),
        "templates": meta["templates"],
        "vocab size": meta["vocab_size"],
        "deeplog epochs": len(losses),
        "deeplog loss first -> last": f"{losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "-",
        "deeplog converged": tr.get("deeplog", {}).get("converged", "-"),
        "deeplog miss threshold": (t("compare.value.surprise", lang, threshold=meta["thresholds"]["deeplog"])
                                   if meta["thresholds"].get("deeplog") is not None else "-"),
        "baseline threshold": round(meta["thresholds"]["baseline"], 4),
        "held-out false alarms": (t("compare.value.rate_of", lang, rate=h["false_alarm_rate"], lines=h["lines"])
                                  if h else "-"),
        "quality score": quality(model, h, "held-out tail")["score"] if h else "-",
    }
    mscred = tr.get("mscred") or {}
    if model.mscred is not None:
        facts["mscred windows / steps"] = f"{mscred.get('windows', 0):,} / {mscred.get('steps', 0):,}"
        facts["mscred loss first -> last"] = (f"{model.mscred.history_[0]:.4f} -> {model.mscred.history_[-1]:.4f}"
                                              if model.mscred.history_ else "-")
        facts["mscred threshold"] = round(model.mscred.threshold_, 4)
    else:
        facts["mscred"] = (t("compare.value.not_trained", lang, reason=mscred["skipped"]) if mscred.get("skipped")
                           else t("compare.value.not_in_bundle", lang))
    if "incremental" in meta:
        facts["continued from"] = meta["incremental"]["from"]
    return facts


def _flagged_lines(out_dir: Path) -> set[tuple[str, int]]:
    with open(out_dir / ANOMALIES_JSONL, encoding="utf-8") as f:
        return {(r["alog"]["source"], n) for r in map(json.loads, f) for n in r["alog"]["line_nos"]}


def _run_both(a: TrainedModel, b: TrainedModel, test_log: str, out: Path, quiet: bool,
              lang: str = "en") -> dict[str, dict[str, Any]]:
    runs = {"A": infer_logs(a.dir, test_log, out / "A", quiet=quiet, model=a, lang=lang),
            "B": infer_logs(b.dir, test_log, out / "B", quiet=quiet, model=b, lang=lang)}
    lines = {k: _flagged_lines(out / k) for k in runs}
    rows: dict[str, dict[str, Any]] = {
        "test: anomalies (records)": {k: r["anomalies"] for k, r in runs.items()},
        "test: unseen lines": {k: r["unseen_lines"] for k, r in runs.items()},
        "test: flagged lines": {k: len(v) for k, v in lines.items()},
        "test: flagged by both": {k: len(lines["A"] & lines["B"]) for k in runs},
    }
    for det in ("novelty", "deeplog", "flows", "baseline", "mscred"):
        rows[f"test: {det} lines"] = {k: r["detectors"].get(det, {}).get("lines", "-") for k, r in runs.items()}
    rows["test: seconds"] = {k: r["seconds"]["total"] for k, r in runs.items()}
    return rows


def compare_models(model_a: str | os.PathLike, model_b: str | os.PathLike, test_log: str | None = None,
                   out_dir: str | os.PathLike | None = None, quiet: bool = True, lang: str = "en") -> dict[str, Any]:
    """Side-by-side facts of two bundles, plus their results on `test_log` when given (inference
    outputs under `out_dir/A` and `out_dir/B`, or a temporary folder). With `out_dir` the result is
    also written to `out_dir/compare.json` (its path under `output`). `lang`: the language of the
    values that are words and of the inference reports (row labels stay English keys)."""
    check_lang(lang)
    if out_dir is not None:
        for model_dir in (model_a, model_b):
            check_out_dir(out_dir, [test_log] if test_log else [], model_dir=model_dir)
    a, b = load_bundle(model_a), load_bundle(model_b)
    fa, fb = model_facts(a, lang), model_facts(b, lang)
    rows = {label: {"A": fa.get(label, "-"), "B": fb.get(label, "-")} for label in {**fa, **fb}}
    if test_log is not None:
        if out_dir is not None:
            rows.update(_run_both(a, b, test_log, Path(out_dir), quiet, lang))
        else:
            with tempfile.TemporaryDirectory(prefix="alog-compare-") as tmp:
                rows.update(_run_both(a, b, test_log, Path(tmp), quiet, lang))
    result: dict[str, Any] = {"A": str(model_a), "B": str(model_b), "test_log": test_log, "rows": rows}
    if out_dir is not None:
        path = Path(out_dir) / COMPARE_JSON
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        result["output"] = str(path)
    return result


def show_label(label: str, lang: str = "en") -> str:
    """A row label in `lang` (the label itself when the catalog has no entry for it)."""
    key = label_key(label)
    return t(key, lang) if key in catalog("en") else label


def _cell(value: Any, lang: str) -> str:
    if isinstance(value, bool):
        return t("compare.value.true" if value else "compare.value.false", lang)
    return str(value)


def format_columns(columns: dict[str, str], rows: dict[str, dict[str, Any]], lang: str = "en") -> str:
    """A plain-text table: one row per label (shown in `lang`), one column per key of `columns` (key ->
    heading). Cells are terminal-safe (paths and formats may hold control characters:
    reports/escape.py); columns are aligned by terminal width (a Hangul character takes two)."""
    check_lang(lang)
    cells = [[terminal_safe(c) for c in row] for row in
             [["", *columns.values()]] + [[show_label(label, lang), *(_cell(v.get(k, "-"), lang) for k in columns)]
                                          for label, v in rows.items()]]
    widths = [max(_width(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = ["  ".join(_ljust(c, w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join([lines[0], "-" * _width(lines[0]), *lines[1:]])
