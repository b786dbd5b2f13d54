"""The report's lean reads of result files give what the earlier whole-frame code gave.

Each test keeps the earlier pandas implementation as the reference and compares on adversarial data:
several sources, repeated and missing values, unsorted files, end-of-session predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anomaly_log_detector.errors import DataError
from anomaly_log_detector.reports.deeplog_picks import chosen_predictions, infer_rows
from anomaly_log_detector.reports.inputs import _dictionary_columns, line_index, locate, take_file_rows, take_rows


def _locate_reference(keys: pd.DataFrame, lines: pd.DataFrame) -> np.ndarray:
    on = ["source", "line_no"] if "source" in lines.columns else ["line_no"]
    index = pd.DataFrame({**{c: keys[c] for c in on}, "_row": np.arange(len(keys), dtype=np.int64)})
    found = lines[on].merge(index.drop_duplicates(on), on=on, how="left")["_row"]
    return found.fillna(-1).to_numpy(np.int64)


def _keys(rng: np.random.Generator, n: int, shuffled: bool, gaps: int = 1) -> pd.DataFrame:
    source = rng.choice(np.array(["a.log", "b.log", None], dtype=object), n, p=[0.5, 0.4, 0.1])
    line = rng.integers(1, n // 2, n) if shuffled else np.arange(1, n + 1)
    return pd.DataFrame({"source": pd.Series(source, dtype="str"), "line_no": line.astype(np.int64) * gaps,
                         "template_id": np.zeros(n, dtype=np.int64)})


@pytest.mark.filterwarnings("ignore:You are merging on int and float")
@pytest.mark.parametrize("shuffled", [False, True])
@pytest.mark.parametrize("categorical", [False, True])
@pytest.mark.parametrize("gaps", [1, 10])  # line numbers close together (a table of positions) or far apart
def test_locate_finds_the_first_row_like_a_merge(shuffled, categorical, gaps):
    rng = np.random.default_rng(3)
    keys = _keys(rng, 500, shuffled, gaps)
    assert (line_index(keys, True, "x").dense is None) == (gaps > 1)
    if categorical:
        keys["source"] = keys["source"].astype("category")
    pick = rng.integers(0, len(keys), 200)
    lines = pd.DataFrame({"source": keys["source"].astype(object).to_numpy()[pick],
                          "line_no": keys["line_no"].to_numpy()[pick]})
    assert (locate(keys, lines, "x") == _locate_reference(keys, lines)).all()
    as_category = lines.assign(source=lines["source"].astype("category"))  # timeline.py reads it so
    assert (locate(keys, as_category, "x") == _locate_reference(keys, lines)).all()
    for bad in ({"source": ["c.log"], "line_no": [1]}, {"source": ["a.log"], "line_no": [10 ** 6]},
                {"source": ["a.log"], "line_no": [1.5]}):
        if (_locate_reference(keys, pd.DataFrame(bad)) < 0).all():
            with pytest.raises(DataError, match="is not in parsed.parquet"):
                locate(keys, pd.DataFrame(bad), "x")


def test_locate_in_a_one_source_parse():
    keys = pd.DataFrame({"source": pd.Categorical(["a"] * 6), "line_no": [1, 2, 4, 5, 7, 9], "template_id": 0})
    lines = pd.DataFrame({"source": ["a", "a", "a"], "line_no": [9, 1, 5]})
    assert locate(keys, lines, "x").tolist() == [5, 0, 3]
    for source in ("b", None):
        with pytest.raises(DataError, match="is not in parsed.parquet"):
            locate(keys, pd.DataFrame({"source": [source], "line_no": [1]}), "x")


def test_locate_by_line_number_alone_for_one_source():
    keys = pd.DataFrame({"source": ["a"] * 6, "line_no": [1, 2, 2, 5, 7, 9], "template_id": 0})
    lines = pd.DataFrame({"line_no": [2, 9, 1, 5]})
    assert locate(keys, lines, "x").tolist() == _locate_reference(keys, lines).tolist() == [1, 5, 0, 3]


def _coded_file(path, n: int = 100) -> pa.Table:
    """A file with plain and dictionary-encoded text (string, large_string, lists of strings, nulls)."""
    words = np.array(["alpha", "beta", None, "gamma"], dtype=object)
    table = pa.table({"v": np.arange(n), "s": [f"s{i}" for i in range(n)],
                      "w": pa.array(words[np.arange(n) % 4], pa.large_string()),
                      "e": pa.array([None if i % 5 == 0 else ["x", "y"][: i % 3] for i in range(n)],
                                    pa.list_(pa.string()))})
    pq.write_table(table, path, row_group_size=7, use_dictionary=["w", "e.list.element"])
    return table


def test_take_file_rows_keeps_the_order_asked(tmp_path):
    path = tmp_path / "t.parquet"
    whole = _coded_file(path)
    for asked in ([50, 3, 99, 3, 0], [7, 6], [0, 1, 2], [13, 13, 13]):  # any order, repeats, across groups
        got = take_file_rows(path, asked, ["s", "w", "e", "v"])
        assert got.equals(whole.select(["s", "w", "e", "v"]).take(pa.array(asked)))  # the file's own types
    assert take_file_rows(path, [], ["s"]).num_rows == 0
    for beyond in ([100], [3, -1]):
        with pytest.raises(DataError, match="is beyond its 100 rows"):
            take_file_rows(path, beyond, ["v"])


def test_take_file_rows_reads_stored_dictionaries_as_codes(tmp_path):
    path = tmp_path / "t.parquet"
    _coded_file(path)
    assert _dictionary_columns(pq.ParquetFile(path), ["v", "s", "w", "e"]) == ["w", "e.list.element"]


def test_take_rows_of_a_parse_by_position(tmp_path):
    rng = np.random.default_rng(2)
    n = 300
    parsed = pd.DataFrame({"line_no": np.arange(1, n + 1), "raw": [f"line {i}" for i in range(n)],
                           "host": rng.choice(np.array(["a", "b", None], dtype=object), n)})
    pq.write_table(pa.Table.from_pandas(parsed, preserve_index=False), tmp_path / "parsed.parquet", row_group_size=40)
    asked = [299, 5, 41, 5, 0]
    got = take_rows(tmp_path, asked, ["raw", "pid", "host", "line_no"])
    want = sorted(set(asked))
    assert got.index.tolist() == want and got.columns.tolist() == ["raw", "pid", "host", "line_no"]
    assert got["raw"].tolist() == parsed["raw"].iloc[want].tolist()
    assert got["host"].tolist() == parsed["host"].iloc[want].tolist() and got["pid"].isna().all()
    assert got["line_no"].tolist() == [w + 1 for w in want]
    assert take_rows(tmp_path, [], ["raw", "pid"]).shape == (0, 2)
    with pytest.raises(DataError, match="another parse"):
        take_rows(tmp_path, [n], ["raw"])


def _chosen_reference(infer_path, sessions_path, alerting: bool) -> pd.DataFrame:
    """The earlier deeplog_hits selection over the whole frame (reports/hits.py before)."""
    sessions = pd.read_parquet(sessions_path) if sessions_path is not None else None
    df = pd.read_parquet(infer_path, columns=["session", "idx", "line_no", "in_topk", "rank", "prob", "is_novel",
                                              "context_unseen", "context_cut"])
    df["_at"] = np.arange(len(df), dtype=np.int64)
    if alerting:
        df = df[~df["is_novel"].astype(bool) & ~df["context_unseen"].astype(bool) & ~df["context_cut"].astype(bool)]
    df = df.sort_values(["session", "idx"], kind="stable")
    eos = df["line_no"].isna()
    before = df.groupby("session", sort=False)["line_no"].shift(1)
    df = df.assign(eos=eos, line_no=df["line_no"].where(~eos, before), idx=df["idx"].where(~eos, df["idx"] - 1))
    df = df[df["line_no"].notna()].astype({"line_no": "int64"}).reset_index(drop=True)
    keep = ~df["in_topk"].astype(bool)
    if sessions is not None:
        keep &= df["session"].isin(sessions.loc[sessions["is_anomaly"].astype(bool), "session"])
    return df[keep].reset_index(drop=True)


def _predictions(rng: np.random.Generator, n: int) -> pd.DataFrame:
    names = np.array([f"h{i % 7}/p[{i}]" for i in range(40)] + [None], dtype=object)
    line = pd.array(rng.integers(1, 1000, n), dtype="Int64")
    line[rng.random(n) < 0.1] = pd.NA  # ends of sessions
    return pd.DataFrame({
        "session": pd.Series(rng.choice(names, n), dtype="str"), "source": "a.log",
        "idx": rng.integers(0, 30, n), "line_no": line, "in_topk": rng.random(n) < 0.6,
        "rank": rng.integers(0, 9, n), "prob": rng.random(n).astype(np.float32),
        "surprise": rng.random(n).astype(np.float32), "is_novel": rng.random(n) < 0.1,
        "context_unseen": rng.random(n) < 0.05, "context_cut": rng.random(n) < 0.05,
        "expected": [["x", "y"] if i % 3 else None for i in range(n)]})


@pytest.mark.parametrize("alerting", [False, True])
@pytest.mark.parametrize("with_sessions", [False, True])
@pytest.mark.parametrize("with_eos", [False, True])
def test_chosen_predictions_equal_the_whole_frame_selection(tmp_path, alerting, with_sessions, with_eos):
    rng = np.random.default_rng(11)
    df = _predictions(rng, 3000)
    if not with_eos:
        df["line_no"] = df["line_no"].fillna(1)
    df.to_parquet(tmp_path / "deeplog_infer.parquet", row_group_size=512)
    sessions_path = None
    if with_sessions:
        sessions_path = tmp_path / "deeplog_sessions.parquet"
        names = df["session"].dropna().unique()
        pd.DataFrame({"session": names, "is_anomaly": np.arange(len(names)) % 3 > 0}).to_parquet(sessions_path)
    got = chosen_predictions(tmp_path / "deeplog_infer.parquet", sessions_path, alerting)
    want = _chosen_reference(tmp_path / "deeplog_infer.parquet", sessions_path, alerting)
    assert len(want) and (not with_eos or want["eos"].any())
    for column in ("session", "idx", "line_no", "eos", "_at", "rank", "prob", "is_novel", "in_topk"):
        pd.testing.assert_series_equal(got[column], want[column], check_dtype=column != "idx", check_names=False)
    assert got["surprise"].dtype == np.float32 and got["expected"].map(lambda v: v is None).any()


def test_infer_rows_reads_the_sequences(tmp_path):
    seq = pd.DataFrame({"session": ["s1", "s2", "s1"], "rows": [[0, 1], [2, 3, 4], [5, 6]]})
    seq.to_parquet(tmp_path / "sequences.parquet")
    line_no = np.arange(10, 17)
    infer = pd.DataFrame({"session": ["s2", "s1"], "idx": [2, 1], "line_no": [14, 16]})
    assert infer_rows(tmp_path / "sequences.parquet", infer, line_no).tolist() == [4, 6]  # the last s1 wins
    for bad in ({"session": ["s3"], "idx": [0], "line_no": [10]}, {"session": ["s2"], "idx": [3], "line_no": [10]},
                {"session": ["s2"], "idx": [0], "line_no": [11]}):
        with pytest.raises(DataError, match="does not match"):
            infer_rows(tmp_path / "sequences.parquet", pd.DataFrame(bad), line_no)


def _host_summary_reference(d, table, top=20):
    """The earlier host_summary (reports/summary.py): a Python string per line, grouped per row group."""
    from anomaly_log_detector.reports.summary import NO_HOST, host_rows, table_rows

    f = pq.ParquetFile(d / "parsed.parquet")
    present = [c for c in ("host", "timestamp") if c in f.schema_arrow.names]
    flagged = np.zeros(f.metadata.num_rows, dtype=bool)
    flagged[table_rows(table)] = True
    parts, start = [], 0
    for i in range(f.num_row_groups):
        group = f.read_row_group(i, columns=present).to_pandas()
        n = f.metadata.row_group(i).num_rows
        host = group["host"].astype("string") if "host" in group else pd.Series([None] * n, dtype="string")
        times = (pd.to_datetime(group["timestamp"], utc=True) if "timestamp" in group
                 else pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns, UTC]"))
        frame = pd.DataFrame({"host": host.fillna(NO_HOST).to_numpy(object), "flagged": flagged[start:start + n],
                              "t": times.array})
        parts.append(frame.groupby("host", sort=False).agg(lines=("flagged", "size"), flagged_lines=("flagged", "sum"),
                                                           first=("t", "min"), last=("t", "max")))
        start += n
    return host_rows(pd.concat(parts), table, top)  # the shared tail: only the grouping is the reference


@pytest.mark.parametrize("columns", [("host", "timestamp"), ("host",), ("timestamp",), ()])
def test_host_summary_equals_the_per_line_grouping(tmp_path, columns):
    from anomaly_log_detector.reports.summary import host_summary

    rng = np.random.default_rng(5)
    n = 2000
    host = rng.choice(np.array(["web1", "db", "-", None, "ünï"], dtype=object), n)
    times = pd.Series(pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"))
    times[rng.random(n) < 0.2] = pd.NaT
    times[(host == "db")] = pd.NaT  # a host without any time
    full = pa.table({"line_no": np.arange(1, n + 1), "host": pa.array(host, pa.string()),
                     "timestamp": pa.array(times, pa.timestamp("us", tz="UTC"))})
    pq.write_table(full.select(["line_no", *columns]), tmp_path / "parsed.parquet", row_group_size=300)
    table = pd.DataFrame({"rows": [[1, 5, 9], [300, 1999]], "host": ["web1", None]})
    assert host_summary(tmp_path, table) == _host_summary_reference(tmp_path, table)


@pytest.mark.parametrize("ids", [[5, -1, 5, 3, -1, 7, 3, 3], [2 ** 30, 1, 1, 2 ** 30, 4], [9]])
def test_template_stats_count_like_a_grouping(ids):
    from anomaly_log_detector.reports.summary import template_stats

    keys = pd.DataFrame({"source": "a", "line_no": np.arange(1, len(ids) + 1), "template_id": np.array(ids, dtype=np.int64)})
    table = pd.DataFrame({"rows": [[0], [len(ids) - 1]]})
    tid = keys["template_id"].to_numpy()
    first = pd.Series(np.arange(len(tid)), index=tid)
    first_row = first[~first.index.duplicated(keep="first")]
    counts = keys.groupby("template_id", sort=False).size()
    flagged = pd.Series(tid[np.unique([0, len(ids) - 1])]).value_counts()
    want = pd.DataFrame({"count": counts, "flagged": flagged.reindex(counts.index).fillna(0).astype(np.int64),
                         "first_row": first_row.reindex(counts.index)})
    pd.testing.assert_frame_equal(template_stats(keys, table), want)


def test_read_keys_by_row_group_equals_the_whole_read(tmp_path):
    from anomaly_log_detector.reports.inputs import KEY_COLUMNS, read_keys

    n, rng = 5000, np.random.default_rng(0)
    source = rng.choice(np.array(["b.log", "a.log", None, "c.log"], dtype=object), n)
    source[:300] = "z.log"
    pq.write_table(pa.table({"source": pa.array(source, pa.string()), "line_no": np.arange(n),
                             "template_id": rng.integers(-1, 9, n)}), tmp_path / "parsed.parquet", row_group_size=700)
    want = pq.read_table(tmp_path / "parsed.parquet", columns=list(KEY_COLUMNS), read_dictionary=["source"]).to_pandas()
    pd.testing.assert_frame_equal(read_keys(tmp_path), want)


def _parse_folder(tmp_path, n: int = 200, times: bool = True):
    rng = np.random.default_rng(4)
    columns = {"line_no": np.arange(1, n + 1), "source": pa.array(["a.log"] * (n // 2) + ["b.log"] * (n - n // 2)),
               "template_id": rng.integers(0, 5, n), "raw": [f"line {i}" for i in range(n)]}
    if times:
        stamps = pd.Series(pd.date_range("2026-01-01", periods=n, freq="min", tz="UTC"))
        stamps[rng.random(n) < 0.2] = pd.NaT
        columns["timestamp"] = pa.array(stamps, pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table(columns), tmp_path / "parsed.parquet", row_group_size=30)


def test_parsed_rows_give_what_a_fetch_gives(tmp_path):
    from anomaly_log_detector.reports.parsed_rows import ParsedRows

    _parse_folder(tmp_path)
    parsed = ParsedRows(tmp_path)
    parsed.keys  # read: line_no and template_id then come from the keys, not the file
    asked = [150, 3, 31, 3, 199]
    got = parsed.take(asked, ["raw", "line_no", "template_id", "source"])
    pd.testing.assert_frame_equal(got, take_rows(tmp_path, asked, ["raw", "line_no", "template_id", "source"]))
    assert "line_no" not in parsed._columns and "raw" in parsed._columns
    with pytest.raises(DataError, match="beyond"):
        parsed.take([200], ["line_no"])


@pytest.mark.parametrize("times", [True, False])
def test_parsed_rows_times_are_read_once(tmp_path, times):
    from anomaly_log_detector.reports.parsed_rows import ParsedRows

    _parse_folder(tmp_path, times=times)
    parsed = ParsedRows(tmp_path)
    if times:
        want = pd.to_datetime(pq.read_table(tmp_path / "parsed.parquet").column("timestamp").to_pandas(), utc=True)
        pd.testing.assert_series_equal(parsed.times, want)
        assert parsed.times is parsed.times
    else:
        assert parsed.times is None


def test_per_table_computes_once_per_table(tmp_path):
    from anomaly_log_detector.reports.parsed_rows import ParsedRows
    from anomaly_log_detector.reports.summary import template_stats

    _parse_folder(tmp_path)
    parsed, calls = ParsedRows(tmp_path), []

    def stats(keys, table):
        calls.append(table)
        return template_stats(keys, table)

    table = pd.DataFrame({"rows": [[0, 5], [7]]})
    first = parsed.per_table(table, stats)
    assert parsed.per_table(table, stats) is first and len(calls) == 1
    other = table.copy()  # equal, yet another table: computed for it
    pd.testing.assert_frame_equal(parsed.per_table(other, stats), first)
    assert len(calls) == 2


def test_iso_utc_of_record_times_as_pandas_writes_them():
    """ECS times from the records' ISO strings (a check and a slice) equal the parse-and-convert path."""
    from anomaly_log_detector.reports.ecs import iso_utc

    def parsed(value):  # the general path
        ts = pd.Timestamp(value)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
        return ts.tz_localize(None).isoformat() + "Z"

    rng = np.random.default_rng(8)
    values = []
    for ns in rng.integers(-2 ** 62, 2 ** 62, 2000):
        t = pd.Timestamp(int(ns), unit="ns", tz="UTC")
        for x in (t, t.floor("us"), t.floor("ms"), t.floor("s")):
            values += [x, x.isoformat(), x.tz_convert("Etc/GMT-5").isoformat()]
    values += ["2026-03-01T01:02:03.000000+00:00", "2026-03-01T01:02:03.120000+00:00", "2026-03-01 01:02:03"]
    assert [iso_utc(v) for v in values] == [parsed(v) for v in values]
    assert iso_utc(None) is None and iso_utc(pd.NaT) is None
    for impossible in ("2026-02-30T00:00:00+00:00", "2026-03-01T24:00:00+00:00"):
        with pytest.raises(ValueError):
            iso_utc(impossible)


def test_chosen_predictions_of_a_float_line_column_with_nans(tmp_path):
    # A file written by another tool may mark an end of session with a float NaN: no null in the
    # row groups' statistics, still an end of session.
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = _predictions(np.random.default_rng(12), 600)
    line = df["line_no"].astype("float64").to_numpy()  # NA -> NaN
    table = pa.Table.from_pandas(df.drop(columns=["line_no"]), preserve_index=False)
    table = table.append_column("line_no", pa.array(line, pa.float64(), from_pandas=False))
    assert table.column("line_no").null_count == 0 and np.isnan(line).any()
    pq.write_table(table, tmp_path / "deeplog_infer.parquet", row_group_size=128)
    got = chosen_predictions(tmp_path / "deeplog_infer.parquet", None, False)
    want = _chosen_reference(tmp_path / "deeplog_infer.parquet", None, False)
    assert want["eos"].any()
    for column in ("session", "idx", "line_no", "eos", "_at"):
        pd.testing.assert_series_equal(got[column], want[column], check_dtype=column != "idx", check_names=False)
