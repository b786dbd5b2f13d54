"""Scoring detectors against ground truth: metrics (scikit-learn based), label files, and the `eval`
command's runner over a processed folder."""
