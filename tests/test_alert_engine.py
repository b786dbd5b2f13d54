"""The DeepLog Enhanced alert engine on hand-built prediction streams, and against a plain per-event
loop (the rules written the obvious way) on random streams."""

from __future__ import annotations

from collections import deque

import numpy as np
import pandas as pd
import pytest

from anomaly_log_detector.alerts.engine import ALERT_COLUMNS, AlertSettings, run_alerts
from anomaly_log_detector.errors import DataError

T0 = pd.Timestamp("2024-03-01 00:00:00", tz="UTC")


def stream(marks: str, entity: str | list[str] = "host-a", times: list[float | None] | None = None,
           templates: list[str] | None = None) -> pd.DataFrame:
    """One prediction per mark, in log order: '.' hit, 'x' miss, 'N' novel (a miss too).
    ``times`` in seconds after T0 (None = no time); without them every row lacks a time."""
    n = len(marks)
    entities = [entity] * n if isinstance(entity, str) else list(entity)
    time = pd.Series([T0 + pd.Timedelta(seconds=s) if s is not None else pd.NaT for s in (times or [None] * n)],
                     dtype="datetime64[ns, UTC]")
    return pd.DataFrame({
        "entity": entities, "time": time, "order": np.arange(n), "line_no": pd.array(np.arange(1, n + 1), "Int64"),
        "source": "test.log", "is_miss": [m in "xN" for m in marks], "is_novel": [m == "N" for m in marks],
        "template": templates or ["T"] * n, "expected": [["E1", "E2"] if m in "xN" else [] for m in marks],
        "raw": [f"line {i + 1}" for i in range(n)], "score": np.arange(n, dtype=float),
    })


def fired(result) -> list[int]:
    """Orders of the predictions that opened an alert."""
    d = result.detailed
    return d.loc[d["verdict"].isin(["alert", "novel"]), "order"].tolist()


# ---- K-of-N ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("marks, opened", [
    ("xx...", []),               # k-1 misses within n: nothing
    ("x.x.x", [4]),              # k misses within n: fires at the k-th
    ("x..xx", [4]),              # the oldest miss is still inside the window of n
    ("x...xx", []),              # ... and one line later it has left it
    ("x...x...x", []),           # k misses, but spread wider than n
    ("xxx..", [2]),              # only a miss fires: the hits after it open nothing
    ("xxxxxx", [2]),             # the storm continues: one alert (cooldown), the rest suppressed
])
def test_k_of_n_edges(marks, opened):
    r = run_alerts(stream(marks), AlertSettings(k=3, n=5, cooldown_seq=100))
    assert fired(r) == opened
    assert r.detailed["kofn_failed"].max() <= 5


def test_sequence_alert_carries_the_misses_that_fired_it():
    df = stream("x.x.xx.", templates=["A", "B", "C", "B", "D", "D", "B"])
    r = run_alerts(df, AlertSettings(k=3, n=5, cooldown_seq=100, max_samples=2))
    assert len(r.alerts) == 1
    a = r.alerts.iloc[0]
    assert a["type"] == "sequence" and a["templates"][0] == "D"   # the firing miss's template, D, is most frequent
    assert a["rows"] == [0, 2, 4, 5] and a["line_nos"] == [1, 3, 5, 6]
    assert (a["first_order"], a["last_order"], a["first_line"], a["last_line"]) == (0, 5, 1, 6)
    assert a["failed_count"] == 4 and a["suppressed_count"] == 1
    assert a["templates"] == ["D", "A", "C"] and a["expected_templates"] == ["E1", "E2"]
    assert a["sample_raw"] == ["line 1", "line 3"]
    assert a["score"] == 5.0
    assert r.detailed["verdict"].tolist() == ["miss", "ok", "miss", "ok", "alert", "suppressed", "ok"]
    assert r.detailed["alert_id"].tolist() == [pd.NA, pd.NA, pd.NA, pd.NA, 0, 0, pd.NA]
    assert r.detailed["in_topk"].tolist() == [m == "." for m in "x.x.xx."]


