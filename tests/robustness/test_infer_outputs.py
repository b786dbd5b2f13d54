"""Where `infer` writes, and what a damaged input or a failed run leaves (issue 9, items 5, 7, 11).

* A source that cannot be read to the end (a truncated .gz) is named on stderr, in a banner at the top
  of the report and in `inference_summary.json`.
* An output folder that is, holds or lies inside the bundle, or is/holds/lies inside an input, is
  refused with one line and exit status 2, before anything is written.
* A failed run leaves the previous run's results exactly as they were, and no partial file; a failed
  first run leaves no output folder.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from helpers import assert_one_line_error, run_cli

from anomaly_log_detector.errors import InputError
from anomaly_log_detector.reports.escape import md_text
from anomaly_log_detector.workflows.paths import LOCK, STAGING_PREFIX, StagedOutputs, check_out_dir

TINY = dict(epochs=2, hidden=16, layers=1, embed_dim=8, holdout=0.0, quiet=True)
MESSAGES = ["request {n} accepted from 10.0.0.{m}", "cache lookup for key {n} took {m} ms",
            "request {n} served in {m} ms", "connection {n} closed after {m} s", "heartbeat {n} ok"]


def log_lines(n: int, start: int = 0) -> list[str]:
    return [f"Mar  1 {i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d} host1 app[42]: "
            + MESSAGES[i % 5].format(n=1000 + i, m=i % 7 + 1) for i in range(start, start + n)]


def tree(folder: Path) -> dict[str, str]:
    """Every file under `folder` (hidden ones too) -> sha256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict:
    from anomaly_log_detector.workflows.settings import TrainSettings
    from anomaly_log_detector.workflows.train import train_model

    root = tmp_path_factory.mktemp("outputs")
    (root / "normal.log").write_text("\n".join(log_lines(600)) + "\n")
    train_model([str(root / "normal.log")], root / "model", TrainSettings().with_overrides(**TINY))
    target = log_lines(120, start=600)
    target.insert(60, "Mar  1 00:11:00 host1 kernel: Kernel panic - not syncing: Fatal exception")
    (root / "target.log").write_text("\n".join(target) + "\n")
    return {"root": root, "model": root / "model", "target": root / "target.log"}


def infer(env: dict, *inputs: Path | str, out: Path) -> "subprocess.CompletedProcess":  # noqa: F821
    args = ["infer", "--model-dir", str(env["model"]), "--out-dir", str(out), "--quiet"]
    for x in inputs:
        args += ["--input", str(x)]
    return run_cli(*args)


# ---- item 5: damaged input is reported ------------------------------------------------------------

def test_a_truncated_gz_is_reported_on_stderr_in_the_report_and_the_summary(env, tmp_path):
    data = gzip.compress(("\n".join(log_lines(2000, start=600)) + "\n").encode())
    cut = tmp_path / "target.log.gz"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "out"
    proc = infer(env, cut, out=out)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    warnings = [x for x in proc.stderr.decode().splitlines() if x.startswith("WARNING: ")]
    assert any(str(cut) in x and "truncated" in x for x in warnings), proc.stderr.decode()
    summary = json.loads((out / "inference_summary.json").read_text())
    assert [e["source"] for e in summary["source_errors"]] == [str(cut)]
    assert "truncated" in summary["source_errors"][0]["error"]
    assert 0 < summary["lines"] < 2000  # the lines before the damage were analysed
    report = (out / "inference_report.md").read_text().splitlines()
    assert report[2].startswith("> **WARNING** 1 input file(s) could not be read to the end")
    assert md_text(str(cut)) in report[2] and "truncated" in report[2]  # the path escaped as Markdown text
    assert json.loads((out / "inference_report.json").read_text())["warnings"][0].startswith("1 input file(s)")


def test_a_wholly_unreadable_gz_names_its_error(env, tmp_path):
    from anomaly_log_detector.errors import DataError
    from anomaly_log_detector.workflows.infer import infer_logs

    cut = tmp_path / "empty.log.gz"
    cut.write_bytes(gzip.compress(b"x" * 100)[:10])  # the header alone
    with pytest.raises(DataError, match="no log lines to analyse") as exc:
        infer_logs(env["model"], str(cut), tmp_path / "out")
    assert f"{cut}: gzip stream truncated" in str(exc.value)
    assert not (tmp_path / "out").exists()


