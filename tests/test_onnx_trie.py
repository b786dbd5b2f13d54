"""The prefix-trie pass of DeepLog on ONNX Runtime (deeplog_step.onnx + deeplog_head.onnx): the same
log-probabilities and verdicts as the whole graph (deeplog.onnx) and torch, on windows that share
prefixes or not; older exports without the step graphs still score; the files are checksummed and
exported byte for byte the same twice."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from anomaly_log_detector.builders.vocab import PAD, Vocab
from anomaly_log_detector.bundle import BundleWriter, open_bundle
from anomaly_log_detector.bundle.manifest import RESERVED_KEYS
from anomaly_log_detector.detectors.deeplog import DeepLogDetector
from anomaly_log_detector.detectors.deeplog_onnx import TRIE_BATCH, DeepLogOnnx
from anomaly_log_detector.detectors.windows import build_windows, flatten, unique_rows
from anomaly_log_detector.errors import BundleError, ModelError
from anomaly_log_detector.onnx_export import layout as L
from anomaly_log_detector.onnx_export.converter import convert_onnx
from anomaly_log_detector.onnx_export.pipeline import export_status
from anomaly_log_detector.onnx_export.validate import RELATIVE, TOLERANCE
from helpers import markov_sessions

# Two layers and two members: the state carries every member's every layer.
SMALL = dict(hidden=16, layers=2, embed_dim=8, epochs=2, ensemble=2, max_steps=120, seen_is_normal=True, seq_len=6)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _sessions(rng: np.random.Generator, n: int, n_templates: int = 10) -> pd.DataFrame:
    """Markov sessions: few successors per key, so that windows share long prefixes."""
    return markov_sessions(rng, n, n_templates, lengths=(2, 25), next_p=0.8, groups=("sshd", "cron"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("trie")
    vocab = Vocab.build([f"event <NUM> kind {i}" for i in range(10)])
    seq = _sessions(np.random.default_rng(1), 200)
    det = DeepLogDetector(**SMALL).fit(seq, vocab=vocab)
    det.save(d / "deeplog.pth")
    vocab.save(d / "vocab.json")
    seq.to_parquet(d / "sequences.parquet")
    summary = convert_onnx(d / "vocab.json", d / "export", deeplog_model=d / "deeplog.pth", portable=True,
                           validate=True, sequences=d / "sequences.parquet")
    scorer = DeepLogOnnx.from_bundle(d / "export", threads=1)
    return {"dir": d, "det": det, "vocab": vocab, "seq": seq, "summary": summary, "scorer": scorer}


def _assert_same(scorer: DeepLogOnnx, det: DeepLogDetector, x: np.ndarray) -> None:
    """The trie path against the whole graph and torch: within the validation's tolerance, same top-k."""
    trie, graph, want = scorer.trie_log_probs(x), scorer.graph_log_probs(x), det.log_probs(x.astype(np.int64)).numpy()
    assert trie.shape == graph.shape == (len(x), det.vocab_size_) and trie.dtype == np.float32
    for got in (trie, graph):
        assert (np.abs(got.astype(np.float64) - want) - RELATIVE * np.abs(want)).max() <= TOLERANCE
    assert (np.abs(trie - graph) <= TOLERANCE + RELATIVE * np.abs(graph)).all()
    assert np.array_equal(np.argsort(-trie, 1, kind="stable")[:, :3], np.argsort(-graph, 1, kind="stable")[:, :3])


def test_export_holds_and_validates_the_trie_graphs(exported):
    s = exported["summary"]
    assert {L.DEEPLOG_STEP, L.DEEPLOG_HEAD} <= set(s["files"])
    v = s["validation"]["deeplog"]
    assert v["paths"] == ["portable", "trie"] and v["max_abs_diff"]["trie"] <= 1e-5
    assert all(f"trie, length {n}" in v["max_abs_diff"] for n in (1, 3, 11))
    assert v["verdicts_differ"] == 0 and v["session_verdicts_differ"] == 0 and v["topk"]["sets_differ"] == 0
    assert isinstance(v["trie_identical_to_graph"], bool)
    b = open_bundle(s["output_dir"])
    t = b.metadata["onnx"]["deeplog"]["trie"]
    assert (t["step"], t["head"], t["members"], t["layers"], t["hidden"]) == (L.DEEPLOG_STEP, L.DEEPLOG_HEAD, 2, 2, 16)
    assert b.has(L.DEEPLOG_STEP) and b.has(L.DEEPLOG_HEAD) and export_status(b.dir) is None
    assert exported["scorer"].trie_ is not None


def test_trie_equals_the_whole_graph_on_shared_and_unshared_prefixes(exported):
    scorer, det = exported["scorer"], exported["det"]
    values, lengths = flatten(exported["seq"]["events"])
    windows = unique_rows(build_windows(values, lengths, det.seq_len, det.eos).inputs)[0]
    x = windows.astype(np.int64)
    assert (x[:, 0] == PAD).any() and (x[:, 0] != PAD).any()  # padded starts and full windows
    first_two = unique_rows(x[:, :2])[0]
    assert len(first_two) < len(x) / 4  # the windows do share prefixes
    _assert_same(scorer, det, x)  # sorted, as the scoring loop passes them
    _assert_same(scorer, det, x[np.random.default_rng(3).permutation(len(x))])  # any order
    _assert_same(scorer, det, x[:1])  # a single row
    _assert_same(scorer, det, np.concatenate([x[:5], x[:5], x[2:3]]))  # repeated windows
    distinct_first = np.array([[k, *np.random.default_rng(k).integers(3, det.vocab_size_, det.seq_len - 1)]
                               for k in range(det.vocab_size_)], dtype=np.int64)
    _assert_same(scorer, det, distinct_first)  # no prefix shared at all
    _assert_same(scorer, det, np.full((4, det.seq_len), PAD, dtype=np.int64))  # all padding
    _assert_same(scorer, det, x[:, 2:])  # another window length
    big = np.random.default_rng(4).integers(0, det.vocab_size_, size=(TRIE_BATCH + 300, det.seq_len))
    _assert_same(scorer, det, big)  # more prefixes than one step call takes
    # the compact key dtypes of the scoring loop
    _assert_same(scorer, det, windows.astype(np.uint8))
    # log_probs is the trie path; the same per-row values whatever else is in the batch
    assert np.array_equal(scorer.log_probs(x), scorer.trie_log_probs(x))
    assert np.array_equal(scorer.trie_log_probs(x)[7:9], scorer.trie_log_probs(x[7:9]))


