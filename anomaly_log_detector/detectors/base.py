"""The one detector contract shared by the baseline, DeepLog, MS-CRED and the identifier flows.

Conventions (from scikit-learn / PyOD):

* ``__init__`` only stores settings (keyword arguments, kept as attributes of the same name).
* ``fit(X)`` learns from normal data and returns ``self``; learned state ends in ``_``.
* ``score(X)`` returns a 1-D float array, one value per scoring unit of ``X`` (a window, a session...),
  **higher is more anomalous**.
* ``fit`` sets ``threshold_`` from the training scores (a quantile, or a rule the detector documents).
* ``predict(X)`` is ``score(X) > threshold_`` and is written once, here.
* ``save(path)`` writes one file in a safe format (JSON / npz / ``torch.save`` of a state dict);
  ``load(path)`` rebuilds the detector without executing code from the file.

What ``X`` is depends on the detector and is documented on each ``fit``: the baseline takes parsed lines
(a DataFrame with ``template_id``), DeepLog takes sessions (a sequences DataFrame with ``events``), the
flow detector parsed lines with their text (``content``, ``timestamp``).
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from anomaly_log_detector.errors import ModelError


class NotFittedError(ModelError):
    """The detector was used before ``fit`` (or ``load``)."""


class Detector:
    """Base class: subclasses implement ``fit``, ``score``, ``save`` and ``load``."""

    #: short registry name, e.g. "baseline", "deeplog", "mscred"
    name: str = "detector"

    threshold_: float

    # ---- parameters -------------------------------------------------------------------------
    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, read back from the attributes of the same name."""
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ---- the contract -----------------------------------------------------------------------
    def fit(self, X, y=None) -> "Detector":  # pragma: no cover - abstract
        raise NotImplementedError

    def score(self, X) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def predict(self, X) -> np.ndarray:
        """Boolean anomaly flags: ``score(X) > threshold_``."""
        self._check_fitted()
        return np.asarray(self.score(X)) > self.threshold_

    def save(self, path) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def load(cls, path) -> "Detector":  # pragma: no cover - abstract
        raise NotImplementedError

    # ---- helpers for subclasses -------------------------------------------------------------
    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "threshold_")

    def _check_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit() or load() first")

    @staticmethod
    def quantile_threshold(train_scores: np.ndarray, quantile: float) -> float:
        """Threshold = the `quantile` of the training scores (0 when there are none)."""
        s = np.asarray(train_scores, dtype=float)
        s = s[np.isfinite(s)]
        return float(np.quantile(s, quantile)) if s.size else 0.0
