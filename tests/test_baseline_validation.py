"""validate-baseline and `train --vet` (docs/baseline-validation.md): real Loghub files and gen-synth logs
generated here, through the library and the real CLI (exit statuses as a script sees them)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from anomaly_log_detector.analyzers.baseline_validation import REPORT_JSON, REPORT_MD, validate_baseline
from anomaly_log_detector.bundle import open_bundle
from anomaly_log_detector.reports.messages import catalog
from tests.helpers import assert_one_line_error, run_cli, shared_data

SEVERITY = {"good": 0, "suspicious": 1, "reject": 2}


def _keys(file_result: dict, level: str | None = None) -> set[str]:
    return {r["key"] for r in file_result["reasons"] if level is None or r["level"] == level}


def _by_name(result: dict) -> dict[str, dict]:
    return {Path(r["source"]).name: r for r in result["files"]}


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> dict[str, Path]:
    """Three clean gen-synth logs (different seeds), one with error storms, an empty and a binary file."""
    d = tmp_path_factory.mktemp("vet")
    out = {}
    for name, lines, rate, seed, kinds in (("clean1", 10000, 0, 1, None), ("clean2", 10000, 0, 2, None),
                                           ("clean3", 10000, 0, 3, None), ("storm", 20000, 0.1, 4, "error_storm")):
        path = d / f"{name}.log"
        args = ["gen-synth", "--out", str(path), "--lines", str(lines), "--anomaly-rate", str(rate),
                "--seed", str(seed)]
        run_cli(*args, *(["--anomaly-types", kinds] if kinds else []), check=True)
        (d / f"{name}.log.labels.parquet").unlink()  # keep the folder a folder of logs only
        out[name] = path
    out["empty"] = d / "empty.log"
    out["empty"].write_bytes(b"")
    out["binary"] = d / "image.dat"
    out["binary"].write_bytes(bytes(range(256)) * 16)
    out["dir"] = d
    return out


def test_clean_logs_are_good_and_an_error_storm_is_rejected(synth, tmp_path):
    files = [str(synth[n]) for n in ("clean1", "clean2", "clean3", "storm")]
    result = validate_baseline(files, tmp_path / "out")
    by = _by_name(result)
    for name in ("clean1.log", "clean2.log", "clean3.log"):
        assert by[name]["verdict"] == "good", by[name]["reasons"]
        assert by[name]["metrics"]["novelty_share"] < 0.05
    storm = by["storm.log"]
    assert storm["verdict"] == "reject"
    assert {"vet.reason.error_burst", "vet.reason.errors_peers"} <= _keys(storm)
    assert {"vet.reason.error_burst", "vet.reason.errors_peers"} <= _keys(storm, "reject")
    assert result["exit_status"] == 1 and result["counts"] == {"good": 3, "suspicious": 0, "reject": 1}
    saved = json.loads((tmp_path / "out" / REPORT_JSON).read_text())
    assert saved["files"][3]["verdict"] == "reject" and saved["thresholds"]["burst_share_reject"] == 0.05
    report = (tmp_path / "out" / REPORT_MD).read_text()
    assert "error storm" in report and "| **reject** |" in report


def test_an_error_storm_is_rejected_without_other_files_to_compare(synth):
    (r,) = validate_baseline([str(synth["storm"])], None)["files"]
    assert r["verdict"] == "reject" and "vet.reason.error_burst" in _keys(r, "reject")
    assert r["metrics"]["error_bursts"]["burst_share"] >= 0.05


def test_one_file_alone_cannot_be_judged_for_novelty(synth):
    (r,) = validate_baseline([str(synth["clean1"])], None)["files"]
    assert r["verdict"] == "good" and r["metrics"]["novelty_share"] is None
    assert [n["key"] for n in r["notes"]] == ["vet.note.novelty_single"]


def test_empty_binary_and_missing_files_are_rejected_without_a_traceback(synth, tmp_path):
    missing = tmp_path / "nope.log"
    result = validate_baseline([str(synth["clean1"]), str(synth["empty"]), str(synth["binary"]), str(missing)],
                               tmp_path / "out")
    by = _by_name(result)
    assert _keys(by["empty.log"]) == {"vet.reason.empty"}
    assert _keys(by["image.dat"]) == {"vet.reason.binary"}
    assert _keys(by["nope.log"]) == {"vet.reason.missing"}
    for name in ("empty.log", "image.dat", "nope.log"):
        assert by[name]["verdict"] == "reject" and by[name]["metrics"] is None
    assert by["clean1.log"]["verdict"] == "good"


def test_a_folder_stands_for_its_files(synth, tmp_path):
    result = validate_baseline([str(synth["dir"])], None)
    assert {Path(r["source"]).name for r in result["files"]} == {
        "clean1.log", "clean2.log", "clean3.log", "storm.log", "empty.log", "image.dat"}


def test_another_systems_log_among_same_system_files_is_rejected_as_novel(synth, tmp_path):
    """Loghub Linux_2k (syslog, like gen-synth) among three gen-synth logs: nearly none of its templates
    occur in the others, which agree with each other."""
    linux = shared_data("loghub_2k", "Linux", "corrected", "Linux_2k.log")
    files = [str(synth["clean1"]), str(synth["clean2"]), str(synth["clean3"]), str(linux)]
    by = _by_name(validate_baseline(files, None))
    foreign = by["Linux_2k.log"]
    assert foreign["metrics"]["format"] == "syslog" and foreign["metrics"]["novelty_share"] > 0.9
    assert "vet.reason.novel" in _keys(foreign, "reject")
    assert all(by[f"clean{i}.log"]["verdict"] == "good" for i in (1, 2, 3))


def test_loghub_files_of_different_formats_are_not_compared(tmp_path):
    spark = shared_data("loghub_2k", "Spark", "corrected", "Spark_2k.log")
    hdfs = shared_data("loghub_2k", "HDFS", "corrected", "HDFS_2k.log")
    by = _by_name(validate_baseline([str(spark), str(hdfs)], tmp_path))
    assert by["Spark_2k.log"]["verdict"] == "good"
    for r in by.values():
        assert r["metrics"]["novelty_share"] is None
        assert "vet.note.novelty_no_peer" in {n["key"] for n in r["notes"]}
        assert r["metrics"]["error_evidence"] == "level"


def test_bgl_window_heavy_with_alerts_comes_out_worse_than_a_clean_one(tmp_path):
    """A check afterwards, not a tuning target: BGL_2k cut into four windows of 500 lines; the first
    holds 18.8 % alert lines, the second 0.4 % (labels: the first token of each line)."""
    lines = shared_data("loghub_2k", "BGL", "corrected", "BGL_2k.log").read_text().splitlines()
    files = []
    for i in range(4):
        path = tmp_path / f"bgl_w{i + 1}.log"
        path.write_text("\n".join(lines[i * 500:(i + 1) * 500]) + "\n")
        files.append(str(path))
    alerts = [sum(x.split(" ", 1)[0] != "-" for x in lines[i * 500:(i + 1) * 500]) / 500 for i in range(4)]
    assert alerts[0] > 0.15 and alerts[1] < 0.01
    by = _by_name(validate_baseline(files, None))
    heavy, clean = by["bgl_w1.log"], by["bgl_w2.log"]
    assert SEVERITY[heavy["verdict"]] > SEVERITY[clean["verdict"]]
    assert heavy["metrics"]["error_share"] > 10 * clean["metrics"]["error_share"]


def test_cli_exit_status_json_and_korean_report(synth, tmp_path):
    good = run_cli("validate-baseline", str(synth["clean1"]), str(synth["clean2"]), "--output-dir", str(tmp_path / "a"))
    assert good.returncode == 0, good.stderr.decode()
    assert b"good: " in good.stdout and (tmp_path / "a" / REPORT_MD).is_file()

    bad = run_cli("validate-baseline", str(synth["clean1"]), str(synth["empty"]), "--output-dir", str(tmp_path / "b"),
                  "--json")
    assert bad.returncode == 1
    summary = json.loads(bad.stdout)
    assert summary["counts"] == {"good": 1, "suspicious": 0, "reject": 1}
    assert summary["files"][1]["reasons"][0]["key"] == "vet.reason.empty"

    quiet = run_cli("validate-baseline", str(synth["clean1"]), "--output-dir", str(tmp_path / "c"), "-q")
    assert quiet.returncode == 0 and quiet.stdout == b""

    ko = run_cli("validate-baseline", str(synth["clean1"]), str(synth["storm"]), "--output-dir", str(tmp_path / "k"),
                 "--lang", "ko")
    assert ko.returncode == 1
    text = (tmp_path / "k" / REPORT_MD).read_text()
    assert text.startswith("# 기준선(정상 로그) 검증") and "오류 폭주" in text
    assert "거부" in ko.stdout.decode()


def test_cli_usage_errors_exit_2(synth, tmp_path):
    assert run_cli("validate-baseline", "--output-dir", str(tmp_path)).returncode == 2  # no FILE
    assert run_cli("validate-baseline", str(synth["clean1"])).returncode == 2  # no --output-dir
    proc = run_cli("validate-baseline", "-", "--output-dir", str(tmp_path), input=b"x\n")
    assert "stdin" in assert_one_line_error(proc) and proc.returncode == 2
    proc = run_cli("validate-baseline", str(synth["clean1"]), "--output-dir", str(tmp_path), "--since", "yesterday")
    assert proc.returncode == 2


def _outside_code(md: str) -> str:
    """`md` without fenced blocks and code spans (where text is shown verbatim, never interpreted)."""
    md = re.sub(r"^```.*?^```", " ", md, flags=re.S | re.M)
    return re.sub(r"(?<!`)(`+)(?!`)(.*?)(?<!`)\1(?!`)", " ", md)


def test_file_names_and_read_errors_are_escaped_in_the_report_and_on_the_terminal(tmp_path):
    hostile = tmp_path / "a`b|<script>\x1b[31mx.log"
    hostile.write_text("".join(f"Mar  1 00:{i // 60:02d}:{i % 60:02d} web-01 app[1]: <script>alert({i})</script>\n"
                               for i in range(50)))
    result = validate_baseline([str(hostile), str(tmp_path / "<img src=x>.log")], tmp_path / "out")
    assert [r["verdict"] for r in result["files"]] == ["good", "reject"]
    report = (tmp_path / "out" / REPORT_MD).read_text()
    assert "\x1b" not in report
    assert "<script" not in _outside_code(report) and "<img" not in _outside_code(report)
    proc = run_cli("validate-baseline", str(hostile), "--output-dir", str(tmp_path / "cli"))
    assert proc.returncode == 0 and b"\x1b" not in proc.stdout and b"\\x1b" in proc.stdout


def test_every_vet_message_exists_in_english_and_korean():
    en = {k for k in catalog("en") if k.startswith("vet.")}
    ko = {k for k in catalog("ko") if k.startswith("vet.")}
    assert en and en == ko


def _refusal(proc) -> str:
    """`train --vet` refused: exit status 2, the verdicts, then one error line naming the files."""
    err = proc.stderr.decode(errors="replace").strip()
    assert proc.returncode == 2 and "Traceback" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("Error: --vet rejected") and sum(x.startswith("Error:") for x in err.splitlines()) == 1
    return last


def _train(inputs: list[Path], model_dir: Path, *extra: str):
    args = ["train", *sum((["--input", str(p)] for p in inputs), []), "--model-dir", str(model_dir),
            "--epochs", "1", "--max-steps", "5", "--holdout", "0", "-q", *extra]
    return run_cli(*args)


@pytest.fixture
def small(synth, tmp_path) -> Path:
    path = tmp_path / "small.log"
    path.write_text("".join(synth["clean1"].read_text().splitlines(keepends=True)[:2000]))
    return path


def test_train_vet_refuses_a_rejected_file(synth, small, tmp_path):
    model = tmp_path / "model"
    refused = _train([small, synth["empty"]], model, "--vet")
    line = _refusal(refused)
    assert "empty.log" in line and "--vet=drop" in line
    assert not model.exists() and (tmp_path / "model.vet" / REPORT_MD).is_file()
    err = refused.stderr.decode()
    assert "vet: reject: " in err and "small.log" not in err.split("Error:")[0]  # -q: good files not listed


def test_train_vet_drop_trains_without_the_rejected_file(synth, small, tmp_path):
    model = tmp_path / "model"
    dropped = _train([small, synth["empty"]], model, "--vet=drop")
    assert dropped.returncode == 0, dropped.stderr.decode()
    bundle = open_bundle(model)  # the vetting result is a checksummed component
    vet = bundle.read_json(REPORT_JSON)
    assert vet["mode"] == "drop" and [Path(p).name for p in vet["dropped"]] == ["empty.log"]
    assert [Path(e["path"]).name for e in bundle.metadata["inputs"]] == ["small.log"]
    assert bundle.metadata["params"]["workflow"]["vet"] == "drop"


def test_train_vet_keep_trains_on_every_file(synth, small, tmp_path):
    kept = _train([small, synth["binary"]], tmp_path / "model", "--vet=keep")
    assert kept.returncode == 0, kept.stderr.decode()
    vet = open_bundle(tmp_path / "model").read_json(REPORT_JSON)
    assert vet["mode"] == "keep" and vet["counts"]["reject"] == 1 and vet["dropped"] == []


def test_train_vet_on_a_folder_vets_its_files(synth, tmp_path):
    folder = tmp_path / "logs"
    folder.mkdir()
    lines = synth["clean2"].read_text().splitlines(keepends=True)
    (folder / "a.log").write_text("".join(lines[:1500]))
    (folder / "b.log").write_text("".join(lines[1500:3000]))
    shutil.copy(synth["binary"], folder / "core.dat")
    refused = _train([folder], tmp_path / "m", "--vet")
    assert "core.dat" in _refusal(refused)
    report = json.loads((tmp_path / "m.vet" / REPORT_JSON).read_text())
    assert {Path(r["source"]).name: r["verdict"] for r in report["files"]} == {
        "a.log": "good", "b.log": "good", "core.dat": "reject"}
