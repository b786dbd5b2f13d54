"""The end-to-end workflows through the real shell scripts on small generated logs.

Every script runs as a user runs it (a subprocess, real exit codes); models are tiny (a few epochs,
8-16 hidden units) so the file stays well under a minute and a half on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers import REPO, assert_one_line_error

from anomaly_log_detector import api
from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.synth import generate_synthetic_log
from anomaly_log_detector.onnx_export.pipeline import export_status
from anomaly_log_detector.workflows.detect import read_lines
from anomaly_log_detector.workflows.model import load_bundle as load_model
from anomaly_log_detector.workflows.validate import POINTS

TINY = ["--epochs", "2", "--hidden", "16", "--layers", "1", "--embed-dim", "8", "--quiet"]
# The last five: the validated ONNX export `train` adds by default (infer then runs without torch).
EXPORT_FILES = ["deeplog.onnx", "deeplog_head.onnx", "deeplog_seen_pairs.npz", "deeplog_step.onnx", "vocab_c.json"]
BUNDLE_FILES = ["alerting.json", "baseline_stats.json", "deeplog.pth", "drain3_state.json", "flows.json", "metadata.json",
                "rules.json", "temporal_profile.json", "vocab.json", *EXPORT_FILES]


def script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a repository-root script as a user would."""
    env = {k: v for k, v in os.environ.items() if k != "ALOG_DEBUG"}
    return subprocess.run([str(REPO / name), *map(str, args)], capture_output=True, cwd=cwd, env=env, timeout=300)


def ok(proc: subprocess.CompletedProcess, status: int = 0) -> str:
    out, err = proc.stdout.decode(), proc.stderr.decode(errors="replace")
    assert proc.returncode == status, f"exit {proc.returncode}:\n{out}\n{err}"
    return out


def generate(path: Path, lines: int, rate: float, seed: int) -> set[int]:
    """A synthetic log at `path` (its labels file removed); returns the anomalous line numbers."""
    generate_synthetic_log(str(path), lines, rate, seed=seed)
    labels = pd.read_parquet(f"{path}.labels.parquet")
    os.remove(f"{path}.labels.parquet")
    return set(labels.loc[labels["is_anomaly"], "line_no"].tolist())


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("wf")
    (root / "logs").mkdir()
    generate(root / "logs" / "normal_a.log", 3000, 0.0, seed=1)
    generate(root / "logs" / "normal_b.log", 2000, 0.0, seed=3)
    truth = generate(root / "logs" / "target.log", 2000, 0.05, seed=2)
    model = root / "model"
    ok(script("train_models.sh", root / "logs" / "normal_a.log", model, *TINY, cwd=root))
    return {"root": root, "logs": root / "logs", "model": model, "target": root / "logs" / "target.log",
            "truth": truth}


