"""Writing parsed.parquet while parsing, each row once.

Rows reach the writer in input order with their template id, but the template *text* of an id is only
final at the end of the run (Drain can still generalize a template after a line was assigned to it).
So each chunk is written at once as a Parquet row group holding every column but ``template``; when
the run ends, the ``template`` column of every row group (and nulls for columns a row group lacks, see
below) is written to a small second Parquet file, and the two are joined by writing a new footer: the
``template`` column chunks are appended after the rows' column chunks, and the footer lists every row
group's column chunks in schema order (Parquet readers find column chunks through the offsets of the
footer, not by position). The footer's schema and key-value metadata are those pyarrow writes for the
full table, so the file reads back exactly as if the full table had been written in one go
(tests/test_parse_output.py compares the two; tests/test_parse_frozen_output.py the whole outputs).

A Parquet file has one schema, and a later source may add columns (another header format's extra
fields): that chunk starts a new *segment* file whose schema adds them. Every segment's rows are
copied after the first one's when the file is assembled; the columns a segment lacks are null chunks
written with its ``template`` column. The first segment becomes the output file itself (its footer is
cut off and replaced, then it is renamed), so a run with one format never copies a row.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.parsing import thrift_compact as tc
from anomaly_log_detector.parsing.timestamps import TIMESTAMP_TYPE

# Columns with few distinct values: Parquet dictionary encoding pays off only for these.
DICTIONARY_COLUMNS = ["source", "host", "process", "pid", "level", "session", "template"]
STRING_COLUMNS = ("host", "process", "pid", "level", "session")
TEMPLATE = "template"
_AFTER = "template_id"  # the template column follows this one
_WRITE_OPTIONS = dict(use_dictionary=DICTIONARY_COLUMNS, compression="lz4", write_page_index=False)
_MAGIC = b"PAR1"
_COPY_BLOCK = 4 << 20

# Parquet footer field ids (parquet.thrift).
_FMD_NUM_ROWS, _FMD_ROW_GROUPS = 3, 4
_RG_COLUMNS, _RG_TOTAL_BYTES, _RG_NUM_ROWS, _RG_FILE_OFFSET, _RG_COMPRESSED, _RG_ORDINAL = 1, 2, 3, 5, 6, 7
_CC_FILE_OFFSET, _CC_META, _CC_OFFSET_INDEX, _CC_COLUMN_INDEX = 2, 3, 4, 6
_CM_PATH, _CM_OFFSETS = 3, (9, 10, 11, 14)  # data, index, dictionary page and bloom filter offsets


@dataclass
class _Segment:
    path: str
    schema: pa.Schema
    rows: list[int] = field(default_factory=list)  # rows of each row group


class ParsedWriter:
    """parsed.parquet, written chunk by chunk (:meth:`write`) and completed by :meth:`finish`."""

    def __init__(self, final_path: str):
        self.final_path = final_path
        self.tmp = final_path + ".partial.0"  # the first segment, completed in place by finish()
        self.schema: pa.Schema | None = None  # the union of the columns so far (without `template`)
        self.segments: list[_Segment] = []
        self._writer: pq.ParquetWriter | None = None
        self._extra_paths: list[str] = []

    # ---- while parsing -------------------------------------------------------------------------
    def write(self, table: pa.Table) -> None:
        new = [f.with_type(pa.string()) if pa.types.is_null(f.type) else f  # all-null so far: a string later
               for f in table.schema if self.schema is None or f.name not in self.schema.names]
        if new:
            self.close()
            self.schema = pa.schema([*(self.schema or []), *new])
            path = f"{self.final_path}.partial.{len(self.segments)}"
            self.segments.append(_Segment(path, self.schema))
            self._writer = pq.ParquetWriter(path, self.schema, **_WRITE_OPTIONS)
        self._writer.write_table(conform(table, self.schema))
        self.segments[-1].rows.append(table.num_rows)

    def close(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    # ---- at the end ----------------------------------------------------------------------------
    def finish(self, templates: pa.Array) -> int:
        """Add the template texts (`templates[id]`; position 0 serves UNSEEN_ID) and complete the file at
        ``tmp`` (the first segment); the caller renames it. Returns the number of rows."""
        self.close()
        if not self.segments:
            self.segments.append(_Segment(self.tmp, empty_table().schema))
            pq.write_table(empty_table(), self.tmp)
            return 0
        full = _with_template(self.schema)
        fillers = []
        for k, seg in enumerate(self.segments):
            path = f"{self.final_path}.partial.t{k}"
            self._extra_paths.append(path)
            _write_fillers(seg, full, templates, path)
            fillers.append(path)
        _assemble(self.tmp, self.segments, fillers, full)
        return sum(sum(seg.rows) for seg in self.segments)

    def remove(self, keep_result: bool = False) -> None:
        """Delete the temporary files (those already gone are fine: called again after a failure); with
        `keep_result`, not the completed file at ``tmp``."""
        try:
            self.close()
        except OSError:  # the disk is still full: the files go anyway
            pass
        for path in [*(s.path for s in self.segments), self.tmp, *self._extra_paths]:
            if not (keep_result and path == self.tmp):
                _remove(path)


def _with_template(schema: pa.Schema) -> pa.Schema:
    return schema.insert(schema.get_field_index(_AFTER) + 1, pa.field(TEMPLATE, pa.string()))


def _write_fillers(seg: _Segment, full: pa.Schema, templates: pa.Array, path: str) -> None:
    """The columns of `full` that the segment's row groups lack, one row group per row group of the
    segment: the template text of each row's template id, nulls for absent extra columns."""
    import pyarrow.compute as pc

    missing = [f for f in full if f.name not in seg.schema.names]
    source = pq.ParquetFile(seg.path)
    with pq.ParquetWriter(path, pa.schema(missing), **_WRITE_OPTIONS) as writer:
        for r, n in enumerate(seg.rows):
            columns = []
            for f in missing:
                if f.name == TEMPLATE:
                    ids = source.read_row_group(r, columns=[_AFTER]).column(0).to_numpy()
                    columns.append(pc.take(templates, pa.array(np.where(ids < 0, 0, ids))))
                else:
                    columns.append(pa.nulls(n, f.type))
            writer.write_table(pa.Table.from_arrays(columns, schema=pa.schema(missing)))