# ---- cooldown (repeat interval) ---------------------------------------------------------------------
@pytest.mark.parametrize("times, alerts, suppressed", [
    ([0, 60], 1, 1),               # a repeat exactly at the cooldown is folded
    ([0, 60.5], 2, 0),             # just past it opens a new alert
    ([0, 50, 100, 150, 200], 1, 4),  # measured from the last folded firing: a storm stays one alert
    ([0, 60, 121], 2, 1),          # 61 s after the last folded firing
])
def test_cooldown_boundaries(times, alerts, suppressed):
    r = run_alerts(stream("x" * len(times), times=times), AlertSettings(k=1, n=1, cooldown_seq=60))
    assert len(r.alerts) == alerts and r.alerts["suppressed_count"].sum() == suppressed
    assert r.summary["suppressed"] == suppressed and r.summary["alerts_by_type"]["sequence"] == alerts


def test_cooldown_is_per_signature():
    df = stream("xxxx", times=[0, 1, 2, 3], templates=["A", "B", "A", "B"])
    r = run_alerts(df, AlertSettings(k=1, n=1, cooldown_seq=60))
    assert r.alerts["templates"].tolist() == [["A"], ["B"]]
    assert r.detailed["verdict"].tolist() == ["alert", "alert", "suppressed", "suppressed"]


def test_novelty_cooldown_is_separate_from_sequence_cooldown():
    df = stream("NxNx", times=[0, 0, 30, 30])
    r = run_alerts(df, AlertSettings(k=1, n=1, cooldown_seq=10, cooldown_novelty=60))
    assert r.summary["alerts"] == 3 and r.summary["alerts_by_type"] == {"sequence": 2, "novelty": 1}
    novelty = r.alerts[r.alerts["type"] == "novelty"].iloc[0]
    assert novelty["rows"] == [0, 2] and novelty["suppressed_count"] == 1
    assert r.detailed["verdict"].tolist() == ["novel", "alert", "suppressed", "alert"]


def test_novel_predictions_stay_out_of_the_k_of_n_window():
    r = run_alerts(stream("xNNx"), AlertSettings(k=2, n=2, cooldown_seq=100, cooldown_novelty=100))
    # The window of the last miss holds the first miss (the novel ones are skipped): it fires.
    assert r.summary["alerts"] == 2 and r.summary["alerts_by_type"] == {"sequence": 1, "novelty": 1}
    assert r.detailed["kofn_failed"].tolist() == [1, 1, 1, 2]
    seq = r.alerts[r.alerts["type"] == "sequence"].iloc[0]
    assert seq["rows"] == [0, 3]


@pytest.mark.parametrize("cooldown, alerts", [(0, 3), (1, 3), (2, 2), (4, 1)])
def test_every_miss_alerts_with_k1_n1_subject_to_cooldown(cooldown, alerts):
    r = run_alerts(stream("x.x...x"), AlertSettings(k=1, n=1, cooldown_seq=cooldown))   # gaps of 2 and 4 lines
    assert len(r.alerts) == alerts
    assert r.alerts["failed_count"].sum() == 3 and r.summary["suppressed"] == 3 - alerts


# ---- sessions, entities, missing times ----------------------------------------------------------------
@pytest.mark.parametrize("timeout, opened, kofn", [
    (None, [3], [1, 1, 1, 2]),
    (50, [], [1, 1, 1, 1]),     # the 100 s pause starts a new session: the K-of-N window starts empty
    (100, [3], [1, 1, 1, 2]),   # a gap equal to the timeout does not
])
def test_session_timeout_resets_k_of_n(timeout, opened, kofn):
    r = run_alerts(stream("x..x", times=[0, 1, 2, 102]), AlertSettings(k=2, n=4, session_timeout=timeout))
    assert fired(r) == opened and r.detailed["kofn_failed"].tolist() == kofn
    assert r.summary["sessions"] == (2 if timeout == 50 else 1)


def test_interleaved_entities_do_not_mix_counts():
    df = stream("xxxx..", entity=["a", "b", "a", "b", "a", "b"])
    r = run_alerts(df, AlertSettings(k=2, n=2, cooldown_seq=100))
    assert fired(r) == [2, 3]
    assert r.alerts["entity"].tolist() == ["a", "b"]
    assert r.alerts["rows"].tolist() == [[0, 2], [1, 3]]
    assert r.detailed["kofn_failed"].tolist() == [1, 1, 2, 2, 1, 1]
    # The same stream as one entity fires at the second miss.
    assert fired(run_alerts(stream("xxxx.."), AlertSettings(k=2, n=2, cooldown_seq=100))) == [1]


