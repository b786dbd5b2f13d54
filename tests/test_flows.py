"""The identifier-flow detector (detectors/flows.py): hand-built flows for each rule, then gen-synth's
reordered sessions through the real parser."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anomaly_log_detector.api import parse_logs
from anomaly_log_detector.detectors.flows import FlowDetector, file_edges
from anomaly_log_detector.errors import ModelError
from anomaly_log_detector.synth import generate_synthetic_log

T0 = pd.Timestamp("2026-03-01", tz="UTC")
OPEN, WORK, CLOSE = "job <*> opened", "worker took job <*>", "job <*> closed"


def _line(t: float, host: str, process: str, pid: str, template: str, content: str, masked: str | None = None):
    return {"timestamp": T0 + pd.Timedelta(seconds=t), "host": host, "process": process, "pid": pid,
            "template": template, "content": content, "masked": masked or template, "source": "x.log"}


def _flow(t: float, host: str, job: str, order=(0, 1, 2), uptime: float = 1000.0) -> list[dict]:
    """One job: opened by `sched` (pid per job), taken by `worker` (one pid for all), closed by
    `sched`; every line also carries a kernel-style uptime (a clock, not an identifier) and a
    constant port."""
    pid = str(int(job, 16))  # unique per job, like a fresh process (pids are not reused within hours)
    steps = [("sched", pid, OPEN, f"job {job} opened on port 8080 at [{uptime + t:.0f}]"),
             ("worker", "77", WORK, f"worker took job {job} port 8080 [{uptime + t + 1:.0f}]"),
             ("sched", pid, CLOSE, f"job {job} closed port 8080 [{uptime + t + 2:.0f}]")]
    return [_line(t + i, host, *steps[k]) for i, k in enumerate(order)]


def _jobs(n: int, seed: int, start: float = 0.0, spacing: float = 30.0) -> list[tuple[float, str, str]]:
    rng = np.random.default_rng(seed)
    return [(start + i * spacing, f"h{i % 3}", f"{rng.integers(0x100000, 0xffffff):06x}") for i in range(n)]


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).sort_values("timestamp", kind="stable").reset_index(drop=True)


@pytest.fixture(scope="module")
def fitted():
    rows = [x for t, h, j in _jobs(400, 1) for x in _flow(t, h, j)]
    return FlowDetector().fit(_frame(rows))


def test_learns_identifiers_not_clocks_or_constants(fitted):
    slots = set(fitted.slots_)
    assert any(s.endswith("\t" + OPEN) and s.startswith("0\t") for s in slots)  # the job id
    assert f"-1\t{OPEN}" in slots  # sched's pid: one per job
    assert f"-1\t{WORK}" not in slots  # worker's pid is the same for every job
    assert not any(s.startswith("2\t") for s in slots if s.endswith(OPEN))  # the uptime follows the clock
    assert not any(s.startswith("1\t") for s in slots if s.endswith(OPEN))  # port 8080 is a constant
    job_slots = [s for s in slots if s.startswith("0\t")]
    assert len({fitted.slots_[s] for s in job_slots}) == 1  # open/work/close ids form one family
    assert fitted.summary()["starts"] >= 1 and fitted.summary()["ends"] >= 1


def test_normal_flows_are_not_flagged(fitted):
    rows = [x for t, h, j in _jobs(100, 2, start=20_000) for x in _flow(t, h, j)]
    assert fitted.flag(_frame(rows)).empty


def test_order_start_and_end_are_flagged_where_they_happen(fitted):
    jobs = _jobs(60, 3, start=50_000)
    rows = []
    for i, (t, h, j) in enumerate(jobs):
        if i == 20:
            rows += _flow(t, h, j, order=(1, 0, 2))  # worker before the job was opened
        elif i == 30:
            rows += _flow(t, h, j, order=(2,))  # a lone close, long after the file began
        elif i == 40:
            rows += _flow(t, h, j, order=(0, 1))  # never closed, the file goes on for 10 minutes
        else:
            rows += _flow(t, h, j)
    X = _frame(rows)
    flagged = fitted.flag(X)
    by_kind = {k: set(g["row"]) for k, g in flagged.groupby("kind")}
    ids = X["content"].str.extract(r"job (\w+)")[0].to_numpy()
    assert {ids[r] for r in by_kind["order"]} == {jobs[20][2]}
    assert {ids[r] for r in by_kind["start"]} == {jobs[20][2], jobs[30][2]}  # a flow opening with "work" too
    assert {ids[r] for r in by_kind["end"]} == {jobs[40][2]}
    order = flagged[flagged["kind"] == "order"].iloc[0]
    assert order["previous"] == WORK and order["step"] == OPEN and order["expected"] == [CLOSE]
    assert np.array_equal(fitted.score(X) > fitted.threshold_, fitted.predict(X))


def test_a_flow_that_may_have_begun_before_the_file_is_not_judged(fitted):
    # the same lone close, but 2 s into the file: its job may have opened before the file began
    rows = _flow(50_000, "h0", "abc123", order=(2,)) + [x for t, h, j in _jobs(30, 4, start=50_010) for x in _flow(t, h, j)]
    assert fitted.flag(_frame(rows)).empty


def test_edges_of_the_whole_file_are_used_when_given(fitted):
    rows = [x for t, h, j in _jobs(40, 5, start=50_000) for x in _flow(t, h, j)]
    rows += _flow(52_000, "h1", "beef01", order=(0,))
    X = _frame(rows)
    assert "end" not in set(fitted.flag(X)["kind"])  # the file ends right after the open
    edges = {"x.log": (X["timestamp"].min().timestamp(), X["timestamp"].max().timestamp() + 3600)}
    assert "end" in set(fitted.flag(X, edges=edges)["kind"])
    assert file_edges(X)["x.log"][0] == X["timestamp"].min().timestamp()


def test_a_template_is_split_into_its_variants_when_one_flow_passes_through_several():
    tmpl = "port <NUM>(<*>) entered <*> state"
    rows = []
    for t, h, j in _jobs(300, 6):
        dev = f"veth{j}"
        rows += [_line(t + i, h, "kernel", "", tmpl, f"port 3({dev}) entered {s} state",
                       f"port <NUM>(<*>) entered {s} state") for i, s in enumerate(("blocking", "forwarding", "disabled"))]
    det = FlowDetector().fit(_frame(rows))
    assert det.split_ == [tmpl]
    target = []
    for i, (t, h, j) in enumerate(_jobs(40, 7, start=30_000)):
        states = ("disabled", "blocking", "forwarding") if i == 20 else ("blocking", "forwarding", "disabled")
        target += [_line(t + k, h, "kernel", "", tmpl, f"port 3(veth{j}) entered {s} state",
                         f"port <NUM>(<*>) entered {s} state") for k, s in enumerate(states)]
    flagged = det.flag(_frame(target))
    assert set(flagged["identifier"]) == {f"veth{_jobs(40, 7, start=30_000)[20][2]}"}
    assert "port <NUM>(<*>) entered disabled state" in set(flagged["step"])


def test_two_flows_sharing_a_value_by_chance_are_not_a_disorder():
    """Jobs also name a client port (unique in training). Two concurrent jobs of one host on the same
    port make the port's flow read open, open, close, close - but their job ids and pids differ: a
    collision, not a disorder. One job whose own lines come in the wrong order is still flagged."""
    def job(t, host, ident, port, order=(0, 1)):
        pid = str(int(ident, 16))
        steps = [("sched", pid, "job <*> opened from port <NUM>", f"job {ident} opened from port {port}"),
                 ("sched", pid, "job <*> closed port <NUM>", f"job {ident} closed port {port}")]
        return [_line(t + 2 * i, host, *steps[k]) for i, k in enumerate(order)]

    train = [x for i, (t, h, j) in enumerate(_jobs(400, 8)) for x in job(t, h, j, 20000 + i)]
    det = FlowDetector().fit(_frame(train))
    assert len(set(det.slots_.values())) == 3  # job ids, pids, ports: three value spaces
    target = [x for i, (t, h, j) in enumerate(_jobs(40, 9, start=30_000)) for x in job(t, h, j, 40000 + i)]
    target += job(31_000, "h0", "abcdef", 5555) + job(31_001, "h0", "fedcba", 5555)  # interleaved, same port
    assert det.flag(_frame(target)).empty
    target += job(31_500, "h1", "a1b2c3", 6666, order=(1, 0))
    X = _frame(target)
    flagged = det.flag(X)
    assert "order" in set(flagged["kind"])
    assert X.loc[flagged["row"], "content"].str.contains("a1b2c3").all()


def test_save_load_round_trip_and_invalid_files(fitted, tmp_path):
    path = tmp_path / "flows.json"
    fitted.save(path)
    loaded = FlowDetector.load(path)
    X = _frame([x for t, h, j in _jobs(60, 3, start=50_000) for x in _flow(t, h, j, order=(1, 0, 2) if j.startswith("a") else (0, 1, 2))])
    pd.testing.assert_frame_equal(loaded.flag(X), fitted.flag(X))
    state = json.loads(path.read_text())
    for broken in ({**state, "transitions": [[len(state["keys"]) ** 2, 1]]}, {**state, "since": state["since"][:-1]},
                   {**state, "threshold": "nan"}, {**state, "format": "other"}):
        with pytest.raises(ModelError):
            FlowDetector.from_dict(broken)
    with pytest.raises(ModelError):
        FlowDetector.load(tmp_path / "missing.json")


def test_lines_without_identifiers_or_times_give_an_empty_model():
    X = _frame([_line(i, "h", "p", "", "hello world", "hello world") for i in range(50)])
    det = FlowDetector().fit(X)
    assert det.slots_ == {} and det.flag(X).empty
    X = X.assign(timestamp=pd.NaT, content=[f"job {i:06x} opened" for i in range(50)])
    assert FlowDetector().fit(X).slots_ == {}


def test_gen_synth_reordered_sessions_are_flagged_and_clean_logs_are_not(tmp_path):
    """Real parser, generated logs: training and a clean log of another seed give no flag; a target
    with reordered sessions gets flags, nearly all on its anomalous lines."""
    for name, lines, rate, seed in (("train", 30_000, 0.0, 1), ("clean", 6_000, 0.0, 2), ("target", 6_000, 0.05, 3)):
        generate_synthetic_log(str(tmp_path / f"{name}.log"), lines, rate, seed=seed,
                               anomaly_types="reordered" if rate else None)
    state = str(tmp_path / "state.json")
    parse_logs(str(tmp_path / "train.log"), str(tmp_path / "ptrain"), drain_state=state, quiet=True)
    det = FlowDetector().fit(pd.read_parquet(tmp_path / "ptrain" / "parsed.parquet"))
    assert det.flag(pd.read_parquet(tmp_path / "ptrain" / "parsed.parquet")).empty
    for name in ("clean", "target"):
        parse_logs(str(tmp_path / f"{name}.log"), str(tmp_path / f"p{name}"), drain_state=state, frozen=True, quiet=True)
    assert det.flag(pd.read_parquet(tmp_path / "pclean" / "parsed.parquet")).empty
    flagged = det.flag(pd.read_parquet(tmp_path / "ptarget" / "parsed.parquet"))
    labels = pd.read_parquet(tmp_path / "target.log.labels.parquet").sort_values("line_no")
    bad = labels["is_anomaly"].to_numpy(bool)
    rows = flagged["row"].unique()
    assert len(rows) >= 10 and bad[rows].mean() >= 0.95
    episodes = labels[labels["is_anomaly"]].groupby("anomaly_event")["line_no"].apply(np.asarray)
    hit = sum(np.isin(ln - 1, rows).any() for ln in episodes)
    assert hit >= 0.5 * len(episodes)
    # As infer runs it: one (source, host) group at a time from an Arrow table, the repetitive text
    # columns dictionary-encoded; the same flags as the whole frame at once.
    path = tmp_path / "ptarget" / "parsed.parquet"
    X = pd.read_parquet(path)
    assert X["host"].nunique() > 1
    edges = file_edges(X)
    whole = det.flag(X, edges=edges)
    pd.testing.assert_frame_equal(det.flag_table(pq.read_table(path), edges=edges), whole)
    encoded = pq.read_table(path, read_dictionary=["source", "host", "process", "pid", "template", "masked"])
    pd.testing.assert_frame_equal(det.flag_table(encoded, edges=edges), whole)


def test_flag_table_per_group_equals_flag_on_the_whole_frame(fitted):
    """Several sources and hosts, flows in and out of order: grouped scoring gives flag()'s frame."""
    rows = []
    for i, (t, h, j) in enumerate(_jobs(120, 11, start=50_000)):
        order = (1, 0, 2) if i % 7 == 0 else (0, 2) if i % 11 == 0 else (0, 1, 2)
        rows += [{**x, "source": f"{'ab'[i % 2]}.log"} for x in _flow(t, h, j, order=order)]
    X = _frame(rows)
    edges = file_edges(X)
    whole = fitted.flag(X, edges=edges)
    assert {"order", "start"} <= set(whole["kind"])
    pd.testing.assert_frame_equal(fitted.flag_table(pa.Table.from_pandas(X, preserve_index=False), edges=edges), whole)
    calls = []
    fitted.flag_table(pa.Table.from_pandas(X, preserve_index=False), edges=edges, between=lambda: calls.append(1))
    assert len(calls) == 6  # 2 sources x 3 hosts
    empty = fitted.flag_table(pa.Table.from_pandas(X.iloc[:0], preserve_index=False), edges=edges)
    pd.testing.assert_frame_equal(empty, fitted.flag(X.iloc[:0], edges=edges))