def test_skipped_files_of_an_input_folder_reach_the_report_and_summary(env, tmp_path, capsys):
    from anomaly_log_detector.workflows.infer import infer_logs

    folder = tmp_path / "logs"
    folder.mkdir()
    shutil.copy(env["target"], folder / "target.log")
    (folder / "blob.bin").write_bytes(bytes(range(256)) * 64)
    out = tmp_path / "out"
    summary = infer_logs(env["model"], str(folder), out)
    assert "blob.bin" in capsys.readouterr().err
    assert summary == json.loads((out / "inference_summary.json").read_text())
    assert [Path(f["source"]).name for f in summary["files_skipped"]] == ["blob.bin"]
    assert summary["source_errors"] == [] and summary["links_skipped"] == []
    report = (out / "inference_report.md").read_text().splitlines()
    assert report[2].startswith("> **WARNING** Not every input was read: skipped 1 file: blob.bin")


# ---- item 7: refused output folders ----------------------------------------------------------------

def refused(env: dict, *inputs: Path, out: Path) -> str:
    """The one-line refusal of `infer` (in process: it comes before the bundle is even opened)."""
    from anomaly_log_detector.workflows.infer import infer_logs

    with pytest.raises(InputError) as exc:
        infer_logs(env["model"], [str(x) for x in inputs], out)
    assert "\n" not in str(exc.value)
    return str(exc.value)


def test_out_dir_inside_or_equal_to_the_bundle_is_refused(env, tmp_path):
    from anomaly_log_detector.workflows.model import load_bundle

    model = tmp_path / "model"  # a copy: on a regression this test must not break the others' bundle
    shutil.copytree(env["model"], model)
    env = {**env, "model": model}
    before = tree(model)
    line = assert_one_line_error(infer(env, env["target"], out=model / "results"))  # the CLI: exit 2, one line
    assert "is inside the bundle folder" in line and str(model / "results") in line
    for out in (model, model / "a" / "b"):
        assert "bundle folder" in refused(env, env["target"], out=out)
    link = tmp_path / "link"
    link.symlink_to(model)  # the same folder under another name
    assert "bundle folder" in refused(env, env["target"], out=link / "results")
    assert tree(model) == before and not (model / "results").exists()
    load_bundle(model)  # still verifies


def test_out_dir_holding_the_bundle_is_refused(env):
    assert "contains the bundle folder" in refused(env, env["target"], out=env["root"])