def _footer(path: str) -> tuple[list[tc.Field], int]:
    """(decoded footer, end of the data = where the footer starts) of a Parquet file."""
    with open(path, "rb") as f:
        f.seek(-8, os.SEEK_END)
        tail = f.read(8)
        if tail[4:] != _MAGIC:
            raise ValueError(f"{path}: not a Parquet file")
        length = struct.unpack("<i", tail[:4])[0]
        end = f.seek(0, os.SEEK_END) - 8 - length
        f.seek(end)
        meta, _ = tc.decode(f.read(length))
    return meta, end


def _reference_footer(schema: pa.Schema) -> list[tc.Field]:
    """The footer pyarrow writes for `schema` (schema elements, ARROW:schema, created_by...)."""
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, schema, **_WRITE_OPTIONS) as writer:
        writer.write_table(schema.empty_table())
    data = sink.getvalue().to_pybytes()
    length = struct.unpack("<i", data[-8:-4])[0]
    meta, _ = tc.decode(data[-8 - length:-8])
    return meta


def _chunks_by_name(row_group: list[tc.Field], shift: int) -> dict[str, list[tc.Field]]:
    """The column chunks of a row group by column name, their file offsets moved by `shift`."""
    out = {}
    for chunk in tc.get(row_group, _RG_COLUMNS).items:
        if tc.get(chunk, _CC_OFFSET_INDEX) is not None or tc.get(chunk, _CC_COLUMN_INDEX) is not None:
            raise ValueError("page indexes are not expected in the parsed.parquet parts")
        meta = tc.get(chunk, _CC_META)
        offsets = [f for f in chunk if f.id == _CC_FILE_OFFSET] + [f for f in meta if f.id in _CM_OFFSETS]
        for f in offsets:
            if f.value > 0:  # 0: not set
                f.value += shift
        (name,) = tc.get(meta, _CM_PATH).items
        out[name.decode("utf-8")] = chunk
    return out


