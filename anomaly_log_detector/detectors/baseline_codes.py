"""Where the baseline and alerting layers import their text-column helpers from; they now live in
builders/string_codes.py (``codes`` is its ``string_codes``). Kept only so that those importers
(detectors/baseline.py, baseline_windows.py, alerting.py, alerting_frame.py) need no change here;
once they import from builders/string_codes.py this module can go."""

from anomaly_log_detector.builders.string_codes import string_codes as codes
from anomaly_log_detector.builders.string_codes import text_at

__all__ = ["codes", "text_at"]