def test_input_order_is_kept_and_alerts_are_numbered_in_log_order():
    df = stream("xxxx", entity=["b", "a", "b", "a"]).iloc[::-1]   # rows given in reverse
    r = run_alerts(df, AlertSettings(k=1, n=1, cooldown_seq=100))
    assert r.detailed["order"].tolist() == [3, 2, 1, 0]
    assert r.alerts["entity"].tolist() == ["b", "a"] and r.alerts["first_order"].tolist() == [0, 1]
    assert r.detailed["alert_id"].tolist() == [1, 0, 1, 0]


@pytest.mark.parametrize("marks, times, alerts", [
    ("x..x...x", None, 2),              # no times at all: gaps in lines (3 lines folded, 4 lines not)
    ("x......x", [0] * 7 + [1], 1),     # both have times: 1 s, however many lines lie between
    ("x......x", [0] * 7 + [None], 2),  # the later one lacks a time: 7 lines
    ("x......x", [None] + [0] * 7, 2),  # the earlier one lacks a time: 7 lines
])
def test_missing_times_fall_back_to_lines(marks, times, alerts):
    r = run_alerts(stream(marks, times=times), AlertSettings(k=1, n=1, cooldown_seq=3))
    assert len(r.alerts) == alerts


def test_summary_counts():
    df = pd.concat([stream("xxx.N.xxxN", entity="a", times=list(range(10))),
                    stream("x.x.x", entity="b", times=list(range(5)))], ignore_index=True)
    df["order"] = np.arange(len(df))
    r = run_alerts(df, AlertSettings(k=2, n=3, cooldown_seq=5, cooldown_novelty=5))
    s = r.summary
    assert (s["predictions"], s["misses"], s["novel"], s["failed"], s["entities"]) == (15, 11, 2, 11, 2)
    assert s["alerts"] == len(r.alerts) == sum(s["alerts_by_type"].values())
    assert s["alerts_by_type"]["novelty"] == (r.alerts["type"] == "novelty").sum()
    assert s["suppressed"] == r.alerts["suppressed_count"].sum() == (r.detailed["verdict"] == "suppressed").sum()
    assert s["firings"] == r.detailed["alert_id"].notna().sum() == s["alerts"] + s["suppressed"]
    assert s["reduction"] == pytest.approx(1 - s["alerts"] / 11)
    assert list(r.alerts.columns) == list(ALERT_COLUMNS)


def test_minimal_columns_and_empty_input():
    df = pd.DataFrame({"entity": ["a", "a"], "order": [0, 1], "is_miss": [True, True],
                       "is_novel": [False, False], "template": ["T", "T"]})
    r = run_alerts(df, AlertSettings(k=2, n=2))
    assert len(r.alerts) == 1 and r.alerts.iloc[0]["sample_raw"] == [] and pd.isna(r.alerts.iloc[0]["first_time"])
    empty = run_alerts(df.iloc[:0])
    assert empty.alerts.empty and list(empty.alerts.columns) == list(ALERT_COLUMNS)
    assert empty.summary["predictions"] == 0 and empty.summary["alerts"] == 0


def test_bad_input_and_settings():
    with pytest.raises(DataError, match="is_novel"):
        run_alerts(stream("x").drop(columns=["is_novel"]))
    with pytest.raises(DataError, match="k <= n"):
        AlertSettings(k=4, n=3)
    with pytest.raises(DataError, match="session_timeout"):
        AlertSettings(session_timeout=0)
    with pytest.raises(DataError, match="time"):
        run_alerts(stream("x").assign(time="not a time"))


