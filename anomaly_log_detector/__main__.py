"""`python -m anomaly_log_detector` is the same as `alog-detect`."""

from anomaly_log_detector.cli import main

if __name__ == "__main__":
    main()
