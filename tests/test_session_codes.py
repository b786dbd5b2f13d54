"""The session keys as integer codes (builders/session_codes.py), which `infer`, `train` and
`build-deeplog` all group lines by, against the per-line strings they stand for: ``session_keys``,
cut at gaps one line at a time, then factorized."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from anomaly_log_detector.builders.deeplog import build_deeplog_inputs, read_sequences
from anomaly_log_detector.builders.session_codes import NO_KEY_SESSION, session_codes, session_keys
from anomaly_log_detector.errors import DataError


def _split_line_by_line(keys: pd.Series, times: pd.Series, gap: float | None) -> pd.Series:
    """Key strings cut where a line is more than `gap` seconds after the key's previous line (a line
    or a previous line without a time never cuts), one line at a time."""
    if gap is None or times.isna().all():
        return keys
    previous: dict = {}
    pieces: dict = {}
    out = []
    for key, t in zip(keys.tolist(), pd.to_datetime(times, utc=True).tolist()):
        before = previous.get(key, pd.NaT)
        if not pd.isna(t) and not pd.isna(before) and (t - before).total_seconds() > gap:
            pieces[key] = pieces.get(key, 0) + 1
        previous[key] = t
        out.append(key + (f"#{pieces[key]}" if pieces.get(key) else ""))
    return pd.Series(out, dtype="string")


def _lines(n: int = 1500, seed: int = 7) -> pd.DataFrame:
    """Lines with nulls in every grouping column, a host holding a slash and a value spelled like the
    keyless session, and timestamps with gaps and nulls."""
    rng = np.random.default_rng(seed)

    def pick(values, p=None):
        return pd.Series(rng.choice(np.array(values, dtype=object), n, p=p), dtype="string")

    df = pd.DataFrame({
        "line_no": np.arange(1, n + 1), "source": pick(["a.log", "b.log", None], [0.6, 0.38, 0.02]),
        "template": pick(["x <*>", "y", "z"]),
        "host": pick(["h1", "h2", "a/b", None, NO_KEY_SESSION], [0.4, 0.3, 0.1, 0.15, 0.05]),
        "process": pick(["sshd", "cron", "b", None], [0.4, 0.3, 0.1, 0.2]),
        "pid": pick(["1", "2", "33", None], [0.3, 0.3, 0.1, 0.3]),
        "session": pick(["s1", "s2", NO_KEY_SESSION, None], [0.45, 0.45, 0.05, 0.05]),
        "timestamp": pd.Series(pd.Timestamp("2024-01-01", tz="UTC")
                               + pd.to_timedelta(np.cumsum(rng.integers(0, 90, n)), unit="s")),
    })
    df.loc[rng.random(n) < 0.05, "timestamp"] = pd.NaT
    return df


@pytest.mark.parametrize("session_by", ["none", "host", "process", "session", "entity"])
@pytest.mark.parametrize("gap", [None, 1.0, 120.0, 1e9])
def test_codes_are_the_factorized_key_strings(session_by, gap):
    df = _lines()
    codes, names = session_codes(df, session_by, gap)
    want, want_names = pd.factorize(_split_line_by_line(session_keys(df, session_by), df["timestamp"], gap), sort=False)
    assert names == [str(v) for v in want_names]
    assert np.array_equal(codes, want)


def test_without_times_or_grouping_values():
    df = _lines(300).assign(timestamp=pd.NaT)
    codes, names = session_codes(df, "entity", 10.0)  # no time: no cut
    assert not any("#" in name for name in names) and len(codes) == len(df)
    with pytest.raises(DataError, match="host and process are empty"):
        session_codes(df.assign(host=pd.NA, process=pd.NA), "entity")
    with pytest.raises(DataError, match="empty on every line"):
        session_codes(df.assign(session=pd.NA), "session")
    with pytest.raises(DataError, match="unknown --session-by"):
        session_codes(df, "thread")


@pytest.mark.parametrize("session_by", ["entity", "session"])
def test_build_deeplog_inputs_groups_by_the_codes(tmp_path, session_by):
    df = _lines()
    df.to_parquet(tmp_path / "parsed.parquet")
    summary = build_deeplog_inputs(tmp_path / "parsed.parquet", tmp_path / "out", session_by=session_by,
                                   session_gap=120.0)
    seq = read_sequences(tmp_path / "out" / "sequences.parquet")
    keys = _split_line_by_line(session_keys(df, session_by), df["timestamp"], 120.0)
    codes, names = pd.factorize(keys, sort=False)
    assert seq["session"].tolist() == [str(v) for v in names]
    assert [list(r) for r in seq["rows"]] == [np.flatnonzero(codes == c).tolist() for c in range(len(names))]
    assert summary["sessions"] == len(names)
    assert summary["lines_without_key"] == int(keys.str.startswith(NO_KEY_SESSION).sum()) > 0
    assert pq.read_schema(tmp_path / "out" / "sequences.parquet").names[:6] == [
        "session", "events", "line_nos", "rows", "source", "label"]
