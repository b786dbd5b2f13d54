"""DeepLog: windows, training, scoring rules, safe model files and the CLI, on real HDFS_100k sessions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from anomaly_log_detector.builders.deeplog import read_sequences
from anomaly_log_detector.builders.importers import import_sequences
from anomaly_log_detector.builders.vocab import EOS, PAD, UNK, Vocab
from anomaly_log_detector.detectors.deeplog import DeepLogDetector
from anomaly_log_detector.detectors.windows import build_windows, flatten, unique_rows
from anomaly_log_detector.errors import DataError, ModelError
from anomaly_log_detector.evaluation.metrics import binary_metrics
from helpers import assert_one_line_error, run_cli, shared_data

# Small enough to train in a few seconds on 2 shared cores, big enough to learn HDFS block order.
TINY = dict(hidden=24, layers=1, embed_dim=8, epochs=30, batch_size=256, lr=1e-2, patience=4, ensemble=1)
# Models this small run fastest on one thread, and several test processes share the cores.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def hdfs(tmp_path_factory):
    """HDFS_100k block sessions as imported by `import-sequences` (template text vocab)."""
    data = shared_data("hdfs_labeled", "HDFS_100k.block_sessions.csv")
    out = tmp_path_factory.mktemp("hdfs") / "sequences.parquet"
    import_sequences(data, "blocks-csv", out, templates_path=data.parent / "HDFS_100k.templates.csv")
    return read_sequences(out), Vocab.load(out.parent / "vocab.json")


@pytest.fixture(scope="module")
def train_set(hdfs):
    seq, _ = hdfs
    return seq[(seq["split"] == "train") & (seq["label"] == 0)].head(1500).reset_index(drop=True)


@pytest.fixture(scope="module")
def model(hdfs, train_set):
    return DeepLogDetector(**TINY).fit(train_set, vocab=hdfs[1])


def _naive_windows(sessions, h, eos):
    """Reference: the obvious per-event loop."""
    out = []
    for s in sessions:
        padded = [PAD] * h + list(s) + ([EOS] if eos else [])
        out += [padded[i - h:i + 1] for i in range(h, len(padded))]
    return np.array(out, dtype=np.int64).reshape(-1, h + 1)


def test_windows_pad_every_session_and_never_cross_it():
    w = build_windows(*flatten([[5, 6, 7], [], [8]]), seq_len=2)
    assert w.keys.tolist() == [[0, 0, 5], [0, 5, 6], [5, 6, 7], [6, 7, EOS], [0, 0, EOS], [0, 0, 8], [0, 8, EOS]]
    assert w.session.tolist() == [0, 0, 0, 0, 1, 2, 2]
    assert w.pos.tolist() == [0, 1, 2, 3, 0, 0, 1]
    assert w.event.tolist() == [0, 1, 2, -1, -1, 3, -1]
    rng = np.random.default_rng(0)
    sessions = [rng.integers(3, 9, size=n) for n in rng.integers(0, 14, size=60)]
    for h in (1, 4, 10):
        for eos in (True, False):
            assert np.array_equal(build_windows(*flatten(sessions), h, eos).keys, _naive_windows(sessions, h, eos))


def test_unique_rows_round_trip():
    a = np.random.default_rng(1).integers(0, 3, size=(500, 4))
    rows, inverse, counts = unique_rows(a)
    assert np.array_equal(rows[inverse], a) and counts.sum() == 500
    assert len(rows) == len(np.unique(a, axis=0))


def test_training_is_deterministic(train_set, hdfs):
    small = train_set.head(300)
    a = DeepLogDetector(**{**TINY, "epochs": 3}).fit(small, vocab=hdfs[1]).models_[0].state_dict()
    b = DeepLogDetector(**{**TINY, "epochs": 3}).fit(small, vocab=hdfs[1]).models_[0].state_dict()
    c = DeepLogDetector(**{**TINY, "epochs": 3, "seed": 7}).fit(small, vocab=hdfs[1]).models_[0].state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[n], b[n]) for n in a)
    assert not all(torch.equal(a[n], c[n]) for n in a)


def test_threshold_is_calibrated_on_held_out_sessions(model, hdfs, train_set):
    # tau_ is what held-out normal sessions needed; on more normal sessions from the same split the
    # calibrated rule flags few, and the transitions of the training sessions never (seen_is_normal).
    assert model.calibrated and model.threshold_ == model.tau_ >= 2.0
    more = hdfs[0][(hdfs[0]["split"] == "train") & (hdfs[0]["label"] == 0)].iloc[1500:3000]
    assert model.predict(more).mean() < 0.02
    strict = DeepLogDetector(**{**TINY, "seen_is_normal": True}).fit(train_set.head(400), vocab=hdfs[1])
    assert not strict.predict(train_set.head(400)).any()
    assert strict.train_stats_["calibration_windows"] > 0


def test_rules_top_k_and_pure_nucleus(model, hdfs):
    test = hdfs[0][hdfs[0]["split"] == "test"].head(300)
    ws = _with(model, k=1).evaluate(test)
    assert ((ws.rank <= 1) | ~ws.in_topk).all() and not ws.in_topk[ws.rank > 1].any()
    nucleus = _with(model, top_p=0.5).evaluate(test)
    mass_above = 1.0 - nucleus.tail
    assert (nucleus.in_topk == ((mass_above < 0.5) & ~nucleus.is_novel)).all()
    assert _with(model, k=3).threshold_ == 0.5 and model.threshold_ == model.tau_


def test_ensemble_averages_networks(hdfs, train_set):
    two = DeepLogDetector(**{**TINY, "ensemble": 2, "epochs": 3}).fit(train_set.head(300), vocab=hdfs[1])
    assert len(two.models_) == 2
    ctx = np.zeros((1, two.seq_len), dtype=np.int64)
    with torch.no_grad():
        logs = [torch.log_softmax(m(torch.from_numpy(ctx)), 1) for m in two.models_]
    mean = torch.stack(logs).mean(0)
    assert torch.allclose(two.log_probs(ctx), mean - torch.logsumexp(mean, 1, keepdim=True))


def test_training_loss_falls_and_stops_on_plateau(model):
    assert model.history_[-1] < 0.5 * model.history_[0]
    stats = model.train_stats_
    assert stats["distinct_windows"] < stats["windows"] / 10  # HDFS windows repeat a lot
    assert stats["epochs"] == len(model.history_) <= TINY["epochs"]
    # The weights kept are those of the best epoch (the exact loss over every distinct window).
    assert stats["final_loss"] == pytest.approx(min(model.history_))


def test_save_load_gives_identical_scores(model, hdfs, tmp_path):
    test = hdfs[0][hdfs[0]["split"] == "test"].head(400)
    model.save(tmp_path / "m.pth")
    loaded = DeepLogDetector.load(tmp_path / "m.pth")
    assert np.array_equal(loaded.score(test), model.score(test))
    assert loaded.get_params() == model.get_params() and loaded.vocab_ == hdfs[1].templates
    ckpt = torch.load(tmp_path / "m.pth", weights_only=True)
    assert ckpt["config"]["vocab_size"] == hdfs[1].size


class _Payload:
    """Stands for any object a malicious checkpoint could carry."""


def test_load_refuses_pickled_objects_and_bad_configs(model, tmp_path):
    evil = tmp_path / "evil.pth"
    torch.save({"format": "alog-detect/deeplog", "version": 1, "config": _Payload()}, evil)
    with pytest.raises(ModelError, match="evil.pth"):
        DeepLogDetector.load(evil)
    model.save(tmp_path / "m.pth")
    ckpt = torch.load(tmp_path / "m.pth", weights_only=True)
    wrong_shape = {**ckpt, "config": {**ckpt["config"], "hidden": 7}}
    torch.save(wrong_shape, tmp_path / "shape.pth")
    with pytest.raises(ModelError, match="shape.pth.*do not match"):
        DeepLogDetector.load(tmp_path / "shape.pth")
    no_k = {**ckpt, "config": {n: v for n, v in ckpt["config"].items() if n != "k"}}
    torch.save(no_k, tmp_path / "nok.pth")
    with pytest.raises(ModelError, match="nok.pth.*lacks k"):
        DeepLogDetector.load(tmp_path / "nok.pth")
    (tmp_path / "text.pth").write_text("not a model")
    with pytest.raises(ModelError, match="text.pth"):
        DeepLogDetector.load(tmp_path / "text.pth")


def test_short_sessions_are_scored(model, train_set):
    common = list(train_set["events"].iloc[0])
    short = pd.DataFrame({"events": [[], common[:1], common[:2], common[:3]]})
    ws = model.evaluate(short)
    assert np.bincount(ws.windows.session).tolist() == [1, 2, 3, 4]  # every event plus EOS
    scores = model.score(short)
    assert scores.shape == (4,) and np.isfinite(scores).all()


def _with(det: DeepLogDetector, **params) -> DeepLogDetector:
    """A copy of a fitted detector with other inference settings (``k`` / ``top_p`` through set_rule)."""
    other = DeepLogDetector.__new__(DeepLogDetector)
    rule = {name: params.pop(name) for name in ("k", "top_p") if name in params}
    other.__dict__.update({**det.__dict__, **params})
    if rule:
        other.set_rule(**{"k": det.k, "top_p": det.top_p, **rule})
    return other


def test_eos_flags_truncated_sessions(model, hdfs, train_set):
    det = _with(model, top_p=0.9999)
    full = train_set.head(200)
    cut = pd.DataFrame({"events": [list(e[:2]) for e in full["events"]]})
    assert det.predict(full).mean() < 0.05
    ws = det.evaluate(cut)
    assert det.predict(cut).mean() > 0.9
    misses = ~ws.in_topk
    assert (ws.windows.targets[misses] == EOS).all()  # the early end, not the events, is the miss
    no_eos = DeepLogDetector(**{**TINY, "top_p": 0.9999, "eos": False}).fit(train_set.head(500), vocab=hdfs[1])
    assert no_eos.predict(cut).mean() < 0.1  # without EOS a prefix is (nearly always) a normal start


def test_unseen_keys_are_novel_misses(model, train_set):
    events = list(train_set["events"].iloc[0])
    never_trained = next(i for i in range(3, model.vocab_size_) if i not in set(model.seen_keys_))
    X = pd.DataFrame({"events": [events[:4] + [UNK] + events[4:], events[:4] + [never_trained] + events[4:],
                                 events[:4] + [10_000] + events[4:]]})
    ws = model.evaluate(X)
    at = ws.windows.pos == 4
    assert ws.is_novel[at].all() and not ws.in_topk[at].all()
    assert model.predict(X).all()


def test_small_inference_batches_give_the_same_results(model, hdfs):
    test = hdfs[0][hdfs[0]["split"] == "test"].head(300)
    big = model.evaluate(test)
    small = _with(model, infer_batch_size=7).evaluate(test)
    assert big.distinct_windows > 7
    for name in ("rank", "in_topk", "is_novel"):
        assert np.array_equal(getattr(big, name), getattr(small, name))
    np.testing.assert_allclose(big.prob, small.prob, rtol=1e-5, atol=1e-7)


def test_fit_rejects_bad_input():
    with pytest.raises(DataError, match="events"):
        DeepLogDetector().fit(pd.DataFrame({"x": [1]}))
    with pytest.raises(DataError, match="no normal session"):
        DeepLogDetector().fit(pd.DataFrame({"events": [[3, 4]], "label": [1]}))
    with pytest.raises(DataError, match="top_p"):
        DeepLogDetector(top_p=1.5).fit(pd.DataFrame({"events": [[3, 4]]}))


def _subset_csv(tmp_path):
    """Normal training blocks and a test slice holding every test anomaly, as a blocks CSV."""
    blocks = pd.read_csv(shared_data("hdfs_labeled", "HDFS_100k.block_sessions.csv"))
    train = blocks[(blocks["Split"] == "train") & (blocks["Label"] == "Normal")].head(2000)
    test = blocks[blocks["Split"] == "test"]
    test = pd.concat([test[test["Label"] == "Anomaly"], test[test["Label"] == "Normal"].head(500)])
    path = tmp_path / "blocks.csv"
    pd.concat([train, test]).to_csv(path, index=False)
    return path, test


def test_cli_train_and_infer_on_hdfs(tmp_path):
    csv_path, test = _subset_csv(tmp_path)
    templates = shared_data("hdfs_labeled", "HDFS_100k.templates.csv")
    seq = tmp_path / "sequences.parquet"
    run_cli("import-sequences", "--input", str(csv_path), "--format", "blocks-csv", "--templates", str(templates),
            "--out", str(seq), check=True)
    model = tmp_path / "deeplog.pth"
    train = run_cli("deeplog-train", "--seq", str(seq), "--out", str(model), "--split", "train",
                    "--hidden", "24", "--layers", "1", "--embed-dim", "8", "--epochs", "30", "--batch-size", "256",
                    "--lr", "0.01", "--patience", "4", check=True, env=ONE_THREAD)
    assert b"loss" in train.stderr and model.exists()
    infer = run_cli("deeplog-infer", "--seq", str(seq), "--model", str(model), "--split", "test",
                    "--top-p", "0.9999", "--out-dir", str(tmp_path / "out"), check=True, env=ONE_THREAD)
    assert b"anomalous" in infer.stdout
    sessions = pd.read_parquet(tmp_path / "out" / "deeplog_sessions.parquet")
    windows = pd.read_parquet(tmp_path / "out" / "deeplog_infer.parquet")
    assert sessions["session"].tolist() == test["BlockId"].tolist()
    assert len(windows) == sum(len(s.split()) + 1 for s in test["EventSequence"])
    m = binary_metrics(sessions["label"] == 1, sessions["is_anomaly"])
    # 31 of the 57 test anomalies differ from every normal training block; the rest are duplicates.
    assert m["recall"] >= 0.45 and m["precision"] >= 0.85, m
    assert set(sessions.columns) >= {"session", "is_anomaly", "windows", "misses", "first_miss_line", "score", "label"}
    assert set(windows.columns) >= {"session", "idx", "line_no", "target", "in_topk", "rank", "prob", "is_novel"}


def test_cli_errors_are_one_line(tmp_path):
    seq = tmp_path / "sequences.parquet"
    pd.DataFrame({"events": [[3]]}).to_parquet(seq)
    assert "session" in assert_one_line_error(run_cli("deeplog-train", "--seq", str(seq), "--out", str(tmp_path / "m")))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x80\x04junk")
    msg = assert_one_line_error(run_cli("deeplog-infer", "--seq", str(seq), "--model", str(bad)))
    assert "bad.pth" in msg


@pytest.mark.parametrize("args", [(5, 4, 8, 1), (50, 16, 64, 2), (7, 3, 5, 3)])
def test_state_shapes_match_a_built_network(args):
    """The shapes checked at load time (computed, not built) are those of the real module."""
    from anomaly_log_detector.detectors.nets import NextKeyLSTM

    built = {k: tuple(v.shape) for k, v in NextKeyLSTM(*args).state_dict().items()}
    assert NextKeyLSTM.state_shapes(*args) == built


def test_window_tau_is_each_sessions_group_threshold():
    """Each window's threshold is its session's group's (tau_by_group_), else tau_: the per-session
    lookup the distinct-group lookup replaced, kept here as the reference."""
    rng = np.random.default_rng(5)
    groups = rng.choice(["sshd", "cron", "", "None", "kernel"], 300)
    X = pd.DataFrame({"events": [list(rng.integers(3, 9, n)) for n in rng.integers(0, 6, 300)],
                      "group": pd.Series(groups, dtype=object).mask(rng.random(300) < 0.1)})
    det = DeepLogDetector(seq_len=3, eos=True)
    det.tau_, det.tau_by_group_ = 3.0, {"sshd": 4.5, "": 2.5, "None": 5.0}
    values, lengths = flatten(X["events"])
    windows = build_windows(values, lengths, 3, eos=True)
    per_session = np.array([det.tau_by_group_.get(str(g), det.tau_)
                            for g in X["group"].astype("string").fillna("").to_numpy(dtype=object)])
    got = det.window_tau(X, windows)
    assert np.array_equal(got, per_session[windows.session]) and len(set(got.tolist())) == 4
    det.tau_by_group_ = {}
    assert np.array_equal(det.window_tau(X, windows), np.full(len(windows), 3.0))
