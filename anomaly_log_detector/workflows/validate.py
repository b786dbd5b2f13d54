"""`alog-detect validate`: a 0-100 quality score of a bundle, with each component explained.

The score is measured on normal lines the detectors were not trained on: the held-out tail the train
workflow recorded in the bundle, or a validation log the caller knows to be normal (parsed with the
bundle's frozen templates and run through every detector, as inference does). Components (points):

| component | points | full marks | zero |
|---|---:|---|---|
| template coverage | 25 | every normal line matches a training template | 5 % of lines unseen |
| vocabulary size | 10 | templates <= 1 % of training lines (and >= 2) | templates >= 10 % of lines |
| loss convergence | 20 | DeepLog loss halved, and < 1 % lower over the last 3 epochs | no drop, or 11 % lower |
| false alarms | 30 | no normal line in the result table | 5 % of normal lines reported |
| threshold stability | 15 | baseline threshold = same quantile of the normal windows' scores | 100 % apart |

Each component scales linearly between its ends. 85 or more is "good". Explanations and the table come
from the message catalog (domain ``validate``: reports/messages.py), in the `lang` asked for.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from anomaly_log_detector.errors import DataError
from anomaly_log_detector.reports.console import ljust as _ljust, rjust as _rjust
from anomaly_log_detector.reports.messages import check_lang, t
from anomaly_log_detector.workflows.holdout import measure_normal
from anomaly_log_detector.workflows.infer import parse_target
from anomaly_log_detector.workflows.paths import check_out_dir
from anomaly_log_detector.workflows.model import TrainedModel, load_bundle

GOOD = 85.0
POINTS = {"template_coverage": 25, "vocab_size": 10, "loss_convergence": 20, "false_alarms": 30,
          "threshold_stability": 15}


def _linear(value: float, full: float, zero: float) -> float:
    """1 at `full`, 0 at `zero`, linear between (either direction), clipped to [0, 1]."""
    if full == zero:
        return 1.0 if value == full else 0.0
    return float(min(1.0, max(0.0, (value - zero) / (full - zero))))


def loss_convergence(losses: list[float], lang: str = "en") -> tuple[float, dict[str, Any], str]:
    """(score, values, explanation in `lang`) of a training-loss history."""
    if len(losses) < 2:
        return 0.0, {"epochs": len(losses)}, t("validate.loss_short", lang)
    drop = 1.0 - losses[-1] / losses[0] if losses[0] > 0 else 0.0
    ref = losses[-min(4, len(losses))]
    recent = (ref - losses[-1]) / ref if ref > 0 else 0.0
    score = min(1.0, max(0.0, drop) / 0.5) * _linear(recent, 0.01, 0.11)
    return score, {"first": losses[0], "last": losses[-1], "drop": drop, "recent_improvement": recent}, (
        t("validate.loss", lang, first=losses[0], last=losses[-1], epochs=len(losses), drop=drop, recent=recent,
          last_n=min(3, len(losses) - 1))
        + (t("validate.loss_improving", lang) if recent > 0.01 else ""))


def quality(model: TrainedModel, normal: dict[str, Any], evaluated_on: str, lang: str = "en") -> dict[str, Any]:
    """The score and its components (explanations in `lang`) from the bundle's metadata and a
    `measure_normal` result."""
    meta = model.metadata
    comps: dict[str, tuple[float, dict[str, Any], str]] = {}
    c, n = normal["template_coverage"], normal["lines"]
    comps["template_coverage"] = (_linear(c, 1.0, 0.95), {"coverage": c, "unseen_lines": normal["unseen_lines"]},
                                  t("validate.coverage", lang, coverage=c, lines=n))
    templates, lines = meta["templates"], meta["training"].get("lines_total", meta["training"]["lines_parsed"])
    ratio = templates / lines if lines else 1.0
    comps["vocab_size"] = (_linear(ratio, 0.01, 0.10) if templates >= 2 else 0.0,
                           {"templates": templates, "training_lines": lines, "templates_per_line": ratio},
                           t("validate.vocab", lang, templates=templates, lines=lines, ratio=ratio))
    comps["loss_convergence"] = loss_convergence(meta["losses"].get("deeplog") or [], lang)
    mscred = meta["training"].get("mscred") or {}
    if model.mscred is not None and model.mscred.history_:  # reported next to DeepLog's; not scored
        h = model.mscred.history_
        s, values, text = comps["loss_convergence"]
        values = {**values, "mscred": {"first": h[0], "last": h[-1], "epochs": len(h), "steps": mscred.get("steps"),
                                       "converged": mscred.get("converged"), "threshold": model.mscred.threshold_}}
        text += t("validate.mscred_loss", lang, first=h[0], last=h[-1], epochs=len(h),
                  state=t("validate.converged" if mscred.get("converged") else "validate.step_budget", lang))
        comps["loss_convergence"] = (s, values, text)
    r = normal["false_alarm_rate"]
    by = (", ".join(f"{k} {v:,}" for k, v in sorted(normal["flagged_lines_by_detector"].items()))
          or t("validate.none", lang))
    comps["false_alarms"] = (_linear(r, 0.0, 0.05), {"rate": r, "flagged_lines": normal["flagged_lines"],
                                                      "by_detector": normal["flagged_lines_by_detector"]},
                             t("validate.false_alarms", lang, flagged=normal["flagged_lines"], lines=n, rate=r,
                               by=by))
    thr, q = normal["baseline_threshold"], normal["window_score_quantile"]
    shift = abs(q - thr) / thr if thr > 0 else (0.0 if q == thr else 1.0)
    comps["threshold_stability"] = (_linear(shift, 0.0, 1.0), {"threshold": thr, "normal_quantile": q,
                                                               "relative_shift": shift, "windows": normal["windows"]},
                                    t("validate.threshold", lang, threshold=thr, quantile=q,
                                      windows=normal["windows"], shift=shift))
    components = [{"name": name, "points": POINTS[name], "score": round(s, 4), "earned": round(POINTS[name] * s, 2),
                   "values": values, "explanation": text} for name, (s, values, text) in comps.items()]
    total = round(sum(x["earned"] for x in components), 1)
    return {"score": total, "good": total >= GOOD, "evaluated_on": evaluated_on, "components": components}


def validate_model(model_dir: str | os.PathLike, validation_log: str | None = None,
                   out_dir: str | os.PathLike | None = None, quiet: bool = True,
                   model: TrainedModel | None = None, min_score: float | None = None,
                   lang: str = "en") -> dict[str, Any]:
    """Score a bundle on its held-out lines, or on `validation_log` (normal lines) processed into
    `out_dir` (a temporary folder when None). `passed` is False only when the score is below
    `min_score` (None: no minimum). Explanations are in `lang`."""
    check_lang(lang)
    if min_score is not None and not 0 <= min_score <= 100:  # NaN fails this too
        raise DataError(f"the minimum score must be a number in [0, 100], not {min_score!r}")
    if out_dir is not None:
        check_out_dir(out_dir, [validation_log] if validation_log else [], model_dir=model_dir)
    model = model or load_bundle(model_dir)
    if validation_log is None:
        holdout = model.metadata.get("holdout")
        if not holdout:
            raise DataError(f"{model_dir}: the bundle has no held-out lines (trained with --holdout 0); "
                            f"give a validation log of normal lines")
        result = quality(model, holdout, t("validate.on_holdout", lang, lines=holdout["lines"]), lang)
    elif out_dir is not None:
        result = _on_log(model, validation_log, Path(out_dir), quiet, lang)
    else:
        with tempfile.TemporaryDirectory(prefix="alog-validate-") as tmp:
            result = _on_log(model, validation_log, Path(tmp), quiet, lang)
    passed = min_score is None or result["score"] >= min_score
    return {"model_dir": str(model_dir), **result, "min_score": min_score, "passed": passed}


def _on_log(model: TrainedModel, log: str, folder: Path, quiet: bool, lang: str = "en") -> dict[str, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    parse_target(model, [log], folder, quiet)
    return quality(model, measure_normal(folder, model), t("validate.on_log", lang, log=log), lang)


def format_quality(result: dict[str, Any], lang: str = "en") -> str:
    """The score as a plain-text table in `lang`, one row per component, then the verdict."""
    rows = [f"{_ljust(t('validate.col_component', lang), 20)} {_rjust(t('validate.col_points', lang), 7)}  "
            f"{t('validate.col_explanation', lang)}"]
    for c in result["components"]:
        rows.append(f"{_ljust(t('validate.component.' + c['name'], lang), 20)} {c['earned']:>5.1f}/{c['points']:<2} "
                    f"{c['explanation']}")
    verdict = t("validate.good", lang) if result["good"] else t("validate.below", lang, good=GOOD)
    rows.append(f"{_ljust(t('validate.total', lang), 20)} {result['score']:>5.1f}/100 "
                + t("validate.measured", lang, verdict=verdict, on=result["evaluated_on"]))
    if result.get("min_score") is not None:
        rows.append(f"{_ljust(t('validate.minimum', lang), 20)} {result['min_score']:>5.1f}/100 "
                    + t("validate.met" if result["passed"] else "validate.not_met", lang))
    return "\n".join(rows)
