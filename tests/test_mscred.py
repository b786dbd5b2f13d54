"""MS-CRED: signature matrices, the network's shapes, determinism, safe save/load, a storm scoring above
normal windows, time buckets, and the three commands end to end. Tiny models (a few channels, 50 steps)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from anomaly_log_detector.api import parse_logs
from anomaly_log_detector.builders.mscred import build_mscred_inputs, read_window_counts
from anomaly_log_detector.builders.vocab import Vocab
from anomaly_log_detector.cli import cli
from anomaly_log_detector.detectors.mscred import MSCREDDetector, signature_matrices
from anomaly_log_detector.detectors.mscred_files import align_counts, continue_mscred, infer_mscred, train_mscred
from anomaly_log_detector.errors import DataError, ModelError
from anomaly_log_detector.synth import generate_synthetic_log

TINY = dict(top_k=8, channels=(4, 4, 4, 4), history=3, batch_size=16, max_steps=50, epochs=1, seed=3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """A clean training log and a test log with error storms, parsed and counted (50-line windows)."""
    d = tmp_path_factory.mktemp("mscred")
    generate_synthetic_log(str(d / "train.log"), 3000, 0.0, seed=1)
    generate_synthetic_log(str(d / "test.log"), 2000, 0.06, seed=2, anomaly_types="error_storm")
    state = str(d / "state.json")
    parse_logs(str(d / "train.log"), str(d / "train"), drain_state=state)
    parse_logs(str(d / "test.log"), str(d / "test"), drain_state=state, frozen=True)
    build_mscred_inputs(d / "train" / "parsed.parquet", d / "train")
    build_mscred_inputs(d / "test" / "parsed.parquet", d / "test", vocab_path=d / "train" / "vocab.json")
    return d


@pytest.fixture(scope="module")
def fitted(logs):
    train = read_window_counts(logs / "train" / "window_counts.parquet")
    return train_mscred(train, Vocab.load(logs / "train" / "vocab.json"), **TINY)


def _test_counts(logs):
    return read_window_counts(logs / "test" / "window_counts.parquet")


# ---- signature matrices -----------------------------------------------------------------------
def test_signature_matrices_by_hand():
    z = np.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    m = signature_matrices(z, (1, 2))
    assert m.shape == (3, 2, 2, 2)
    # scale 1: the outer product of the step itself
    np.testing.assert_allclose(m[1, 0], [[0, 0], [0, 4]])
    np.testing.assert_allclose(m[2, 0], [[1, 1], [1, 1]])
    # scale 2: (z[t-1] z[t-1]^T + z[t] z[t]^T) / 2, with z = 0 before the first step
    np.testing.assert_allclose(m[0, 1], [[1, 0], [0, 0]])  # the first step: its own average
    np.testing.assert_allclose(m[2, 1], [[0.5, 0.5], [0.5, 2.5]])


def test_scales_follow_the_window_size_or_the_buckets():
    det = MSCREDDetector(window_size=50)
    five = pd.DataFrame({"source": "a", "start_line": np.arange(1, 100, 5), "n_lines": 5})
    assert det._resolve_scales(five) == (10, 30, 60)
    fifty = pd.DataFrame({"source": "a", "start_line": np.arange(1, 500, 25), "n_lines": 50})
    assert det._resolve_scales(fifty) == (1, 3, 6)
    assert det._resolve_scales(fifty.assign(bucket_seconds=60.0)) == (10, 30, 60)
    assert MSCREDDetector(scales=(2, 4))._resolve_scales(fifty) == (2, 4)


# ---- network ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n", [3, 10, 13])
def test_network_reconstructs_the_current_step_shape(n):
    import torch

    from anomaly_log_detector.detectors.mscred_net import MSCREDNet

    net = MSCREDNet(3, (2, 4, 4, 8))
    out = net(torch.randn(2, 5, 3, n, n))
    assert out.shape == (2, 3, n, n)


# ---- fitting, scoring, persistence ------------------------------------------------------------------
def test_storm_windows_score_above_normal_windows(logs, fitted):
    test = _test_counts(logs)
    labels = pd.read_parquet(logs / "test.log.labels.parquet")["is_anomaly"].to_numpy()
    storm = np.array([labels[s - 1:e].any() for s, e in zip(test["start_line"], test["end_line"])])
    scores = fitted.score(test)
    assert storm.any() and (~storm).any()
    assert np.median(scores[storm]) > np.quantile(scores[~storm], 0.9)
    result = infer_mscred(fitted, test, Vocab.load(logs / "test" / "vocab.json"))
    worst = result.table.sort_values("score").iloc[-1]
    assert worst["is_anomaly"] and "<unseen>" in list(worst["top_templates"])
    assert set(result.residual_windows) == set(result.table.loc[result.table["is_anomaly"], "window_idx"])
    assert result.residuals.shape[1:] == (fitted.n_series_, fitted.n_series_)


def test_same_seed_gives_identical_weights_and_scores(logs, fitted):
    import torch

    train = read_window_counts(logs / "train" / "window_counts.parquet")
    again = train_mscred(train, Vocab.load(logs / "train" / "vocab.json"), **TINY)
    for (k, a), (_, b) in zip(fitted.net_.state_dict().items(), again.net_.state_dict().items()):
        assert torch.equal(a, b), k
    test = _test_counts(logs)
    np.testing.assert_array_equal(fitted.score(test), again.score(test))


def test_save_load_round_trip_with_weights_only(logs, fitted, tmp_path):
    import torch

    path = tmp_path / "mscred.pth"
    fitted.save(path)
    ckpt = torch.load(path, weights_only=True)  # plain tensors and types only
    assert ckpt["format"] == "alog-detect/mscred" and ckpt["series"] == [int(i) for i in fitted.series_]
    loaded = MSCREDDetector.load(path)
    test = _test_counts(logs)
    assert loaded.threshold_ == fitted.threshold_ and loaded.scales_ == fitted.scales_
    np.testing.assert_array_equal(loaded.score(test), fitted.score(test))
    # Shapes are checked against the stored arguments before a network is built.
    bad = dict(ckpt, mean=torch.zeros(3, dtype=torch.float64))
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(ModelError, match="'mean' is not"):
        MSCREDDetector.load(tmp_path / "bad.pth")
    torch.save(dict(ckpt, config={**ckpt["config"], "channels": [8, 8, 8, 8]}), tmp_path / "wide.pth")
    with pytest.raises(ModelError, match="invalid MS-CRED model"):
        MSCREDDetector.load(tmp_path / "wide.pth")
    torch.save({"format": "alog-detect/mscred", "version": 1, "x": DataError("pickled object")}, tmp_path / "obj.pth")
    with pytest.raises(ModelError, match="not a loadable MS-CRED model"):
        MSCREDDetector.load(tmp_path / "obj.pth")


def test_rules_and_threshold_override(fitted):
    det = MSCREDDetector.from_checkpoint(fitted.to_checkpoint())
    assert det.rule == "heldout-max" and det.threshold_ == det.thresholds_["heldout-max"]
    det.set_rule(threshold=80.0)
    assert det.rule == "percentile" and det.threshold_ == pytest.approx(np.percentile(det.train_scores_, 80.0))
    with pytest.raises(DataError):
        det.set_rule(rule="nope")


def _new_counts(logs, d, n_lines=1500, seed=5):
    """A new clean log parsed (not frozen) with the training state: old templates keep their ids,
    counted with the training vocabulary extended by the new templates (what train-incremental does)."""
    generate_synthetic_log(str(d / "new.log"), n_lines, 0.0, seed=seed)
    state = d / "state.json"
    state.write_bytes((logs / "state.json").read_bytes())
    parse_logs(str(d / "new.log"), str(d / "new"), drain_state=str(state))
    parsed = pd.read_parquet(d / "new" / "parsed.parquet")
    vocab = Vocab.load(logs / "train" / "vocab.json").extend(parsed["template"].unique())
    vocab.save(d / "vocab.json")
    build_mscred_inputs(d / "new" / "parsed.parquet", d / "new", vocab_path=d / "vocab.json")
    return read_window_counts(d / "new" / "window_counts.parquet"), vocab


def test_continue_fit_fine_tunes_keeping_the_inputs_meaning(logs, fitted, tmp_path):
    import torch

    counts, vocab = _new_counts(logs, tmp_path)
    before = {k: v.clone() for k, v in fitted.net_.state_dict().items()}
    tuned = continue_mscred(fitted, counts, vocab, max_steps=50, seed=7)
    # The old detector is untouched; the copy starts from its weights and moved.
    assert all(torch.equal(before[k], v) for k, v in fitted.net_.state_dict().items())
    assert any(not torch.equal(before[k], v) for k, v in tuned.net_.state_dict().items())
    # Same series, scales and scaling: the old weights see inputs that mean what they meant.
    np.testing.assert_array_equal(tuned.series_, fitted.series_)
    assert tuned.series_names_ == fitted.series_names_ and tuned.scales_ == fitted.scales_
    np.testing.assert_array_equal(tuned.mean_, fitted.mean_)
    np.testing.assert_array_equal(tuned.std_, fitted.std_)
    assert tuned.error_scale_ == fitted.error_scale_
    # The bound only grows; the grown vocabulary makes new templates <other>, not <unseen>.
    assert (tuned.residual_bound_ >= fitted.residual_bound_).all()
    assert tuned.vocab_size_ == vocab.size and tuned.vocab_ == vocab.templates
    stats = tuned.train_stats_
    assert stats["windows"] == len(counts) and stats["steps"] >= 50
    assert stats["fine_tuned"]["vocab_size"] == fitted.vocab_size_ and stats["fine_tuned"]["fine_tunes"] == 1
    # The thresholds come from the new windows: the last 20 % held out; storms still score above
    # normal windows.
    assert stats["heldout_windows"] == len(counts) - stats["fit_windows"] == len(tuned.heldout_scores_) > 0
    assert tuned.threshold_ == pytest.approx(float(tuned.heldout_scores_.max()))  # heldout-max, margin 0
    assert tuned.thresholds_["calibrated"] == tuned.quantile_threshold(tuned.heldout_scores_, 1 - tuned.fa_budget)
    test = _test_counts(logs)
    labels = pd.read_parquet(logs / "test.log.labels.parquet")["is_anomaly"].to_numpy()
    storm = np.array([labels[s - 1:e].any() for s, e in zip(test["start_line"], test["end_line"])])
    scores = tuned.score(test)
    assert np.median(scores[storm]) > np.quantile(scores[~storm], 0.9)
    # Same seed, same result; and it survives save/load.
    again = continue_mscred(fitted, counts, vocab, max_steps=50, seed=7)
    np.testing.assert_array_equal(again.score(test), scores)
    tuned.save(tmp_path / "tuned.pth")
    loaded = MSCREDDetector.load(tmp_path / "tuned.pth")
    np.testing.assert_array_equal(loaded.score(test), scores)
    assert loaded.train_stats_["fine_tuned"]["fine_tunes"] == 1


def test_continue_fit_refuses_a_vocabulary_that_moved_templates(logs, fitted):
    counts = read_window_counts(logs / "train" / "window_counts.parquet")
    vocab = Vocab.load(logs / "train" / "vocab.json")
    names = sorted(vocab.templates)
    swapped = Vocab({**vocab.templates, names[0]: vocab.templates[names[1]], names[1]: vocab.templates[names[0]]})
    with pytest.raises(DataError, match="template indices"):
        continue_mscred(fitted, counts, swapped, max_steps=1)


def test_small_training_sets_still_calibrate_on_held_out_windows(logs):
    """From 25 windows on, the last 20 % are held out: the fitted windows have no broken entry by
    construction, so a threshold from their scores alone would flag any window with one."""
    train = read_window_counts(logs / "train" / "window_counts.parquet")
    vocab = Vocab.load(logs / "train" / "vocab.json")
    det = train_mscred(train.iloc[:30], vocab, **{**TINY, "max_steps": 1})
    assert det.train_stats_["heldout_windows"] == 6 and (det.train_scores_ < 1).all()
    assert det.threshold_ == pytest.approx(float(det.heldout_scores_.max()))
    assert det.thresholds_["calibrated"] == det.quantile_threshold(det.heldout_scores_, 0.95)
    tiny = train_mscred(train.iloc[:24], vocab, **{**TINY, "max_steps": 1})
    assert tiny.train_stats_["heldout_windows"] == 0 and tiny.threshold_ < 1


def test_counts_of_another_vocabulary_are_aligned_by_template(logs, fitted):
    test = _test_counts(logs)
    vocab = Vocab.load(logs / "test" / "vocab.json")
    # The same counts under a vocabulary with two templates swapped: aligned back, identical scores.
    names = sorted(vocab.templates)
    swapped = Vocab({**vocab.templates, names[0]: vocab.templates[names[1]], names[1]: vocab.templates[names[0]]})
    a, b = f"t{vocab.templates[names[0]]}", f"t{vocab.templates[names[1]]}"
    moved = test.rename(columns={a: b, b: a})
    np.testing.assert_array_equal(fitted.score(align_counts(moved, swapped, fitted.vocab_)), fitted.score(test))


def test_bad_inputs_are_data_errors(fitted):
    with pytest.raises(DataError, match="t<i>"):
        fitted.score(pd.DataFrame({"window": [0]}))
    with pytest.raises(DataError, match="settings"):
        MSCREDDetector(channels=(1, 2, 3)).fit(pd.DataFrame({"t3": [1, 2, 3]}))


# ---- time buckets -------------------------------------------------------------------------------
def test_time_buckets_count_every_line_and_keep_empty_buckets(logs, tmp_path):
    summary = build_mscred_inputs(logs / "test" / "parsed.parquet", tmp_path, bucket="20s")
    wc = read_window_counts(tmp_path / "window_counts.parquet")
    counts = wc[[c for c in wc.columns if c.startswith("t") and c[1:].isdigit()]].to_numpy()
    assert (counts.sum(1) == wc["n_lines"]).all() and wc["n_lines"].sum() == summary["lines"] == 2000
    assert (wc["end_time"] - wc["start_time"] == pd.Timedelta(seconds=20)).all()
    assert (wc["start_time"].diff().dropna() == pd.Timedelta(seconds=20)).all()
    parsed = pd.read_parquet(logs / "test" / "parsed.parquet", columns=["line_no", "timestamp"])
    row = wc[wc["n_lines"] > 0].iloc[3]
    inside = parsed[(parsed["timestamp"] >= row["start_time"]) & (parsed["timestamp"] < row["end_time"])]
    assert len(inside) == row["n_lines"] and inside["line_no"].min() == row["start_line"]
    no_time = tmp_path / "no_time.parquet"
    pd.read_parquet(logs / "test" / "parsed.parquet").assign(timestamp=pd.NaT).to_parquet(no_time)
    with pytest.raises(DataError, match="needs timestamps"):
        build_mscred_inputs(no_time, tmp_path / "x", bucket="60s")
    with pytest.raises(DataError, match="duration"):
        build_mscred_inputs(logs / "test" / "parsed.parquet", tmp_path / "x", bucket="1 fortnight")


def test_empty_buckets_give_spans_without_lines():
    from anomaly_log_detector.detectors.mscred_files import span_bounds

    counts = pd.DataFrame({"source": ["a"] * 4 + ["b"], "start_line": pd.array([1, None, None, 9, 1], "Int64"),
                           "end_line": pd.array([5, None, None, 12, 3], "Int64"), "start_row": [0, 5, 5, 5, 9],
                           "end_row": [5, 5, 5, 9, 12]})
    span = span_bounds(counts, 2)
    assert list(span["start_line"].astype(object)) == [1, 1, pd.NA, 9, 1]
    assert list(span["end_line"].astype(object)) == [5, 5, pd.NA, 12, 3]
    assert list(span["start_row"]) == [0, 0, 5, 5, 9]


# ---- the commands -------------------------------------------------------------------------------
def test_cli_train_infer_analyze(logs, tmp_path):
    runner = CliRunner()
    model = tmp_path / "mscred.pth"
    res = runner.invoke(cli, ["mscred-train", "--window-counts", str(logs / "train" / "window_counts.parquet"),
                              "--out", str(model), "--epochs", "1", "--top-k", "8", "--channels", "4,4,4,4",
                              "--history", "3", "--batch-size", "16", "--seed", "3"], catch_exceptions=False)
    assert res.exit_code == 0, res.output  # (no -q: it would silence the summary checked here)
    assert "scales 1,3,6 steps" in res.output and f"wrote {model}" in res.output
    out = tmp_path / "infer"
    res = runner.invoke(cli, ["mscred-infer", "--window-counts", str(logs / "test" / "window_counts.parquet"),
                              "--model", str(model), "--out-dir", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    table = pd.read_parquet(out / "mscred_infer.parquet")
    assert list(table.columns[:3]) == ["window_idx", "source", "start_line"]
    for col in ("end_line", "reconstruction_error", "broken_entries", "is_anomaly", "threshold", "top_templates"):
        assert col in table.columns
    assert table["is_anomaly"].any() and (table["threshold"] == table["threshold"].iloc[0]).all()
    res = runner.invoke(cli, ["mscred-infer", "--window-counts", str(logs / "test" / "window_counts.parquet"),
                              "--model", str(model), "--out-dir", str(out), "--threshold", "50"], catch_exceptions=False)
    assert "above the 50th percentile of the fitted training windows" in res.output
    # analyze-mscred reads the raw lines from a parsed.parquet beside the results
    (out / "parsed.parquet").write_bytes((logs / "test" / "parsed.parquet").read_bytes())
    res = runner.invoke(cli, ["analyze-mscred", "--data-dir", str(out), "--output-dir", str(out / "mscred_analysis"),
                              "--max-windows", "2", "--max-lines", "5"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    report = (out / "mscred_analysis" / "mscred_report.md").read_text()
    pngs = sorted((out / "mscred_analysis" / "heatmaps").glob("window_*.png"))
    assert len(pngs) == 2 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert report.count("## ") == 2 and "Raw lines (first 5 of" in report and "![residual heatmap" in report


def test_report_escapes_log_text(tmp_path):
    from anomaly_log_detector.analyzers.mscred import analyze_mscred

    evil = "<img src=x onerror=alert(1)> | `rm -rf` \x1b[31m"
    pd.DataFrame({"window_idx": [0], "source": [evil], "start_line": [1], "end_line": [1], "start_row": [0],
                  "end_row": [1], "reconstruction_error": [2.0], "broken_entries": [1], "is_anomaly": [True],
                  "threshold": [1.0], "top_templates": [[evil]]}).to_parquet(tmp_path / "mscred_infer.parquet")
    pd.DataFrame({"line_no": [1], "raw": [evil]}).to_parquet(tmp_path / "parsed.parquet")
    analyze_mscred(tmp_path, tmp_path / "x")
    text = (tmp_path / "x" / "mscred_report.md").read_text()
    assert "\x1b" not in text and "\\x1b" in text  # control characters shown, never sent
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif "<img" in line and not fenced:
            # outside a code block, log text only appears inside a code span
            assert line.count("`") >= 2 and line.index("`") < line.index("<img"), line
    assert not fenced


def test_cli_errors_are_one_line(tmp_path):
    from helpers import assert_one_line_error, run_cli

    bad = tmp_path / "model.pth"
    bad.write_bytes(b"not a model")
    counts = tmp_path / "window_counts.parquet"
    pd.DataFrame({"window": [0], "source": ["a"], "start_line": [1], "end_line": [1], "start_row": [0],
                  "end_row": [1], "n_lines": [1], "t3": [1]}).to_parquet(counts)
    err = assert_one_line_error(run_cli("mscred-infer", "--window-counts", str(counts), "--model", str(bad)))
    assert "not a loadable MS-CRED model" in err
    err = assert_one_line_error(run_cli("analyze-mscred", "--data-dir", str(tmp_path)))
    assert "mscred_infer.parquet: not found" in err


def test_gen_synth_correlation_break_orphans_service_starts(tmp_path):
    s = generate_synthetic_log(str(tmp_path / "c.log"), 3000, 0.05, seed=4, anomaly_types="correlation_break,burst")
    assert s["anomalous_lines_by_type"] == {"burst": 75, "correlation_break": 75}
    lines = (tmp_path / "c.log").read_text().splitlines()
    labels = pd.read_parquet(tmp_path / "c.log.labels.parquet")
    broken = [lines[i] for i in np.flatnonzero(labels["anomaly_type"].eq("correlation_break").to_numpy())]
    assert broken and all(" systemd[1]: Starting " in line for line in broken)
    with pytest.raises(DataError, match="anomaly-types"):
        generate_synthetic_log(str(tmp_path / "d.log"), 100, 0.1, anomaly_types="nonsense")
