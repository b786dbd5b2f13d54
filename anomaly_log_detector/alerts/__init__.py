"""Alerts over detector predictions: a pure rule engine (:mod:`.engine`) and the DeepLog Enhanced
file-level entry point (:mod:`.enhanced`, imported lazily: it needs torch)."""

from anomaly_log_detector.alerts.engine import AlertResult, AlertSettings, run_alerts

__all__ = ["AlertResult", "AlertSettings", "run_alerts"]