def test_trie_verdicts_equal_the_whole_graph(exported):
    scorer, seq = exported["scorer"], exported["seq"]
    ws_trie, ws_graph = scorer.evaluate(seq), scorer.without_trie().evaluate(seq)
    assert np.array_equal(ws_trie.in_topk, ws_graph.in_topk) and np.array_equal(ws_trie.rank, ws_graph.rank)
    assert np.array_equal(ws_trie.is_novel, ws_graph.is_novel)
    assert np.abs(ws_trie.surprise.astype(np.float64) - ws_graph.surprise.astype(np.float64)).max() <= 1e-4
    assert np.array_equal(scorer.top_keys(ws_trie.windows.inputs[:40], 3),
                          scorer.without_trie().top_keys(ws_trie.windows.inputs[:40], 3))


def _rewrite(src, dst, drop=(), meta_edit=None):
    """``src`` as a new bundle at ``dst`` without the files ``drop``, its metadata edited."""
    b = open_bundle(src)
    meta = {k: v for k, v in b.metadata.items() if k not in RESERVED_KEYS}
    if meta_edit:
        meta_edit(meta)
    with BundleWriter(dst) as w:
        for name in b.files:
            if name not in drop:
                w.copy(name, b.dir / name)
        w.commit(meta)


def test_an_export_without_the_step_graphs_scores_by_the_whole_graph(exported, tmp_path):
    def old(meta):
        del meta["onnx"]["deeplog"]["trie"]

    _rewrite(exported["summary"]["output_dir"], tmp_path / "old", (L.DEEPLOG_STEP, L.DEEPLOG_HEAD), old)
    det = DeepLogOnnx.from_bundle(tmp_path / "old", threads=1)
    assert det.trie_ is None and export_status(tmp_path / "old") is None
    seq = exported["seq"]
    ws_old, ws_new = det.evaluate(seq), exported["scorer"].evaluate(seq)
    assert np.array_equal(ws_old.in_topk, ws_new.in_topk) and np.array_equal(ws_old.rank, ws_new.rank)
    # Listed in the metadata but not in the bundle: reported, and the loader refuses it.
    _rewrite(exported["summary"]["output_dir"], tmp_path / "missing", (L.DEEPLOG_STEP,))
    assert export_status(tmp_path / "missing") == f"export file(s) missing: {L.DEEPLOG_STEP}"
    with pytest.raises(BundleError):
        DeepLogOnnx.from_bundle(tmp_path / "missing")


def test_a_tampered_step_or_head_graph_is_refused(exported, tmp_path):
    for name in (L.DEEPLOG_STEP, L.DEEPLOG_HEAD):
        copy = tmp_path / name
        shutil.copytree(exported["summary"]["output_dir"], copy)
        data = bytearray((copy / name).read_bytes())
        data[len(data) // 2] ^= 1
        (copy / name).write_bytes(bytes(data))
        with pytest.raises(BundleError, match="sha256 mismatch"):
            DeepLogOnnx.from_bundle(copy)


def test_bad_trie_metadata_is_refused(exported, tmp_path):
    def wrong_shape(meta):
        meta["onnx"]["deeplog"]["trie"]["hidden"] = 32

    _rewrite(exported["summary"]["output_dir"], tmp_path / "shape", meta_edit=wrong_shape)
    with pytest.raises(BundleError, match="the state is"):
        DeepLogOnnx.from_bundle(tmp_path / "shape")

    def not_a_name(meta):
        meta["onnx"]["deeplog"]["trie"]["step"] = 3

    _rewrite(exported["summary"]["output_dir"], tmp_path / "name", meta_edit=not_a_name)
    with pytest.raises(BundleError, match="trie.step must be a file name"):
        DeepLogOnnx.from_bundle(tmp_path / "name")


def test_export_is_deterministic(exported, tmp_path):
    d = exported["dir"]
    for run in ("a", "b"):
        convert_onnx(d / "vocab.json", tmp_path / run, deeplog_model=d / "deeplog.pth", portable=True)
    a, b = open_bundle(tmp_path / "a"), open_bundle(tmp_path / "b")
    assert set(a.files) == set(b.files) == {L.DEEPLOG_ONNX, L.DEEPLOG_STEP, L.DEEPLOG_HEAD, L.DEEPLOG_SEEN_PAIRS,
                                            L.VOCAB_C}
    for name in a.files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_validation_fails_when_the_trie_path_disagrees(exported, tmp_path, monkeypatch):
    real = DeepLogOnnx.trie_log_probs

    def off(self, contexts):
        out = real(self, contexts)
        return out + np.float32(1e-3)

    monkeypatch.setattr(DeepLogOnnx, "trie_log_probs", off)
    d = exported["dir"]
    with pytest.raises(ModelError, match=r"; trie\)"):
        convert_onnx(d / "vocab.json", tmp_path / "bad", deeplog_model=d / "deeplog.pth", portable=True, validate=True)
    assert not (tmp_path / "bad").exists()
