"""parsed.parquet assembled from row groups written while parsing plus a template column written at the
end (parsing/output.py) reads back exactly like the full table written in one go."""

from __future__ import annotations

import struct

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from anomaly_log_detector.parsing import thrift_compact as tc
from anomaly_log_detector.parsing.output import DICTIONARY_COLUMNS, ParsedWriter, conform


def _chunk(rng, start: int, n: int, extra: dict | None = None) -> pa.Table:
    cols = {
        "line_no": pa.array(np.arange(start, start + n), pa.int64()),
        "source": pa.array([f"f{start % 3}.log"] * n),
        "timestamp": pa.array(rng.integers(0, 2 ** 40, n), pa.timestamp("us", tz="UTC")),
        "host": pa.array([None if i % 5 == 0 else f"h{i % 4}" for i in range(n)], pa.string()),
        "raw": pa.array([f"line {start + i} " + "x" * int(rng.integers(0, 50)) for i in range(n)]),
        "masked": pa.array([f"m <NUM> {i % 7}" for i in range(n)]),
        "template_id": pa.array(rng.integers(-1, 9, n), pa.int64()),
    }
    cols.update(extra or {})
    return pa.table(cols)


def _expected(chunks: list[pa.Table], lookup: list[str]) -> pa.Table:
    schema = None
    for t in chunks:
        new = [f.with_type(pa.string()) if pa.types.is_null(f.type) else f
               for f in t.schema if schema is None or f.name not in schema.names]
        schema = pa.schema([*(schema or []), *new])
    full = pa.concat_tables([conform(t, schema) for t in chunks])
    ids = full.column("template_id").to_numpy()
    text = pa.array([lookup[max(i, 0)] for i in ids], pa.string())
    return full.add_column(full.schema.get_field_index("template_id") + 1, "template", text)


@pytest.mark.parametrize("layout", ["one_segment", "segments", "bigger"])
def test_assembled_file_equals_the_table_written_at_once(tmp_path, layout):
    rng = np.random.default_rng(1)
    chunks = [_chunk(rng, 0, 1000), _chunk(rng, 1000, 1)]
    if layout == "segments":  # later chunks add columns (one all-null), then one lacks them again
        chunks += [_chunk(rng, 1001, 500, {"Label": pa.array(["-"] * 500)}),
                   _chunk(rng, 1501, 300, {"Thread": pa.nulls(300), "Label": pa.array(["a"] * 300)}),
                   _chunk(rng, 1801, 200)]
    if layout == "bigger":
        chunks += [_chunk(rng, 1001, 3000)]
    lookup = ["<UNSEEN>"] + [f"template {i} <*>" for i in range(1, 9)]
    out = tmp_path / "parsed.parquet"
    writer = ParsedWriter(str(out))
    for t in chunks:
        writer.write(t)
    rows = writer.finish(pa.array(lookup))
    writer.remove(keep_result=True)
    got = pq.read_table(writer.tmp)
    want = _expected(chunks, lookup)
    assert rows == want.num_rows
    assert got.schema.equals(want.schema, check_metadata=False)
    assert got.equals(want)
    # The footer is the one pyarrow writes for the whole table, row groups aside.
    direct = tmp_path / "direct.parquet"
    with pq.ParquetWriter(direct, want.schema, use_dictionary=DICTIONARY_COLUMNS, compression="lz4") as w:
        for t in chunks:
            w.write_table(want.slice(0, 0) if not t.num_rows else
                          want.filter(pa.compute.is_in(want.column("line_no"), t.column("line_no"))))
    a, b = pq.ParquetFile(writer.tmp), pq.ParquetFile(direct)
    assert a.schema_arrow.equals(b.schema_arrow, check_metadata=True)
    assert a.metadata.num_row_groups == b.metadata.num_row_groups == len(chunks)
    for r in range(a.metadata.num_row_groups):
        assert a.read_row_group(r).equals(b.read_row_group(r))
        ra, rb = a.metadata.row_group(r), b.metadata.row_group(r)
        assert ra.num_rows == rb.num_rows
        for c in range(ra.num_columns):
            ca, cb = ra.column(c), rb.column(c)
            assert (ca.path_in_schema, ca.encodings, ca.num_values) == (cb.path_in_schema, cb.encodings, cb.num_values)
            assert ca.statistics == cb.statistics
    # Readers that seek column chunks and filter rows.
    picked = pq.read_table(writer.tmp, columns=["template", "line_no"], filters=[("template_id", "=", 3)])
    assert picked.column("template").to_pylist() == ["template 3 <*>"] * picked.num_rows


def test_no_rows_gives_the_empty_table(tmp_path):
    writer = ParsedWriter(str(tmp_path / "parsed.parquet"))
    assert writer.finish(pa.array(["<UNSEEN>"])) == 0
    assert pq.read_table(writer.tmp).num_rows == 0
    assert "template" in pq.read_table(writer.tmp).column_names


def test_remove_leaves_nothing(tmp_path):
    writer = ParsedWriter(str(tmp_path / "parsed.parquet"))
    writer.write(_chunk(np.random.default_rng(2), 0, 10))
    writer.write(_chunk(np.random.default_rng(2), 10, 10, {"Label": pa.array(["x"] * 10)}))
    writer.finish(pa.array(["u"] * 10))
    writer.remove()
    assert list(tmp_path.iterdir()) == []


def test_thrift_compact_round_trip_of_parquet_footers(tmp_path):
    rng = np.random.default_rng(3)
    table = _expected([_chunk(rng, 0, 3000)], ["u"] * 10)
    path = tmp_path / "t.parquet"
    pq.write_table(table, path, row_group_size=700, compression="zstd")
    data = path.read_bytes()
    length = struct.unpack("<i", data[-8:-4])[0]
    footer = data[-8 - length:-8]
    meta, used = tc.decode(footer)
    assert used == length and tc.encode(meta) == footer
    assert tc.get(meta, 3) == 3000 and len(tc.get(meta, 4).items) == 5
    # Long field-id jumps, negative numbers, doubles, bools in and out of containers, maps, sets.
    fields = [tc.Field(1, tc.TRUE, True), tc.Field(2, tc.FALSE, False), tc.Field(40, tc.I64, -(2 ** 40)),
              tc.Field(41, tc.DOUBLE, 1.5), tc.Field(42, tc.BYTE, -3), tc.Field(43, tc.I16, -1),
              tc.Field(44, tc.LIST, tc.Seq(tc.TRUE, [True, False] * 10)),
              tc.Field(45, tc.SET, tc.Seq(tc.I32, [1, 2], tc.SET)),
              tc.Field(46, tc.MAP, tc.Map(tc.BINARY, tc.I32, [(b"a", 1)])), tc.Field(47, tc.MAP, tc.Map(0, 0, [])),
              tc.Field(48, tc.STRUCT, [tc.Field(1, tc.BINARY, b"x" * 300)])]
    assert tc.decode(tc.encode(fields))[0] == fields
    with pytest.raises(tc.ThriftError):
        tc.decode(tc.encode(fields)[:-3])
