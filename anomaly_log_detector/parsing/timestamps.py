"""Vectorized timestamp parsing for header fields: one chunk of strings -> timestamp[us, UTC].

Arrow's ``strptime`` is fast but knows no fractional seconds, so a fraction such as ``,978`` or
``.675872`` that follows the seconds is cut out first and added back as microseconds. A chunk is
parsed with the candidate format that fits most of a small sample; values it leaves null are tried
with the other formats that fitted part of the sample. Nothing here raises on bad values: a value no
format fits becomes null.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

TIMESTAMP_TYPE = pa.timestamp("us", tz="UTC")

# Seconds followed by a decimal fraction: `12:34:56,978`, `15.42.50.675872`, `03:04:05.123+00:00`.
_FRACTION = r"^(?P<head>.*\d[:.]\d\d[:.]\d\d)[.,](?P<frac>\d{1,9})(?P<tail>(?:\D.*)?)$"
_SAMPLE = 256
# Parsed years outside this range do not count when a format is chosen (a 2-digit year read by `%Y`,
# a clock number read as epoch seconds).
_PLAUSIBLE_YEARS = (1980, 2200)


@dataclass(frozen=True)
class TimeFormat:
    """An Arrow ``strptime`` format (without fraction); ``yearless`` formats get a year prepended."""

    fmt: str
    yearless: bool = False


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


def current_year() -> int:
    return datetime.now(timezone.utc).year


def _strptime(values: pa.Array, tf: TimeFormat, year: int) -> pa.Array:
    if not tf.yearless:
        out = pc.strptime(values, format=tf.fmt, unit="us", error_is_null=True)
        return out if out.type.tz else out.cast(TIMESTAMP_TYPE)
    out = _with_year(values, tf.fmt, year)
    # A year-less date in the future (December lines read in January) belongs to the year before.
    limit = pa.scalar(datetime.now(timezone.utc) + timedelta(days=1), TIMESTAMP_TYPE)
    future = pc.fill_null(pc.greater(out, limit), False)
    if pc.any(future).as_py():
        out = pc.if_else(future, _with_year(values, tf.fmt, year - 1), out)
    return out


def _with_year(values: pa.Array, fmt: str, year: int) -> pa.Array:
    prefixed = pc.binary_join_element_wise(pa.scalar(str(year)), values, " ")
    return pc.strptime(prefixed, format="%Y " + fmt, unit="us", error_is_null=True).cast(TIMESTAMP_TYPE)


def _split_fraction(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(values without their fraction of a second, the fraction as a duration[us], 0 when absent)."""
    parts = pc.extract_regex(values, pattern=_FRACTION)
    head, frac, tail = (pc.struct_field(parts, [i]) for i in range(3))
    stripped = pc.coalesce(pc.binary_join_element_wise(head, tail, ""), values)
    micros = pc.utf8_slice_codeunits(pc.utf8_rpad(frac, width=6, padding="0"), 0, 6)
    return stripped, pc.fill_null(pc.cast(micros, pa.int64()), 0).cast(pa.duration("us"))


def _plausible(parsed: pa.Array) -> int:
    years = pc.year(parsed)
    ok = pc.and_(pc.greater_equal(years, _PLAUSIBLE_YEARS[0]), pc.less_equal(years, _PLAUSIBLE_YEARS[1]))
    return int(pc.sum(ok).as_py() or 0)


def _rank(sample: pa.Array, formats: Sequence[TimeFormat], year: int) -> list[TimeFormat]:
    """Formats that fit some of the sample, best fit first (list order on ties)."""
    scored = [(-_plausible(_strptime(sample, tf, year)), i, tf) for i, tf in enumerate(formats)]
    return [tf for hits, _, tf in sorted(scored) if hits < 0]


def parse_timestamps(values: pa.Array, formats: Sequence[TimeFormat] = CANDIDATES,
                     year: int | None = None) -> pa.Array:
    """Parse a string array into timestamp[us, UTC]; null where absent or no format fits.

    Times without a zone are taken as UTC; year-less formats use `year` (default: the current UTC year).
    Each distinct string is parsed once: log times repeat (many lines per second), so this is
    several times faster on real logs and costs one hash pass when every value differs.
    """
    encoded = pc.dictionary_encode(values)
    if len(encoded.dictionary) < len(values):
        return pc.take(_parse_distinct(encoded.dictionary, formats, year), encoded.indices)
    return _parse_distinct(values, formats, year)


def _parse_distinct(values: pa.Array, formats: Sequence[TimeFormat], year: int | None) -> pa.Array:
    n = len(values)
    values = pc.utf8_trim_whitespace(values)
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)
    present = np.flatnonzero(pc.is_valid(values).to_numpy(zero_copy_only=False))
    if present.size == 0:
        return pa.nulls(n, TIMESTAMP_TYPE)
    year = current_year() if year is None else year
    has_fraction = pc.any(pc.match_substring_regex(values, _FRACTION)).as_py()
    base, fraction = _split_fraction(values) if has_fraction else (values, None)
    step = max(1, present.size // _SAMPLE)
    sample = base.take(pa.array(present[::step][:_SAMPLE]))
    result = pa.nulls(n, TIMESTAMP_TYPE)
    for tf in _rank(sample, formats, year):
        todo = pc.and_(pc.is_null(result), pc.is_valid(base))
        left = int(pc.sum(todo).as_py() or 0)
        if left == 0:
            break
        if left == n:
            result = _strptime(base, tf, year)
        else:
            result = pc.replace_with_mask(result, todo, _strptime(base.filter(todo), tf, year))
    if fraction is not None:
        result = pc.add(result, fraction)
    return result


def epoch_micros(values: pa.Array) -> pa.Array:
    """Integer strings of microseconds since the epoch (journald) -> timestamp[us, UTC]."""
    digits = pc.if_else(pc.match_substring_regex(values, r"^\d{1,18}$"), values, pa.scalar(None, pa.string()))
    return pc.cast(pc.cast(digits, pa.int64()), TIMESTAMP_TYPE)
