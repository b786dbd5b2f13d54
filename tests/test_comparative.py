"""analyze-comparative: template distributions of a target against baselines (analyzers/comparative.py).

Real Loghub files (Linux_2k against itself, against a copy with one injected line, against OpenSSH_2k)
and gen-synth logs made at test time (a clean baseline and a target with injected anomalies, parsed with
one shared template state): identical files give cosine 1 and KL 0, another system a cosine near 0,
a template only in the target is listed with its exact first line, frequent baseline templates the
target lacks are listed; batch-analysis's comparative statistics carry the same measures.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from helpers import assert_one_line_error, run_cli, shared_data

from anomaly_log_detector.analyzers.comparative import analyze_comparative, distribution_stats

INJECTED = "combo kernel: flux capacitor 7 of bay 3 lost its charge after 88 attempts, giving up"


def parse(log: Path, out: Path, state: Path) -> Path:
    run_cli("parse", "--input", str(log), "--out-dir", str(out), "--drain-state", str(state), "--year", "2005",
            "--quiet", check=True)
    return out


@pytest.fixture(scope="module")
def loghub(tmp_path_factory):
    linux = shared_data("loghub_2k", "Linux", "corrected", "Linux_2k.log")
    ssh = shared_data("loghub_2k", "OpenSSH", "corrected", "OpenSSH_2k.log")
    root = tmp_path_factory.mktemp("comparative_loghub")
    lines = linux.read_text(encoding="utf-8", errors="replace").splitlines()
    injected = lines[:999] + [lines[998][:16] + INJECTED] + lines[999:]  # line 1000, the time of line 999
    (root / "target.log").write_text("\n".join(injected) + "\n", encoding="utf-8")
    state = root / "state.json"
    return {"root": root, "linux": parse(linux, root / "p_linux", state),
            "target": parse(root / "target.log", root / "p_target", state), "injected": injected,
            "ssh": parse(ssh, root / "p_ssh", root / "ssh_state.json")}


def test_identical_files_give_cosine_one_and_kl_zero(loghub, tmp_path):
    r = analyze_comparative(loghub["linux"], [loghub["linux"] / "parsed.parquet"], tmp_path)
    b = r["baselines"][0]
    assert b["cosine"] == pytest.approx(1.0) and b["kl_target_baseline"] == pytest.approx(0.0, abs=1e-12)
    assert b["kl_baseline_target"] == pytest.approx(0.0, abs=1e-12) and b["js_divergence"] == pytest.approx(0.0, abs=1e-12)
    assert b["templates_only_in_target_count"] == 0 and b["missing_in_target"] == []
    assert r["templates_only_in_target"] == [] and r["target_lines"] == b["lines"] == 2000


def test_template_only_in_the_target_names_its_first_line(loghub, tmp_path):
    proc = run_cli("analyze-comparative", "--target", str(loghub["target"]), "--baselines", str(loghub["linux"]),
                   "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr.decode()
    r = json.loads((tmp_path / "out" / "comparative_results.json").read_text())
    only = r["templates_only_in_target"]
    assert len(only) == 1 and only[0]["count"] == 1 and "flux capacitor" in only[0]["template"]
    first = only[0]["first_line"]
    assert first["line_no"] == 1000 and first["raw"] == loghub["injected"][999]
    assert first["source"].endswith("target.log")
    b = r["baselines"][0]
    assert 0.999 < b["cosine"] < 1.0 and b["kl_target_baseline"] > 0
    report = (tmp_path / "out" / "comparative_report.md").read_text()
    assert "flux capacitor" in report and "Templates only in the target" in report


def test_another_system_gives_low_cosine_and_missing_templates(loghub, tmp_path):
    r = analyze_comparative(loghub["linux"], [loghub["ssh"], loghub["linux"]], tmp_path, lang="ko")
    ssh, same = r["baselines"]
    assert ssh["cosine"] < 0.1 and ssh["kl_target_baseline"] > 1 and ssh["js_divergence"] > 0.9
    assert same["cosine"] == pytest.approx(1.0)
    assert ssh["missing_in_target"] and all(x["baseline_share"] >= 0.01 for x in ssh["missing_in_target"])
    assert any("Failed password" in x["template"] for x in ssh["missing_in_target"])
    # in no baseline: Linux's templates are all in the Linux baseline
    assert r["templates_only_in_target"] == []
    assert (tmp_path / "comparative_report.md").read_text().startswith("# 템플릿 분포 비교")


def test_synth_target_new_templates_come_from_the_injected_anomalies(tmp_path):
    for name, rate, seed in (("base", "0", "1"), ("target", "0.05", "7")):
        run_cli("gen-synth", "--out", str(tmp_path / f"{name}.log"), "--lines", "3000", "--anomaly-rate", rate,
                "--seed", seed, check=True)
    state = tmp_path / "state.json"
    base, target = parse(tmp_path / "base.log", tmp_path / "pb", state), parse(tmp_path / "target.log", tmp_path / "pt", state)
    proc = run_cli("analyze-comparative", "--target", str(target / "parsed.parquet"),
                   "--baselines", str(base / "parsed.parquet"), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0 and "cosine 0.9" in proc.stdout.decode()
    r = json.loads((tmp_path / "out" / "comparative_results.json").read_text())
    assert r["baselines"][0]["cosine"] > 0.95
    only = r["templates_only_in_target"]
    raw = (tmp_path / "target.log").read_text().splitlines()
    labels = pd.read_parquet(tmp_path / "target.log.labels.parquet").set_index("line_no")["is_anomaly"]
    assert len(only) >= 5
    assert all(raw[x["first_line"]["line_no"] - 1] == x["first_line"]["raw"] for x in only)
    anomalous = sum(bool(labels[x["first_line"]["line_no"]]) for x in only)
    assert anomalous >= 0.8 * len(only)  # the rest: clusters the target's parse generalised (docs/analyzers.md)


def test_distribution_stats_by_hand():
    b = pd.Series({"a": 3, "b": 1})
    s = distribution_stats(b, pd.Series({"a": 3, "b": 1}))
    assert s["cosine"] == pytest.approx(1) and s["kl_target_baseline"] == 0 and s["templates_shared"] == 2
    s = distribution_stats(b, pd.Series({"c": 5}))
    assert s["cosine"] == 0 and s["js_divergence"] == pytest.approx(1) and s["templates_union"] == 3
    # add-0.5 smoothing over the union {a, b, c}: target (0.5, 0.5, 5.5)/6.5, baseline (3.5, 1.5, 0.5)/5.5
    import numpy as np
    p, q = np.array([0.5, 0.5, 5.5]) / 6.5, np.array([3.5, 1.5, 0.5]) / 5.5
    assert s["kl_target_baseline"] == pytest.approx(float((p * np.log(p / q)).sum()))
    assert distribution_stats(b, pd.Series(dtype=int))["cosine"] is None


def test_missing_inputs_are_one_line_errors(tmp_path):
    proc = run_cli("analyze-comparative", "--target", str(tmp_path / "no.parquet"), "--baselines", str(tmp_path))
    assert proc.returncode == 2 and "not found" in assert_one_line_error(proc)


def test_batch_comparative_carries_the_measures(loghub, tmp_path):
    """write_comparative (batch-analysis --enhanced) against the template state of a Linux_2k parse, as a
    bundle trained on it holds (the only parts of a bundle it reads: state, rules, parser settings)."""
    from anomaly_log_detector.analyzers.comparative import write_comparative
    from anomaly_log_detector.parsing.masking import Masker
    from anomaly_log_detector.workflows.model import TrainedModel

    state = tmp_path / "state.json"
    parse(shared_data("loghub_2k", "Linux", "corrected", "Linux_2k.log"), tmp_path / "p", state)
    model = TrainedModel(vocab=None, baseline=None, deeplog=None, rules=Masker.from_file(None).to_list(),
                         drain_state=state.read_bytes(),
                         metadata={"params": {"parser": {"format": "syslog", "log_format": None, "session_regex": None}}})
    paths = write_comparative(model, str(loghub["root"] / "target.log"), tmp_path / "out")
    stats = json.loads(paths["json"].read_text())
    sim = stats["similarity"]
    assert 0.999 < sim["cosine"] < 1.0 and 0 < sim["kl_target_baseline"] < 0.01
    assert [x["first_line"]["line_no"] for x in stats["templates_only_in_target"]] == [1000]
    assert "Cosine similarity 1.000" in paths["md"].read_text()
