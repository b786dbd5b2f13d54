"""``journalctl -o json`` lines: one JSON object per line.

A chunk is read by Arrow's JSON reader in one go. journald writes every field as a string, but a
binary MESSAGE is an array of byte values and any line may be foreign or truncated; then Arrow
rejects the whole chunk, which is split in halves until the parts that hold such lines are small
enough to read line by line with :mod:`json` (slower, same result).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from anomaly_log_detector.parsing.header import HeaderColumns, LogFormat, as_string_array, severity_names
from anomaly_log_detector.parsing.timestamps import epoch_micros

FIELDS = ("MESSAGE", "__REALTIME_TIMESTAMP", "_HOSTNAME", "SYSLOG_IDENTIFIER", "_COMM", "_PID",
          "SYSLOG_PID", "PRIORITY", "_SYSTEMD_UNIT")
_SCHEMA = pa.schema([(name, pa.string()) for name in FIELDS])
_SLOW_BELOW = 4096  # lines: parts this small are read with json.loads (at most 4 halvings of 64k)


def _fast(lines: pa.Array) -> dict[str, pa.Array] | None:
    """All fields by Arrow's JSON reader, or None when some line is not a flat string-valued object."""
    if len(lines) == 0 or pc.any(pc.match_substring_regex(lines, r"^\s*$")).as_py():
        return None  # the reader skips blank lines, which would shift rows
    text = pc.binary_join_element_wise(lines, pa.scalar(""), "\n")
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset:]
    data = text.buffers()[2][offsets[0]:offsets[len(text)]]
    options = pj.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="ignore")
    try:
        table = pj.read_json(pa.BufferReader(data), read_options=pj.ReadOptions(block_size=data.size + 1),
                             parse_options=options)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != len(lines):
        return None
    return {name: table.column(name).combine_chunks() for name in FIELDS}


def _text(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value).decode("utf-8", errors="replace")  # journald's form of binary data
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def _slow(lines: pa.Array) -> tuple[dict[str, pa.Array], pa.Array]:
    """Fields line by line; the second value flags the lines that are JSON objects."""
    columns: dict[str, list[str | None]] = {name: [] for name in FIELDS}
    ok: list[bool] = []
    for line in lines.to_pylist():
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        ok.append(isinstance(obj, dict))
        for name in FIELDS:
            columns[name].append(_text(obj.get(name)) if isinstance(obj, dict) else None)
    return {name: pa.array(values, pa.string()) for name, values in columns.items()}, pa.array(ok, pa.bool_())


def _read(lines: pa.Array) -> tuple[dict[str, pa.Array], pa.Array]:
    """All fields and the JSON-object flag of each line, as fast as the lines allow."""
    fields = _fast(lines)
    if fields is not None:
        return fields, pc.is_valid(lines)
    if len(lines) < _SLOW_BELOW:
        return _slow(lines)
    half = len(lines) // 2
    (a, a_ok), (b, b_ok) = _read(lines.slice(0, half)), _read(lines.slice(half))
    return {name: pa.concat_arrays([a[name], b[name]]) for name in FIELDS}, pa.concat_arrays([a_ok, b_ok])


class JournalJsonFormat(LogFormat):
    """`journalctl -o json`: MESSAGE, __REALTIME_TIMESTAMP, _HOSTNAME, SYSLOG_IDENTIFIER or _COMM,
    _PID or SYSLOG_PID, PRIORITY (0-7 -> emerg..debug); `_SYSTEMD_UNIT` as the extra field `unit`."""

    name = "journal-json"

    def parse(self, lines: pa.Array) -> HeaderColumns:
        lines = as_string_array(lines)
        fields, matched = _read(lines)
        message = pc.if_else(matched, pc.fill_null(fields["MESSAGE"], ""), lines)
        return HeaderColumns(
            content=message, matched=matched, timestamp=epoch_micros(fields["__REALTIME_TIMESTAMP"]),
            host=fields["_HOSTNAME"], process=pc.coalesce(fields["SYSLOG_IDENTIFIER"], fields["_COMM"]),
            pid=pc.coalesce(fields["_PID"], fields["SYSLOG_PID"]), level=severity_names(fields["PRIORITY"]),
            extra={"unit": fields["_SYSTEMD_UNIT"]},
        )
