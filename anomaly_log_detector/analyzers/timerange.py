"""Keep the rows of a parsed table inside a time range (`--since` / `--until`).

The range is half-open, ``since <= timestamp < until``, both ends optional and aware (naive datetimes
are taken as UTC, like every zone-less time of the project). A row without a timestamp (a continuation
line, a header the format could not read) goes with the last timestamped row before it in its source
file (the same rule as the `--since` help of every command); rows before their file's first timestamp
cannot be placed and are dropped when a range is given, counted (``dropped_no_timestamp``) so that a
report can say so. The kept rows keep their own (possibly null) timestamp.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pandas as pd

from anomaly_log_detector.errors import DataError


@dataclass(frozen=True)
class RangeFilter:
    """What :func:`filter_time_range` kept and dropped."""

    since: datetime | None
    until: datetime | None
    rows_in: int
    kept: int
    dropped_outside: int
    dropped_no_timestamp: int

    @property
    def active(self) -> bool:
        return self.since is not None or self.until is not None

    def to_dict(self) -> dict:
        return {"since": _iso(self.since), "until": _iso(self.until), "rows_in": self.rows_in, "kept": self.kept,
                "dropped_outside": self.dropped_outside, "dropped_no_timestamp": self.dropped_no_timestamp}


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def as_utc(value: datetime | None) -> datetime | None:
    """`value` as an aware UTC datetime (a naive one is taken as UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def filter_time_range(df: pd.DataFrame, since: datetime | None = None, until: datetime | None = None,
                      column: str = "timestamp") -> tuple[pd.DataFrame, RangeFilter]:
    """The rows of `df` with ``since <= df[column] < until`` and what was dropped.

    Without a range `df` is returned as is (rows without a timestamp included). DataError when
    `since` is not before `until`."""
    since, until = as_utc(since), as_utc(until)
    n = len(df)
    if since is None and until is None:
        return df, RangeFilter(None, None, n, n, 0, 0)
    if since is not None and until is not None and since >= until:
        raise DataError(f"--since {since.isoformat()} is not before --until {until.isoformat()}")
    ts = (pd.to_datetime(df[column], utc=True) if column in df.columns
          else pd.Series(pd.NaT, index=df.index, dtype="datetime64[us, UTC]"))
    if "source" in df.columns and ts.isna().any():
        ts = ts.groupby(df["source"].fillna(""), sort=False).ffill()
    elif ts.isna().any():
        ts = ts.ffill()
    has = ts.notna()
    keep = has.copy()
    if since is not None:
        keep &= ts >= pd.Timestamp(since)
    if until is not None:
        keep &= ts < pd.Timestamp(until)
    kept = df[keep.to_numpy()]
    no_ts = int((~has).sum())
    return kept, RangeFilter(since, until, n, len(kept), n - len(kept) - no_ts, no_ts)
