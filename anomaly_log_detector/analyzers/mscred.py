"""MS-CRED analysis (`alog-detect analyze-mscred`): for each anomalous window, the templates most
responsible, the residual heatmap of the smallest scale and the window's raw lines.

Reads from a folder: ``mscred_infer.parquet`` (required), ``mscred_residuals.npz`` (heatmaps; written
by ``mscred-infer``) and ``parsed.parquet`` (raw lines; optional). Writes into the output folder
``mscred_report.md`` and ``heatmaps/window_<idx>.png``. Log text in the Markdown goes through
reports/escape.py (code blocks and spans; template names as code). Sentences come from the message
catalog (domain ``mscred``: reports/messages.py), so ``lang="ko"`` writes the report in Korean; the text
drawn inside the heatmap images stays English (matplotlib's bundled fonts have no Hangul). matplotlib
is imported lazily, with the Agg backend (no display needed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomaly_log_detector.errors import DataError
from anomaly_log_detector.reports.escape import code_block, code_span, md_text
from anomaly_log_detector.reports.messages import check_lang, t

INFER_FILE = "mscred_infer.parquet"
RESIDUALS_FILE = "mscred_residuals.npz"
REPORT_FILE = "mscred_report.md"
HEATMAP_DIR = "heatmaps"
# A heatmap shows the series with the largest residuals only: 66 labelled rows are unreadable.
HEATMAP_SERIES = 20
LABEL_CHARS = 40


def _read_residuals(path: Path) -> dict[int, tuple[np.ndarray, list[str], np.ndarray]]:
    if not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as z:
            windows, res, series, bound = z["window_idx"], z["residuals"], [str(s) for s in z["series"]], z["bound"]
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(f"{path}: not an MS-CRED residuals file ({exc})") from None
    return {int(w): (res[i], series, bound) for i, w in enumerate(windows)}


def heatmap(residual: np.ndarray, series: list[str], title: str, path: Path, limit: int = HEATMAP_SERIES) -> list[str]:
    """Write the residual matrix of the ``limit`` series with the largest row energy as a PNG; return
    those series, largest first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(-(residual ** 2).sum(1), kind="stable")[:limit]
    sub = residual[np.ix_(order, order)]
    labels = [s if len(s) <= LABEL_CHARS else s[:LABEL_CHARS - 1] + "…" for s in (series[i] for i in order)]
    size = 3 + 0.28 * len(order)
    fig, ax = plt.subplots(figsize=(size + 3, size))
    lim = float(np.abs(sub).max()) or 1.0
    im = ax.imshow(sub, cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_xticks(range(len(order)), labels, rotation=90, fontsize=7)
    ax.set_yticks(range(len(order)), labels, fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.7, label="residual (input - reconstruction)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return [series[i] for i in order]


def _raw_lines(data_dir: Path, rows: range, limit: int) -> tuple[list[str], int]:
    """Raw lines of parsed rows ``rows`` (at most ``limit``, taken from the start) and how many exist."""
    from anomaly_log_detector.reports.inputs import take_rows

    shown = list(rows)[:limit]
    if not shown:
        return [], 0
    table = take_rows(data_dir, shown, ["line_no", "raw"])
    return [f"{int(r.line_no):>7}  {r.raw}" for r in table.itertuples()], len(rows)


def analyze_mscred(data_dir: str | os.PathLike, output_dir: str | os.PathLike | None = None, *,
                   max_windows: int = 20, max_lines: int = 40, lang: str = "en") -> dict[str, Any]:
    """Write the MS-CRED report (in `lang`) and heatmaps for the most anomalous flagged windows; return a
    summary."""
    check_lang(lang)
    data = Path(data_dir)
    out = Path(output_dir) if output_dir is not None else data / "mscred_analysis"
    table_path = data / INFER_FILE
    if not table_path.is_file():
        raise DataError(f"{table_path}: not found (run `alog-detect mscred-infer` with --out-dir {data} first)")
    from anomaly_log_detector.fileio.parquetio import read_parquet_checked

    table = read_parquet_checked(table_path, INFER_FILE, ["window_idx", "reconstruction_error", "broken_entries",
                                                          "is_anomaly", "threshold", "top_templates"]).to_pandas()
    residuals = _read_residuals(data / RESIDUALS_FILE)
    has_parsed = (data / "parsed.parquet").is_file()
    order = "score" if "score" in table.columns else "reconstruction_error"
    flagged = table[table["is_anomaly"]].sort_values(order, ascending=False, kind="stable")
    shown = flagged.head(max_windows)
    out.mkdir(parents=True, exist_ok=True)
    threshold = float(table["threshold"].iloc[0]) if len(table) else float("nan")
    md = [f"# {t('mscred.title', lang)}", "",
          t("mscred.intro", lang, flagged=len(flagged), windows=len(table), threshold=threshold, shown=len(shown)),
          "", t("mscred.explain", lang), ""]
    heatmaps = []
    for rank, r in enumerate(shown.itertuples(), 1):
        idx = int(r.window_idx)
        has_lines = not pd.isna(getattr(r, "start_line", pd.NA))
        lines = f", lines {int(r.start_line)}-{int(r.end_line)}" if has_lines else ""  # the (English) image title
        shown_lines = t("mscred.window_lines", lang, start=int(r.start_line), end=int(r.end_line)) if has_lines else ""
        source = (t("mscred.window_source", lang, source=code_span(r.source))
                  if "source" in table.columns and isinstance(r.source, str) else "")
        stats = dict(broken=int(r.broken_entries), error=r.reconstruction_error, threshold=r.threshold)
        md += [f"## {rank}. {t('mscred.window', lang, idx=idx)}{source}{md_text(shown_lines)}", "",
               "- " + (t("mscred.stats_score", lang, score=r.score, **stats) if order == "score" else
                       t("mscred.stats", lang, **stats))]
        templates = list(r.top_templates) if r.top_templates is not None else []
        if templates:
            md.append("- " + t("mscred.top_templates", lang))
            md += [f"  {i}. {code_span(tpl)}" for i, tpl in enumerate(templates, 1)]
        if idx in residuals:
            res, series, _ = residuals[idx]
            png = out / HEATMAP_DIR / f"window_{idx}.png"
            heatmap(res, series, f"window {idx}{lines}: residual of the smallest scale", png)
            heatmaps.append(str(png))
            md += ["", f"![{md_text(t('mscred.heatmap_alt', lang, idx=idx))}]({HEATMAP_DIR}/window_{idx}.png)"]
        if has_parsed and {"start_row", "end_row"} <= set(table.columns):
            raw, total = _raw_lines(data, range(int(r.start_row), int(r.end_row)), max_lines)
            if raw:
                head = (t("mscred.raw_lines_some", lang, shown=len(raw), total=total) if total > len(raw)
                        else t("mscred.raw_lines", lang))
                md += ["", head, "", code_block(raw)]
        md.append("")
    if not len(shown):
        md.append(t("mscred.none", lang))
    report = out / REPORT_FILE
    tmp = report.with_suffix(".md.tmp")
    tmp.write_text("\n".join(md) + "\n", encoding="utf-8")
    os.replace(tmp, report)
    return {"report": str(report), "heatmaps": heatmaps, "windows": int(len(table)),
            "anomalous_windows": int(len(flagged)), "shown": int(len(shown)), "raw_lines": has_parsed}
