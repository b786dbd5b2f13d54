"""The charts of `report.html`, drawn by matplotlib and written as inline SVG.

One timeline, Elastic's Anomaly Explorer style: a strip of the incidents (the result table's records,
one rectangle each, darker = higher score, the first ranks numbered), the log volume, then one panel
per detector that left scores in the folder - the baseline's window scores, the alerting layer's line
scores, DeepLog's per-line surprise, MS-CRED's window scores. Scores are shown over their own
threshold (1 = the threshold, the dashed line), the scale the result table ranks on (reports/hits.py),
so the panels read alike. The x axis is time (UTC) when most parsed lines have a timestamp, else the
line's position in the parse. Every series is cut into at most ``MAX_BINS`` bins of the x range and
keeps the bin's largest value (volume: the bin's count), so a chart of a million lines is as small as
one of a thousand, and a single high score is never averaged away.

Nothing taken from a log is drawn (incidents are labelled by rank, panels by catalog text), and the
SVG is deterministic: ``svg.hashsalt`` fixed, no date in the metadata (the ``<metadata>`` block and
the XML prologue are removed for inlining), text kept as text (``svg.fonttype = 'none'``).
"""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from markupsafe import Markup, escape

from anomaly_log_detector.errors import DataError
from anomaly_log_detector.reports.inputs import (
    BASELINE, DEEPLOG_INFER, LINE_ALERTS, MSCRED_INFER, checked_columns, line_index, read_table,
)

MAX_BINS = 400
MAX_MARKED = 200      # incidents drawn in the strip (the first ranks)
LABELLED = 10         # of those, numbered and shaded across every panel
RATIO_CAP = 10.0      # scores over threshold are drawn up to this (a never-seen key's surprise is huge)
DETECTOR_COLOURS = {"alerting": "#d62728", "deeplog": "#9467bd", "baseline": "#1f77b4", "mscred": "#2ca02c"}
_RC = {"svg.fonttype": "none", "svg.hashsalt": "alog-detect", "font.size": 8, "font.family": "sans-serif",
       "date.epoch": "1970-01-01T00:00:00", "axes.spines.top": False, "axes.spines.right": False}
_PROLOGUE = re.compile(r"\A.*?(?=<svg)", re.S)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.S)
_DAY = 86400.0


@dataclass
class RowAxis:
    """Where each parsed row lies on the x axis: days since 1970 (UTC) when `by_time`, else the row's
    1-based position in the parse; NaN for a row without a time on a time axis."""

    x: np.ndarray
    by_time: bool


@dataclass
class Track:
    """One detector's scores placed on the x axis. `ratio`: `y` is value / threshold."""

    key: str
    x: np.ndarray
    y: np.ndarray
    ratio: bool
    points: bool  # scattered line scores (drawn as stems) rather than a series of windows


def row_axis(times: pd.Series | None, n_rows: int) -> RowAxis:
    """Time when at least half of the parsed rows have a timestamp, else the row position. `times`:
    every row's UTC time (:attr:`.parsed_rows.ParsedRows.times`), None when the parse has none."""
    if times is not None and n_rows:
        if times.notna().mean() >= 0.5:
            ns = times.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
            # (ns - epoch) / 1 s / _DAY, in place: numpy divides a timedelta as double(ns) / 1e9
            days = ns.view(np.int64).astype(np.float64)
            days /= 1e9
            days /= _DAY
            days[np.isnat(ns)] = np.nan
            return RowAxis(days, True)
    return RowAxis(np.arange(1, n_rows + 1, dtype=float), False)


# What a window track reads of a result table besides its score and line span (not its list columns).
_SPAN = ("threshold", "source", "start_row", "end_row")


