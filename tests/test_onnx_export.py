"""ONNX export (convert-onnx) and DeepLog on ONNX Runtime without torch: parity with torch, metadata and
checksums, the C engine's vocabulary, the id-keyed vocab refusal and its fix, bundles, the pipeline."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.bundle import BundleWriter, open_bundle
from anomaly_log_detector.detectors.deeplog import DeepLogDetector
from anomaly_log_detector.errors import BundleError, DataError, ModelError
from anomaly_log_detector.onnx_export import layout as L
from anomaly_log_detector.onnx_export.converter import convert_onnx
from anomaly_log_detector.onnx_export.pipeline import export_status
from helpers import REPO, assert_one_line_error, markov_sessions, run_cli

TINY = dict(hidden=16, layers=1, embed_dim=8, epochs=3, ensemble=2, max_steps=150, seen_is_normal=True)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _markov_sessions(rng: np.random.Generator, n: int, n_templates: int = 12) -> pd.DataFrame:
    return markov_sessions(rng, n, n_templates, lengths=(4, 30), next_p=0.85, groups=("sshd", "cron", "kernel"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny two-network DeepLog with seen transitions, its vocab and sequences files."""
    d = tmp_path_factory.mktemp("onnx")
    vocab = Vocab.build([f"user <NUM> template {i}" for i in range(12)])
    seq = _markov_sessions(np.random.default_rng(0), 240)
    det = DeepLogDetector(**TINY).fit(seq, vocab=vocab)
    det.tau_by_group_ = {"sshd": det.tau_ + 0.5}  # a per-group threshold the export must carry
    det.save(d / "deeplog.pth")
    vocab.save(d / "vocab.json")
    seq.to_parquet(d / "sequences.parquet")
    return {"dir": d, "det": det, "vocab": vocab, "seq": seq}


@pytest.fixture(scope="module")
def export(trained):
    d = trained["dir"]
    summary = convert_onnx(d / "vocab.json", d / "export", deeplog_model=d / "deeplog.pth", validate=True,
                           sequences=d / "sequences.parquet")
    return {"dir": d / "export", "summary": summary}


