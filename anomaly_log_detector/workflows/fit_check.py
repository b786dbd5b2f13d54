"""Does a target log fit the bundle at all? Two signs from the frozen parse say it does not:

* most lines have no header the bundle's format matches (they are parsed with the whole line as the
  message): the log format differs from the training logs;
* most messages match no training template, far more than on the bundle's held-out normal lines: a log
  of another system or service.

Either makes nearly every line "anomalous", so the report would be a list of the mismatch rather than
of faults. `infer` records the verdict (`fit` in `inference_summary.json`), warns on stderr and puts a
banner at the top of the report. Sentences come from the message table, so they translate with it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from anomaly_log_detector.reports.messages import t

MOST = 0.5            # "most lines": above half of the parsed lines
UNSEEN_MARGIN = 0.25  # unseen share must also exceed the held-out unseen share by this much
SAMPLE_LINES = 200    # raw lines looked at to name the format the target seems to have


def training_format(metadata: dict[str, Any]) -> str:
    """The header format the bundle was trained with: a custom `--log-format` string or a preset name."""
    parser = metadata.get("params", {}).get("parser", {})
    return parser.get("log_format") or metadata.get("log_format") or parser.get("format") or "unknown"


def heldout_unseen_share(metadata: dict[str, Any]) -> float | None:
    """Share of the held-out normal lines that matched no template (None: no held-out part)."""
    coverage = (metadata.get("holdout") or {}).get("template_coverage")
    return None if coverage is None else max(0.0, 1.0 - float(coverage))


def target_fit(parse_summary: dict[str, Any], model_metadata: dict[str, Any],
               sample: Sequence[str] | None = None, lang: str = "en") -> dict[str, Any]:
    """`fits`, the two shares behind it and the `reasons` (sentences) when it does not fit.

    `parse_summary` is what the frozen `parse_logs` of the target returned; `sample`, raw target lines,
    lets the format reason name the preset the target seems to use."""
    parsed = int(parse_summary.get("lines_parsed", 0))
    header = parse_summary.get("header_unmatched", 0) / parsed if parsed else 0.0
    unseen = parse_summary.get("unseen_lines", 0) / parsed if parsed else 0.0
    held = heldout_unseen_share(model_metadata)
    fmt = training_format(model_metadata)
    reasons, guess = [], None
    if header > MOST:
        guess = _guess_format(sample, fmt)
        reasons.append(t("fit.format", lang, format=fmt, share=header)
                       + (t("fit.format_guess", lang, guess=guess) if guess else ""))
    if unseen > MOST and unseen > (held or 0.0) + UNSEEN_MARGIN:
        reasons.append(t("fit.unseen", lang, share=unseen,
                         held=t("fit.held", lang, share=held) if held is not None else t("fit.no_held", lang)))
    return {"fits": not reasons, "header_unmatched_share": round(header, 4), "unseen_share": round(unseen, 4),
            "heldout_unseen_share": None if held is None else round(held, 4), "training_format": fmt,
            "target_format_guess": guess, "reasons": reasons}


def fit_warning(fit: dict[str, Any], lang: str = "en") -> str | None:
    """The one-paragraph warning for a target that does not fit (None when it fits)."""
    if fit["fits"]:
        return None
    return t("fit.warning", lang, reasons=t("fit.and", lang).join(fit["reasons"]))


def _guess_format(sample: Sequence[str] | None, trained: str) -> str | None:
    """The preset the sample's headers match, when it is another one than the bundle's."""
    if not sample:
        return None
    from anomaly_log_detector.parsing.formats import detect_format

    guess = detect_format(sample)
    return None if guess in (trained, "raw") else guess


def sample_lines(folder: str | Path, n: int = SAMPLE_LINES) -> list[str]:
    """The first `n` raw lines of a parsed folder's `parsed.parquet` (empty when it has none)."""
    import pyarrow.parquet as pq

    path = Path(folder) / "parsed.parquet"
    if not path.exists():
        return []
    f = pq.ParquetFile(path)
    if f.metadata.num_row_groups == 0 or "raw" not in f.schema_arrow.names:
        return []
    return f.read_row_group(0, columns=["raw"]).column("raw").slice(0, n).to_pylist()