# ---- against the obvious loop -----------------------------------------------------------------------
def reference(df: pd.DataFrame, s: AlertSettings) -> tuple[list[dict], list[tuple]]:
    """The rules as one loop over every prediction, in log order."""
    rows = df.reset_index(drop=True)
    t = [None if pd.isna(x) else x for x in rows["time"]]

    def gap(i, j):
        return (t[j] - t[i]).total_seconds() if t[i] is not None and t[j] is not None else rows["order"][j] - rows["order"][i]

    last, window, open_alerts, alerts, per_row = {}, {}, {}, [], {}
    for i in sorted(range(len(rows)), key=lambda i: (rows["order"][i], i)):
        e, miss, novel, tpl = rows["entity"][i], rows["is_miss"][i], rows["is_novel"][i], rows["template"][i]
        if e not in last or (s.session_timeout is not None and gap(last[e], i) > s.session_timeout):
            window[e] = deque(maxlen=s.n)
        last[e] = i
        w = window[e]
        if not novel:
            w.append((i, miss))
        count = sum(m for _, m in w)
        kind, evidence = (("novelty", [i]) if novel else
                          ("sequence", [j for j, m in w if m]) if miss and count >= s.k else (None, []))
        verdict = "ok" if not miss else "miss"
        alert_id = None
        if kind:
            sig = (e, kind, tpl)
            cooldown = s.cooldown_novelty if novel else s.cooldown_seq
            prev = open_alerts.get(sig)
            if prev is not None and cooldown > 0 and gap(prev["last_fire"], i) <= cooldown:
                prev["firings"] += 1
                prev["rows"] |= set(evidence)
                prev["last_fire"] = i
                verdict, alert_id = "suppressed", prev["id"]
            else:
                prev = {"id": len(alerts), "entity": e, "type": kind, "rows": set(evidence), "firings": 1, "last_fire": i}
                alerts.append(prev)
                open_alerts[sig] = prev
                verdict, alert_id = ("novel" if novel else "alert"), prev["id"]
        per_row[i] = (count, verdict, alert_id)
    out = [{"entity": a["entity"], "type": a["type"], "rows": sorted(rows["order"][j] for j in a["rows"]),
            "suppressed_count": a["firings"] - 1} for a in alerts]
    return out, [per_row[i] for i in range(len(rows))]


@pytest.mark.parametrize("seed", range(12))
def test_matches_a_per_event_loop_on_random_streams(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 400))
    marks = "".join(rng.choice(list(".xN"), size=n, p=[0.55, 0.4, 0.05]))
    times = [None if rng.random() < 0.15 else float(s) for s in np.cumsum(rng.integers(0, 4, size=n))]
    df = stream(marks, entity=list(rng.choice(["a", "b", "c"], size=n)), times=times,
                templates=list(rng.choice(["A", "B", "C"], size=n)))
    df = df.sample(frac=1, random_state=seed)   # rows in any order: `order` says the log order
    settings = AlertSettings(k=int(rng.integers(1, 4)), n=int(rng.integers(4, 7)),
                             cooldown_seq=float(rng.choice([0, 3, 10])), cooldown_novelty=float(rng.choice([0, 5, 30])),
                             session_timeout=[None, 4.0][seed % 2])
    r = run_alerts(df, settings)
    want_alerts, want_rows = reference(df, settings)
    got = r.alerts[["entity", "type", "rows", "suppressed_count"]].to_dict("records")
    assert got == want_alerts
    d = r.detailed
    assert list(zip(d["kofn_failed"], d["verdict"], [None if pd.isna(x) else x for x in d["alert_id"]])) == want_rows
    assert (r.alerts["failed_count"] == r.alerts["rows"].map(len)).all()


# ---- the same rules over integer columns (what infer runs) ----------------------------------------
def _by_columns(df: pd.DataFrame, settings: AlertSettings, fetched: list):
    from anomaly_log_detector.alerts.engine import run_alerts_columns

    entity_code, entity_names = pd.factorize(df["entity"].to_numpy(object), sort=False)
    template_code, template_names = pd.factorize(df["template"].to_numpy(object), sort=False)

    def rows_of(rows: np.ndarray) -> pd.DataFrame:
        fetched.append(len(rows))
        return df.iloc[rows]

    return run_alerts_columns(entity_code, len(entity_names), lambda c: entity_names[c], template_code,
                              template_names, df["order"].to_numpy(), df["time"], df["is_miss"].to_numpy(bool),
                              df["is_novel"].to_numpy(bool), rows_of, settings)