def test_out_dir_equal_to_or_inside_an_input_folder_is_refused(env, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    shutil.copy(env["target"], folder / "target.log")
    proc = infer(env, folder, out=folder)  # run twice, it would have read its own outputs
    assert "is the input" in assert_one_line_error(proc)
    assert "is inside the input folder" in refused(env, folder, out=folder / "results")
    assert sorted(os.listdir(folder)) == ["target.log"]


def test_an_input_inside_the_out_dir_is_refused(env, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    shutil.copy(env["target"], out / "target.log")
    assert "is inside --out-dir" in refused(env, out / "target.log", out=out)
    assert sorted(os.listdir(out)) == ["target.log"]


def test_check_out_dir_rules(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.log").write_text("x\n")
    (tmp_path / "model").mkdir()
    ok = [(tmp_path / "out", [tmp_path / "in"], tmp_path / "model"),
          (tmp_path / "in2", [tmp_path / "in" / "a.log"], None),
          (tmp_path / "in" / "out", ["-"], None),  # stdin: nothing to compare
          (tmp_path / "out", [tmp_path / "in" / "a.log"], tmp_path / "model2")]
    for out, inputs, model in ok:
        check_out_dir(out, inputs, model)
    bad = [(tmp_path / "model", [], tmp_path / "model"), (tmp_path / "model" / "r", [], tmp_path / "model"),
           (tmp_path, [], tmp_path / "model"), (tmp_path / "in", [tmp_path / "in"], None),
           (tmp_path / "in" / "r", [tmp_path / "in"], None), (tmp_path, [tmp_path / "in" / "a.log"], None),
           (tmp_path / "in" / "a.log", [tmp_path / "in" / "a.log"], None)]
    for out, inputs, model in bad:
        with pytest.raises(InputError):
            check_out_dir(out, inputs, model)
    # train's guard: the bundle folder inside an input folder (call with option="--model-dir").
    with pytest.raises(InputError, match="--model-dir"):
        check_out_dir(tmp_path / "in" / "m", [tmp_path / "in"], option="--model-dir")


# ---- item 11: a failed run leaves the previous results ----------------------------------------------

def test_a_failed_run_leaves_the_previous_results_untouched(env, tmp_path):
    from anomaly_log_detector.errors import DataError
    from anomaly_log_detector.workflows.infer import infer_logs

    out = tmp_path / "out"
    infer_logs(env["model"], str(env["target"]), out)
    before = tree(out)
    assert "inference_report.md" in before and not any(STAGING_PREFIX in name for name in before)
    # Fails after the parse has written its outputs: the target has no line to analyse.
    (tmp_path / "blank.log").write_text("\n\n")
    assert "no log lines" in assert_one_line_error(infer(env, tmp_path / "blank.log", out=out))
    assert tree(out) == before
    # A failed first run leaves no folder at all.
    with pytest.raises(DataError):
        infer_logs(env["model"], str(tmp_path / "blank.log"), tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_a_run_failing_in_detection_leaves_the_previous_results(env, tmp_path, monkeypatch):
    from anomaly_log_detector.workflows import infer as infer_module

    out = tmp_path / "out"
    first = infer_module.infer_logs(env["model"], str(env["target"]), out)
    before = tree(out)

    def broken(*args, **kwargs):
        raise RuntimeError("detector crashed")

    monkeypatch.setattr(infer_module, "run_detectors", broken)
    with pytest.raises(RuntimeError, match="detector crashed"):
        infer_module.infer_logs(env["model"], str(env["target"]), out)
    assert tree(out) == before
    # The outputs name the final folder, never the staging one.
    for name in ("inference_summary.json", "parse_summary.json", "inference_report.md", "inference_report.json",
                 "log_samples_analysis/anomaly_samples.json"):
        assert STAGING_PREFIX not in (out / name).read_text(), name
    assert first["outputs"]["report"] == str(out / "inference_report.md")


def test_a_second_run_replaces_the_first_and_keeps_other_files(env, tmp_path):
    from anomaly_log_detector.workflows.infer import infer_logs

    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    first = infer_logs(env["model"], str(env["target"]), out)
    (tmp_path / "same.log").write_text("\n".join(log_lines(120, start=600)) + "\n")
    second = infer_logs(env["model"], str(tmp_path / "same.log"), out)
    assert first["anomalies"] > 0 and second["anomalies"] == 0
    assert json.loads((out / "inference_summary.json").read_text()) == second
    assert (out / "notes.txt").read_text() == "mine\n"
    assert "No anomalies were found." in (out / "inference_report.md").read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_staged_outputs_swap(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    for name, text in (("a", "old a"), ("b", "old b"), ("done", "old"), ("mine", "kept")):
        (out / name).write_text(text)
    (out / "dir").mkdir()
    (out / "dir" / "x").write_text("old x")
    stale = out / f"{STAGING_PREFIX}dead"  # left by a killed run: its lock is free
    stale.mkdir()
    (stale / LOCK).write_text("")
    staged = StagedOutputs(out, ["a", "b", "dir"], marker="done")
    with staged as work:
        assert not stale.exists() and work.parent == out
        (work / "a").write_text("new a")
        (work / "dir").mkdir()
        (work / "dir" / "y").write_text("new y")
        # a second run into the same folder meanwhile: our lock keeps our staging folder
        with StagedOutputs(out, ["a"], marker="done") as other:
            assert work.is_dir() and other.is_dir()
        (work / "done").write_text("new")
        staged.commit()
    assert {p.name: p.read_text() for p in out.iterdir() if p.is_file()} == {"a": "new a", "done": "new",
                                                                            "mine": "kept"}
    assert os.listdir(out / "dir") == ["y"] and sorted(os.listdir(out)) == ["a", "dir", "done", "mine"]
    with pytest.raises(ValueError):
        with StagedOutputs(out, ["a"], marker="done") as work:
            (work / "a").write_text("never")
            raise ValueError
    assert (out / "a").read_text() == "new a" and sorted(os.listdir(out)) == ["a", "dir", "done", "mine"]
