"""Vectorized timestamp parsing for header fields: one chunk of strings -> timestamp[us, UTC].

Arrow's ``strptime`` is fast but knows no fractional seconds, so a fraction such as ``,978`` or
``.675872`` that follows the seconds is cut out first and added back as microseconds. A chunk is
parsed with the candidate format that fits most of a small sample; values it leaves null are tried
with the other formats that fitted part of the sample. Nothing here raises on bad values: a value no
format fits becomes null.

What a time does not say is completed by a :class:`TimeContext`: the year of year-less times (syslog)
and the zone of zone-less ones, which are converted to UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anomaly_log_detector.errors import FormatError

TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")

# Seconds followed by a decimal fraction: `12:34:56,978`, `15.42.50.675872`, `03:04:05.123+00:00`.
_FRACTION = r"^(?P<head>.*\d[:.]\d\d[:.]\d\d)[.,](?P<frac>\d{1,9})(?P<tail>(?:\D.*)?)$"
_SAMPLE = 256
# Parsed years outside this range do not count when a format is chosen (a 2-digit year read by `%Y`,
# a clock number read as epoch seconds); `--year` must lie in it for the same reason.
PLAUSIBLE_YEARS = (1980, 2200)
# A year-less time this far after the reference still keeps the reference's year: the writer's clock
# or zone may differ a little from the file's modification time; beyond it, the line is last year's.
_ROLLOVER_SLACK = timedelta(days=1)
_OFFSET = re.compile(r"([+-])(\d{1,2})(?::?(\d\d))?\Z")

# What the parsed times lacked (TimeContext.assumptions reports what filled it in).
YEARLESS, ROLLED_BACK, ZONELESS = "yearless", "rolled_back", "zoneless"


@dataclass(frozen=True)
class TimeFormat:
    """An Arrow ``strptime`` format (without fraction); ``yearless`` formats get a year prepended."""

    fmt: str
    yearless: bool = False

    @property
    def zoneless(self) -> bool:
        """Times in this format carry no zone (epoch seconds are UTC by definition)."""
        return "%z" not in self.fmt and "%s" not in self.fmt


# Tried in this order on equal fit: ISO first, then the layouts of common logs.
CANDIDATES: tuple[TimeFormat, ...] = tuple(TimeFormat(f) for f in (
    "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d-%H.%M.%S",            # BGL
    "%Y.%m.%d %H:%M:%S",            # Thunderbird date + time
    "%Y/%m/%d %H:%M:%S", "%y/%m/%d %H:%M:%S",   # Spark
    "%y%m%d %H%M%S",                # HDFS
    "%a %b %d %H:%M:%S %Y",         # Apache error log, dmesg -T, ctime
    "%b %d %H:%M:%S %Y", "%d/%b/%Y:%H:%M:%S %z",  # Apache access log
    "%d.%m.%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S",
    "%s",                           # epoch seconds (BGL, Thunderbird)
    "%Y-%m-%d", "%Y.%m.%d", "%Y/%m/%d",
)) + (TimeFormat("%b %d %H:%M:%S", yearless=True), TimeFormat("%a %b %d %H:%M:%S", yearless=True))


def zone_name(text: str) -> str:
    """A ``--tz`` value as Arrow names zones: an IANA name (``Asia/Seoul``), ``UTC``, or an offset
    ``+hh:mm`` (``+09``, ``+0900`` and ``+09:00`` read alike). FormatError when it is none of these."""
    text = text.strip()
    if text.upper() in ("UTC", "Z"):
        return "UTC"
    offset = _OFFSET.match(text)
    if offset:
        sign, hours, minutes = offset.group(1), int(offset.group(2)), int(offset.group(3) or 0)
        if minutes < 60 and hours * 60 + minutes <= 14 * 60:  # real zones span -12:00..+14:00
            return f"{sign}{hours:02d}:{minutes:02d}"
    elif text:
        try:
            pc.assume_timezone(pa.array([0], pa.timestamp("us")), timezone=text)
            return text
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    raise FormatError(f"--tz {text!r} is not a time zone: give an IANA name such as Asia/Seoul, "
                      "UTC, or an offset such as +09:00")


@dataclass(frozen=True)
class TimeContext:
    """How to complete a time that lacks a year or a zone.

    A year-less time (syslog) takes `year` when given (``--year``, no rollover). Otherwise it takes the
    year of `reference` (the file's modification time; default: now), or the year before when that
    would put it more than a day after `reference`: December lines in a file last written in January.
    A zone-less time is in `tz` (``--tz``; default UTC) and converted to UTC; a time with an offset
    keeps its own. FormatError for a year outside PLAUSIBLE_YEARS or an unknown zone.
    """

    year: int | None = None
    reference: datetime | None = None
    tz: str | None = None
    zone: str = field(init=False)          # `tz` as Arrow names it
    at: datetime = field(init=False)       # `reference` in UTC, or now

    def __post_init__(self) -> None:
        low, high = PLAUSIBLE_YEARS
        if self.year is not None and not low <= self.year <= high:
            raise FormatError(f"--year {self.year} is outside {low}-{high}")
        at = self.reference or datetime.now(timezone.utc)
        at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)
        object.__setattr__(self, "zone", "UTC" if self.tz is None else zone_name(self.tz))
        object.__setattr__(self, "at", at)

    @property
    def base_year(self) -> int:
        return self.at.year if self.year is None else self.year

    def assumptions(self, seen: set[str]) -> dict[str, object]:
        """What filled in the times parsed, given what they lacked (`seen`, flags such as YEARLESS)."""
        out: dict[str, object] = {}
        if YEARLESS in seen:
            if self.year is not None:
                out.update(year=self.year, year_from="--year")
            else:
                source = "file modification time" if self.reference else "current date"
                rule = (f"dates after it are taken as {self.base_year - 1}" if ROLLED_BACK in seen
                        else "no date lay after it")
                stamp = self.at.strftime("%Y-%m-%dT%H:%M:%SZ")
                out.update(year=self.base_year, year_from=f"{source} {stamp} (month rollover: {rule})")
        if ZONELESS in seen:
            out.update(timezone=self.zone,
                       timezone_from="--tz" if self.tz is not None else "default: the lines carry no zone")
        return out


def _local(naive: pa.Array, context: TimeContext) -> pa.Array:
    """Naive wall-clock times in the context's zone -> UTC. In a DST gap the time after the gap is
    taken, and of a repeated hour the first: a log line must never be an error."""
    if context.zone == "UTC":
        return naive.cast(TIMESTAMP_TYPE)
    local = pc.assume_timezone(naive, timezone=context.zone, ambiguous="earliest", nonexistent="latest")
    return local.cast(TIMESTAMP_TYPE)


def _strptime(values: pa.Array, tf: TimeFormat, context: TimeContext,
              seen: set[str] | None = None) -> pa.Array:
    if not tf.yearless:
        out = pc.strptime(values, format=tf.fmt, unit="us", error_is_null=True)
        out = out if out.type.tz else _local(out, context) if tf.zoneless else out.cast(TIMESTAMP_TYPE)
    else:
        out = _local(_with_year(values, tf.fmt, context.base_year), context)
        if context.year is None:  # a date after the reference is last year's
            late = pc.fill_null(pc.greater(out, pa.scalar(context.at + _ROLLOVER_SLACK, TIMESTAMP_TYPE)), False)
            if pc.any(late).as_py():
                out = pc.if_else(late, _local(_with_year(values, tf.fmt, context.base_year - 1), context), out)
                if seen is not None:
                    seen.add(ROLLED_BACK)
    if seen is not None and out.null_count < len(out):
        seen.update(flag for flag, on in ((YEARLESS, tf.yearless), (ZONELESS, tf.zoneless)) if on)
    return out


def _with_year(values: pa.Array, fmt: str, year: int) -> pa.Array:
    """Naive times of a year-less format, in `year`."""
    prefixed = pc.binary_join_element_wise(pa.scalar(str(year)), values, " ")
    return pc.strptime(prefixed, format="%Y " + fmt, unit="us", error_is_null=True)


def _split_fraction(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(values without their fraction of a second, the fraction as a duration[us], 0 when absent)."""
    parts = pc.extract_regex(values, pattern=_FRACTION)
    head, frac, tail = (pc.struct_field(parts, [i]) for i in range(3))
    stripped = pc.coalesce(pc.binary_join_element_wise(head, tail, ""), values)
    micros = pc.utf8_slice_codeunits(pc.utf8_rpad(frac, width=6, padding="0"), 0, 6)
    return stripped, pc.fill_null(pc.cast(micros, pa.int64()), 0).cast(pa.duration("us"))


def _plausible(parsed: pa.Array) -> int:
    years = pc.year(parsed)
    ok = pc.and_(pc.greater_equal(years, PLAUSIBLE_YEARS[0]), pc.less_equal(years, PLAUSIBLE_YEARS[1]))
    return int(pc.sum(ok).as_py() or 0)


def _rank(sample: pa.Array, formats: Sequence[TimeFormat], context: TimeContext) -> list[TimeFormat]:
    """Formats that fit some of the sample, best fit first (list order on ties)."""
    scored = [(-_plausible(_strptime(sample, tf, context)), i, tf) for i, tf in enumerate(formats)]
    return [tf for hits, _, tf in sorted(scored) if hits < 0]


def parse_timestamps(values: pa.Array, formats: Sequence[TimeFormat] = CANDIDATES,
                     context: TimeContext | None = None, seen: set[str] | None = None) -> pa.Array:
    """Parse a string array into timestamp[us, UTC]; null where absent or no format fits.

    `context` completes times without a year or zone (default: year from the current date, UTC);
    what the parsed times lacked is added to `seen` (YEARLESS, ROLLED_BACK, ZONELESS).
    Each distinct string is parsed once: log times repeat (many lines per second), so this is
    several times faster on real logs and costs one hash pass when every value differs.
    """
    context = context or TimeContext()
    encoded = pc.dictionary_encode(values)
    if len(encoded.dictionary) < len(values):
        return pc.take(_parse_distinct(encoded.dictionary, formats, context, seen), encoded.indices)
    return _parse_distinct(values, formats, context, seen)


def _parse_distinct(values: pa.Array, formats: Sequence[TimeFormat], context: TimeContext,
                    seen: set[str] | None) -> pa.Array:
    n = len(values)
    values = pc.utf8_trim_whitespace(values)
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    present = np.flatnonzero(pc.is_valid(values).to_numpy(zero_copy_only=False))
    if present.size == 0:
        return pa.nulls(n, TIMESTAMP_TYPE)
    has_fraction = pc.any(pc.match_substring_regex(values, _FRACTION)).as_py()
    base, fraction = _split_fraction(values) if has_fraction else (values, None)
    step = max(1, present.size // _SAMPLE)
    sample = base.take(pa.array(present[::step][:_SAMPLE]))
    result = pa.nulls(n, TIMESTAMP_TYPE)
    for tf in _rank(sample, formats, context):
        todo = pc.and_(pc.is_null(result), pc.is_valid(base))
        left = int(pc.sum(todo).as_py() or 0)
        if left == 0:
            break
        if left == n:
            result = _strptime(base, tf, context, seen)
        else:
            result = pc.replace_with_mask(result, todo, _strptime(base.filter(todo), tf, context, seen))
    if fraction is not None:
        result = pc.add(result, fraction)
    return result


def epoch_micros(values: pa.Array) -> pa.Array:
    """Integer strings of microseconds since the epoch (journald) -> timestamp[us, UTC]."""
    digits = pc.if_else(pc.match_substring_regex(values, r"^\d{1,18}$"), values, pa.scalar(None, pa.string()))
    return pc.cast(pc.cast(digits, pa.int64()), TIMESTAMP_TYPE)
