"""Line alerts from what operators look at: the line's severity, whether its template is new, and
whether DeepLog finds it out of sequence, combined into one score.

Per parsed line (in input order):

* ``severity`` - from the ``level`` column: critical class (emerg, panic, alert, crit, fatal) 1.0,
  error class (err, error, severe, failure) 0.6, warning 0.3, anything else 0.
* ``novel`` - 1 when the template never occurred in the training lines (``<UNSEEN>`` included).
* ``seq_miss`` - 1 when the line's template is known but DeepLog (trained on the training lines as one
  stream per source, no end-of-session key) does not have it among its candidates.

``score = w_sev * severity + w_new * novel + w_seq * seq_miss`` (default weights 1, 1, 0.5) and a line
alerts when ``score > threshold_``. ``threshold_`` is ``alert_at`` (default 1.75), which with the default
weights means a critical line with a new template; an error line needs both novelty and more. The
sequence term mostly orders lines (it is below the threshold with any single other signal) because on
its own it fires on many normal lines. Nothing is learnt from labels. When the training lines carry
no level at all, severity cannot contribute and ``threshold_`` drops by ``w_sev``, so that a new
template alone alerts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from anomaly_log_detector.detectors.base import Detector
from anomaly_log_detector.jsonio import check_format
from anomaly_log_detector.detectors.checkpoint import load_checkpoint, save_checkpoint
from anomaly_log_detector.errors import DataError, ModelError
from anomaly_log_detector.schema import UNSEEN_TEMPLATE

FORMAT = "alog-detect/alerting"
VERSION = 1
SEVERITY = {
    **dict.fromkeys(("emerg", "emergency", "panic", "alert", "crit", "critical", "fatal"), 1.0),
    **dict.fromkeys(("err", "error", "severe", "failure"), 0.6),
    **dict.fromkeys(("warn", "warning"), 0.3),
}
REQUIRED = ("line_no", "source", "template")


def severity(levels: pd.Series) -> np.ndarray:
    """Severity in [0, 1] per line from its level text (unknown or missing levels are 0)."""
    key = levels.astype("string").str.strip().str.lower()
    return key.map(SEVERITY).astype("Float64").fillna(0.0).to_numpy(float)


def _line_sequences(X: pd.DataFrame, vocab) -> tuple[pd.DataFrame, np.ndarray]:
    """One DeepLog session per source (lines in input order), and the row of X behind each event of
    the sessions laid end to end."""
    events = np.asarray(vocab.encode(X["template"].astype("string").fillna(UNSEEN_TEMPLATE).tolist()), np.int64)
    source = X["source"].astype("string").fillna("").to_numpy()
    line_no = X["line_no"].to_numpy(np.int64)
    sessions, rows = [], []
    for name in pd.unique(source):
        at = np.flatnonzero(source == name)
        sessions.append({"session": name, "events": events[at], "line_nos": line_no[at]})
        rows.append(at)
    return pd.DataFrame(sessions), np.concatenate(rows) if rows else np.zeros(0, np.int64)


class AlertingDetector(Detector):
    """Per-line alert score over parsed lines (``line_no``, ``source``, ``template``, optional ``level``).

    ``deeplog`` holds the settings of the inner DeepLog model (``None``: its defaults with
    ``eos=False``); ``sequence=False`` leaves DeepLog out entirely.
    """

    name = "alerting"

    def __init__(self, weights: tuple[float, float, float] = (1.0, 1.0, 0.5), alert_at: float = 1.75,
                 sequence: bool = True, deeplog: dict | None = None):
        self.weights = tuple(weights)
        self.alert_at = alert_at
        self.sequence = sequence
        self.deeplog = deeplog

    def fit(self, X: pd.DataFrame, y=None) -> "AlertingDetector":
        """Learn the known templates (and the DeepLog model) from normal lines."""
        from anomaly_log_detector.builders.deeplog import template_vocab
        from anomaly_log_detector.detectors.deeplog import DeepLogDetector

        _check(X)
        if len(self.weights) != 3:
            raise DataError("weights must be 3 numbers (severity, novelty, sequence)")
        templates = X["template"].astype("string").dropna()
        self.templates_ = sorted(set(templates[templates != UNSEEN_TEMPLATE]))
        self.deeplog_ = None
        if self.sequence:
            vocab = template_vocab(self.templates_)
            params = {"eos": False, **(self.deeplog or {})}
            self.deeplog_ = DeepLogDetector(**params).fit(_line_sequences(X, vocab)[0], vocab=vocab)
        self.has_levels_ = bool("level" in X.columns and (severity(X["level"]) > 0).any())
        self.threshold_ = float(self.alert_at - (0.0 if self.has_levels_ else self.weights[0]))
        return self

    def components(self, X: pd.DataFrame) -> pd.DataFrame:
        """``line_no``, ``source``, ``severity``, ``novel``, ``seq_miss``, ``score``, ``is_alert`` per line."""
        from anomaly_log_detector.builders.vocab import Vocab

        self._check_fitted()
        _check(X)
        sev = severity(X["level"]) if "level" in X.columns else np.zeros(len(X))
        novel = ~X["template"].astype("string").isin(self.templates_).fillna(False).to_numpy(bool)
        seq_miss = np.zeros(len(X), dtype=bool)
        if self.deeplog_ is not None:
            vocab = Vocab(dict(self.deeplog_.vocab_ or {}))
            sessions, rows = _line_sequences(X, vocab)
            ws = self.deeplog_.evaluate(sessions)
            line = ws.windows.event >= 0  # EOS windows (if eos was asked for) belong to no line
            seq_miss[rows[ws.windows.event[line]]] = ~ws.in_topk[line]
            seq_miss &= ~novel  # a new template is counted once, as novelty
        w_sev, w_new, w_seq = self.weights
        score = w_sev * sev + w_new * novel + w_seq * seq_miss
        return pd.DataFrame({"line_no": X["line_no"].to_numpy(np.int64), "source": X["source"].to_numpy(),
                             "severity": sev, "novel": novel, "seq_miss": seq_miss, "score": score,
                             "is_alert": score > self.threshold_})

    def score(self, X: pd.DataFrame) -> np.ndarray:
        return self.components(X)["score"].to_numpy(float)

    def save(self, path) -> None:
        """One ``torch.save`` file of plain types (and the DeepLog checkpoint when there is one)."""
        self._check_fitted()
        state = {"format": FORMAT, "version": VERSION, "params": {**self.get_params(), "weights": list(self.weights)},
                 "templates": self.templates_, "has_levels": self.has_levels_, "threshold": self.threshold_,
                 "deeplog": self.deeplog_.to_checkpoint() if self.deeplog_ is not None else None}
        save_checkpoint(state, path)

    @classmethod
    def load(cls, path) -> "AlertingDetector":
        from anomaly_log_detector.detectors.deeplog import DeepLogDetector

        state: Any = load_checkpoint(path, "alerting model")
        check_format(state, FORMAT, VERSION, str(path), "alerting model", ModelError)
        try:
            det = cls(**state["params"])
            det.templates_ = [str(t) for t in state["templates"]]
            det.has_levels_ = bool(state["has_levels"])
            det.threshold_ = float(state["threshold"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{path}: invalid alerting model ({exc})") from None
        det.deeplog_ = (DeepLogDetector.from_checkpoint(state["deeplog"], str(path))
                        if state.get("deeplog") is not None else None)
        return det


def _check(X: pd.DataFrame) -> None:
    if not isinstance(X, pd.DataFrame):
        raise DataError("the alerting layer takes parsed lines as a pandas DataFrame")
    missing = [c for c in REQUIRED if c not in X.columns]
    if missing:
        raise DataError(f"parsed lines lack column(s) {', '.join(missing)}")
