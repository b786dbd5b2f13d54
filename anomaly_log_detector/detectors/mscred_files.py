"""MS-CRED entry points: table-level (what the train / infer workflows call) and file-level (what
`mscred-train` and `mscred-infer` call).

Table level::

    det = train_mscred(window_counts_df, vocab, epochs=50)           # -> fitted MSCREDDetector
    det2 = continue_mscred(det, new_counts_df, vocab.extend(...))     # fine-tuned copy (incremental)
    result = infer_mscred(det, window_counts_df, vocab)               # -> MSCREDResult
    result.table                                                      # the mscred_infer.parquet rows
    write_infer_outputs(result, out_dir)                              # mscred_infer.parquet + residuals

``vocab`` is the vocabulary the counts were built with: at inference, counts built with another
vocabulary than the model's are re-indexed by template string (a template the model never saw counts
as ``<unseen>``).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from anomaly_log_detector.builders.vocab import FIRST_TEMPLATE_INDEX, UNK, Vocab
from anomaly_log_detector.detectors.mscred import MSCREDDetector
from anomaly_log_detector.detectors.mscred_series import segments
from anomaly_log_detector.errors import DataError

INFER_FILE = "mscred_infer.parquet"
RESIDUALS_FILE = "mscred_residuals.npz"
COUNT_PREFIX = "t"


@dataclass
class MSCREDResult:
    """One inference: the per-window table and the smallest-scale residual matrices of the flagged
    windows (``residual_windows`` = their ``window_idx``)."""

    table: pd.DataFrame
    residuals: np.ndarray
    residual_windows: np.ndarray
    series: list[str]
    bound: np.ndarray
    seconds: float


# ---- table level ------------------------------------------------------------------------------
def train_mscred(counts: pd.DataFrame, vocab: Vocab | None = None, **params: Any) -> MSCREDDetector:
    """Fit an MS-CRED detector on a window counts table (``params``: MSCREDDetector's arguments)."""
    _check_indices(counts, vocab)
    return MSCREDDetector(**params).fit(counts, vocab=vocab)


def continue_mscred(old: MSCREDDetector, counts: pd.DataFrame, vocab: Vocab | None = None,
                    **params: Any) -> MSCREDDetector:
    """A new detector: ``old`` fine-tuned on the windows of ``counts`` (built with ``vocab``, a
    ``Vocab.extend`` of the model's), see :meth:`MSCREDDetector.continue_fit`; ``params``: ``max_steps``,
    ``epochs``, ``lr``, ``seed`` (and ``unseen``: switch the <unseen> treatment; the thresholds are
    computed again from the new windows either way). ``old`` itself is left unchanged."""
    _check_indices(counts, vocab)
    det = MSCREDDetector.from_checkpoint(old.to_checkpoint(), "MS-CRED model to continue")
    det.quiet = params.pop("quiet", det.quiet)
    det.unseen = params.pop("unseen", det.unseen)
    return det.continue_fit(counts, vocab=vocab, **params)


def align_counts(counts: pd.DataFrame, vocab: Vocab | None, model_vocab: dict | None) -> pd.DataFrame:
    """``counts`` with its ``t<i>`` columns re-indexed from ``vocab`` to the model's vocabulary (by
    template string; templates the model lacks go to ``<UNK>``). Unchanged when either is unknown or
    they agree on every shared index."""
    if vocab is None or model_vocab is None or all(model_vocab.get(t, i) == i for t, i in vocab.templates.items()):
        return counts
    cols = _count_columns(counts)
    size = FIRST_TEMPLATE_INDEX + len(model_vocab)
    names = vocab.strings()
    out = np.zeros((len(counts), size), np.int64)
    for i, col in cols.items():
        j = i if i < FIRST_TEMPLATE_INDEX else model_vocab.get(names[i], UNK) if i < vocab.size else UNK
        out[:, j] += counts[col].to_numpy(np.int64)
    meta = counts[[c for c in counts.columns if c not in cols.values()]].reset_index(drop=True)
    return pd.concat([meta, pd.DataFrame(out, columns=[f"{COUNT_PREFIX}{i}" for i in range(size)])], axis=1)


def infer_mscred(det: MSCREDDetector, counts: pd.DataFrame, vocab: Vocab | None = None,
                 keep: str = "flagged") -> MSCREDResult:
    """Score every window of ``counts`` with a fitted detector; the table has ``window_idx``,
    ``start_line``/``end_line`` (the lines the smallest scale covers, ending with the window),
    ``start_row``/``end_row``, ``reconstruction_error``, ``broken_entries``, ``score`` (what
    ``threshold`` applies to), ``is_anomaly``, ``threshold``, ``top_templates`` (+ ``source``, ``start_time``/``end_time`` when present)."""
    counts = align_counts(counts.reset_index(drop=True), vocab, det.vocab_)
    start = time.perf_counter()
    scores = det.evaluate(counts, keep=keep)
    seconds = time.perf_counter() - start
    span = span_bounds(counts, det.scales_[0])
    table = pd.DataFrame({
        "window_idx": counts["window"].to_numpy(np.int64) if "window" in counts.columns else np.arange(len(counts)),
        **span,
        "reconstruction_error": scores.error,
        "broken_entries": scores.broken,
        "score": scores.score,
        "is_anomaly": scores.score > det.threshold_,
        "threshold": np.full(len(counts), det.threshold_),
        "top_templates": det.top_templates(scores),
    })
    if "source" in counts.columns:
        table.insert(1, "source", counts["source"].astype("string").to_numpy())
    windows = table["window_idx"].to_numpy()[scores.kept]
    return MSCREDResult(table, scores.residuals, windows, list(det.series_names_), det.residual_bound_, seconds)


def span_bounds(counts: pd.DataFrame, width: int) -> dict[str, Any]:
    """Lines and rows of the last ``width`` windows ending with each window (within its source);
    times too for time buckets. Empty buckets have no lines: a span of empty buckets gets <NA>."""
    n = len(counts)
    seg = segments(counts)
    pos = np.arange(n)
    seg_start = np.maximum.accumulate(np.where(np.r_[True, seg[1:] != seg[:-1]], pos, 0))
    first = np.maximum(pos - width + 1, seg_start)
    out: dict[str, Any] = {}
    if {"start_line", "end_line"} <= set(counts.columns):
        s = counts["start_line"].astype("Int64")
        e = counts["end_line"].astype("Int64")
        # Next row at or after i with lines (for starts), last row at or before i with lines (for ends).
        has = s.notna().to_numpy()
        nxt = np.where(has, pos, n)
        nxt = np.minimum.accumulate(nxt[::-1])[::-1]
        prev = np.maximum.accumulate(np.where(has, pos, -1))
        valid = (nxt[first] <= pos) & (prev >= first)
        sv = s.to_numpy(dtype=np.int64, na_value=0)
        ev = e.to_numpy(dtype=np.int64, na_value=0)
        out["start_line"] = pd.arrays.IntegerArray(np.where(valid, sv[np.minimum(nxt[first], n - 1)], 0), ~valid)
        out["end_line"] = pd.arrays.IntegerArray(np.where(valid, ev[np.maximum(prev, 0)], 0), ~valid)
    if {"start_row", "end_row"} <= set(counts.columns):
        out["start_row"] = counts["start_row"].to_numpy(np.int64)[first]
        out["end_row"] = counts["end_row"].to_numpy(np.int64)
    if {"start_time", "end_time"} <= set(counts.columns):
        out["start_time"] = counts["start_time"].to_numpy()[first]
        out["end_time"] = counts["end_time"].to_numpy()
    return out


def write_infer_outputs(result: MSCREDResult, out_dir: str | os.PathLike) -> dict[str, str]:
    """``mscred_infer.parquet`` and ``mscred_residuals.npz`` (flagged windows' residual matrices,
    series names and the residual bound; plain arrays, loadable with ``allow_pickle=False``)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"table": out / INFER_FILE, "residuals": out / RESIDUALS_FILE}
    tmp = f"{paths['table']}.tmp"
    result.table.to_parquet(tmp, index=False)
    os.replace(tmp, paths["table"])
    tmp_npz = out / (RESIDUALS_FILE + ".tmp.npz")
    np.savez_compressed(tmp_npz, window_idx=result.residual_windows.astype(np.int64),
                        residuals=result.residuals.astype(np.float32), series=np.asarray(result.series, dtype=str),
                        bound=result.bound.astype(np.float32))
    os.replace(tmp_npz, paths["residuals"])
    return {k: str(v) for k, v in paths.items()}


def rule_name(det: MSCREDDetector) -> str:
    """The decision rule in words."""
    what = "broken entries (+ error tie-break)" if det.scoring == "broken" else "reconstruction error"
    if det.rule == "percentile":
        return (f"percentile ({what} above the {det.threshold:g}th percentile of the fitted training windows: "
                f"{det.threshold_:.4g})")
    held = (f"{len(det.heldout_scores_):,} held-out training windows" if len(det.heldout_scores_)
            else f"{len(det.train_scores_):,} fitted training windows (too few to hold any out)")
    if det.rule == "heldout-max":
        times = f"{1 + det.margin:g} x " if det.margin else ""
        return f"heldout-max ({what} above {times}the highest score of {held}: {det.threshold_:.4g})"
    return f"calibrated ({what} above the {1 - det.fa_budget:.3g} quantile of {held}: {det.threshold_:.4g})"


# ---- file level -------------------------------------------------------------------------------
def read_counts(path: str | os.PathLike) -> pd.DataFrame:
    from anomaly_log_detector.builders.mscred import read_window_counts

    return read_window_counts(path)


def _vocab_beside(path: str | os.PathLike) -> Vocab | None:
    candidate = Path(path).parent / "vocab.json"
    return Vocab.load(candidate) if candidate.exists() else None


def train_mscred_file(counts_path: str | os.PathLike, out_path: str | os.PathLike, *,
                      vocab_path: str | os.PathLike | None = None, **params: Any) -> dict:
    """Train on a `window_counts.parquet` (vocab: ``vocab_path`` or the `vocab.json` beside it) and save
    the model; return a summary."""
    counts = read_counts(counts_path)
    vocab = Vocab.load(vocab_path) if vocab_path else _vocab_beside(counts_path)
    _check_window_size(counts, params.get("window_size", 50), params.get("scales"), counts_path)
    det = train_mscred(counts, vocab, **params)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    det.save(out_path)
    return {"model": str(out_path), "rule": rule_name(det), "threshold": det.threshold_,
            "series_names": det.series_names_, **det.train_stats_}


def infer_mscred_file(counts_path: str | os.PathLike, model_path: str | os.PathLike,
                      out_dir: str | os.PathLike | None = None, *, threshold: float | None = None) -> dict:
    """Score a `window_counts.parquet` with a saved model; write `mscred_infer.parquet` and
    `mscred_residuals.npz` into ``out_dir`` (default: the folder of the counts); return a summary.
    ``threshold`` (a percentile) replaces the model's rule by the percentile rule."""
    det = MSCREDDetector.load(model_path)
    if threshold is not None:
        det.set_rule(threshold=threshold)
    counts = read_counts(counts_path)
    result = infer_mscred(det, counts, _vocab_beside(counts_path))
    paths = write_infer_outputs(result, out_dir if out_dir is not None else Path(counts_path).parent)
    table = result.table
    flagged = table[table["is_anomaly"]].sort_values("score", ascending=False)
    return {
        "model": str(model_path), "rule": rule_name(det), "threshold": det.threshold_,
        "windows": int(len(table)), "anomalous_windows": int(len(flagged)), "seconds": result.seconds,
        "windows_per_s": len(table) / result.seconds if result.seconds > 0 else 0.0,
        "top": [{"window_idx": int(r.window_idx), "score": float(r.score), "error": float(r.reconstruction_error),
                 "broken": int(r.broken_entries), "start_line": None if pd.isna(r.start_line) else int(r.start_line),
                 "end_line": None if pd.isna(r.end_line) else int(r.end_line), "templates": list(r.top_templates)}
                for r in flagged.head(10).itertuples()],
        "outputs": paths,
    }


# ---- checks -----------------------------------------------------------------------------------
def _count_columns(counts: pd.DataFrame) -> dict[int, str]:
    return {int(c[1:]): c for c in counts.columns
            if isinstance(c, str) and c.startswith(COUNT_PREFIX) and c[1:].isdigit()}


def _check_indices(counts: pd.DataFrame, vocab: Vocab | None) -> None:
    if vocab is None:
        return
    top = max(_count_columns(counts), default=-1)
    if top >= vocab.size:
        raise DataError(f"window counts have index t{top}, outside the vocabulary ({vocab.size} indices); "
                        f"were they built with another vocab.json?")


def _check_window_size(counts: pd.DataFrame, window_size: int, scales, where) -> None:
    """`--window-size` is the smallest scale's span in lines: it must hold at least one row of counts."""
    if scales is not None or "bucket_seconds" in counts.columns or "n_lines" not in counts.columns:
        return
    lines = counts["n_lines"].to_numpy(np.int64)
    per_row = int(np.median(lines[lines > 0])) if (lines > 0).any() else 0
    if per_row > window_size:
        raise DataError(f"{where}: windows of {per_row} lines are longer than --window-size {window_size} "
                        f"(the lines the smallest scale covers); rebuild the counts with smaller windows "
                        f"(build-mscred --window-size) or raise --window-size")
