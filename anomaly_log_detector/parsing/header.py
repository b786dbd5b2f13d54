"""Header columns and the regex-driven header format shared by presets and ``--log-format`` strings.

A :class:`RegexFormat` runs RE2 patterns over a whole chunk with pyarrow compute kernels. Measured on
64k-line chunks, what keeps this fast:

* Patterns match the header only; the message is what ``split_pattern_regex`` leaves after the header.
  Capturing the message as a group ``(?P<content>.*)`` makes RE2 walk it with its slow capture engine
  (4-5x slower on syslog lines).
* RE2 uses its fast one-pass engine only for one-pass patterns (the next character always decides the
  branch) with at most 4 groups; otherwise a backtracker 2-5x slower. So presets capture at most 4
  groups and pack neighbouring fields into one group that a second pattern splits on the chunk's
  *distinct* values only (level + component + node: few distinct values). RE2 also wants each group
  name once, so a derive pattern that finds a field in several places names the others ``Field__2``...;
  the first non-empty one wins.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anomaly_log_detector.parsing.tokensplit import merge_rows, preset_plan, split_preset, split_tokens
from anomaly_log_detector.parsing.timestamps import (CANDIDATES, TIMESTAMP_TYPE, TimeContext, TimeFormat,
                                                     parse_timestamps)

_NAMED_GROUP = re.compile(r"(?<!\\)\(\?P<\w+>")
_ALIAS = "__"  # `Level__2`: a second place of the field `Level` in a derive pattern
# syslog severities 0-7 (RFC 5424 section 6.2.1), as journald and rsyslog name them.
SEVERITIES = ("emerg", "alert", "crit", "err", "warning", "notice", "info", "debug")
# Level names as logs write them (compared lower-cased): syslog's, and those of Java, Python, Go, nginx.
LEVEL_WORDS = frozenset(SEVERITIES + ("emergency", "critical", "error", "warn", "information", "informational",
                                      "fatal", "severe", "trace", "verbose", "panic", "dbug", "eror"))


@dataclass
class HeaderColumns:
    """The header fields of one chunk of lines, each array as long as the chunk."""

    content: pa.Array          # string: the message; the whole line when the header did not match
    matched: pa.Array          # bool: the header matched
    timestamp: pa.Array        # timestamp[us, UTC], null when absent or unparseable
    host: pa.Array             # string, nullable (also process, pid, level)
    process: pa.Array
    pid: pa.Array
    level: pa.Array
    extra: dict[str, pa.Array] = field(default_factory=dict)  # other named fields (string)
    refused: pa.Array | None = None  # string: why the format refuses a line (skipped, counted); null: kept

    def drop_refused(self, batch):
        """`batch` (a LineBatch) and these columns without the refused lines; the count per reason."""
        keep = pc.is_null(self.refused)
        reasons = Counter(pc.drop_null(self.refused).to_pylist())
        kept = {f.name: getattr(self, f.name).filter(keep)
                for f in fields(self) if f.name not in ("extra", "refused")}
        head = HeaderColumns(**kept, extra={k: v.filter(keep) for k, v in self.extra.items()})
        rows = keep.to_numpy(zero_copy_only=False)
        return replace(batch, line_nos=batch.line_nos[rows], raw=batch.raw.filter(keep)), head, reasons


class LogFormat:
    """A header format: splits each line of a chunk into header fields and the message."""

    name: str = "format"

    def parse(self, lines: pa.Array) -> HeaderColumns:  # pragma: no cover - abstract
        raise NotImplementedError

    def assumptions(self) -> dict[str, object]:
        """What the lines parsed so far did not say and was assumed: ``year`` and ``year_from`` for
        year-less times, ``timezone`` and ``timezone_from`` for zone-less ones (see TimeContext)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


@dataclass(frozen=True)
class Roles:
    """Which named groups of a pattern feed which canonical column."""

    time: tuple[str, ...] = ()        # joined with a space, in this order, then parsed
    host: str | None = None
    process: str | None = None
    pid: str | None = None
    level: str | None = None
    priority: str | None = None       # syslog PRI / severity number: level name when `level` is unset
    host_or_level: str | None = None  # level where the value is a level word (LEVEL_WORDS), else host
    extra: tuple[str, ...] = ()