def _append(out, path: str, start: int, end: int) -> int:
    """Copy bytes [start, end) of `path` to the end of `out`; return where they now begin."""
    at = out.seek(0, os.SEEK_END)
    with open(path, "rb") as src:
        src.seek(start)
        left = end - start
        while left:
            block = src.read(min(left, _COPY_BLOCK))
            if not block:
                raise ValueError(f"{path}: shorter than its footer says")
            out.write(block)
            left -= len(block)
    return at


def _assemble(path: str, segments: list[_Segment], fillers: list[str], schema: pa.Schema) -> None:
    """Join the segments (the first is `path` itself) and their filler files into one Parquet file at
    `path`: their column chunks are concatenated and one footer lists them (module docstring)."""
    parts = [(_footer(seg.path), seg) for seg in segments]
    fill = [_footer(p) for p in fillers]
    names = schema.names
    row_groups: list[list[tc.Field]] = []
    with open(path, "r+b") as out:
        out.truncate(parts[0][0][1])  # the first segment's footer goes; its rows stay where they are
        for k, ((meta, end), seg) in enumerate(parts):
            shift = 0 if k == 0 else _append(out, seg.path, 4, end) - 4
            f_meta, f_end = fill[k]
            f_shift = _append(out, fillers[k], 4, f_end) - 4
            groups = tc.get(meta, _FMD_ROW_GROUPS).items
            f_groups = tc.get(f_meta, _FMD_ROW_GROUPS).items
            if len(groups) != len(seg.rows) or len(f_groups) != len(seg.rows):
                raise ValueError("row groups do not line up")
            for rg, frg in zip(groups, f_groups):
                if tc.get(rg, _RG_NUM_ROWS) != tc.get(frg, _RG_NUM_ROWS):
                    raise ValueError("row groups do not line up")
                chunks = {**_chunks_by_name(frg, f_shift), **_chunks_by_name(rg, shift)}
                tc.put(rg, _RG_COLUMNS, tc.LIST, tc.Seq(tc.STRUCT, [chunks[name] for name in names]))
                for fid in (_RG_TOTAL_BYTES, _RG_COMPRESSED):
                    if tc.get(rg, fid) is not None:
                        tc.put(rg, fid, tc.I64, tc.get(rg, fid) + (tc.get(frg, fid) or 0))
                if tc.get(rg, _RG_FILE_OFFSET) is not None:
                    tc.put(rg, _RG_FILE_OFFSET, tc.I64, tc.get(rg, _RG_FILE_OFFSET) + shift)
                if tc.get(rg, _RG_ORDINAL) is not None:
                    tc.put(rg, _RG_ORDINAL, tc.I16, len(row_groups))
                row_groups.append(rg)
        meta = _reference_footer(schema)
        tc.put(meta, _FMD_NUM_ROWS, tc.I64, sum(sum(seg.rows) for seg in segments))
        tc.put(meta, _FMD_ROW_GROUPS, tc.LIST, tc.Seq(tc.STRUCT, row_groups))
        footer = tc.encode(meta)
        out.seek(0, os.SEEK_END)
        out.write(footer + struct.pack("<i", len(footer)) + _MAGIC)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` with exactly `schema`'s columns: missing ones null, others cast."""
    n = table.num_rows
    columns = [table.column(f.name).cast(f.type) if f.name in table.schema.names else pa.nulls(n, f.type)
               for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def empty_table() -> pa.Table:
    fields = [("line_no", pa.int64()), ("source", pa.string()), ("timestamp", TIMESTAMP_TYPE)]
    fields += [(c, pa.string()) for c in STRING_COLUMNS]
    fields += [("raw", pa.string()), ("content", pa.string()), ("masked", pa.string()),
               ("template_id", pa.int64()), ("template", pa.string())]
    return pa.schema(fields).empty_table()


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