def test_export_passes_checker_and_matches_torch(trained, export):
    import onnx
    import onnxruntime as ort

    v = export["summary"]["validation"]["deeplog"]
    assert max(v["max_abs_diff"].values()) <= 1e-5 and v["real_windows"] > 0
    assert v["topk"]["sets_differ"] == 0 and v["verdicts_differ"] == 0 and v["session_verdicts_differ"] == 0
    path = export["dir"] / L.DEEPLOG_ONNX
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [L.OPSET]
    dims = [d.dim_param for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert model.graph.input[0].name == L.DEEPLOG_INPUT and dims == ["batch", "sequence"]
    # Our own comparison, on windows of several lengths and batch sizes: the axes are dynamic.
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    det, rng = trained["det"], np.random.default_rng(5)
    for batch, length in ((1, 10), (333, 10), (64, 3), (17, 40)):
        x = rng.integers(0, det.vocab_size_, size=(batch, length))
        got = session.run([L.DEEPLOG_OUTPUT], {L.DEEPLOG_INPUT: x})[0]
        want = det.log_probs(x).numpy()
        assert np.abs(got - want).max() <= 1e-5
        for k in (1, 3):
            assert (np.sort(np.argsort(-got, 1)[:, :k], 1) == np.sort(want.argsort(1)[:, ::-1][:, :k], 1)).all()
    assert (export["dir"] / L.DEEPLOG_OPTIMIZED).exists()  # not --portable


def test_metadata_records_the_export_and_every_checksum(trained, export):
    b = open_bundle(export["dir"])  # verifies every sha256
    for name, entry in b.files.items():
        assert hashlib.sha256((export["dir"] / name).read_bytes()).hexdigest() == entry["sha256"]
    assert set(b.files) == {L.DEEPLOG_ONNX, L.DEEPLOG_OPTIMIZED, L.DEEPLOG_SEEN_PAIRS, L.DEEPLOG_STEP, L.DEEPLOG_HEAD,
                            L.VOCAB_C}
    s, det = b.metadata["onnx"], trained["det"]
    assert s["format"] == L.FORMAT and s["opset"] == L.OPSET and s["vocab_size"] == trained["vocab"].size
    assert s["seq_len"] == det.seq_len and s["k"] is None and s["top_p"] is None
    assert s["torch"] == torch.__version__ and s["onnxruntime"] and s["onnx"] and s["portable"] is False
    assert s["thresholds"]["deeplog_tau"] == det.tau_ and s["thresholds"]["deeplog_tau_by_group"] == {"sshd": det.tau_ + 0.5}
    assert s["deeplog"]["seen_keys"] == det.seen_keys_.tolist() and s["deeplog"]["ensemble"] == 2
    assert s["source"]["deeplog.pth"] == hashlib.sha256((trained["dir"] / "deeplog.pth").read_bytes()).hexdigest()
    assert s["validation"]["deeplog"]["verdicts_differ"] == 0


def test_tampered_export_is_refused(export, tmp_path):
    import shutil

    from anomaly_log_detector.detectors.deeplog_onnx import DeepLogOnnx

    copy = tmp_path / "copy"
    shutil.copytree(export["dir"], copy)
    data = bytearray((copy / L.DEEPLOG_ONNX).read_bytes())
    data[len(data) // 2] ^= 1
    (copy / L.DEEPLOG_ONNX).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256 mismatch"):
        DeepLogOnnx.from_bundle(copy)


def test_c_vocab_is_in_python_index_order(trained, export):
    text = (export["dir"] / L.VOCAB_C).read_text(encoding="utf-8")
    doc = json.loads(text)
    assert list(doc) == [str(i) for i in range(trained["vocab"].size)]  # file order, "10" after "9"
    assert list(doc.values()) == trained["vocab"].strings()
    assert doc["0"] == "<PAD>" and doc["3"] == sorted(trained["vocab"].templates)[0]


def test_id_keyed_vocab_is_refused_naming_the_fix(trained, tmp_path):
    ours = {"format": "alog-detect/vocab", "version": 1, "special": {"<PAD>": 0, "<UNK>": 1, "<EOS>": 2},
            "templates": {str(i + 1): i + 3 for i in range(12)}}
    (tmp_path / "ids.json").write_text(json.dumps(ours))
    (tmp_path / "plain.json").write_text(json.dumps({"1": 0, "2": 1, "3": 2}))
    for name in ("ids.json", "plain.json"):
        with pytest.raises(DataError, match="fix_vocab_format.py"):
            convert_onnx(tmp_path / name, tmp_path / "out", deeplog_model=trained["dir"] / "deeplog.pth")
    assert not (tmp_path / "out").exists()
    proc = run_cli("convert-onnx", "--deeplog-model", str(trained["dir"] / "deeplog.pth"), "--vocab",
                   str(tmp_path / "ids.json"), "--output-dir", str(tmp_path / "out"))
    line = assert_one_line_error(proc)
    assert "template ids" in line and "scripts/fix_vocab_format.py" in line and proc.returncode == 2


def test_fix_vocab_format_round_trip(tmp_path):
    templates = {7: "sshd: accepted password for <*>", 2: "kernel: eth<NUM> link up", 11: "cron: job <NUM> started"}
    parsed = pd.DataFrame({"template_id": pd.array([7, 2, 11, 2, 7], dtype="int64"),
                           "template": [templates[i] for i in (7, 2, 11, 2, 7)]})
    parsed.to_parquet(tmp_path / "parsed.parquet")
    # Indices in Drain id order (not sorted by string): the fix must keep them.
    old = {"format": "alog-detect/vocab", "version": 1, "special": {"<PAD>": 0, "<UNK>": 1, "<EOS>": 2},
           "templates": {"2": 3, "7": 4, "11": 5}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    script = [sys.executable, str(REPO / "scripts" / "fix_vocab_format.py"), "--parsed", str(tmp_path / "parsed.parquet")]
    proc = subprocess.run([*script, "--old-vocab", str(tmp_path / "old.json"), "--output", str(tmp_path / "new.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    fixed = Vocab.load(tmp_path / "new.json")
    assert fixed.templates == {templates[2]: 3, templates[7]: 4, templates[11]: 5}
    from anomaly_log_detector.onnx_export.vocab_c import read_training_vocab

    assert read_training_vocab(tmp_path / "new.json").strings() == fixed.strings()
    # An id the parsed file lacks is named; the output is not written.
    (tmp_path / "bad.json").write_text(json.dumps({**old, "templates": {"2": 3, "99": 4}}))
    proc = subprocess.run([*script, "--old-vocab", str(tmp_path / "bad.json"), "--output", str(tmp_path / "x.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "99" in proc.stderr and "not in" in proc.stderr and not (tmp_path / "x.json").exists()


TORCH_FREE = """
import json, sys
sys.modules["torch"] = None            # any `import torch` now raises ImportError
import numpy as np, pandas as pd
from anomaly_log_detector.detectors.deeplog_onnx import DeepLogOnnx
det = DeepLogOnnx.from_bundle(sys.argv[1])
seq = pd.read_parquet(sys.argv[2])
ws = det.evaluate(seq)
windows, sessions = det.tables(seq, ws)
np.savez(sys.argv[3], in_topk=ws.in_topk, rank=ws.rank, novel=ws.is_novel, surprise=ws.surprise,
         flagged=sessions["is_anomaly"].to_numpy(), top=det.top_keys(ws.windows.inputs[:50], 3))
print(json.dumps(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))))
"""


def test_torch_free_scoring_equals_the_torch_path(trained, export, tmp_path):
    rng = np.random.default_rng(9)
    seq = pd.concat([trained["seq"].head(60), _markov_sessions(rng, 60, 14)], ignore_index=True)  # 14: unseen keys
    seq.to_parquet(tmp_path / "seq.parquet")
    proc = subprocess.run([sys.executable, "-c", TORCH_FREE, str(export["dir"]), str(tmp_path / "seq.parquet"),
                           str(tmp_path / "out.npz")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["torch"]  # only our None placeholder: nothing imported torch
    got = np.load(tmp_path / "out.npz")
    det = trained["det"]
    ws = det.evaluate(seq)
    _, sessions = det.tables(seq, ws)
    assert (~ws.in_topk).sum() > 0 and ws.is_novel.sum() > 0  # both kinds of verdict are exercised
    assert np.array_equal(got["in_topk"], ws.in_topk) and np.array_equal(got["novel"], ws.is_novel)
    assert np.array_equal(got["rank"], ws.rank) and np.array_equal(got["flagged"], sessions["is_anomaly"].to_numpy())
    assert np.abs(got["surprise"] - ws.surprise).max() <= 1e-4
    assert np.array_equal(got["top"][:, 0], det.top_keys(ws.windows.inputs[:50], 3)[:, 0])


def test_seq_len_override_is_a_recommendation(trained, tmp_path):
    s = convert_onnx(trained["dir"] / "vocab.json", tmp_path / "short", deeplog_model=trained["dir"] / "deeplog.pth",
                     seq_len=5, portable=True, validate=True)
    meta = open_bundle(tmp_path / "short").metadata["onnx"]
    assert meta["seq_len"] == 5 and meta["deeplog"]["trained_seq_len"] == trained["det"].seq_len
    assert meta["deeplog"]["seen_pairs"] is None and any("seen" in n for n in s["notes"])
    assert set(s["files"]) == {L.DEEPLOG_ONNX, L.DEEPLOG_STEP, L.DEEPLOG_HEAD, L.VOCAB_C}  # --portable: no optimised graph
    assert s["validation"]["deeplog"]["verdicts_differ"] == 0


def test_convert_into_a_bundle_keeps_it_verified(trained, tmp_path):
    bundle = tmp_path / "bundle"
    with BundleWriter(bundle) as w:
        w.copy("deeplog.pth", trained["dir"] / "deeplog.pth")
        w.copy("vocab.json", trained["dir"] / "vocab.json")
        w.write_json("rules.json", [])
        w.commit({"params": {"note": "trainer metadata"}, "vocab_size": trained["vocab"].size})
    before = open_bundle(bundle)
    assert export_status(bundle) == "no ONNX export"
    convert_onnx(bundle / "vocab.json", bundle, deeplog_model=bundle / "deeplog.pth", portable=True)
    after = open_bundle(bundle)
    assert after.metadata["params"] == {"note": "trainer metadata"}
    for name in before.files:
        assert after.files[name]["sha256"] == before.files[name]["sha256"]
    assert after.has(L.DEEPLOG_ONNX) and after.has(L.VOCAB_C) and export_status(bundle) is None
    # A model that is not the bundle's own is refused (its ONNX and torch models would disagree).
    other = DeepLogDetector(**{**TINY, "seed": 7, "ensemble": 1, "epochs": 1}).fit(trained["seq"].head(40),
                                                                                   vocab=trained["vocab"])
    other.save(tmp_path / "other.pth")
    with pytest.raises(DataError, match="not the deeplog.pth of the bundle"):
        convert_onnx(bundle / "vocab.json", bundle, deeplog_model=tmp_path / "other.pth")
    open_bundle(bundle)  # still intact
    # A retrained model in the bundle makes the export stale: reported, and the ONNX loader declines it.
    from anomaly_log_detector.bundle.manifest import RESERVED_KEYS
    from anomaly_log_detector.detectors.deeplog_onnx import bundle_deeplog

    with BundleWriter(bundle, overwrite=True) as w:
        for name in after.files:
            w.copy(name, tmp_path / "other.pth" if name == "deeplog.pth" else bundle / name)
        w.commit({k: v for k, v in after.metadata.items() if k not in RESERVED_KEYS})
    assert export_status(bundle) == "deeplog.pth changed since the export"
    assert bundle_deeplog(open_bundle(bundle)) is None


def test_mscred_export_matches_torch(trained, tmp_path):
    from anomaly_log_detector.detectors.mscred import MSCREDDetector
    from anomaly_log_detector.detectors.mscred_net import MSCREDNet

    torch.manual_seed(0)
    det = MSCREDDetector(top_k=4, scales=(1, 3), history=3, channels=(4, 4, 8, 8))
    det.series_, det.scales_ = np.array([3, 4, 5, 6]), (1, 3)
    det.vocab_size_, det.vocab_ = trained["vocab"].size, dict(trained["vocab"].templates)
    det.series_names_ = ["a", "b", "c", "d", "<other>", "<unseen>"]
    det.mean_, det.std_ = np.zeros(6), np.ones(6)
    det.residual_bound_ = np.ones((6, 6), np.float32)
    det.train_scores_ = det.heldout_scores_ = np.ones(4, np.float32)
    det.thresholds_ = {"calibrated": 1.0, "percentile": 1.0}
    det.history_, det.train_stats_, det.threshold_, det.error_scale_ = [], {}, 1.0, 1.0
    det.net_ = MSCREDNet(2, det.channels).eval()
    det.save(tmp_path / "mscred.pth")
    s = convert_onnx(trained["dir"] / "vocab.json", tmp_path / "ms", mscred_model=tmp_path / "mscred.pth",
                     portable=True, validate=True)
    assert s["feature_dim"] == 6 and s["validation"]["mscred"]["max_abs_diff"]["portable"] <= 1e-5
    meta = open_bundle(tmp_path / "ms").metadata["onnx"]["mscred"]
    assert meta["input"]["shape"] == ["batch", 3, 2, 6, 6] and meta["state"] == L.MSCRED_STATE
    with pytest.raises(DataError, match="reads 6 series"):
        convert_onnx(trained["dir"] / "vocab.json", tmp_path / "ms2", mscred_model=tmp_path / "mscred.pth",
                     feature_dim=10)


ONNX_INFER = """
import sys
sys.modules["torch"] = None  # any import of torch now fails: infer must score with ONNX Runtime
from anomaly_log_detector import api
s = api.infer_logs(sys.argv[1], [sys.argv[2]], sys.argv[3], threads=1)
assert sys.modules["torch"] is None and not any(m.startswith("torch.") for m in sys.modules)
print(s["exit_status"])
"""


def test_hybrid_pipeline_deploys_a_bundle_that_infers_without_torch(tmp_path):
    from anomaly_log_detector import api

    for name, lines, rate, seed in (("normal.log", "1200", "0", "3"), ("target.log", "900", "0.05", "4")):
        run_cli("gen-synth", "--out", str(tmp_path / name), "--lines", lines, "--anomaly-rate", rate, "--seed", seed,
                check=True)
    proc = run_cli("hybrid-pipeline", "--log-file", str(tmp_path / "normal.log"), "--models-dir", str(tmp_path / "m"),
                   "--auto-deploy", "--epochs", "2", "--max-steps", "60", "--hidden", "16", "--layers", "1",
                   "--embed-dim", "8", check=True)  # no --quiet: it would silence the summary
    assert b"verdicts differing: 0" in proc.stdout
    results = json.loads((tmp_path / "m" / "pipeline_results.json").read_text())
    assert set(results["stages"]) == {"training", "conversion", "deployment"}
    deployed = open_bundle(tmp_path / "m" / "deployment")
    assert deployed.has(L.DEEPLOG_ONNX) and not any(n.endswith(".pth") for n in deployed.files)
    assert export_status(tmp_path / "m" / "model") is None
    # The same log through infer: torch on the trained bundle, ONNX Runtime without torch on the deployment.
    torch_path = api.infer_logs(str(tmp_path / "m" / "model"), [str(tmp_path / "target.log")], str(tmp_path / "t"))
    proc = subprocess.run([sys.executable, "-c", ONNX_INFER, str(tmp_path / "m" / "deployment"),
                           str(tmp_path / "target.log"), str(tmp_path / "o")], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.split()[-1]) == torch_path["exit_status"]
    a, b = pd.read_parquet(tmp_path / "t" / "deeplog_infer.parquet"), pd.read_parquet(tmp_path / "o" / "deeplog_infer.parquet")
    assert len(a) > 0 and (~a["in_topk"]).sum() > 0
    for column in ("session", "target", "in_topk", "rank", "is_novel", "expected"):
        assert a[column].astype(str).tolist() == b[column].astype(str).tolist(), column
    assert np.abs(a["surprise"].to_numpy(float) - b["surprise"].to_numpy(float)).max() <= 1e-4
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t" / "anomalies.parquet"),
                                  pd.read_parquet(tmp_path / "o" / "anomalies.parquet"))


def test_scorer_refuses_training():
    from anomaly_log_detector.detectors.deeplog_onnx import DeepLogOnnx

    with pytest.raises(ModelError, match="only scores"):
        DeepLogOnnx().fit(pd.DataFrame({"events": [[3, 4]]}))


def test_inference_path_never_imports_torch():
    code = ("import sys\nimport anomaly_log_detector.detectors.deeplog_onnx, anomaly_log_detector.workflows.infer\n"
            "import anomaly_log_detector.onnx_export.pipeline\nprint('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env={**os.environ})
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