def as_string_array(lines: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One contiguous string array without nulls (a null line is an empty line)."""
    if isinstance(lines, pa.ChunkedArray):
        lines = lines.combine_chunks()
    if lines.type != pa.string():
        lines = lines.cast(pa.string())
    return pc.fill_null(lines, "") if lines.null_count else lines


def null_if_empty(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def severity_names(numbers: pa.Array) -> pa.Array:
    """Syslog priority or severity numbers (strings) -> severity names; null when not a number."""
    digits = pc.if_else(pc.match_substring_regex(numbers, r"^\d{1,3}$"), numbers, pa.scalar(None, pa.string()))
    severity = pc.bit_wise_and(pc.cast(digits, pa.int64()), 7)
    return pc.take(pa.array(SEVERITIES), severity)


class RegexFormat(LogFormat):
    """A header format given by an RE2 pattern with named groups, anchored at the line start.

    The pattern matches the header and the message is the rest of the line, unless the pattern has the
    group `content` (a ``--log-format`` whose message is not last). `derive` maps a group to a pattern
    whose named groups split it into further fields. `time` completes times without year or zone.
    Block logs (apt's) say the time once per block: with `carry_time`, a line without a time takes
    the last one seen before it, also across chunks. With `first_line`, detection considers the format
    only when the sample's first line matches that pattern. `tokens` (a ``--log-format`` whose fields
    are separated by blanks, see tokensplit.py) splits most lines without the regex, to the same result;
    so does a pattern of single-space-separated tokens (``preset_plan``).
    """

    def __init__(self, name: str, pattern: str, roles: Roles, content: str = "content",
                 derive: dict[str, str] | None = None, time_formats: Sequence[TimeFormat] = CANDIDATES,
                 time: TimeContext | None = None, carry_time: bool = False, first_line: str | None = None,
                 tokens: Sequence[tuple[str, str]] | None = None):
        self.name = name
        self.pattern = pattern
        # The pattern without named groups: Arrow's split kernel adds a group of its own, and more than
        # 4 groups in all would push RE2 off its fast engine.
        self._bare = _NAMED_GROUP.sub("(?:", pattern)
        self.roles = roles
        self.content = content
        self.derive = dict(derive or {})
        self.time_formats = tuple(time_formats)
        self.time = time or TimeContext()
        self.carry_time = carry_time
        self.first_line = first_line
        self.tokens = tuple(tokens) if tokens else None  # (field, literal): see tokensplit.py
        # A header of single-space-separated tokens: matched by RE2's DFA, split by " " (tokensplit.py).
        self._preset = preset_plan(pattern) if not tokens and f"(?P<{content}>" not in pattern else None
        self._last_time: datetime | None = None    # carry_time: the last time of the previous chunk
        self._seen: set[str] = set()               # what the parsed times lacked (timestamps.YEARLESS...)

    def assumptions(self) -> dict[str, object]:
        return self.time.assumptions(self._seen)

    def header_score(self, lines: pa.Array) -> tuple[float, float]:
        """(share of `lines` whose header matches, mean header length in characters where it does),
        used by format detection."""
        if self.first_line:
            starts = len(lines) and pc.match_substring_regex(lines[:1], self.first_line)[0].as_py()
            if not starts:
                return 0.0, 0.0
        head = self.parse(lines)
        hits = lines.filter(head.matched)
        if len(hits) == 0:
            return 0.0, 0.0
        header = pc.subtract(pc.utf8_length(hits), pc.utf8_length(head.content.filter(head.matched)))
        return len(hits) / len(lines), float(pc.mean(header).as_py())

    def parse(self, lines: pa.Array) -> HeaderColumns:
        lines = as_string_array(lines)
        if self.tokens:
            groups, content, matched = self._split_tokens(lines)
        elif self._preset:
            groups, content, matched = split_preset(lines, self._bare, self._preset)
        else:
            groups, content, matched = self._split(lines)
        for name, pattern in self.derive.items():
            groups.update(_split_distinct(groups[name], pattern))
        return self._columns(groups, content, matched, len(lines))

    def _split(self, lines: pa.Array) -> tuple[dict[str, pa.Array], pa.Array, pa.Array]:
        """(named groups, message, header matched) by the regex."""
        parts = pc.extract_regex(lines, pattern=self.pattern)
        groups = _groups(parts)
        if self.content in groups:
            content = pc.coalesce(groups.pop(self.content), lines)
        else:
            content = _after_header(lines, self._bare)
        return groups, content, pc.is_valid(parts)

    def _split_tokens(self, lines: pa.Array) -> tuple[dict[str, pa.Array], pa.Array, pa.Array]:
        """What :meth:`_split` gives, by a whitespace split where that is the same (tokensplit.py) and
        by the regex on the other lines."""
        fields, message, ok = split_tokens(lines, self.tokens)
        matched = pa.array(np.ones(len(message), dtype=bool))
        if ok.all():
            return fields, message, matched
        groups, content, slow_matched = self._split(lines.filter(pa.array(~ok)))
        return ({name: merge_rows(ok, values, groups[name]) for name, values in fields.items()},
                merge_rows(ok, message, content), merge_rows(ok, matched, slow_matched))

    def _columns(self, groups: dict[str, pa.Array], content: pa.Array, matched: pa.Array,
                 n: int) -> HeaderColumns:
        r = self.roles

        def column(name: str | None) -> pa.Array:
            return null_if_empty(groups[name]) if name else pa.nulls(n, pa.string())

        host, level = column(r.host), column(r.level)
        if r.priority and not r.level:
            level = severity_names(column(r.priority))
        if r.host_or_level:
            host, level = _host_or_level(column(r.host_or_level))
        timestamp = self._timestamp([column(t) for t in r.time], n)
        if self.carry_time:
            timestamp = self._carry(timestamp)
        return HeaderColumns(
            content=content, matched=matched, timestamp=timestamp,
            host=host, process=column(r.process), pid=column(r.pid), level=level,
            extra={name: column(name) for name in r.extra},
        )

    def _carry(self, timestamp: pa.Array) -> pa.Array:
        """Null times filled with the last time before them (from the previous chunk at the start)."""
        if len(timestamp) == 0:
            return timestamp
        if self._last_time is not None and not timestamp[0].is_valid:
            timestamp = pa.concat_arrays([pa.array([self._last_time], TIMESTAMP_TYPE), timestamp[1:]])
        timestamp = pc.fill_null_forward(timestamp)
        if timestamp[-1].is_valid:
            self._last_time = timestamp[-1].as_py()
        return timestamp

    def _timestamp(self, fields: list[pa.Array], n: int) -> pa.Array:
        """Parse the time fields joined in order; if most joined values do not parse (BGL has both an
        epoch and a date-time), fall back to single fields, the longest first (the most precise)."""
        best = pa.nulls(n, TIMESTAMP_TYPE)
        if not fields:
            return best
        joined = fields[0] if len(fields) == 1 else pc.binary_join_element_wise(*fields, " ")
        singles = sorted(fields, key=lambda f: -(pc.mean(pc.utf8_length(f)).as_py() or 0))
        if len(fields) == 1:
            singles = []
        best_seen: set[str] = set()
        for text in [joined, *singles]:
            seen: set[str] = set()
            parsed = parse_timestamps(text, self.time_formats, self.time, seen)
            if parsed.null_count < best.null_count:
                best, best_seen = parsed, seen
            if 2 * (parsed.null_count - text.null_count) <= len(text) - text.null_count:
                break
        self._seen |= best_seen
        return best


def _groups(parts: pa.Array) -> dict[str, pa.Array]:
    """The named groups of an extract_regex result; `Name__2` groups fill the empty values of `Name`."""
    groups: dict[str, pa.Array] = {}
    for i in range(parts.type.num_fields):
        name, values = parts.type.field(i).name.split(_ALIAS)[0], pc.struct_field(parts, [i])
        if name in groups:
            values = pc.if_else(pc.equal(groups[name], ""), values, groups[name])
        groups[name] = values
    return groups


def _host_or_level(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(host, level): each value goes to level when it is a level word, else to host."""
    none = pa.scalar(None, pa.string())
    is_level = pc.fill_null(pc.is_in(pc.utf8_lower(values), value_set=pa.array(sorted(LEVEL_WORDS))), False)
    return pc.if_else(is_level, none, values), pc.if_else(is_level, values, none)


def _after_header(lines: pa.Array, pattern: str) -> pa.Array:
    """Each line without the header `pattern` matches at its start (the whole line when none)."""
    pieces = pc.split_pattern_regex(lines, pattern=pattern, max_splits=1)
    offsets = pieces.offsets.to_numpy()
    return pc.list_flatten(pieces).take(pa.array(offsets[1:] - offsets[0] - 1))


def _split_distinct(values: pa.Array, pattern: str) -> dict[str, pa.Array]:
    """The named groups of `pattern` over `values`, matched once per distinct value."""
    encoded = pc.dictionary_encode(values)
    parts = _groups(pc.extract_regex(encoded.dictionary, pattern=pattern))
    return {name: pc.take(part, encoded.indices) for name, part in parts.items()}


class RawFormat(LogFormat):
    """No header: the whole line is the message."""

    name = "raw"

    def parse(self, lines: pa.Array) -> HeaderColumns:
        lines = as_string_array(lines)
        n = len(lines)
        none = pa.nulls(n, pa.string())
        return HeaderColumns(content=lines, matched=pc.is_valid(lines), timestamp=pa.nulls(n, TIMESTAMP_TYPE),
                             host=none, process=none, pid=none, level=none)
