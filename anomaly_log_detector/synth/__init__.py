"""Synthetic syslog with ground truth (`alog-detect gen-synth`): normal events (events.py), injected
anomalies (anomalies.py) and the generator that renders both with per-line labels (generator.py)."""

from anomaly_log_detector.synth.generator import ANOMALY_TYPES, generate_synthetic_log, labels_path

__all__ = ["ANOMALY_TYPES", "generate_synthetic_log", "labels_path"]