def _ratio(value: np.ndarray, df: pd.DataFrame) -> tuple[np.ndarray, bool]:
    if "threshold" in df.columns:
        thr = df["threshold"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(thr > 0, value / np.maximum(thr, 1e-12), np.nan), True
    return value, False


def _window_rows(df: pd.DataFrame, keys: pd.DataFrame, where: str, start: str, end: str) -> np.ndarray:
    """The middle parsed row of each window (by its row span, else its line span)."""
    if {"start_row", "end_row"} <= set(df.columns):
        a, b = df["start_row"].to_numpy(np.int64), df["end_row"].to_numpy(np.int64)
        return np.clip((a + np.maximum(b - 1, a)) // 2, 0, max(len(keys) - 1, 0))
    index = line_index(keys, "source" in df.columns, where)  # built once for both ends
    a = index.rows(df.rename(columns={start: "line_no"}), where)
    b = index.rows(df.rename(columns={end: "line_no"}), where)
    return (a + b) // 2


def detector_tracks(d: Path, keys: pd.DataFrame, axis: RowAxis) -> list[Track]:
    """The score series of every detector whose results are in the folder (unreadable ones left out:
    the report says what the tables say; a chart is not worth failing it)."""
    out: list[Track] = []
    for make in (_baseline, _alerting, _deeplog, _mscred):
        try:
            track = make(d, keys, axis)
        except (DataError, KeyError, ValueError, OSError):
            track = None
        if track is not None and len(track.x):
            out.append(track)
    return out


def _baseline(d: Path, keys: pd.DataFrame, axis: RowAxis) -> Track | None:
    if not (d / BASELINE).exists():
        return None
    df = read_table(d / BASELINE, ["score"], optional=_SPAN + ("window_start_line", "window_end_line"))
    rows = _window_rows(df, keys, str(d / BASELINE), "window_start_line", "window_end_line")
    y, ratio = _ratio(df["score"].to_numpy(float), df)
    return Track("baseline", axis.x[rows], y, ratio, points=False)


def _alerting(d: Path, keys: pd.DataFrame, axis: RowAxis) -> Track | None:
    if not (d / LINE_ALERTS).exists():
        return None
    df = read_table(d / LINE_ALERTS, ["row", "score"])
    rows = df["row"].to_numpy(np.int64)
    y, ratio = _ratio(df["score"].to_numpy(float), df)
    return Track("alerting", axis.x[rows], y, ratio, points=True)


def _deeplog(d: Path, keys: pd.DataFrame, axis: RowAxis) -> Track | None:
    if not (d / DEEPLOG_INFER).exists():
        return None
    path = d / DEEPLOG_INFER
    names = checked_columns(path, ["line_no"])
    wanted = [c for c in ("line_no", "source", "surprise", "threshold", "prob") if c in names]
    # A row per prediction (a million at 1M lines): read a row group at a time, the source as a
    # category (codes), each group's lines found in one index of the parse.
    f = pq.ParquetFile(path, read_dictionary=["source"] if "source" in wanted else None)
    index = line_index(keys, "source" in wanted, str(path))
    xs, ys, ratio = [], [], False
    for i in range(f.num_row_groups):
        df = f.read_row_group(i, columns=wanted).to_pandas()
        df = df[df["line_no"].notna()]  # end-of-session predictions have no line
        if df.empty:
            continue
        rows = index.rows(df, str(path))
        if "surprise" in df.columns:
            y, ratio = _ratio(df["surprise"].to_numpy(float), df)
        else:
            y, ratio = 1.0 - df["prob"].to_numpy(float), False
        xs.append(axis.x[rows])
        ys.append(y)
    return Track("deeplog", np.concatenate(xs), np.concatenate(ys), ratio, points=True) if xs else None


def _mscred(d: Path, keys: pd.DataFrame, axis: RowAxis) -> Track | None:
    if not (d / MSCRED_INFER).exists():
        return None
    df = read_table(d / MSCRED_INFER, ["score"], optional=_SPAN + ("start_line", "end_line"))
    if not {"start_row", "end_row"} <= set(df.columns) and not {"start_line", "end_line", "source"} <= set(df.columns):
        return None
    df = df.dropna(subset=[c for c in ("start_row", "end_row", "start_line", "end_line") if c in df.columns])
    rows = _window_rows(df.reset_index(drop=True), keys, str(d / MSCRED_INFER), "start_line", "end_line")
    y, ratio = _ratio(df["score"].to_numpy(float), df)
    return Track("mscred", axis.x[rows], y, ratio, points=False)


def _bins(x: np.ndarray) -> np.ndarray | None:
    x = x[np.isfinite(x)]
    if not len(x):
        return None
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        hi = lo + (1 / 24 / 60 if lo > 1e3 else 1.0)
    return np.linspace(lo, hi, MAX_BINS + 1)


def _binned_max(edges: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres and the largest finite `y` of each bin that has one."""
    ok = np.isfinite(x) & ~np.isnan(y)
    idx = np.clip(bin_index(edges, x[ok]), 0, len(edges) - 2)
    best = np.full(len(edges) - 1, -np.inf)
    np.maximum.at(best, idx, y[ok])
    keep = best > -np.inf
    centres = (edges[:-1] + edges[1:]) / 2
    return centres[keep], best[keep]


def bin_index(edges: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``np.searchsorted(edges, x, side="right") - 1`` for finite `x` and the evenly spaced `edges` of
    :func:`_bins`: each value's bin by arithmetic, then moved by comparing it with that bin's edges
    (rounding leaves it next to its bin at most). A binary search per value of a million costs more
    than np.histogram's sort; this, a few passes."""
    n = len(edges)
    step = (edges[-1] - edges[0]) / (n - 1)
    idx = np.clip(np.floor((x - edges[0]) / step), -1, n - 1).astype(np.int64)
    for _ in range(4):
        down = (idx >= 0) & (x < edges[np.maximum(idx, 0)])  # below its bin's lower edge
        up = (idx < n - 1) & (x >= edges[np.minimum(idx + 1, n - 1)])  # at or above the next edge
        if not (down.any() or up.any()):
            return idx
        idx[down] -= 1
        idx[up] += 1
    return np.searchsorted(edges, x, side="right") - 1  # edges not evenly spaced after all


def bin_counts(edges: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``np.histogram(x, bins=edges)[0]`` for finite `x` (each bin half-open, the last one closed)."""
    idx = bin_index(edges, x)
    idx[x == edges[-1]] = len(edges) - 2
    inside = (idx >= 0) & (idx < len(edges) - 1)
    return np.bincount(idx[inside], minlength=len(edges) - 1)


@dataclass
class Incident:
    rank: int
    score: float
    x0: float
    x1: float


def incidents(table: pd.DataFrame, axis: RowAxis, limit: int = MAX_MARKED) -> list[Incident]:
    """The first `limit` records' spans on the x axis (those with no placed line are left out)."""
    out = []
    for r in table.head(limit).itertuples():
        xs = axis.x[np.asarray(list(r.rows), dtype=np.int64)]
        xs = xs[np.isfinite(xs)]
        if len(xs):
            out.append(Incident(int(r.rank), float(r.score), float(xs.min()), float(xs.max())))
    return out


def _finish(fig, label: str) -> Markup:
    """The figure as an inline `<svg>` element (no prologue, no metadata), labelled for screen readers."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = _METADATA.sub("", _PROLOGUE.sub("", buf.getvalue(), count=1), count=1)
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{escape(label)}" ', 1))


@contextlib.contextmanager
def _drawing(**rc: object) -> Iterator[None]:
    """Our rc settings, and no missing-glyph warnings: matplotlib measures text with its own fonts,
    while the browser draws the (Hangul) labels (fonttype none)."""
    import matplotlib

    with matplotlib.rc_context({**_RC, **rc}), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*missing from (the )?(current )?font.*")
        yield


def timeline_svg(d: Path, keys: pd.DataFrame, times: pd.Series | None, table: pd.DataFrame,
                 text: Callable[[str], str], between: Callable[[], None] | None = None) -> Markup | None:
    """The timeline of the folder as inline SVG (None for an empty parse). `keys` and `times`: the
    parse's key columns and times (:class:`.parsed_rows.ParsedRows`); `text(key)` gives the catalog
    text of a chart label (``html.chart.*``); `between` runs once the scores are read."""
    import matplotlib
    from matplotlib import dates as mdates
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    if not len(keys):
        return None
    axis = row_axis(times, len(keys))
    edges = _bins(axis.x)
    if edges is None:
        return None
    tracks = detector_tracks(d, keys, axis)
    if between is not None:
        between()
    marked = incidents(table, axis)
    with _drawing():
        ratios = [0.7, 1.2] + [1.1] * len(tracks)
        fig = Figure(figsize=(10, sum(ratios) + 0.7), layout="constrained")
        axes = fig.subplots(len(ratios), 1, sharex=True, gridspec_kw={"height_ratios": ratios})
        strip, volume = axes[0], axes[1]
        width = (edges[-1] - edges[0]) / 500
        cmap = matplotlib.colormaps["OrRd"]
        strip.set_ylim(0, 1)
        strip.set_yticks([])
        strip.set_title(text("html.chart.incidents"), loc="left", fontsize=8)
        for inc in reversed(marked):  # the first ranks on top
            x0 = min(inc.x0, inc.x1 - width / 2)
            patch = Rectangle((x0, 0.1), max(inc.x1 - inc.x0, width), 0.55,
                              facecolor=cmap(0.35 + 0.65 * min(max(inc.score, 0.0), 1.0)),
                              edgecolor="#7f0000", linewidth=0.3)
            patch.set_gid(f"incident-{inc.rank}")
            strip.add_patch(patch)
            if inc.rank <= LABELLED:
                strip.text((inc.x0 + inc.x1) / 2, 0.72, str(inc.rank), ha="center", va="bottom", fontsize=7,
                           gid=f"incident-label-{inc.rank}")
        counts = bin_counts(edges, axis.x[np.isfinite(axis.x)])
        volume.stairs(counts, edges, fill=True, color="#7f7f7f", alpha=0.6)
        volume.set_title(text("html.chart.volume"), loc="left", fontsize=8)
        volume.set_ylim(bottom=0)
        for ax, track in zip(axes[2:], tracks):
            cx, cy = _binned_max(edges, track.x, np.minimum(track.y, RATIO_CAP) if track.ratio else track.y)
            colour = DETECTOR_COLOURS.get(track.key, "#333333")
            if track.points:
                ax.vlines(cx, 0, cy, color=colour, linewidth=0.9)
            else:
                ax.plot(cx, cy, "-", color=colour, linewidth=0.9)
            if track.ratio:
                ax.axhline(1.0, color="#444444", linestyle="--", linewidth=0.7)
            ax.set_ylim(bottom=0)
            title = text(f"html.chart.{track.key}") + (", " + text("html.chart.ratio") if track.ratio else "")
            ax.set_title(title, loc="left", fontsize=8)
        for ax in axes[1:]:
            for inc in marked[:LABELLED]:
                ax.axvspan(inc.x0 - width / 2, inc.x1 + width / 2, color="#d62728", alpha=0.10, linewidth=0)
        last = axes[-1]
        if axis.by_time:
            locator = mdates.AutoDateLocator()
            last.xaxis.set_major_locator(locator)
            last.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
            last.set_xlabel(text("html.chart.time"))
        else:
            last.set_xlabel(text("html.chart.line"))
        last.set_xlim(edges[0] - width, edges[-1] + width)
        return _finish(fig, text("html.chart.label"))


def heatmap_svg(panels: Sequence[tuple[str, Sequence[Sequence[float]]]], days: Sequence[str],
                text: Callable[[str], str]) -> Markup | None:
    """Hour-of-day x day-of-week heatmaps (7 x 24, Monday first) side by side, as inline SVG."""
    from matplotlib.figure import Figure

    panels = [(title, np.asarray(m, dtype=float)) for title, m in panels if m is not None]
    panels = [(title, m) for title, m in panels if m.shape == (7, 24)]
    if not panels:
        return None
    with _drawing(**{"svg.hashsalt": "alog-detect-heatmap"}):
        fig = Figure(figsize=(5.2 * len(panels), 2.6), layout="constrained")
        axes = np.atleast_1d(fig.subplots(1, len(panels)))
        for ax, (title, m) in zip(axes, panels):
            im = ax.imshow(m, aspect="auto", cmap="viridis", interpolation="nearest")
            ax.set_yticks(range(7), list(days))
            ax.set_xticks(range(0, 24, 3), [str(h) for h in range(0, 24, 3)])
            ax.set_xlabel(text("html.chart.hour"))
            ax.set_title(title, loc="left", fontsize=8)
            ax.spines[:].set_visible(False)
            fig.colorbar(im, ax=ax, shrink=0.85)
        return _finish(fig, text("html.temporal.label"))