def test_bundle_round_trip_through_train_and_infer(data):
    model, target = data["model"], data["target"]
    assert sorted(os.listdir(model)) == sorted(BUNDLE_FILES)
    meta = json.loads((model / "metadata.json").read_text())
    assert meta["inputs"][0]["lines"] == 3000 and len(meta["inputs"][0]["sha256"]) == 64
    assert meta["training"]["holdout_lines"] == 300 and meta["training"]["train_lines"] == 2700
    assert meta["params"]["deeplog"]["hidden"] == 16 and meta["params"]["parser"]["format"] == "syslog"
    assert len(meta["losses"]["deeplog"]) == 2 and meta["vocab_size"] == Vocab.load(model / "vocab.json").size
    assert set(meta["files"]) == set(BUNDLE_FILES) - {"metadata.json"}
    assert meta["holdout"]["lines"] == 300 and 0 <= meta["holdout"]["false_alarm_rate"] <= 1
    # The default export is current and validated: infer scores DeepLog with ONNX Runtime.
    assert export_status(model) is None
    check = meta["onnx"]["validation"]["deeplog"]
    assert check["verdicts_differ"] == 0 and check["session_verdicts_differ"] == 0 and check["predictions"] > 0
    assert load_model(model, onnx=True).deeplog.runtime == "onnxruntime"

    out = data["root"] / "inference"
    stdout = ok(script("run_inference.sh", model, target, out, cwd=data["root"]), status=1)
    assert f"report: {out / 'inference_report.md'}" in stdout
    for name in ("inference_report.md", "deeplog_infer.parquet", "baseline_scores.parquet", "anomalies.jsonl",
                 "flows_infer.parquet", "log_samples_analysis/anomaly_analysis_report.md"):
        assert (out / name).is_file(), name
    docs = [json.loads(line) for line in (out / "anomalies.jsonl").read_text().splitlines()]
    raw = target.read_text().splitlines()
    for doc in docs:  # ECS documents (docs/formats.md): our own fields under `alog`
        assert doc["event"]["kind"] == "alert" and doc["ecs"]["version"]
        assert {"time", "line_nos", "detectors", "template"} <= set(doc["alog"]) and doc["event"]["risk_score"] > 0
        assert doc["message"] in [raw[n - 1] for n in doc["alog"]["line_nos"]]  # 1-based line numbers of the target
    records = [d["alog"] for d in docs]
    # The injected kernel oopses, OOM kills... are lines no training template matches.
    novel = {n for r in records if "alerting" in r["detectors"] and any(x["params"].get("novel") for x in r["reasons"])
             for n in r["line_nos"]}
    assert novel and novel <= set(range(1, 2001))
    assert sum(bool(set(r["line_nos"]) & data["truth"]) for r in records[:10]) >= 7

    # Library round trip: load -> save -> load gives a model that scores identically.
    loaded = api.load_bundle(str(model))
    copy = api.save_bundle(loaded, str(data["root"] / "copy"))
    again = api.load_bundle(str(copy))
    lines = read_lines(out / "parsed.parquet")
    pd.testing.assert_frame_equal(loaded.baseline.score_windows(lines), again.baseline.score_windows(lines))
    for name, tensor in loaded.deeplog.models_[0].state_dict().items():
        assert again.deeplog.models_[0].state_dict()[name].equal(tensor), name
    assert again.vocab == loaded.vocab and again.rules == loaded.rules and again.drain_state == loaded.drain_state
    assert again.flows.to_dict() == loaded.flows.to_dict() and loaded.flows.slots_  # identifiers were learned
    assert meta["training"]["flows"]["identifier_slots"] == len(loaded.flows.slots_)


