"""Plain-text output for a terminal: the short summaries `train` and `infer` print when they finish, as
lines of text in a language, and padding that counts a Hangul character as two columns (tables of
`validate`, `compare`, `bundle-info`).

The CLI prints them (cli/cmd_workflow.py, silent under ``--quiet``); sentences come from the message
catalog (domain ``console``: reports/messages.py). Paths in them come from the caller's arguments and
the bundle, so the caller prints every line through ``terminal_safe`` (reports/escape.py).
"""

from __future__ import annotations

import unicodedata
from typing import Any

from anomaly_log_detector.reports.messages import check_lang, t


def display_width(text: str) -> int:
    """Terminal columns of `text`: wide characters (Hangul, CJK) take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def ljust(text: str, width: int) -> str:
    """`text` padded with spaces on the right to `width` terminal columns."""
    return text + " " * max(0, width - display_width(text))


def rjust(text: str, width: int) -> str:
    """`text` padded with spaces on the left to `width` terminal columns."""
    return " " * max(0, width - display_width(text)) + text


def training_lines(s: dict[str, Any], lang: str = "en") -> list[str]:
    """The summary of a `train_model` / `train_incremental` result `s`."""
    check_lang(lang)
    out = [t("console.train.lines", lang, lines=s["lines"], train=s["train_lines"], held=s["holdout_lines"]),
           t("console.train.templates", lang, templates=s["templates"], vocab=s["vocab_size"],
             threshold=s["baseline_threshold"])]
    if s.get("deeplog_loss"):
        first, last = s["deeplog_loss"]
        out.append(t("console.train.deeplog", lang, epochs=s["deeplog_epochs"], first=first, last=last,
                     state=t("console.converged" if s.get("deeplog_converged") else "console.not_converged", lang),
                     threshold=s["deeplog_threshold"]))
    if s.get("mscred"):
        m = s["mscred"]
        out.append(t("console.train.mscred", lang, windows=m["windows"], steps=m["steps"], seconds=m["seconds"],
                     state=t("console.converged" if m["converged"] else "console.step_budget", lang),
                     threshold=m["threshold"]))
    if s.get("flows"):
        f = s["flows"]
        out.append(t("console.train.flows", lang, slots=f["identifier_slots"], families=f["families"],
                     steps=f["steps"], transitions=f["transitions"]))
    if s.get("onnx") and "files" in s["onnx"]:
        out.append(t("console.train.onnx", lang, files=", ".join(s["onnx"]["files"]), seconds=s["onnx"]["seconds"]))
    if s.get("holdout_false_alarm_rate") is not None:
        out.append(t("console.train.false_alarms", lang, rate=s["holdout_false_alarm_rate"]))
    out += [t("console.time", lang, seconds=s["seconds"]), t("console.wrote", lang, path=s["model_dir"])]
    return out


def inference_lines(s: dict[str, Any], lang: str = "en") -> list[str]:
    """The summary of an `infer_logs` result `s`."""
    check_lang(lang)
    per = t("console.list_sep", lang).join(t("console.infer.detector_lines", lang, detector=k, lines=v["lines"])
                                           for k, v in s["detectors"].items())
    return [t("console.infer.lines", lang, lines=s["lines"], skipped=s["lines_skipped"], unseen=s["unseen_lines"]),
            t("console.infer.anomalies", lang, anomalies=s["anomalies"], multi=s["multi_detector"], per=per),
            t("console.time", lang, seconds=s["seconds"]["total"]),
            t("console.infer.report", lang, path=s["outputs"]["report"]),
            *([t("console.infer.html", lang, path=s["outputs"]["report_html"])] if s["outputs"].get("report_html") else []),
            t("console.infer.result_table", lang, path=s["outputs"]["anomalies"])]
