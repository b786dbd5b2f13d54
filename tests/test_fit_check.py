"""`infer` says when a target does not fit the bundle; `validate --min-score` gates on the score.

Bundles are tiny (2 epochs, 16 hidden units) so training stays at a few seconds each.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from helpers import REPO, run_cli, shared_data

from anomaly_log_detector.synth import generate_synthetic_log
from anomaly_log_detector.workflows.fit_check import target_fit

TINY = ["--epochs", "2", "--hidden", "16", "--layers", "1", "--embed-dim", "8", "--quiet"]


def loghub(system: str) -> Path:
    return shared_data("loghub_2k", system, "corrected", f"{system}_2k.log")


def infer(model: Path, target: Path, out: Path) -> tuple[subprocess.CompletedProcess, dict]:
    proc = run_cli("infer", "--model-dir", str(model), "--input", str(target), "--out-dir", str(out), "--quiet")
    assert proc.returncode in (0, 1), proc.stderr.decode()
    return proc, json.loads((out / "inference_summary.json").read_text())


@pytest.fixture(scope="module")
def ssh_model(tmp_path_factory) -> Path:
    model = tmp_path_factory.mktemp("fit") / "ssh"
    run_cli("train", "--input", str(loghub("OpenSSH")), "--model-dir", str(model), *TINY, check=True)
    return model


@pytest.fixture(scope="module")
def linux_run(ssh_model, tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict, Path]:
    """Linux_2k analysed with the OpenSSH bundle."""
    out = tmp_path_factory.mktemp("linux") / "out"
    return (*infer(ssh_model, loghub("Linux"), out), out)


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("synth")
    generate_synthetic_log(str(root / "normal.log"), 3000, 0.0, seed=1)
    generate_synthetic_log(str(root / "target.log"), 2000, 0.03, seed=2)
    run_cli("train", "--input", str(root / "normal.log"), "--model-dir", str(root / "model"), *TINY, check=True)
    return {"root": root, "model": root / "model", "normal": root / "normal.log", "target": root / "target.log"}


def test_a_log_of_another_system_is_flagged_everywhere(linux_run):
    proc, summary, out = linux_run
    fit = summary["fit"]
    # Same syslog headers, but Linux messages match no OpenSSH template.
    assert fit["fits"] is False and fit["header_unmatched_share"] == 0.0 and fit["unseen_share"] > 0.9
    assert fit["heldout_unseen_share"] < 0.1
    assert len(fit["reasons"]) == 1 and "a log of another system or service?" in fit["reasons"][0]
    warnings = [line for line in proc.stderr.decode().splitlines() if line.startswith("WARNING:")]
    assert len(warnings) == 1 and "does not fit the model" in warnings[0]  # printed even with --quiet
    report = (out / "inference_report.md").read_text().splitlines()
    assert report[0] == "# Anomaly report" and report[2].startswith("> **WARNING** This log does not fit")
    assert "another system or service?" in report[2]
    assert json.loads((out / "inference_report.json").read_text())["warnings"] == [warnings[0][len("WARNING: "):]]


def test_a_log_in_another_format_names_the_format(ssh_model, tmp_path):
    _, summary = infer(ssh_model, loghub("BGL"), tmp_path / "bgl")
    fit = summary["fit"]
    assert fit["fits"] is False and fit["header_unmatched_share"] > 0.9
    assert fit["training_format"] == "syslog" and fit["target_format_guess"] == "bgl"
    assert fit["reasons"][0].startswith("the log format differs from the training logs (format `syslog`)")
    assert "looks like format `bgl`" in fit["reasons"][0]


def test_the_unseen_rule_compares_with_the_held_out_share(ssh_model, linux_run):
    _, summary, out = linux_run
    parsed = json.loads((out / "parse_summary.json").read_text())
    meta = json.loads((ssh_model / "metadata.json").read_text())
    assert target_fit(parsed, meta)["fits"] is False
    # A bundle whose own held-out lines were as unseen as the target's: no reason to blame the target.
    similar = {**meta, "holdout": {**meta["holdout"], "template_coverage": 1 - summary["fit"]["unseen_share"] + 0.1}}
    assert target_fit(parsed, similar)["fits"] is True
    without = target_fit(parsed, {k: v for k, v in meta.items() if k != "holdout"})
    assert without["fits"] is False and "no held-out lines" in without["reasons"][0]


def test_a_fitting_target_has_no_warning(synth, tmp_path):
    proc, summary = infer(synth["model"], synth["target"], tmp_path / "out")
    assert summary["fit"]["fits"] is True and summary["fit"]["reasons"] == []
    assert summary["fit"]["unseen_share"] < 0.1 and summary["anomalies"] > 0
    assert "WARNING" not in proc.stderr.decode()
    report = (tmp_path / "out" / "inference_report.md").read_text()
    assert "WARNING" not in report and report.splitlines()[2].startswith("Folder: ")
    assert json.loads((tmp_path / "out" / "inference_report.json").read_text())["warnings"] == []


def test_validate_min_score_sets_the_exit_status(synth):
    script = [str(REPO / "validate_models.sh"), str(synth["model"])]
    plain = subprocess.run(script, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0 and "minimum" not in plain.stdout
    score = float(plain.stdout.split("quality score")[1].split("/100")[0])
    high = subprocess.run([*script, "--min-score", str(min(100.0, score + 1))], capture_output=True, text=True,
                          timeout=300)
    assert high.returncode == 1, high.stderr
    assert "NOT met: the score is below it (exit status 1)" in high.stdout
    low = subprocess.run([*script, str(synth["normal"]), "--min-score", "0", "--quiet", "--json"],
                         capture_output=True, text=True, timeout=300)
    assert low.returncode == 0, low.stderr
    low_result = json.loads(low.stdout)  # --quiet silences the text; --json still prints the summary
    assert low_result["passed"] is True and low_result["min_score"] == 0
    assert "validation log" in low_result["evaluated_on"]
    bad = run_cli("validate", "--model-dir", str(synth["model"]), "--min-score", "101")
    assert bad.returncode == 2 and b"Traceback" not in bad.stderr
