"""DeepLog's lean `infer` path against the code it replaced: compact window keys, the per-window
table written a row group at a time (detectors/deeplog_tables.py), the sessions built from codes
instead of a string per line, and the alert engine fed categorical entities. Each new path is
compared with the previous implementation (kept here as the reference) on generated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anomaly_log_detector.alerts.engine import AlertSettings
from anomaly_log_detector.alerts.enhanced import FrameWindows, run_prediction_alerts
from anomaly_log_detector.builders.deeplog import UNSEEN_TEMPLATE, encode_templates, group_sequences
from anomaly_log_detector.builders.session_codes import entity_categories, entity_keys, split_at_gaps
from anomaly_log_detector.builders.vocab import UNK, Vocab
from anomaly_log_detector.detectors.deeplog import DeepLogDetector
from anomaly_log_detector.detectors.deeplog_tables import context_flags
from anomaly_log_detector.detectors.windows import build_windows, compact_key_dtype, flatten, unique_rows
from anomaly_log_detector.workflows.detect import sequences

TINY = dict(hidden=16, layers=1, embed_dim=8, epochs=3, batch_size=64, lr=1e-2, patience=2, ensemble=1, seq_len=4,
            eos=False)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("n_keys", [5, 256, 257, 70_000])
def test_compact_keys_give_the_same_distinct_rows_in_the_same_order(n_keys):
    rng = np.random.default_rng(n_keys)
    lengths = rng.integers(0, 30, 200)
    # Few distinct keys (many repeated windows) plus the largest key, so every byte is exercised.
    values = rng.choice(np.array([0, 1, 2, 3, n_keys - 1, n_keys // 2]), int(lengths.sum()))
    wide = build_windows(values, lengths, 5, eos=True)
    dtype = compact_key_dtype(n_keys)
    assert dtype.itemsize < 8
    narrow = build_windows(values, lengths, 5, eos=True, dtype=dtype)
    assert narrow.keys.dtype == dtype and np.array_equal(narrow.keys.astype(np.int64), wide.keys)
    for a, b in ((wide.keys, narrow.keys), (wide.inputs, narrow.inputs)):
        rows_a, inv_a, counts_a = unique_rows(a)
        rows_b, inv_b, counts_b = unique_rows(b)
        assert np.array_equal(rows_a, rows_b.astype(np.int64))
        assert np.array_equal(inv_a, inv_b) and np.array_equal(counts_a, counts_b)


@pytest.fixture(scope="module")
def stream():
    """A small log: five templates, two hosts, three processes, lines in several sources."""
    rng = np.random.default_rng(3)
    n = 900
    templates = np.array(["open <*>", "read <*>", "write <*>", "close <*>", "sync"], dtype=object)
    seq = rng.choice(5, n, p=[0.3, 0.3, 0.2, 0.15, 0.05])
    lines = pd.DataFrame({
        "line_no": np.arange(1, n + 1), "source": pd.Series(rng.choice(["a.log", "b.log"], n), dtype="string"),
        "template": pd.Series(templates[seq], dtype="string"),
        "host": pd.Series(rng.choice(["h1", "h2", None], n, p=[0.5, 0.45, 0.05]), dtype="string"),
        "process": pd.Series(rng.choice(["p1", "p2", "p3"], n), dtype="string"),
        "timestamp": pd.Series(pd.Timestamp("2024-01-01", tz="UTC")
                               + pd.to_timedelta(np.cumsum(rng.integers(0, 40, n)), unit="s")),
    })
    lines.loc[rng.random(n) < 0.03, "template"] = UNSEEN_TEMPLATE
    vocab = Vocab.build(templates[:4].tolist())  # "sync" is unknown to the model: UNK
    train = sequences(lines.iloc[:600].reset_index(drop=True), vocab, "entity", 120.0).to_pandas()
    det = DeepLogDetector(**TINY).fit(train, vocab=vocab)
    return lines, vocab, det


def _old_encode(vocab, templates):
    idx = np.asarray(vocab.encode(templates.tolist()), dtype=np.int32)
    idx[(templates == UNSEEN_TEMPLATE).to_numpy()] = UNK
    return idx


def _old_split(keys, times, gap):
    t = pd.to_datetime(times, utc=True)
    codes, _ = pd.factorize(keys, sort=False)
    frame = pd.DataFrame({"k": codes, "t": t.dt.tz_convert(None).to_numpy()})
    prev = frame.groupby("k", sort=False)["t"].shift(1)
    cut = ((frame["t"] - prev).dt.total_seconds() > gap).fillna(False).to_numpy(bool)
    piece = pd.Series(cut.astype(np.int64)).groupby(codes).cumsum().to_numpy()
    suffix = np.where(piece > 0, "#" + piece.astype(str), "")
    return (keys.astype("string") + suffix).astype("string")


def _old_session_sources(keys, sources):
    codes, names = pd.factorize(keys, sort=False)
    order = np.argsort(codes, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=len(names)))])
    src = sources.astype("string").to_numpy(dtype=object, na_value=None)[order]
    out = []
    for i in range(len(names)):
        chunk = set(src[offsets[i]:offsets[i + 1]])
        out.append(chunk.pop() if len(chunk) == 1 else None)
    return out


def test_sessions_from_codes_equal_the_per_line_strings(stream):
    lines, vocab, _ = stream
    assert np.array_equal(encode_templates(vocab, lines["template"]), _old_encode(vocab, lines["template"]))
    templates = lines["template"].copy()
    templates.iloc[[5, 17]] = pd.NA  # a null template is UNK
    assert np.array_equal(encode_templates(vocab, templates), np.where(templates.isna(), UNK,
                                                                       _old_encode(vocab, templates.fillna("x"))))
    keys = entity_keys(lines, with_pid=False).fillna("<none>")
    for gap in (1.0, 60.0, 1e9):
        assert split_at_gaps(keys, lines["timestamp"], gap).tolist() == _old_split(keys, lines["timestamp"], gap).tolist()
    sources = lines["source"].copy()
    sources.iloc[:40] = pd.NA  # sessions with a null source, one source, or two
    table = group_sequences(keys, np.zeros(len(lines), np.int32), lines["line_no"].to_numpy(), sources)
    assert table.column("source").to_pylist() == _old_session_sources(keys, sources)
    # Each session's group: the first non-null process of its lines (the old groupby().first()).
    with_null = lines.assign(process=lines["process"].mask(np.arange(len(lines)) % 11 == 0))
    got = sequences(with_null, vocab, "entity", 120.0)
    keys = split_at_gaps(entity_keys(with_null, with_pid=True).fillna("<none>"), with_null["timestamp"], 120.0)
    first = with_null["process"].astype("string").groupby(keys.to_numpy(), sort=False).first()
    want = [None if pd.isna(v) else str(v) for v in first.reindex(got.column("session").to_pylist())]
    assert got.column("group").to_pylist() == want


def test_entity_categories_equal_the_entity_strings(stream):
    lines = stream[0]
    rng = np.random.default_rng(5)
    for drop in (None, "host", "process"):
        df = lines.drop(columns=drop) if drop else lines.copy()
        if "process" in df.columns:
            df["process"] = df["process"].mask(rng.random(len(df)) < 0.2)
        source = df["source"].mask(rng.random(len(df)) < 0.5)
        want = entity_keys(df).fillna(source.astype("string"))
        got = entity_categories(df, source)
        assert got.astype(object).where(got.notna(), None).tolist() == want.astype(object).where(want.notna(),
                                                                                                  None).tolist()
        codes_w, names_w = pd.factorize(want, sort=False)
        codes_g, names_g = pd.factorize(got, sort=False)
        assert np.array_equal(codes_w, codes_g) and list(names_w) == list(np.asarray(names_g.astype(object)))


def _scored(stream):
    lines, vocab, det = stream
    seq = sequences(lines, vocab, "entity", 120.0).to_pandas()
    ws = det.evaluate(seq)
    return seq, ws, det


def test_evaluate_scores_as_with_int64_keys(stream):
    seq, ws, det = _scored(stream)
    assert ws.windows.keys.dtype == np.uint8
    values, lengths = flatten(seq["events"])
    wide = build_windows(det._known(values), lengths, det.seq_len, det.eos)
    pairs, inv, _ = unique_rows(wide.keys)
    rank, prob, tail, _ = det._score_pairs(pairs)
    assert np.array_equal(ws.rank, rank[inv])
    assert np.array_equal(ws.prob, prob[inv].astype(np.float32))
    assert np.array_equal(ws.tail, tail[inv].astype(np.float32))


def _written(frame, path):
    """The old way: the whole frame to Arrow, one write, read back."""
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    return pq.read_table(path)


def test_window_table_writes_the_frame_table(stream, tmp_path):
    seq, ws, det = _scored(stream)
    table, _ = det.window_table(seq, ws)
    rng = np.random.default_rng(1)
    table.add("flag", rng.random(len(table)) < 0.5)
    expected = [["a", "b"] if m else [] for m in ~ws.in_topk]
    table.add("expected", expected)
    frame = table.frame()
    assert frame["target"].dtype == np.int64 and len(frame) == len(ws.in_topk) > 100
    rows = np.sort(rng.choice(len(table), 50, replace=False))
    pd.testing.assert_frame_equal(table.frame(rows), frame.iloc[rows].reset_index(drop=True))
    want = _written(frame, tmp_path / "ref.parquet")
    table.write(tmp_path / "w.parquet", row_group=37)
    got = pq.read_table(tmp_path / "w.parquet")
    assert got.equals(want) and got.schema.equals(want.schema, check_metadata=True)
    assert pq.ParquetFile(tmp_path / "w.parquet").num_row_groups > 1
    # Parts that alone would infer other types: no source anywhere, or nothing expected before the end.
    table.sources = np.full(len(table.sources), None, dtype=object)
    table.add("expected", [[] for _ in range(len(table) - 1)] + [["z"]])
    want = _written(table.frame(), tmp_path / "ref2.parquet")
    table.write(tmp_path / "w2.parquet", row_group=37)
    got = pq.read_table(tmp_path / "w2.parquet")
    assert got.equals(want) and got.schema.equals(want.schema, check_metadata=True)


def test_prediction_alerts_from_the_window_table(stream):
    lines = stream[0]
    seq, ws, det = _scored(stream)
    table, _ = det.window_table(seq, ws)
    from anomaly_log_detector.alerts.enhanced import parsed_rows

    rows = parsed_rows(seq, ws.windows, "sequences.parquet")
    expected = [["x"] if m else [] for m in ~ws.in_topk]
    shown = lines.assign(entity=entity_keys(lines).fillna(lines["source"]))
    settings = AlertSettings(k=1, n=1, cooldown_seq=30, cooldown_novelty=30)
    want = run_prediction_alerts(FrameWindows(table.frame()), ws.windows.event, rows, shown, "entity", expected,
                                 settings)
    shown = lines.assign(entity=entity_categories(lines, lines["source"]))
    got = run_prediction_alerts(table, ws.windows.event, rows, shown, "entity", expected, settings)
    assert len(want.alerts) > 0
    pd.testing.assert_frame_equal(got.alerts, want.alerts)
    assert got.summary == want.summary


def test_arrow_list_columns_flatten_as_the_lists():
    from anomaly_log_detector.detectors.windows import arrow_lists, target_line_numbers

    rng = np.random.default_rng(2)
    lists = [rng.integers(0, 50, rng.integers(0, 6)).tolist() for _ in range(300)]
    table = pa.table({"events": pa.array(lists, pa.list_(pa.int32())),
                      "line_nos": pa.array([None if i % 7 == 0 else [x + 1 for x in v] for i, v in enumerate(lists)],
                                           pa.list_(pa.int64()))})
    for part in (table, table.slice(13, 200)):  # a slice: Arrow offsets that do not start at 0
        arrow = part.to_pandas(types_mapper=arrow_lists)
        plain = part.to_pandas()
        values, lengths = flatten(arrow["events"])
        want_values, want_lengths = flatten(plain["events"])
        assert np.array_equal(values, want_values) and np.array_equal(lengths, want_lengths)
        w = build_windows(values, lengths, 3, eos=True)
        assert np.array_equal(target_line_numbers(arrow["line_nos"], lengths, w),
                              target_line_numbers(plain["line_nos"], lengths, w))


def test_template_codes_equal_the_filled_strings():
    from anomaly_log_detector.alerts.enhanced import _template_codes

    rng = np.random.default_rng(4)
    for _ in range(100):
        values = rng.choice(np.array(["A <*>", "B", "", "C"], dtype=object), rng.integers(0, 40))
        values[rng.random(len(values)) < 0.3] = None
        for dtype in ("string", "str", object):
            column = pd.Series(values, dtype=dtype)
            codes, names = pd.factorize(column.astype("string").fillna("").astype(str), sort=False)
            got_codes, got_names = _template_codes(column)
            assert np.array_equal(codes, got_codes) and names.equals(got_names) and names.dtype == got_names.dtype


@pytest.mark.parametrize("dtype", [np.uint8, np.int64])
def test_context_flags_are_the_row_tests(dtype):
    rng = np.random.default_rng(7)
    inputs = rng.choice(np.array([0, 0, 1, 2, 3, 300 % np.iinfo(dtype).max], dtype=dtype), (5000, 6))
    unseen, short = context_flags(inputs, UNK, 0, 3)
    assert np.array_equal(unseen, (inputs == UNK).any(axis=1))
    assert np.array_equal(short, (inputs != 0).sum(axis=1) < 3)
    assert unseen.any() and not unseen.all() and short.any() and not short.all()


def test_window_table_writes_nans_and_shared_lists_as_the_frame_does(stream, tmp_path):
    """Row groups built as Arrow arrays: a NaN in a float column is a null (as from_pandas makes it),
    a NaN threshold everywhere (top-k rule) too, and rows sharing one list object get its values."""
    seq, ws, det = _scored(stream)
    table, _ = det.window_table(seq, ws)
    table.prob = table.prob.copy()
    table.prob[::50] = np.nan
    table.threshold = None
    shared, other = ["x", "y"], []
    table.add("expected", [shared if i % 3 else other for i in range(len(table))])
    table.compact()  # int32 columns are written as the int64 they stand for
    want = _written(table.frame(), tmp_path / "ref.parquet")
    table.write(tmp_path / "w.parquet", row_group=41)
    got = pq.read_table(tmp_path / "w.parquet")
    assert got.equals(want) and got.schema.equals(want.schema, check_metadata=True)
    assert got.column("prob").null_count > 0 and got.column("threshold").null_count == len(table)


def test_objects_converted_once_each_from_any_sequence():
    # Distinct objects are found by identity: a Series boxes each value anew as it is iterated, and a
    # freed box's id is reused, so it is held in a list first (else values collapsed into one).
    import pyarrow as pa

    from anomaly_log_detector.detectors.deeplog_tables import _objects_to_arrow

    values = np.arange(1000, 1010)
    for given in (pd.Series(values), pd.array(values, dtype="Int64"), list(values.tolist()), values.astype(object)):
        assert _objects_to_arrow(given, pa.int64()).to_pylist() == values.tolist()
    shared = ["x"]
    assert _objects_to_arrow([shared, [], shared], pa.list_(pa.string())).to_pylist() == [["x"], [], ["x"]]
