"""Statistical baseline: sliding windows of parsed lines scored against normal-log statistics.

Each window (builders/mscred.py windows: `window_size` lines, `stride` apart, per source) gets three
components in [0, 1):

* ``new_ratio`` — share of its lines whose template never occurred in training (incl. ``<UNSEEN>``).
* ``freq_change`` — how far the per-window frequency of each known template is from its training
  statistics: z_t = |f_t - m_t| / (sqrt(s_t^2 + m_t(1 - m_t)/L) + 1/L) with m_t, s_t^2 the mean and
  variance of f_t over *all* training windows (``alpha=None``; a number gives the older exponentially
  weighted statistics, which remembered only the last ~45 windows) and L the window's real length: a
  10-line window of a small source varies more by chance than a full one, and the binomial term and
  the 1/L floor say so. The RMS of z over the templates present in the window or in training,
  squashed as z / (z + z_scale).
* ``severity`` — excess of the share of error-level lines (``level`` in SEVERE_LEVELS) over its
  training EWM statistics, squashed the same way; 0 when training had no ``level`` values.

``score`` = weighted sum of the three; ``threshold_`` = the ``quantile`` of the training windows'
scores. ``evidence_lines`` names the lines that explain a window (what reports and line-level eval
point at): a line scores w_new*[new template] + w_sev*[error level] + w_freq*squash(z of its template
in that window), and the lines scoring above ``line_threshold_`` (the ``line_quantile`` of the
training lines' best scores) are the window's evidence; a window flagged as a whole may have none.
``line_quantile`` defaults to the same 0.95 as ``quantile``; the workflows (``alog-detect train``) use
0.99 for both, a priori: one normal window in a hundred rather than one in twenty.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from anomaly_log_detector.builders.mscred import blocks, count_matrix, pair_rows, window_bounds, window_table
from anomaly_log_detector.builders.string_codes import string_codes as codes
from anomaly_log_detector.detectors.base import Detector
from anomaly_log_detector.fileio.jsonio import check_format, finite, read_json, write_json_atomic
from anomaly_log_detector.errors import DataError, ModelError
from anomaly_log_detector.fileio.schema import UNSEEN_TEMPLATE

FORMAT = "alog-detect/baseline"
VERSION = 1
COMPONENTS = ("new_ratio", "freq_change", "severity")
# Levels counted as errors (lower-case): syslog 0-3 names, Java/log4j, BGL (FATAL, SEVERE, FAILURE).
SEVERE_LEVELS = frozenset({"emerg", "emergency", "panic", "alert", "crit", "critical", "err", "error",
                           "fatal", "severe", "failure"})
REQUIRED = ("line_no", "source", "template")


def _moments(rows: np.ndarray | sparse.csr_matrix, alpha: float | None, n_before: int = 0,
             start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the rows: over all of them (``alpha`` None; merged with ``start``, the
    moments of ``n_before`` earlier rows, when given), or exponentially weighted (see _ewm)."""
    if alpha is not None:
        return _ewm(rows, alpha, start=start)
    n = rows.shape[0]
    if sparse.issparse(rows):
        mean = np.asarray(rows.mean(axis=0)).ravel()
        sq = rows.copy()
        sq.data **= 2
        var = np.maximum(np.asarray(sq.mean(axis=0)).ravel() - mean ** 2, 0.0)
    else:
        dense = np.asarray(rows, dtype=float)
        mean, var = dense.mean(axis=0), dense.var(axis=0)
    if start is None or n_before == 0:
        return mean, var
    # Chan et al.'s parallel combination of two sets of moments.
    m0, v0 = np.asarray(start[0], float), np.asarray(start[1], float)
    total = n_before + n
    delta = mean - m0
    merged = m0 + delta * n / total
    merged_var = (v0 * n_before + var * n + delta ** 2 * n_before * n / total) / total
    return merged, merged_var


