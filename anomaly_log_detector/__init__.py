"""Anomaly Log Detector: find anomalies in kernel and system logs.

The public API lives in :mod:`anomaly_log_detector.api`; this module stays import-light so that
``alog-detect --help`` never pulls in torch.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