def test_tampered_bundle_is_refused_with_one_line(data, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(data["model"], bad)
    weights = bytearray((bad / "deeplog.pth").read_bytes())
    weights[len(weights) // 2] ^= 0xFF
    (bad / "deeplog.pth").write_bytes(bytes(weights))
    proc = script("run_inference.sh", bad, data["target"], tmp_path / "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert "deeplog.pth: sha256 mismatch" in assert_one_line_error(proc)
    assert not (tmp_path / "out" / "anomalies.jsonl").exists()


def test_killed_training_leaves_no_bundle(data, tmp_path):
    target = tmp_path / "model"
    cmd = [sys.executable, "-m", "anomaly_log_detector", "train", "--input", str(data["logs"] / "normal_a.log"),
           "--model-dir", str(target), "--epochs", "200", "--patience", "200", "--hidden", "32"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:  # DeepLog reports each epoch on stderr: kill in the middle of training
            if re.match(r"deeplog\[1/1\]: epoch 2/", line):
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not target.exists()
    assert all(p.name.startswith(".model.") for p in tmp_path.iterdir())  # hidden scratch folders only


def test_run_inference_exit_codes(tmp_path):
    msgs = ["request {n} accepted from 10.0.0.{m}", "cache lookup for key {n} took {m} ms",
            "request {n} served in {m} ms", "connection {n} closed after {m} s", "heartbeat {n} ok"]
    lines = [f"Mar  1 00:{i // 60:02d}:{i % 60:02d} host1 app[42]: " + msgs[i % 5].format(n=1000 + i, m=i % 7 + 1)
             for i in range(600)]
    (tmp_path / "normal.log").write_text("\n".join(lines) + "\n")
    ok(script("train_models.sh", "normal.log", "m", "--holdout", "0", *TINY, cwd=tmp_path))
    (tmp_path / "same.log").write_text("\n".join(lines[:120]) + "\n")
    (tmp_path / "panic.log").write_text("\n".join([*lines[:60], "Mar  1 00:01:00 host1 kernel: Kernel panic - "
                                                   "not syncing: Fatal exception", *lines[60:120]]) + "\n")
    assert "anomalies: 0 records" in ok(script("run_inference.sh", "m", "same.log", "o0", cwd=tmp_path), status=0)
    ok(script("run_inference.sh", "m", "panic.log", "o1", cwd=tmp_path), status=1)
    first = json.loads((tmp_path / "o1" / "anomalies.jsonl").read_text().splitlines()[0])["alog"]
    assert 61 in first["line_nos"] and "alerting" in first["detectors"]
    assert first["reasons"][0]["params"]["novel"] and first["template_training_count"] == 0
    missing = script("run_inference.sh", "m", "no-such.log", "o2", cwd=tmp_path)
    assert missing.returncode == 2 and "no-such.log" in assert_one_line_error(missing)
    assert script("run_inference.sh", "m", cwd=tmp_path).returncode == 2  # usage


def test_incremental_training_keeps_old_templates_and_indices(data):
    old, new = data["model"], data["root"] / "model_inc"
    stdout = ok(script("train_models_incremental.sh", old, data["target"], new, cwd=data["root"]))
    assert "templates:" in stdout and "verified:" in stdout
    old_state = json.loads((old / "drain3_state.json").read_text())["clusters"]
    new_state = json.loads((new / "drain3_state.json").read_text())["clusters"]
    assert [c["id"] for c in new_state[:len(old_state)]] == [c["id"] for c in old_state]
    assert len(new_state) > len(old_state)  # the target's oopses and OOM kills are new templates
    old_vocab, new_vocab = Vocab.load(old / "vocab.json"), Vocab.load(new / "vocab.json")
    assert all(new_vocab.templates[t] == i for t, i in old_vocab.templates.items())
    assert new_vocab.size > old_vocab.size
    model = api.load_bundle(str(new))
    assert model.deeplog.vocab_size_ == new_vocab.size
    old_model = api.load_bundle(str(old))
    assert set(old_model.deeplog.seen_keys_) <= set(model.deeplog.seen_keys_)
    assert model.baseline.templates_[:len(old_model.baseline.templates_)] == old_model.baseline.templates_
    assert model.metadata["incremental"]["from_metadata_sha256"] == old_model.metadata["metadata_sha256"]


def test_grown_network_keeps_the_old_keys_logits():
    import torch

    from anomaly_log_detector.detectors.nets import NextKeyLSTM, grown

    torch.manual_seed(0)
    old = NextKeyLSTM(6, 4, 8, 1).eval()
    new = grown(old, 9).eval()
    assert new.embed.weight.shape == (9, 4) and new.head.weight.shape == (9, 8)
    keys = torch.randint(0, 6, (5, 3))
    with torch.no_grad():
        assert torch.allclose(new(keys)[:, :6], old(keys))  # LSTM, old embeddings and old output rows copied
    with pytest.raises(ValueError, match="only grow"):
        grown(old, 5)


def test_baseline_partial_fit_keeps_old_templates_and_learns_new_ones():
    from anomaly_log_detector.detectors.baseline import BaselineDetector

    def lines(templates: list[str], n: int) -> pd.DataFrame:
        return pd.DataFrame({"line_no": range(1, n + 1), "source": "s",
                             "template": [templates[i % 2] for i in range(n)]})

    old, new = lines(["a <*>", "b <*>"], 200), lines(["a <*>", "c <*>"], 200)
    det = BaselineDetector(window_size=10, stride=5).fit(old)
    before = det.score_windows(new)
    mean_b = det.mean_[1]
    det.partial_fit(new)
    assert det.templates_ == ["a <*>", "b <*>", "c <*>"]  # old order kept, the new one appended
    # Whole-set statistics: 39 old and 39 new windows weigh the same.
    assert det.train_windows_ == 78
    assert det.mean_[2] == pytest.approx(0.5 * 0.5) and det.mean_[1] == pytest.approx(mean_b * 0.5)
    after = det.score_windows(new)
    assert (before["new_ratio"] == 0.5).all() and (after["new_ratio"] == 0).all()
    assert after["score"].max() < before["score"].min()


def test_validate_and_compare_print_their_tables(data):
    root, model = data["root"], data["model"]
    table = ok(script("validate_models.sh", model, cwd=root))
    earned = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(\w+)\s+([\d.]+)/\d+ ", table, re.M)}
    assert set(earned) == set(POINTS)
    total = float(re.search(r"^quality score\s+([\d.]+)/100", table, re.M).group(1))
    assert total == pytest.approx(sum(earned.values()), abs=0.11) and 0 <= total <= 100
    on_log = ok(script("validate_models.sh", model, data["logs"] / "normal_b.log", cwd=root))
    assert "measured on validation log" in on_log and "of 2,000 normal lines" in on_log

    other = root / "model_b"
    ok(script("train_models.sh", data["logs"] / "normal_b.log", other, *TINY, cwd=root))
    rows = ok(script("compare_models.sh", model, other, data["target"], cwd=root)).splitlines()
    by_label = {r[:28].strip(): r[28:].split() for r in rows[2:]}
    for label in ("templates", "vocab size", "quality score", "baseline threshold", "test: anomalies (records)",
                  "test: flagged by both"):
        assert label in by_label, label
    assert by_label["training inputs"][2] == "3,000" and by_label["training inputs"][6] == "2,000"


def test_no_onnx_leaves_the_export_out(data, tmp_path):
    model = tmp_path / "model"
    summary = api.train_model([str(data["logs"] / "normal_b.log")], str(model), epochs=2, hidden=16, layers=1,
                              embed_dim=8, onnx=False)
    assert summary["onnx"] is None and export_status(model) == "no ONNX export"
    assert sorted(os.listdir(model)) == sorted(set(BUNDLE_FILES) - set(EXPORT_FILES))


def test_a_failed_export_is_a_warning_and_leaves_the_bundle(data, tmp_path, monkeypatch, capsys):
    import torch

    from anomaly_log_detector.workflows.settings import TrainSettings
    from anomaly_log_detector.workflows.train import export_onnx

    model = tmp_path / "model"
    api.train_model([str(data["logs"] / "normal_b.log")], str(model), epochs=2, hidden=16, layers=1, embed_dim=8,
                    onnx=False)
    before = sorted(os.listdir(model))

    def broken(*args, **kwargs):
        raise RuntimeError("exporter broke\nsecond line")

    monkeypatch.setattr(torch.onnx, "export", broken)  # torch's exporter failing, as a new torch might
    assert export_onnx(model, TrainSettings()) == {"error": "exporter broke"}
    assert "WARNING: no ONNX export (infer will use torch): exporter broke" in capsys.readouterr().err
    assert sorted(os.listdir(model)) == before and export_status(model) == "no ONNX export"
    monkeypatch.undo()
    assert export_onnx(model, TrainSettings())["files"] == EXPORT_FILES
    assert export_status(model) is None


def test_batch_analysis_trains_on_the_other_files(data):
    root = data["root"]
    out = root / "batch"
    loud = [a for a in TINY if a != "--quiet"]  # --quiet would silence the summary checked here
    stdout = ok(script("run_enhanced_batch_analysis.sh", data["logs"], data["target"], out, *loud, cwd=root), 1)
    assert "baseline: 2 file(s)" in stdout
    summary = json.loads((out / "batch_summary.json").read_text())
    assert sorted(Path(f).name for f in summary["baseline_files"]) == ["normal_a.log", "normal_b.log"]
    assert sorted(os.listdir(out / "model")) == sorted(BUNDLE_FILES)
    stats = json.loads((out / "inference" / "comparative_analysis.json").read_text())
    assert stats["baseline_lines"] == 5000 and stats["target_lines"] == 2000
    only = stats["templates_only_in_target"]
    raw = data["target"].read_text().splitlines()
    assert only and all(raw[t["first_line"]["line_no"] - 1] == t["first_line"]["raw"] for t in only)
    assert sum(t["count"] for t in only) <= len(data["truth"])  # new templates come from injected anomalies
    assert (out / "inference" / "comparative_analysis.md").read_text().startswith("# Target against its baseline")
    plain = root / "batch_plain"
    ok(script("run_batch_analysis.sh", data["logs"], data["target"], plain, *TINY, cwd=root), status=1)
    assert (plain / "inference" / "inference_report.md").is_file()
    assert not (plain / "inference" / "comparative_analysis.json").exists()


@pytest.mark.parametrize("pyarrow_first", [False, True])
def test_infer_process_allocates_arrow_memory_from_the_system_pool(pyarrow_first):
    """`infer` selects the system allocator for Arrow (memory freed by a stage goes back to the OS):
    through ARROW_DEFAULT_MEMORY_POOL when pyarrow is not loaded yet, which Arrow's C++ code (the
    Parquet reader) follows too; else as pyarrow's default pool. A user's own setting would win."""
    code = ("import sys\n" + ("import pyarrow\n" if pyarrow_first else "") +
            "from anomaly_log_detector.cli.cmd_workflow import _infer_process_settings\n"
            "loaded = 'pyarrow' in sys.modules\n"
            "_infer_process_settings()\n"
            "import os, pyarrow as pa\n"
            "print(loaded, pa.default_memory_pool().backend_name, os.environ.get('ARROW_DEFAULT_MEMORY_POOL'))\n")
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                         check=True).stdout.split()
    assert out == ([str(pyarrow_first), "system", "None" if pyarrow_first else "system"])