def _ewm(rows: np.ndarray | sparse.csr_matrix, alpha: float, block: int = 1024,
         start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exponentially weighted mean and variance over the rows, in order (West's incremental form),
    continuing from `start` (mean, var) when given. Sparse rows are densified `block` at a time, so
    memory stays bounded with many templates."""
    mean, var = (None, None) if start is None else (np.array(start[0], float), np.array(start[1], float))
    for b in range(0, rows.shape[0], block):
        chunk = rows[b:b + block]
        dense = chunk.toarray() if sparse.issparse(chunk) else np.asarray(chunk, dtype=float)
        for x in dense:
            if mean is None:
                mean, var = x.astype(float), np.zeros(len(x))
                continue
            delta = x - mean
            mean += alpha * delta
            var = (1.0 - alpha) * (var + alpha * delta * delta)
    return mean, var


def _squash(z: np.ndarray, scale: float) -> np.ndarray:
    return z / (z + scale)


def _severe_share(severe: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Share of each window's lines that are at an error level."""
    csum = np.concatenate([[0], np.cumsum(severe)])
    return (csum[ends] - csum[starts]) / (ends - starts)


def _pair_counts(keys: np.ndarray, n_keys: int) -> np.ndarray:
    """How often each element's key occurs among `keys` (integers below `n_keys`): a table lookup
    when the keys are few enough, else a sort."""
    if n_keys <= 1 << 22:
        return np.bincount(keys, minlength=n_keys)[keys]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return counts[inverse]


class BaselineDetector(Detector):
    """Window scores from template novelty, template-frequency change and error levels.

    `fit(X)` / `score(X)` take parsed lines: a DataFrame with `line_no`, `source`, `template` (and
    optionally `level`), in input order. The scoring unit is a window; `score_windows(X)` returns the
    full table (bounds, line numbers, components, evidence lines).
    """

    name = "baseline"

    def __init__(self, window_size: int = 50, stride: int = 25, quantile: float = 0.95, alpha: float | None = None,
                 z_scale: float = 3.0, weights: tuple[float, float, float] = (1.0, 1.0, 1.0),
                 line_quantile: float = 0.95):
        self.window_size = window_size
        self.stride = stride
        self.quantile = quantile
        self.line_quantile = line_quantile
        self.alpha = alpha
        self.z_scale = z_scale
        self.weights = tuple(weights)

    # ---- input -------------------------------------------------------------------------------
    def _check_params(self) -> None:
        # Each test is written so that NaN (which fails every comparison) fails it.
        if not (0.0 <= self.quantile <= 1.0 and 0.0 <= self.line_quantile <= 1.0):
            raise DataError(f"quantiles must be within [0, 1] (got {self.quantile}, {self.line_quantile})")
        if self.alpha is not None and not 0.0 < self.alpha <= 1.0:
            raise DataError(f"alpha must be within (0, 1] (got {self.alpha})")
        if (len(self.weights) != len(COMPONENTS) or not all(0.0 <= w < np.inf for w in self.weights)
                or not 0.0 < self.z_scale < np.inf):
            raise DataError("weights must be 3 finite numbers >= 0 (new, freq, severity) and z_scale a finite "
                            "number > 0")

    @staticmethod
    def _check_frame(X: pd.DataFrame) -> None:
        if not isinstance(X, pd.DataFrame):
            raise DataError("the baseline takes parsed lines as a pandas DataFrame")
        missing = [c for c in REQUIRED if c not in X.columns]
        if missing:
            raise DataError(f"parsed lines lack column(s) {', '.join(missing)}")
        if X.empty:
            raise DataError("no parsed lines to score")

    @staticmethod
    def _severe(X: pd.DataFrame) -> np.ndarray:
        """Whether each line's level is an error level (a missing level is not)."""
        if "level" not in X.columns:
            return np.zeros(len(X), dtype=bool)
        # Each distinct level is judged once (a log has a handful), then looked up per line.
        code, distinct = codes(X["level"])
        severe = pd.Series(distinct, dtype="string").str.strip().str.lower().isin(SEVERE_LEVELS)
        return np.append(severe.fillna(False).to_numpy(bool), False)[code]

    def _windows(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        return window_bounds(X["source"], self.window_size, self.stride)

    # ---- the contract ------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None) -> "BaselineDetector":
        """Learn template statistics from normal parsed lines; set `threshold_`."""
        self._check_params()
        self._check_frame(X)
        X = X.reset_index(drop=True)
        templates = X["template"].astype("string")
        self.templates_ = sorted(set(templates.dropna()) - {UNSEEN_TEMPLATE})
        self.uses_level_ = bool("level" in X.columns and X["level"].notna().any())
        starts, ends = self._windows(X)
        tidx = self._template_index(X)
        freq, _ = self._frequencies(tidx, starts, ends)
        self.mean_, self.var_ = _moments(freq, self.alpha)
        del freq
        severe = self._severe(X)
        sev_mean, sev_var = _moments(_severe_share(severe, starts, ends)[:, None], self.alpha)
        self.severity_mean_, self.severity_var_ = float(sev_mean[0]), float(sev_var[0])
        self.train_windows_ = int(len(starts))
        self.line_threshold_ = self._line_threshold(X, starts, ends, tidx, severe)
        # Set last: `threshold_` is what marks the detector as fitted.
        self.threshold_ = self.quantile_threshold(self._table(X, starts, ends, tidx, severe)["score"].to_numpy(float),
                                                  self.quantile)
        return self

    def partial_fit(self, X: pd.DataFrame) -> "BaselineDetector":
        """Continue a fitted detector on more normal lines (incremental training).

        Templates first seen in `X` are appended with mean and variance 0; the EWM statistics then
        continue from the fitted state over `X`'s windows, so old templates stay known while recent
        behaviour weighs more. Both thresholds are recomputed from `X`'s scores."""
        self._check_fitted()
        self._check_frame(X)
        X = X.reset_index(drop=True)
        added = sorted(set(X["template"].astype("string").dropna()) - set(self.templates_) - {UNSEEN_TEMPLATE})
        self.templates_ = [*self.templates_, *added]
        self.uses_level_ = self.uses_level_ or bool("level" in X.columns and X["level"].notna().any())
        starts, ends = self._windows(X)
        tidx = self._template_index(X)
        freq, _ = self._frequencies(tidx, starts, ends)
        pad = np.zeros(len(added))
        self.mean_, self.var_ = _moments(freq, self.alpha, self.train_windows_,
                                         start=(np.concatenate([self.mean_, pad]), np.concatenate([self.var_, pad])))
        severe = self._severe(X)
        sev_mean, sev_var = _moments(_severe_share(severe, starts, ends)[:, None], self.alpha, self.train_windows_,
                                     start=(np.array([self.severity_mean_]), np.array([self.severity_var_])))
        self.severity_mean_, self.severity_var_ = float(sev_mean[0]), float(sev_var[0])
        self.train_windows_ += int(len(starts))
        del freq
        self.line_threshold_ = self._line_threshold(X, starts, ends, tidx, severe)
        self.threshold_ = self.quantile_threshold(self._table(X, starts, ends, tidx, severe)["score"].to_numpy(float),
                                                  self.quantile)
        return self

    def score(self, X: pd.DataFrame) -> np.ndarray:
        """One score per window, higher is more anomalous."""
        return self.score_windows(X, evidence=False)["score"].to_numpy(float)

    def score_windows(self, X: pd.DataFrame, evidence: bool = True) -> pd.DataFrame:
        """Per-window table: bounds, `window_start_line`/`window_end_line`, components, score, flag."""
        self._check_fitted()
        self._check_frame(X)
        X = X.reset_index(drop=True)
        starts, ends = self._windows(X)
        tidx = self._template_index(X)
        # Only a model trained with levels scores severity.
        severe = self._severe(X) if self.uses_level_ else None
        table = self._table(X, starts, ends, tidx, severe)
        table["is_anomaly"] = table["score"].to_numpy() > self.threshold_
        table["threshold"] = self.threshold_
        if evidence:
            table["evidence_lines"] = self._evidence(X, starts, ends, tidx, severe)
        return table

    # ---- pieces ------------------------------------------------------------------------------
    def _table(self, X: pd.DataFrame, starts: np.ndarray, ends: np.ndarray, tidx: np.ndarray,
               severe: np.ndarray | None) -> pd.DataFrame:
        """Window bounds, components and score of (index-reset) parsed lines; `severe` is
        :meth:`_severe` of the lines (needed when `uses_level_`)."""
        lengths = (ends - starts).astype(float)
        novel, rms_z = np.zeros(len(starts)), np.zeros(len(starts))
        # A block of windows at a time: each window's numbers come from its own row of counts.
        for b in blocks(len(starts)):
            freq, novel[b] = self._frequencies(tidx, starts[b], ends[b])
            rms_z[b] = self._rms_z(freq, lengths[b])
        new_ratio = novel / lengths
        freq_change = _squash(rms_z, self.z_scale)
        severity = np.zeros(len(starts))
        if self.uses_level_:
            share = _severe_share(severe, starts, ends)
            m = min(max(self.severity_mean_, 0.0), 1.0)
            z = np.maximum(0.0, share - self.severity_mean_) / (np.sqrt(self.severity_var_ + m * (1 - m) / lengths)
                                                                 + 1.0 / lengths)
            severity = _squash(z, self.z_scale)
        w_new, w_freq, w_sev = self.weights
        table = window_table(X, starts, ends).rename(
            columns={"start_line": "window_start_line", "end_line": "window_end_line"})
        table["new_ratio"], table["freq_change"], table["severity"] = new_ratio, freq_change, severity
        table["score"] = w_new * new_ratio + w_freq * freq_change + w_sev * severity
        return table

    def _template_index(self, X: pd.DataFrame) -> np.ndarray:
        """Index into `templates_` per line; len(templates_) for templates not seen in training."""
        unknown = len(self.templates_)
        # Look up each distinct template once (a log has few), not every line in a Python loop.
        code, distinct = codes(X["template"])
        lookup = {t: i for i, t in enumerate(self.templates_)}
        index = np.fromiter((lookup.get(t, unknown) for t in distinct), dtype=np.int64, count=len(distinct))
        # Code -1, a missing template, reads as <UNSEEN> (the last entry).
        index = np.append(index, lookup.get(UNSEEN_TEMPLATE, unknown))
        return index[code] if len(code) else np.zeros(0, dtype=np.int64)

    def _frequencies(self, tidx: np.ndarray, starts: np.ndarray, ends: np.ndarray):
        """(windows x templates sparse frequencies of known templates, novel line count per window)."""
        T = len(self.templates_)
        counts = count_matrix(tidx, starts, ends, T + 1).astype(float)
        novel = counts[:, T].toarray().ravel()
        lengths = (ends - starts).astype(float)
        freq = sparse.diags(1.0 / lengths) @ counts[:, :T]
        return freq.tocsr(), novel

    def _scale(self, length: float) -> np.ndarray:
        """Per template: the spread of a window frequency over ``length`` lines (see the docstring)."""
        m = np.clip(self.mean_, 0.0, 1.0)
        return np.sqrt(self.var_ + m * (1.0 - m) / length) + 1.0 / length

    def _rms_z(self, freq: sparse.csr_matrix, lengths: np.ndarray) -> np.ndarray:
        """RMS template z-score per window, from sparse rows: absent templates contribute (m/d)^2.
        Windows are handled per distinct length (there are few: full windows and source tails)."""
        sumsq = np.zeros(freq.shape[0])
        for length in np.unique(lengths):
            at = np.flatnonzero(lengths == length)
            d = self._scale(float(length))
            base = (self.mean_ / d) ** 2
            present = freq[at].tocsr(copy=True)
            cols = present.indices
            present.data = ((present.data - self.mean_[cols]) / d[cols]) ** 2 - base[cols]
            sumsq[at] = base.sum() + np.asarray(present.sum(axis=1)).ravel()
        fresh = freq.copy()
        fresh.data = (self.mean_[fresh.indices] <= 0).astype(float)
        active = int((self.mean_ > 0).sum()) + np.asarray(fresh.sum(axis=1)).ravel()
        return np.sqrt(np.maximum(sumsq, 0.0) / np.maximum(active, 1))

    def _line_scores(self, starts: np.ndarray, ends: np.ndarray, tidx: np.ndarray, severe: np.ndarray | None):
        """Score of every (window, line) pair, a block of windows at a time (a million lines make two
        million pairs): yields (the block's slice of windows, window within the block, row, score).
        Error levels count only when `uses_level_`."""
        severe = severe if self.uses_level_ else None
        for b in blocks(len(starts)):
            win, rows = pair_rows(starts[b], ends[b])
            yield b, win, rows, self._pair_scores(win, tidx[rows], ends[b] - starts[b],
                                                  None if severe is None else severe[rows])

    def _pair_scores(self, win: np.ndarray, t: np.ndarray, lengths: np.ndarray, severe: np.ndarray | None):
        """Line scores of (window, line) pairs: `t` the line's template index, `lengths` per window."""
        T = len(self.templates_)
        # Count of each (window, template) pair, to get the template's frequency in that window.
        f = _pair_counts(win * (T + 1) + t, len(lengths) * (T + 1)) / lengths[win]
        known = t < T
        z = np.zeros(len(t))
        tk = t[known]
        m = np.clip(self.mean_[tk], 0.0, 1.0)
        length = lengths[win][known].astype(float)
        z[known] = np.abs(f[known] - self.mean_[tk]) / (np.sqrt(self.var_[tk] + m * (1 - m) / length) + 1.0 / length)
        w_new, w_freq, w_sev = self.weights
        line_score = w_new * (~known) + w_freq * _squash(z, self.z_scale)
        if severe is not None:
            line_score = line_score + w_sev * severe
        return line_score

    def _line_threshold(self, X: pd.DataFrame, starts: np.ndarray, ends: np.ndarray, tidx: np.ndarray,
                        severe: np.ndarray) -> float:
        """The `line_quantile` of the training lines' scores (a line's score: its best over its windows)."""
        best = np.zeros(len(X))
        for _, _, rows, line_score in self._line_scores(starts, ends, tidx, severe):
            np.maximum.at(best, rows, line_score)
        return self.quantile_threshold(best, self.line_quantile)

    def _evidence(self, X: pd.DataFrame, starts: np.ndarray, ends: np.ndarray, tidx: np.ndarray,
                  severe: np.ndarray | None) -> list[list[int]]:
        """Per window, the line numbers whose line score exceeds `line_threshold_` (maybe none)."""
        line_no = X["line_no"].to_numpy(np.int64)
        out: list[list[int]] = []
        for b, win, rows, line_score in self._line_scores(starts, ends, tidx, severe):
            hit = np.flatnonzero(line_score > self.line_threshold_)
            lists: list[list[int]] = [[] for _ in range(b.stop - b.start)]
            # Pairs come window after window and row after row: each list is in line order.
            for w, n in zip(win[hit].tolist(), line_no[rows[hit]].tolist()):
                lists[w].append(n)
            out.extend(lists)
        return out

    # ---- persistence -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        params = self.get_params()
        params["weights"] = list(params["weights"])
        return {"format": FORMAT, "version": VERSION, "params": params, "templates": self.templates_,
                "mean": self.mean_.tolist(), "var": self.var_.tolist(),
                "severity_mean": self.severity_mean_, "severity_var": self.severity_var_,
                "uses_level": self.uses_level_, "threshold": self.threshold_,
                "line_threshold": self.line_threshold_,
                "train_windows": self.train_windows_}

    def save(self, path: str | os.PathLike) -> None:
        """Write the statistics as JSON (floats round-trip exactly, so scores reload identically)."""
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "BaselineDetector":
        return cls.from_dict(read_json(path, "baseline model", ModelError), str(path))

    @classmethod
    def from_dict(cls, d: dict, where: str = "baseline model") -> "BaselineDetector":
        """Rebuild a model saved by :meth:`to_dict`; every number must be a finite JSON number (a
        stored "nan" or "inf" would pass ``float()`` and silently switch detection off)."""
        check_format(d, FORMAT, VERSION, where, "baseline model", ModelError)
        try:
            det = cls(**_checked_params(d["params"]))
            templates = d["templates"]
            if not isinstance(templates, list) or not all(isinstance(t, str) for t in templates):
                raise ValueError("templates must be a list of strings")
            det.templates_ = list(templates)
            det.mean_ = _finite_array(d["mean"], "mean")
            det.var_ = _finite_array(d["var"], "var")
            det.severity_mean_ = finite(d["severity_mean"], "severity_mean")
            det.severity_var_ = finite(d["severity_var"], "severity_var", 0.0)
            if not isinstance(d["uses_level"], bool):
                raise ValueError("uses_level must be true or false")
            det.uses_level_ = d["uses_level"]
            if type(d["train_windows"]) is not int or d["train_windows"] < 0:
                raise ValueError("train_windows must be a count")
            det.train_windows_ = d["train_windows"]
            det.threshold_ = finite(d["threshold"], "threshold")
            det.line_threshold_ = finite(d["line_threshold"], "line_threshold")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: malformed baseline model ({type(exc).__name__}: {exc})") from None
        n = len(det.templates_)
        if det.mean_.shape != (n,) or det.var_.shape != (n,) or not (det.var_ >= 0).all():
            raise ModelError(f"{where}: statistics do not match its {n} templates")
        try:
            det._check_params()
        except DataError as exc:
            raise ModelError(f"{where}: {exc}") from None
        return det


def _checked_params(params: Any) -> dict[str, Any]:
    """The constructor's arguments as stored: integers for the window, finite numbers elsewhere."""
    if not isinstance(params, dict):
        raise ValueError("params must be an object")
    out = dict(params)
    for name in ("window_size", "stride"):
        if name in out and (type(out[name]) is not int or out[name] < 1):
            raise ValueError(f"{name} must be an integer >= 1, not {out[name]!r}")
    for name in ("quantile", "line_quantile", "z_scale"):
        if name in out:
            out[name] = finite(out[name], name)
    if out.get("alpha") is not None:
        out["alpha"] = finite(out["alpha"], "alpha")
    if "weights" in out:
        if not isinstance(out["weights"], list):
            raise ValueError("weights must be a list of 3 numbers")
        out["weights"] = tuple(finite(w, "a weight", 0.0) for w in out["weights"])
    return out


def _finite_array(values: Any, name: str) -> np.ndarray:
    if not isinstance(values, list) or not all(type(v) in (int, float) for v in values):
        raise ValueError(f"{name} must be a list of numbers")
    arr = np.asarray(values, dtype=float)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} holds a number that is not finite")
    return arr


def run_baseline(parsed_path: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                 model_path: str | os.PathLike | None = None, save_model: str | os.PathLike | None = None,
                 window_size: int = 50, stride: int = 25, quantile: float = 0.95,
                 line_quantile: float = 0.95) -> dict:
    """Fit on `parsed_path` (or load `model_path`), score it into `out_dir/baseline_scores.parquet`.

    Fitting writes the statistics to `save_model` and/or `out_dir/baseline_stats.json`; with
    `model_path` the window settings come from the model. Returns a summary dict.
    """
    from pathlib import Path

    import pyarrow as pa
    import pyarrow.parquet as pq

    from anomaly_log_detector.builders.deeplog import read_parsed

    if out_dir is None and save_model is None:
        raise DataError("nothing to write: give an output folder, a file to save the model to, or both")
    if model_path is not None and save_model is not None:
        raise DataError("--model scores with saved statistics; --save-model saves newly fitted ones: pick one")
    X = read_parsed(parsed_path, REQUIRED, optional=["level"])
    if model_path is not None:
        det = BaselineDetector.load(model_path)
    else:
        det = BaselineDetector(window_size=window_size, stride=stride, quantile=quantile,
                               line_quantile=line_quantile).fit(X)
    summary: dict[str, Any] = {"lines": int(len(X)), "window_size": det.window_size, "stride": det.stride,
                               "threshold": det.threshold_, "model": str(model_path) if model_path else None,
                               "outputs": {}}
    if save_model is not None:
        det.save(save_model)
        summary["outputs"]["model"] = str(save_model)
    if out_dir is None:
        return summary
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if model_path is None:
        det.save(out / "baseline_stats.json")
        summary["outputs"]["stats"] = str(out / "baseline_stats.json")
    table = det.score_windows(X)
    tmp = out / "baseline_scores.parquet.tmp"
    pq.write_table(pa.Table.from_pandas(table, preserve_index=False), tmp)
    os.replace(tmp, out / "baseline_scores.parquet")
    summary["outputs"]["scores"] = str(out / "baseline_scores.parquet")
    flagged = table[table["is_anomaly"]]
    summary.update(windows=int(len(table)), flagged_windows=int(len(flagged)),
                   evidence_lines=int(sum(len(v) for v in flagged["evidence_lines"])),
                   top=flagged.nlargest(5, "score")[["window_start_line", "window_end_line", "score"]]
                   .to_dict("records"))
    return summary
