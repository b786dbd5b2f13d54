"""MS-CRED analysis (`alog-detect analyze-mscred`): for each anomalous window, the templates most
responsible, the residual heatmap of the smallest scale and the window's raw lines.

Reads from a folder: ``mscred_infer.parquet`` (required), ``mscred_residuals.npz`` (heatmaps; written
by ``mscred-infer``) and ``parsed.parquet`` (raw lines; optional). Writes into the output folder
``mscred_report.md`` and ``heatmaps/window_<idx>.png``. Log text in the Markdown goes through
reports/escape.py (code blocks and spans; template names as code). matplotlib is imported lazily, with
the Agg backend (no display needed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomaly_log_detector.errors import DataError
from anomaly_log_detector.reports.escape import code_block, code_span, md_text

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
                   max_windows: int = 20, max_lines: int = 40) -> dict[str, Any]:
    """Write the MS-CRED report and heatmaps for the most anomalous flagged windows; return a summary."""
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
    md = ["# MS-CRED analysis", "",
          f"{len(flagged):,} of {len(table):,} windows are anomalous (score above {threshold:.4g}). The "
          f"{len(shown)} with the highest score follow, most anomalous first.", "",
          "Each window lists the templates whose rows and columns of the residual signature matrix carry the "
          "broken entries (residual above the largest seen in training), most responsible first; the heatmap "
          "shows the residual (input minus reconstruction) of the smallest scale for the series with the "
          "largest residuals.", ""]
    heatmaps = []
    for rank, r in enumerate(shown.itertuples(), 1):
        idx = int(r.window_idx)
        lines = "" if pd.isna(getattr(r, "start_line", pd.NA)) else f", lines {int(r.start_line)}-{int(r.end_line)}"
        source = f" of {code_span(r.source)}" if "source" in table.columns and isinstance(r.source, str) else ""
        md += [f"## {rank}. Window {idx}{source}{md_text(lines)}", "",
               f"- broken entries: {int(r.broken_entries)}, reconstruction error: {r.reconstruction_error:.4g}"
               + (f", score {r.score:.4g} (threshold {r.threshold:.4g})" if order == "score" else
                  f" (threshold {r.threshold:.4g})")]
        templates = list(r.top_templates) if r.top_templates is not None else []
        if templates:
            md.append("- most responsible templates:")
            md += [f"  {i}. {code_span(t)}" for i, t in enumerate(templates, 1)]
        if idx in residuals:
            res, series, _ = residuals[idx]
            png = out / HEATMAP_DIR / f"window_{idx}.png"
            heatmap(res, series, f"window {idx}{lines}: residual of the smallest scale", png)
            heatmaps.append(str(png))
            md += ["", f"![residual heatmap of window {idx}]({HEATMAP_DIR}/window_{idx}.png)"]
        if has_parsed and {"start_row", "end_row"} <= set(table.columns):
            raw, total = _raw_lines(data, range(int(r.start_row), int(r.end_row)), max_lines)
            if raw:
                more = f" (first {len(raw)} of {total:,})" if total > len(raw) else ""
                md += ["", f"Raw lines{more}:", "", code_block(raw)]
        md.append("")
    if not len(shown):
        md.append("No anomalous window.")
    report = out / REPORT_FILE
    tmp = report.with_suffix(".md.tmp")
    tmp.write_text("\n".join(md) + "\n", encoding="utf-8")
    os.replace(tmp, report)
    return {"report": str(report), "heatmaps": heatmaps, "windows": int(len(table)),
            "anomalous_windows": int(len(flagged)), "shown": int(len(shown)), "raw_lines": has_parsed}
