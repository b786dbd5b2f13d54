"""MS-CRED in the workflows: `train --mscred` puts `mscred.pth` in the bundle, `infer` turns its flagged
windows into result records with their raw lines and runs analyze-mscred, a bundle reports nothing on
its own training log, and `--no-mscred` (the default) leaves it out. Tiny: 8 series, one epoch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from anomaly_log_detector.cli import cli
from anomaly_log_detector.synth import generate_synthetic_log
from anomaly_log_detector.workflows.model import MSCRED, load_bundle, save_bundle

TINY = ["--epochs", "1", "--hidden", "8", "--layers", "1", "--embed-dim", "4", "--quiet",
        "--mscred-top-k", "8", "--mscred-max-steps", "1"]
STORM = "Mar  1 12:00:{s:02d} web-01 kernel: EXT4-fs error (device sda1): storm of failures {i}"


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("mscred_wf")
    log = root / "train.log"
    generate_synthetic_log(str(log), 1500, 0.0, seed=1)
    model = root / "model"
    run("train", "--input", str(log), "--model-dir", str(model), "--mscred", *TINY)
    return {"root": root, "log": log, "model": model}


def test_bundle_holds_mscred_and_round_trips(trained, tmp_path):
    model = load_bundle(trained["model"])
    assert (trained["model"] / MSCRED).is_file() and model.mscred is not None
    assert model.metadata["params"]["mscred"]["window_size"] == 50 and model.metadata["params"]["mscred"]["stride"] == 25
    assert model.metadata["thresholds"]["mscred"] == model.mscred.threshold_
    # new messages are the alerting layer's in a bundle: MS-CRED keeps <unseen> out (docs/mscred.md)
    assert model.mscred.unseen == "mask" and model.metadata["params"]["mscred"]["unseen"] == "mask"
    copy = save_bundle(model, tmp_path / "copy")
    again = load_bundle(copy)
    assert again.mscred.threshold_ == model.mscred.threshold_ and again.mscred.unseen == "mask"
    assert again.mscred.series_names_ == model.mscred.series_names_


def test_own_training_log_gives_no_record(trained, tmp_path):
    out = tmp_path / "self"
    run("infer", "--model-dir", str(trained["model"]), "--input", str(trained["log"]), "--out-dir", str(out),
        "--quiet")
    summary = json.loads((out / "inference_summary.json").read_text())
    assert summary["anomalies"] == 0 and summary["detect"]["mscred"]["flagged_windows"] == 0
    assert (out / "mscred_infer.parquet").is_file() and not (out / "mscred_analysis").exists()


def test_storm_becomes_an_mscred_record_with_raw_lines(trained, tmp_path):
    lines = trained["log"].read_text().splitlines()
    storm = [STORM.format(s=i % 60, i=i) for i in range(150)]
    target = tmp_path / "target.log"
    target.write_text("\n".join(lines[:600] + storm + lines[600:1200]) + "\n")
    out = tmp_path / "out"
    run("infer", "--model-dir", str(trained["model"]), "--input", str(target), "--out-dir", str(out), "--quiet")
    assert json.loads((out / "inference_summary.json").read_text())["exit_status"] == 1
    records = [{**d["alog"], "raw": d.get("message")}  # ECS documents: our fields under `alog`
               for d in map(json.loads, (out / "anomalies.jsonl").read_text().splitlines())]
    mscred = [r for r in records if "mscred" in r["detectors"]]
    assert mscred, [r["detectors"] for r in records]
    reason = next(x for r in mscred for x in r["reasons"] if x["detector"] == "mscred")
    assert reason["key"] == "reason.mscred_window" and reason["params"]["top_templates"]
    storm_lines = set(range(601, 751))
    assert any(set(r["line_nos"]) & storm_lines for r in mscred)
    assert any("storm of failures" in (r["raw"] or "") for r in mscred)
    report = (out / "inference_report.md").read_text()
    assert "mscred_analysis/mscred_report.md" in report
    assert (out / "mscred_analysis" / "mscred_report.md").is_file()


def test_no_mscred_is_the_default(tmp_path):
    log = tmp_path / "train.log"
    generate_synthetic_log(str(log), 400, 0.0, seed=2)
    run("train", "--input", str(log), "--model-dir", str(tmp_path / "m"), *TINY[:-4])
    assert not (tmp_path / "m" / MSCRED).exists() and load_bundle(tmp_path / "m").mscred is None
    out = run("bundle-info", "--model-dir", str(tmp_path / "m"))
    assert "not in the bundle" in out


def test_incremental_validate_and_compare_carry_mscred(trained, tmp_path):
    new = tmp_path / "new.log"
    generate_synthetic_log(str(new), 800, 0.0, seed=4)
    before = load_bundle(trained["model"])  # as a bundle saved before bundles masked <unseen>
    before.mscred.unseen = "each"
    save_bundle(before, tmp_path / "before")
    run("train-incremental", "--old-model-dir", str(tmp_path / "before"), "--input", str(new),
        "--model-dir", str(tmp_path / "m2"), "--quiet")
    again = load_bundle(tmp_path / "m2")
    assert again.mscred is not None and again.mscred.vocab_ is not None and again.mscred.unseen == "mask"
    # Fine-tuned from the old weights, not retrained: the old series and scaling, a bound that only
    # grew, and the new bundle's whole vocabulary (templates added since are <other>, not <unseen>).
    old = load_bundle(trained["model"]).mscred
    stats = again.metadata["training"]["mscred"]
    assert stats["fine_tuned"]["vocab_size"] == old.vocab_size_ and stats["fine_tuned"]["fine_tunes"] == 1
    assert again.mscred.series_names_ == old.series_names_ and (again.mscred.mean_ == old.mean_).all()
    assert (again.mscred.residual_bound_ >= old.residual_bound_).all()
    assert set(old.vocab_) <= set(again.mscred.vocab_)
    out = tmp_path / "self"
    run("infer", "--model-dir", str(tmp_path / "m2"), "--input", str(new), "--out-dir", str(out), "--quiet")
    assert json.loads((out / "inference_summary.json").read_text())["detect"]["mscred"]["flagged_windows"] == 0
    assert "MS-CRED loss" in run("validate", "--model-dir", str(tmp_path / "m2"))
    out = run("compare", "--model-a", str(trained["model"]), "--model-b", str(tmp_path / "m2"))
    assert "mscred threshold" in out and "mscred windows / steps" in out


def test_incremental_with_too_few_new_windows_keeps_the_old_mscred(trained, tmp_path):
    import torch

    new = tmp_path / "short.log"
    generate_synthetic_log(str(new), 200, 0.0, seed=5)  # 180 training lines: 6 windows, fewer than 10
    run("train-incremental", "--old-model-dir", str(trained["model"]), "--input", str(new),
        "--model-dir", str(tmp_path / "m3"), "--quiet")
    old, again = load_bundle(trained["model"]).mscred, load_bundle(tmp_path / "m3").mscred
    assert "fine_tuned" not in again.train_stats_ and again.series_names_ == old.series_names_
    for (k, a), (_, b) in zip(old.net_.state_dict().items(), again.net_.state_dict().items()):
        assert torch.equal(a, b), k
    assert again.threshold_ >= old.threshold_
