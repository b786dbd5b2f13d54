"""The alerting layer's per-line table, for every line or for a few of them.

`line_alerts.parquet` keeps the lines scoring above 0 (a few thousand of a million): building the
frame of every line first costs an object per line for ``source`` and ``nearest`` (~150 MB at a
million lines). :func:`line_frame` builds the chosen rows only, with the column types the frame of
every line would have had (pandas infers ``str`` for text columns only when they hold some text, so
a subset without any, or no rows at all, is cast back to the whole column's type).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from anomaly_log_detector.builders.string_codes import text_at

NUMERIC = ("severity", "novel", "novelty")
AFTER = ("seq_miss", "score", "is_alert")


def line_frame(X: pd.DataFrame, parts: dict[str, np.ndarray], nearest: tuple[np.ndarray, list[str | None]],
               rows: np.ndarray | None = None) -> pd.DataFrame:
    """``line_no``, ``source``, the `parts` and ``nearest`` (templates at rows ``nearest[0]``) of the
    given `rows` of `X` (`parts` holds their values only), or of every line."""
    near_rows, near = nearest
    if rows is None:
        names: list[str | None] = [None] * len(X)
        for i, t in zip(near_rows.tolist(), near):
            names[i] = t
        return pd.DataFrame({"line_no": X["line_no"].to_numpy(np.int64), "source": X["source"].to_numpy(),
                             **{k: parts[k] for k in NUMERIC}, "nearest": names,
                             **{k: parts[k] for k in AFTER}})
    frame = pd.DataFrame({"line_no": X["line_no"].to_numpy(np.int64)[rows], "source": text_at(X["source"], rows),
                          **{k: parts[k] for k in NUMERIC}, "nearest": _nearest_at(near_rows, near, rows),
                          **{k: parts[k] for k in AFTER}})
    _cast(frame, "source", _source_dtype(X["source"]))
    _cast(frame, "nearest", _nearest_dtype(len(X), near))
    return frame


def _source_dtype(source: pd.Series) -> Any:
    """The type the frame of every line gives ``source.to_numpy()``."""
    if isinstance(source.dtype, pd.StringDtype):
        return "str" if source.notna().any() else np.dtype(object)
    return pd.DataFrame({"source": source.to_numpy()})["source"].dtype


def _nearest_at(near_rows: np.ndarray, near: list[str | None], rows: np.ndarray) -> list[str | None]:
    """The nearest template of each of `rows` (None where the row has none); `near_rows` ascend."""
    at = np.searchsorted(near_rows, rows)
    found = at < len(near_rows)
    found[found] = near_rows[at[found]] == rows[found]
    return [near[i] if hit else None for i, hit in zip(at.tolist(), found.tolist())]


def _nearest_dtype(n_lines: int, near: list[str | None]) -> Any:
    """The type of the every-line ``nearest`` column: a list of None and templates."""
    if n_lines == 0:
        return np.dtype(float)  # pandas' type for an empty list
    return "str" if any(t is not None for t in near) else np.dtype(object)


def _cast(frame: pd.DataFrame, column: str, dtype: Any) -> None:
    if frame[column].dtype != dtype:
        frame[column] = frame[column].astype(dtype)
