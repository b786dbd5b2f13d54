"""The demo scripts run as a user runs them (a subprocess in an empty folder) and leave what they say.

Each trains a small model on generated logs: about 15-20 s on 2 cores.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from helpers import REPO


def run_demo(name: str, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ALOG_DEBUG"}
    proc = subprocess.run([str(REPO / name), "out"], capture_output=True, text=True, cwd=cwd, env=env, timeout=180)
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def non_empty(path: Path) -> Path:
    assert path.is_file() and path.stat().st_size > 0, path
    return path


def test_demo_enhanced_batch(tmp_path):
    stdout = run_demo("demo_enhanced_batch.sh", tmp_path)
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "logs").iterdir()) == ["host11.log", "host12.log", "host13.log",
                                                                "target.log"]
    assert "baseline: 3 file(s)" in stdout
    report = non_empty(out / "batch" / "inference" / "inference_report.md")
    for name in ("anomalies.jsonl", "comparative_analysis.md", "comparative_analysis.json"):
        non_empty(out / "batch" / "inference" / name)
    assert "Report: out/batch/inference/inference_report.md" in stdout
    assert report.read_text().splitlines()[0] in stdout  # the report's first lines are printed
    assert "WARNING" not in report.read_text()  # the target fits the bundle of its sibling hosts


def test_demo_log_samples(tmp_path):
    stdout = run_demo("demo_log_samples.sh", tmp_path)
    out = tmp_path / "out"
    non_empty(out / "model" / "metadata.json")
    non_empty(out / "inference" / "inference_report.md")
    samples = non_empty(out / "inference" / "log_samples_analysis" / "anomaly_analysis_report.md")
    non_empty(out / "inference" / "log_samples_analysis" / "anomaly_samples.json")
    text = samples.read_text()
    assert "The top 5 anomalies" in text and "## Sample 5:" in text and "## Sample 6:" not in text
    assert "Samples report: out/inference/log_samples_analysis/anomaly_analysis_report.md" in stdout
    assert "# Anomalous log samples" in stdout


def test_demo_mscred(tmp_path):
    stdout = run_demo("demo_mscred.sh", tmp_path)
    out = tmp_path / "out"
    non_empty(out / "mscred.pth")
    table = non_empty(out / "target" / "mscred_infer.parquet")
    report = non_empty(out / "target" / "mscred_analysis" / "mscred_report.md").read_text()
    heatmaps = sorted((out / "target" / "mscred_analysis" / "heatmaps").glob("window_*.png"))
    assert 1 <= len(heatmaps) <= 10 and all(p.stat().st_size > 0 for p in heatmaps)
    assert "MS-CRED report: out/target/mscred_analysis/mscred_report.md" in stdout
    assert "Heatmaps: out/target/mscred_analysis/heatmaps/" in stdout
    # The worst window is a real anomaly: it holds a labelled line.
    import pandas as pd

    flagged = pd.read_parquet(table).sort_values("reconstruction_error").iloc[-1]
    labels = pd.read_parquet(out / "suspicious.log.labels.parquet")["is_anomaly"].to_numpy()
    assert flagged["is_anomaly"] and labels[flagged["start_line"] - 1:flagged["end_line"]].any()
    assert "## 1. Window" in report and "Raw lines" in report


@pytest.mark.parametrize("name", ["demo_enhanced_batch.sh", "demo_log_samples.sh", "demo_mscred.sh"])
def test_demos_are_strict_scripts(name):
    text = (REPO / name).read_text()
    assert text.startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in text
    assert os.access(REPO / name, os.X_OK)


def test_quick_start_script_on_a_users_log(tmp_path):
    """README's first command with a log of the user's own: trains on it, analyses it, says where the
    reports are (a bundle over its own training log reports nothing: exit 0)."""
    from anomaly_log_detector.synth import generate_synthetic_log

    generate_synthetic_log(str(tmp_path / "app.log"), 3000, 0.0, seed=5)
    env = {k: v for k, v in os.environ.items() if k != "ALOG_DEBUG"}
    proc = subprocess.run([str(REPO / "run_full_pipeline_pip.sh"), "app.log", "out"], capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=600)
    assert proc.returncode == 0, f"exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    assert "Report: out/inference/inference_report.md" in proc.stdout
    assert "Open in a browser: out/inference/report.html" in proc.stdout
    assert "anomalies: 0 records" in proc.stdout
    for name in ("inference_report.md", "report.html", "anomalies.jsonl", "inference_summary.json"):
        assert (tmp_path / "out" / "inference" / name).is_file(), name
