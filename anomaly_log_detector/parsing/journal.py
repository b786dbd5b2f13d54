"""``journalctl -o json`` lines: one JSON object per line.

A chunk is read by Arrow's JSON reader in one go. journald writes every field as a string, but a
binary MESSAGE is an array of byte values and any line may be foreign or truncated; then Arrow
rejects the whole chunk, which is split in halves until the parts that hold such lines are small
enough to read line by line with :mod:`json` (slower, same result).

A line that :mod:`json` cannot read without recursing too deeply (``[[[[...]]]]`` nested thousands
deep: Python's parser recurses per level) is refused, never parsed: it is skipped and counted with the
reason :data:`TOO_DEEP` (``HeaderColumns.refused``), and the other lines of the chunk are parsed.
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
# Lines with more opening brackets than this never reach Arrow's reader: deeply nested input
# (`[[[[...]]]]`) crashed the process in it (a segfault found by the property tests, not reproducible
# on demand). A journald line holds one object and at most one byte array; more is foreign anyway.
_MAX_BRACKETS = 64
TOO_DEEP = "json nested too deeply"


def _fast(lines: pa.Array) -> dict[str, pa.Array] | None:
    """All fields by Arrow's JSON reader, or None when some line is not a flat string-valued object."""
    if len(lines) == 0 or pc.any(pc.match_substring_regex(lines, r"^\s*$")).as_py():
        return None  # the reader skips blank lines, which would shift rows
    if (pc.max(pc.count_substring_regex(lines, r"[\[{]")).as_py() or 0) > _MAX_BRACKETS:
        return None  # deep nesting: json.loads refuses it safely (TOO_DEEP)
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


def _fields(line: str | None) -> tuple[list[str | None] | None, str | None]:
    """One line's fields (None when it is not a JSON object), or the reason it is refused."""
    try:
        obj = json.loads(line) if line is not None else None
        return ([_text(obj.get(name)) for name in FIELDS] if isinstance(obj, dict) else None), None
    except ValueError:
        return None, None
    except RecursionError:  # json.loads, or json.dumps of a nested field value
        return None, TOO_DEEP


def _slow(lines: pa.Array) -> tuple[dict[str, pa.Array], pa.Array, pa.Array]:
    """Fields line by line; then the flag of each line that is a JSON object, the reason of each
    refused line."""
    columns: dict[str, list[str | None]] = {name: [] for name in FIELDS}
    ok: list[bool] = []
    refused: list[str | None] = []
    for line in lines.to_pylist():
        values, reason = _fields(line)
        ok.append(values is not None)
        refused.append(reason)
        for name, value in zip(FIELDS, values or [None] * len(FIELDS)):
            columns[name].append(value)
    return ({name: pa.array(values, pa.string()) for name, values in columns.items()}, pa.array(ok, pa.bool_()),
            pa.array(refused, pa.string()))


def _read(lines: pa.Array) -> tuple[dict[str, pa.Array], pa.Array, pa.Array]:
    """All fields, the JSON-object flag and the refusal reason (null: kept) of each line, as fast as the
    lines allow."""
    fields = _fast(lines)
    if fields is not None:
        return fields, pc.is_valid(lines), pa.nulls(len(lines), pa.string())
    if len(lines) < _SLOW_BELOW:
        return _slow(lines)
    half = len(lines) // 2
    (a, a_ok, a_no), (b, b_ok, b_no) = _read(lines.slice(0, half)), _read(lines.slice(half))
    return ({name: pa.concat_arrays([a[name], b[name]]) for name in FIELDS}, pa.concat_arrays([a_ok, b_ok]),
            pa.concat_arrays([a_no, b_no]))


class JournalJsonFormat(LogFormat):
    """`journalctl -o json`: MESSAGE, __REALTIME_TIMESTAMP, _HOSTNAME, SYSLOG_IDENTIFIER or _COMM,
    _PID or SYSLOG_PID, PRIORITY (0-7 -> emerg..debug); `_SYSTEMD_UNIT` as the extra field `unit`."""

    name = "journal-json"

    def parse(self, lines: pa.Array) -> HeaderColumns:
        lines = as_string_array(lines)
        fields, matched, refused = _read(lines)
        message = pc.if_else(matched, pc.fill_null(fields["MESSAGE"], ""), lines)
        return HeaderColumns(
            content=message, matched=matched, timestamp=epoch_micros(fields["__REALTIME_TIMESTAMP"]),
            host=fields["_HOSTNAME"], process=pc.coalesce(fields["SYSLOG_IDENTIFIER"], fields["_COMM"]),
            pid=pc.coalesce(fields["_PID"], fields["SYSLOG_PID"]), level=severity_names(fields["PRIORITY"]),
            extra={"unit": fields["_SYSTEMD_UNIT"]},
            refused=refused if refused.null_count < len(refused) else None,
        )