@pytest.mark.parametrize("seed", range(8))
def test_columns_give_the_alerts_and_summary_of_the_table(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(50, 400))
    marks = "".join(rng.choice(list(".xN"), size=n, p=[0.7, 0.25, 0.05]))
    times = [None if rng.random() < 0.15 else float(s) for s in np.cumsum(rng.integers(0, 4, size=n))]
    df = stream(marks, entity=list(rng.choice(["a", "b", "c"], size=n)), times=times,
                templates=list(rng.choice(["A", "B", "C"], size=n))).sample(frac=1, random_state=seed)
    df = df.reset_index(drop=True)
    settings = AlertSettings(k=int(rng.integers(1, 4)), n=int(rng.integers(4, 7)),
                             cooldown_seq=float(rng.choice([0, 3, 10])), cooldown_novelty=float(rng.choice([0, 5])),
                             session_timeout=[None, 4.0][seed % 2], max_samples=2)
    want = run_alerts(df, settings)
    fetched: list = []
    got = _by_columns(df, settings, fetched)
    pd.testing.assert_frame_equal(got.alerts, want.alerts)
    assert got.summary == want.summary and got.detailed is None
    assert fetched[0] <= int((df["is_miss"] | df["is_novel"]).sum())  # only rows an alert shows


def test_columns_without_alerts():
    df = stream("....")
    got = _by_columns(df, AlertSettings(k=1, n=1), [])
    want = run_alerts(df, AlertSettings(k=1, n=1))
    pd.testing.assert_frame_equal(got.alerts, want.alerts)
    assert got.summary == want.summary


def test_prediction_alerts_equal_the_engine_over_the_predictions_table():
    """alerts/enhanced.py run_prediction_alerts (infer) == run_alerts(predictions(...)): entities from
    the parsed rows or, where missing, the session; EOS rows (event -1) at their session's last row."""
    from types import SimpleNamespace

    from anomaly_log_detector.alerts.enhanced import FrameWindows, predictions, run_prediction_alerts

    rng = np.random.default_rng(7)
    n_lines = 300
    lines = pd.DataFrame({
        "line_no": np.arange(1, n_lines + 1), "source": "app.log",
        "template": rng.choice(["A <*>", "B", "C <*> x", None], size=n_lines, p=[0.4, 0.3, 0.28, 0.02]),
        "timestamp": pd.Series(T0 + pd.to_timedelta(np.cumsum(rng.integers(0, 3, n_lines)), unit="s")),
        "host": pd.Series(rng.choice(["h1", "h2", None], size=n_lines), dtype="string"),
    })
    # windows in session order, each pointing at a parsed row; every 7th an EOS at the previous row
    rows = np.sort(rng.choice(n_lines, size=400))
    rows[::50] = -1  # a few predictions without a row
    event = np.where(np.arange(len(rows)) % 7 == 6, -1, np.arange(len(rows)))
    miss = rng.random(len(rows)) < 0.2
    per_window = pd.DataFrame({
        "session": rng.choice(["s1", "s2", "s3"], size=len(rows)), "idx": np.arange(len(rows)),
        "line_no": pd.array(np.where(event >= 0, rows + 1, -1), "Int64").astype("Int64"),
        "in_topk": ~miss, "is_novel": miss & (rng.random(len(rows)) < 0.3), "rank": rng.integers(1, 5, len(rows)),
        "prob": rng.random(len(rows)), "surprise": rng.random(len(rows)) * 5,
    })
    per_window.loc[event < 0, "line_no"] = pd.NA
    expected = [["A <*>", "B"] if m else [] for m in miss]
    ws = SimpleNamespace(windows=SimpleNamespace(event=event))
    settings = AlertSettings(k=1, n=1, cooldown_seq=5, cooldown_novelty=5)
    at = np.maximum(rows, 0)
    shown = lines.iloc[at].reset_index(drop=True)
    want = run_alerts(predictions(per_window, ws, rows, shown, "host", expected), settings)
    got = run_prediction_alerts(FrameWindows(per_window), event, rows, lines, "host", expected, settings)
    assert len(want.alerts) > 5
    pd.testing.assert_frame_equal(got.alerts, want.alerts)
    assert got.summary == want.summary
