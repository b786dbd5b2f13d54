"""Scoring identifier flows a batch of rows at a time (detectors/flow_scoring.py, as `infer` reads a
Parquet file's row groups): the frame of FlowDetector.flag over the whole frame, whatever the batches."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from anomaly_log_detector.detectors.flow_tokens import FENCE, _holds_fence
from anomaly_log_detector.detectors.flows import FlowDetector, file_edges

T0 = pd.Timestamp("2026-03-01", tz="UTC")
OPEN, SPLIT, CLOSE = "job <*> opened", "port <*> entered <*> state", "job <*> closed"


def _lines(n: int, seed: int, swap_every: int = 0) -> pd.DataFrame:
    """Jobs on three hosts of two sources: opened (a pid per job), a port through two states (a split
    template: its masked variants are steps), closed; with `swap_every`, every such job out of order
    and a few cut at the end or the start."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        job, port = f"{rng.integers(0x100000, 0xffffff):06x}", f"veth{rng.integers(1000, 9999)}"
        pid, t = str(1000 + i), 20.0 * i
        steps = [("sched", pid, OPEN, f"job {job} opened for {port}", OPEN),
                 ("kernel", "", SPLIT, f"port 1({port}) entered blocking state", "port <NUM>(<*>) entered blocking state"),
                 ("kernel", "", SPLIT, f"port 1({port}) entered forwarding state", "port <NUM>(<*>) entered forwarding state"),
                 ("sched", pid, CLOSE, f"job {job} closed {port}", CLOSE)]
        if swap_every and i % swap_every == 0:
            steps[1], steps[2] = steps[2], steps[1]
        if swap_every and i % 13 == 5:  # stopped half-way
            steps = steps[:2]
        if swap_every and i % 17 == 3:  # begun in the middle
            steps = steps[2:]
        for k, (process, p, template, content, masked) in enumerate(steps):
            rows.append({"timestamp": T0 + pd.Timedelta(seconds=t + k), "host": f"h{i % 3}", "process": process,
                         "pid": p or None, "template": template, "content": content, "masked": masked,
                         "source": f"{'ab'[i % 2]}.log"})
    rows.append({**rows[-1], "timestamp": None, "content": "job ffffff closed veth1"})  # no time: in no flow
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def fitted():
    return FlowDetector().fit(_lines(300, 1))


def test_row_groups_give_flag_of_the_whole_frame(fitted, tmp_path):
    assert fitted.split_ == [SPLIT]
    X = _lines(200, 2, swap_every=9)
    whole = fitted.flag(X, edges=file_edges(X))
    assert set(whole["kind"]) == {"order", "start", "end"}
    path = tmp_path / "parsed.parquet"
    pq.write_table(pa.Table.from_pandas(X, preserve_index=False), path, row_group_size=37)
    f = pq.ParquetFile(path, read_dictionary=["source", "host", "process", "pid", "template", "masked"])
    batches = (f.read_row_group(i) for i in range(f.num_row_groups))
    got = fitted.flag_batches(batches, f.metadata.num_rows, f.schema_arrow.names, edges="file")
    pd.testing.assert_frame_equal(got, whole)
    # Each (source, host) group's own times without edges, as flag() of that group alone.
    table = pq.read_table(path)
    calls = []
    own = fitted.flag_table(table, between=lambda: calls.append(1))
    assert len(calls) == 6
    per_group = []
    for _, at in X.groupby(["source", "host"], dropna=False).indices.items():
        part = fitted.flag(X.iloc[at].reset_index(drop=True))
        part["row"] = np.sort(at)[part["row"].to_numpy()]
        per_group.append(part)
    expect = pd.concat(per_group, ignore_index=True).sort_values(["row", "kind"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(own, expect)


def test_missing_columns_and_empty_input(fitted):
    X = _lines(3, 3)
    with pytest.raises(Exception, match="content"):
        fitted.flag_table(pa.Table.from_pandas(X.drop(columns=["content"]), preserve_index=False))
    empty = fitted.flag_table(pa.Table.from_pandas(X.iloc[:0], preserve_index=False))
    pd.testing.assert_frame_equal(empty, fitted.flag(X.iloc[:0]))


def test_holds_fence_equals_a_substring_search():
    x = pa.array(["a\x00b", "", "abc", None, FENCE, "zz" + FENCE, "long " * 50], pa.large_string())
    for arr in (x, x.slice(1), x.slice(2, 3), x.cast(pa.string()), x.cast(pa.string()).slice(4), x.slice(0, 0)):
        expect = pc.fill_null(pc.match_substring(arr, FENCE), False).to_numpy(zero_copy_only=False)
        assert (_holds_fence(arr) == expect).all()
