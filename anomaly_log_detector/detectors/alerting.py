"""Line alerts from what operators look at: the line's severity, how new its message is, and whether
DeepLog finds it out of sequence, combined into one score.

Per parsed line (in input order):

* ``severity`` - from the ``level`` column: critical class (emerg, panic, alert, crit, fatal) 1.0,
  error class (err, error, severe, failure) 0.6, warning 0.3, anything else 0.
* ``novel`` - 1 when the template never occurred in the training lines (``<UNSEEN>`` included).
  ``novelty`` is how new: ``1 - `` the word overlap of the line's masked text with the nearest training
  template (similarity.py), so a close variant of a known message counts less than a message never
  seen before (``similarity=False``: every new template counts 1).
* ``seq_miss`` - 1 when the line's template is known but DeepLog misses it. Standalone (``sequence=True``)
  the layer trains its own DeepLog over one stream per source; in the train workflow the bundle's
  DeepLog verdicts are passed to :meth:`components` instead (``sequence=False``).

``score = w_sev * severity + w_new * novelty + w_seq * seq_miss`` (default weights 1, 1, 0.5) and a line
alerts when ``score > threshold_``. ``threshold_`` is ``alert_at`` (default 1.75): with the default
weights a critical line whose message is mostly new; an error line needs novelty and a sequence miss.
Nothing is learnt from labels. When the training lines carry no level at all, severity cannot
contribute and ``threshold_`` drops by ``w_sev``, so that a clearly new message alone alerts.

Saved as JSON (no inner DeepLog) or, with an inner DeepLog, one ``torch.save`` file of plain types.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from anomaly_log_detector.detectors.alerting_frame import line_frame
from anomaly_log_detector.detectors.base import Detector
from anomaly_log_detector.builders.string_codes import string_codes as codes
from anomaly_log_detector.detectors.similarity import TemplateIndex
from anomaly_log_detector.fileio.jsonio import check_format, finite, loads_checked, read_regular, write_json_atomic
from anomaly_log_detector.detectors.checkpoint import MAX_CHECKPOINT_BYTES, load_checkpoint_bytes, save_checkpoint
from anomaly_log_detector.errors import DataError, ModelError
from anomaly_log_detector.fileio.schema import UNSEEN_TEMPLATE

FORMAT = "alog-detect/alerting"
VERSION = 2
SEVERITY = {
    **dict.fromkeys(("emerg", "emergency", "panic", "alert", "crit", "critical", "fatal"), 1.0),
    **dict.fromkeys(("err", "error", "severe", "failure"), 0.6),
    **dict.fromkeys(("warn", "warning"), 0.3),
}
REQUIRED = ("line_no", "source", "template")
# Lines scored at a time by line_alerts (a few MB of arrays, not ~50 MB at a million lines).
ROW_BLOCK = 1 << 16


def severity(levels: pd.Series) -> np.ndarray:
    """Severity in [0, 1] per line from its level text (unknown or missing levels are 0)."""
    # Each distinct level is read once (a log has a handful), then looked up per line; code -1 (missing) is 0.
    code, distinct = codes(levels)
    key = pd.Series(distinct, dtype="string").str.strip().str.lower()
    return np.append(key.map(SEVERITY).astype("Float64").fillna(0.0).to_numpy(float), 0.0)[code]


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


class _Lines(NamedTuple):
    """Per line: new template, sequence miss; for the new lines at rows `at` (ascending) with a
    nearest known template: the word similarity and the template (or None)."""

    novel: np.ndarray
    seq_miss: np.ndarray
    at: np.ndarray
    sim: np.ndarray
    near: list[str | None]

    @property
    def nearest(self) -> tuple[np.ndarray, list[str | None]]:
        return self.at, self.near


class AlertingDetector(Detector):
    """Per-line alert score over parsed lines (``line_no``, ``source``, ``template``, optional ``level``
    and ``masked``).

    ``deeplog`` holds the settings of the inner DeepLog model (``None``: its defaults with
    ``eos=False``); ``sequence=False`` leaves the inner DeepLog out (verdicts come from outside).
    """

    name = "alerting"

    def __init__(self, weights: tuple[float, float, float] = (1.0, 1.0, 0.5), alert_at: float = 1.75,
                 sequence: bool = True, similarity: bool = True, deeplog: dict | None = None):
        self.weights = tuple(weights)
        self.alert_at = alert_at
        self.sequence = sequence
        self.similarity = similarity
        self.deeplog = deeplog

    def fit(self, X: pd.DataFrame, y=None) -> "AlertingDetector":
        """Learn the known templates (with their training counts), and the DeepLog model, from normal lines."""
        from anomaly_log_detector.builders.deeplog import template_vocab
        from anomaly_log_detector.detectors.deeplog import DeepLogDetector

        _check(X)
        if len(self.weights) != 3 or not all(np.isfinite(w) and w >= 0 for w in self.weights):
            raise DataError("weights must be 3 numbers >= 0 (severity, novelty, sequence)")
        if not np.isfinite(self.alert_at):
            raise DataError("alert_at must be a finite number")
        templates = X["template"].astype("string").dropna()
        counts = templates[templates != UNSEEN_TEMPLATE].value_counts()
        self.templates_ = sorted(counts.index)
        self.template_counts_ = {str(t): int(c) for t, c in counts.items()}
        self.deeplog_ = None
        if self.sequence:
            vocab = template_vocab(self.templates_)
            params = {"eos": False, "calibration": 0.1, **(self.deeplog or {})}
            self.deeplog_ = DeepLogDetector(**params).fit(_line_sequences(X, vocab)[0], vocab=vocab)
        self.has_levels_ = bool("level" in X.columns and (severity(X["level"]) > 0).any())
        self.threshold_ = float(self.alert_at - (0.0 if self.has_levels_ else self.weights[0]))
        return self

    def extend(self, X: pd.DataFrame) -> "AlertingDetector":
        """Learn more normal lines' templates (and levels); the threshold rule stays as fitted."""
        self._check_fitted()
        _check(X)
        templates = X["template"].astype("string").dropna()
        for t, c in templates[templates != UNSEEN_TEMPLATE].value_counts().items():
            self.template_counts_[str(t)] = self.template_counts_.get(str(t), 0) + int(c)
        self.templates_ = sorted(self.template_counts_)
        has_levels = self.has_levels_ or bool("level" in X.columns and (severity(X["level"]) > 0).any())
        if has_levels != self.has_levels_:
            self.has_levels_ = has_levels
            self.threshold_ = float(self.alert_at - (0.0 if has_levels else self.weights[0]))
        self.__dict__.pop("_index", None)
        return self

    def nearest(self, texts) -> tuple[np.ndarray, list[str | None]]:
        """(word similarity, nearest training template) of each text."""
        self._check_fitted()
        if "_index" not in self.__dict__:
            self._index = TemplateIndex(self.templates_)
        sim, at = self._index.nearest(texts)
        return sim, [self.templates_[i] if i >= 0 else None for i in at]

    def components(self, X: pd.DataFrame, seq_miss: np.ndarray | None = None) -> pd.DataFrame:
        """``line_no``, ``source``, ``severity``, ``novel``, ``novelty``, ``nearest``, ``seq_miss``,
        ``score``, ``is_alert`` per line. ``seq_miss`` (bool per line) replaces the inner DeepLog."""
        lines = self._lines(X, seq_miss)
        return line_frame(X, self._block(X, lines, 0, len(X)), lines.nearest)

    def line_alerts(self, X: pd.DataFrame, seq_miss: np.ndarray | None = None) -> tuple[pd.DataFrame, dict[str, int]]:
        """The lines scoring above 0 as `line_alerts.parquet` holds them (``row`` first, ``threshold``
        last: ``components`` of those rows, the same columns and types), and the counts of alerting
        and novel lines among all of them. Scored `ROW_BLOCK` lines at a time; no frame of every line."""
        lines = self._lines(X, seq_miss)
        kept, alert_lines = [], 0
        for a in range(0, max(len(X), 1), ROW_BLOCK):
            part = self._block(X, lines, a, min(a + ROW_BLOCK, len(X)))
            keep = np.flatnonzero(part["score"] > 0)
            kept.append({"row": keep + a, **{k: v[keep] for k, v in part.items()}})
            alert_lines += int(part["is_alert"].sum())
        parts = {k: np.concatenate([p[k] for p in kept]) for k in kept[0]}
        rows = parts.pop("row").astype(np.int64)
        table = line_frame(X, parts, lines.nearest, rows)
        table.insert(0, "row", rows)
        table["threshold"] = self.threshold_
        return table, {"alert_lines": alert_lines, "novel_lines": int(lines.novel.sum())}

    def _lines(self, X: pd.DataFrame, seq_miss: np.ndarray | None) -> "_Lines":
        """What the scores need of all the lines: which are new, the nearest known templates of those,
        and the sequence misses (given, or from the inner DeepLog)."""
        from anomaly_log_detector.builders.vocab import Vocab

        self._check_fitted()
        _check(X)
        novel = np.concatenate([self._novel(X["template"].iloc[a:a + ROW_BLOCK])
                                for a in range(0, max(len(X), 1), ROW_BLOCK)])
        at = np.flatnonzero(novel)
        sim, near = np.zeros(0), []
        if self.similarity and len(at) and "masked" in X.columns:
            # Only the new lines' text is turned into Python strings.
            sim, near = self.nearest(X["masked"].iloc[at].astype("string").fillna("").to_numpy(object))
        else:
            at = at[:0]
        if seq_miss is not None:
            seq_miss = np.asarray(seq_miss, dtype=bool).copy()
            if len(seq_miss) != len(X):
                raise DataError(f"{len(seq_miss)} sequence verdicts for {len(X)} lines")
        else:
            seq_miss = np.zeros(len(X), dtype=bool)
            if self.deeplog_ is not None:
                vocab = Vocab(dict(self.deeplog_.vocab_ or {}))
                sessions, rows = _line_sequences(X, vocab)
                ws = self.deeplog_.evaluate(sessions)
                line = ws.windows.event >= 0  # EOS windows (if eos was asked for) belong to no line
                seq_miss[rows[ws.windows.event[line]]] = ~ws.in_topk[line]
        seq_miss &= ~novel  # a new template is counted once, as novelty
        return _Lines(novel, seq_miss, at, sim, near)

    def _block(self, X: pd.DataFrame, lines: "_Lines", a: int, b: int) -> dict[str, np.ndarray]:
        """The numeric components of rows a to b."""
        sev = severity(X["level"].iloc[a:b]) if "level" in X.columns else np.zeros(b - a)
        novel = lines.novel[a:b]
        novelty = novel.astype(float)
        i, j = np.searchsorted(lines.at, [a, b])
        novelty[lines.at[i:j] - a] = 1.0 - lines.sim[i:j]
        seq_miss = lines.seq_miss[a:b]
        w_sev, w_new, w_seq = self.weights
        # w_sev * sev + w_new * novelty + w_seq * seq_miss: the same sums in the same order, with one
        # temporary array instead of three.
        score = w_sev * sev
        score += w_new * novelty
        score += w_seq * seq_miss
        return {"severity": sev, "novel": novel, "novelty": novelty, "seq_miss": seq_miss, "score": score,
                "is_alert": score > self.threshold_}

    def _novel(self, templates: pd.Series) -> np.ndarray:
        """Whether each line's template is not a training one (a missing template is new)."""
        code, distinct = codes(templates)
        # Each distinct template is looked up once; code -1 (missing) takes the last entry.
        return ~np.append(pd.Index(distinct).isin(self.templates_), False)[code]

    def score(self, X: pd.DataFrame) -> np.ndarray:
        return self.components(X)["score"].to_numpy(float)

    def to_dict(self) -> dict[str, Any]:
        """The fitted layer as plain JSON types (only without an inner DeepLog)."""
        self._check_fitted()
        return {"format": FORMAT, "version": VERSION,
                "params": {**self.get_params(), "weights": list(self.weights)},
                "template_counts": self.template_counts_, "has_levels": self.has_levels_,
                "threshold": self.threshold_}

    def save(self, path) -> None:
        """JSON without an inner DeepLog; else one ``torch.save`` file of plain types and tensors."""
        state = self.to_dict()
        if self.deeplog_ is None:
            write_json_atomic(path, state)
        else:
            save_checkpoint({**state, "deeplog": self.deeplog_.to_checkpoint()}, path)

    @classmethod
    def load(cls, path) -> "AlertingDetector":
        """A layer saved by :meth:`save`: JSON, or a checkpoint read with ``weights_only=True``."""
        try:
            data = read_regular(path, MAX_CHECKPOINT_BYTES)
            state: Any = (loads_checked(data) if data[:1] == b"{"
                          else load_checkpoint_bytes(data, str(path), "alerting model"))
        except FileNotFoundError:
            raise ModelError(f"{path}: alerting model not found") from None
        except OSError as exc:
            raise ModelError(f"{path}: cannot read alerting model: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise ModelError(f"{path}: cannot read alerting model: {exc}") from None
        return cls.from_dict(state, str(path))

    @classmethod
    def from_dict(cls, state: Any, where: str = "alerting model") -> "AlertingDetector":
        """Rebuild and validate a layer saved by :meth:`save` (ModelError naming ``where`` if invalid);
        every number must be a finite JSON number (a stored "nan" passes ``float()``)."""
        from anomaly_log_detector.detectors.deeplog import DeepLogDetector

        check_format(state, FORMAT, VERSION, where, "alerting model", ModelError)
        try:
            params = state["params"]
            if not isinstance(params, dict):
                raise ValueError("params must be an object")
            params = dict(params)
            if "weights" in params:
                if not isinstance(params["weights"], list) or len(params["weights"]) != 3:
                    raise ValueError("weights must be 3 numbers")
                params["weights"] = tuple(finite(w, "a weight", 0.0) for w in params["weights"])
            if "alert_at" in params:
                params["alert_at"] = finite(params["alert_at"], "alert_at")
            for name in ("sequence", "similarity"):
                if name in params and not isinstance(params[name], bool):
                    raise ValueError(f"{name} must be true or false")
            det = cls(**params)
            counts = state["template_counts"]
            if not isinstance(counts, dict) or not all(type(c) is int and c >= 0 for c in counts.values()):
                raise ValueError("template_counts must map templates to counts")
            det.template_counts_ = {str(t): int(c) for t, c in counts.items()}
            det.templates_ = sorted(det.template_counts_)
            if not isinstance(state["has_levels"], bool):
                raise ValueError("has_levels must be true or false")
            det.has_levels_ = state["has_levels"]
            det.threshold_ = finite(state["threshold"], "threshold")
            if len(det.weights) != 3:
                raise ValueError("3 weights are needed (severity, novelty, sequence)")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: invalid alerting model ({exc})") from None
        det.deeplog_ = (DeepLogDetector.from_checkpoint(state["deeplog"], where)
                        if state.get("deeplog") is not None else None)
        return det


def _check(X: pd.DataFrame) -> None:
    if not isinstance(X, pd.DataFrame):
        raise DataError("the alerting layer takes parsed lines as a pandas DataFrame")
    missing = [c for c in REQUIRED if c not in X.columns]
    if missing:
        raise DataError(f"parsed lines lack column(s) {', '.join(missing)}")
