"""Temporal analysis: when does a log speak, and does the analysed data keep normal hours?

A *profile* of timestamped lines counts them by weekday x hour of day (UTC, as `parsed.parquet`
stores time), keeps for every such slot the largest count of one dated hour and on how many dates
the slot was active, the number of calendar dates the data spans (silent dates included: silence is
information) and, for the most frequent templates, on how many dated hours they occurred by hour of
day ("episodes": a burst of 300 lines in one hour is one episode)
(:func:`temporal_profile`; JSON-able, so a model bundle carries its training data's profile).

Each dated hour of the analysed data (e.g. 2026-06-14 03:00-04:00 UTC) is compared with the normal
profile, and flagged with one or more reason keys:

* ``unseen_hour`` - lines at an hour of day the normal data never shows (night activity);
* ``volume_high`` - at least ``MIN_LINES`` lines, more than ``HIGH_FACTOR`` times the expected
  lines of that slot and more than the busiest dated hour the normal data had in it;
* ``volume_low`` - an hour the normal data is active in on at least ``LOW_ACTIVE_SHARE`` of its dates
  with at least ``MIN_LINES`` expected lines, here with fewer than 1/``HIGH_FACTOR`` of them (a job or
  service that fell silent); only hours inside the analysed span;
* ``template_hour`` - a template the normal data has in at least ``TEMPLATE_MIN_COUNT`` episodes (dated
  hours), never at this hour of day, and which has usual hours: its N episodes cover at most
  ``TEMPLATE_CONCENTRATION`` x A(1 - (1 - 1/A)^N) hours of day, the hours N episodes spread at random
  over the A hours of day the normal data is active in would cover (so a rare template that merely
  missed an hour is not news; a cron job of 04:00 at 13:00 is).

"The busiest dated hour" pools all weekdays (a burst that normal data already had on some day is not
news on another).

Expected lines of a slot: per weekday and hour when the normal data covers every weekday at least
``WEEKDAY_MIN_DAYS`` times, else per hour of day (all weekdays pooled): too few weeks make weekday
profiles noise.

Where the normal profile comes from: `baseline_dir` (a processed folder of normal logs), or
`baseline_profile` (a dict from :func:`temporal_profile`, e.g. a bundle's), or else the data itself,
*leave-one-day-out*: each date is compared with the profile of all the other dates of the data, so a
single unusual day stands out against the rest. Data covering a single date then has nothing to be
compared with and no hour is flagged (the report says so).

Outputs (`analyze_temporal`): ``temporal_report.md`` (log text escaped, reports/escape.py),
``temporal_profile.parquet`` (weekday x hour: analysed lines, normal lines, expected lines per dated
hour), ``temporal_anomalies.parquet`` (one row per flagged hour with its reason keys) and
``temporal_summary.json``. Logs without timestamps are not an error: status ``no_timestamps`` and a
report that says why.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.analyzers.temporal_read import (
    distinct_counts, first_rows, hour_numbers, read_times, template_codes,
)
from anomaly_log_detector.analyzers.timerange import RangeFilter, filter_time_range
from anomaly_log_detector.errors import DataError
from anomaly_log_detector.reports.escape import code_span, md_text
from anomaly_log_detector.reports.inputs import PARSED
from anomaly_log_detector.reports.parsed_rows import ParsedRows
from anomaly_log_detector.reports.messages import check_lang, t

TEMPORAL_DIR = "temporal_analysis"
REPORT_MD, PROFILE_PARQUET = "temporal_report.md", "temporal_profile.parquet"
ANOMALIES_PARQUET, SUMMARY_JSON = "temporal_anomalies.parquet", "temporal_summary.json"
PROFILE_VERSION = 1
#: templates whose hour-of-day episode counts a profile keeps (the most frequent)
TOP_TEMPLATES = 200
#: a volume flag needs at least this many lines (high) or expected lines (low) in the hour
MIN_LINES = 10
#: "far above / below": this factor over (under) the expected lines of the slot
HIGH_FACTOR = 3.0
#: a slot counts as "normally active" when active on at least this share of the normal dates
LOW_ACTIVE_SHARE = 0.8
#: weekday x hour expectations need every weekday seen this often in the normal data
WEEKDAY_MIN_DAYS = 4
#: a template must occur in this many dated hours of the normal data before its hours are trusted
TEMPLATE_MIN_COUNT = 5
#: ... and keep to at most this share of the hours of day a random spread of its episodes over the
#: normal data's active hours would cover (it has "usual hours"; a template of any hour has none)
TEMPLATE_CONCENTRATION = 0.5
REASONS = ("unseen_hour", "volume_high", "volume_low", "template_hour")
#: flagged hours shown in the Markdown (all of them are in the Parquet file)
TOP = 50


# ---- profiles --------------------------------------------------------------------------------------

def _dated_hours(ts: pd.Series) -> tuple[np.ndarray, np.ndarray, pd.DatetimeIndex]:
    """(M, weekday, dates): M[d, h] = lines in hour h of date d for every date from the first to the
    last timestamp (silent dates are rows of zeros), weekday[d] = 0 (Monday) .. 6."""
    ts = ts.dropna() if ts.isna().any() else ts
    if ts.empty:
        return np.zeros((0, 24), dtype=np.int64), np.zeros(0, dtype=np.int64), pd.DatetimeIndex([], tz="UTC")
    dates = pd.date_range(ts.min().floor("D"), ts.max().floor("D"), freq="D")
    # Date position and hour of day from integer hours (UTC): what flooring to the day, looking the
    # day up in `dates` and `.dt.hour` give, without three datetime copies of a million rows.
    hours = hour_numbers(ts)
    slot = (hours // 24 - int(hours.min()) // 24) * 24 + hours % 24  # date position x 24 + hour of day
    m = np.bincount(slot, minlength=len(dates) * 24).astype(np.int64, copy=False).reshape(len(dates), 24)
    return m, np.asarray(dates.day_of_week, dtype=np.int64), dates


def _summarise(m: np.ndarray, weekday: np.ndarray) -> dict[str, Any]:
    """The volume part of a profile from a dated-hour matrix."""
    counts = np.zeros((7, 24), dtype=np.int64)
    peak = np.zeros((7, 24), dtype=np.int64)
    active = np.zeros((7, 24), dtype=np.int64)
    days = np.zeros(7, dtype=np.int64)
    for w in range(7):
        rows = m[weekday == w]
        days[w] = len(rows)
        if len(rows):
            counts[w], peak[w], active[w] = rows.sum(0), rows.max(0), (rows > 0).sum(0)
    return {"days": int(len(m)), "weekday_days": days.tolist(), "counts": counts.tolist(),
            "slot_max": peak.tolist(), "slot_active_days": active.tolist()}


def _template_hours(df: pd.DataFrame) -> pd.DataFrame:
    """Episodes (dated hours with at least one line) per template (rows) and hour of day (24 columns)
    of timestamped, known-template rows."""
    code, names, unseen = template_codes(df["template"])
    keep = df["timestamp"].notna().to_numpy(bool) & (code != unseen)
    if not keep.any():
        return pd.DataFrame(columns=range(24), dtype=np.int64)
    # Integer codes, not a Python string per line: the templates sorted as a crosstab sorts them
    # (missing ones dropped, as it drops them), the dated hours as naive UTC datetime64 integers.
    hour_no = hour_numbers(df["timestamp"][keep])  # dated hours, as integers
    code = code[keep]
    has = code >= 0
    # The templates these rows have, in sorted order, and each row's position among them: by counting
    # codes (a few hundred), not a sort and a binary search per row.
    present = np.bincount(code[has], minlength=len(names)) > 0
    seen = np.flatnonzero(present)
    names = names.take(seen)
    # One episode per distinct (dated hour, template): one int64 key, not a frame's hashing.
    first = int(hour_no.min())
    position = np.cumsum(present) - 1
    episodes, _ = distinct_counts((hour_no[has] - first) * len(seen) + position[code[has]])
    counts = np.zeros((len(names), 24), dtype=np.int64)
    np.add.at(counts, (episodes % len(seen), (episodes // len(seen) + first) % 24), 1)
    return pd.DataFrame(counts, index=names.rename("template"), columns=range(24))


def temporal_profile(parsed_df: pd.DataFrame, top_templates: int = TOP_TEMPLATES) -> dict[str, Any]:
    """The JSON-able temporal profile of parsed rows (columns `timestamp`, `template`).

    Keys: ``version``, ``lines``, ``lines_with_timestamp``, ``first`` / ``last`` (ISO UTC or None),
    ``days`` (calendar dates spanned), ``weekday_days`` [7], ``counts`` / ``slot_max`` /
    ``slot_active_days`` [7 weekdays (Monday first)][24 hours], ``templates`` {template: [24 episode
    counts by hour of day]} for the `top_templates` templates of most episodes."""
    ts = pd.to_datetime(parsed_df["timestamp"], utc=True) if "timestamp" in parsed_df.columns else pd.Series(
        pd.NaT, index=parsed_df.index, dtype="datetime64[us, UTC]")
    df = pd.DataFrame({"timestamp": ts, "template": parsed_df["template"].array}, index=parsed_df.index)
    m, weekday, _ = _dated_hours(ts)
    th = _template_hours(df)
    top = th.loc[th.sum(axis=1).sort_values(ascending=False, kind="stable").index[:top_templates]]
    valid = ts.dropna()
    return {"version": PROFILE_VERSION, "lines": int(len(df)), "lines_with_timestamp": int(len(valid)),
            "first": valid.min().isoformat() if len(valid) else None,
            "last": valid.max().isoformat() if len(valid) else None,
            **_summarise(m, weekday),
            "templates": {str(k): [int(x) for x in v] for k, v in zip(top.index, top.to_numpy())}}


def check_profile(profile: Any, where: str = "temporal profile") -> dict[str, Any]:
    """`profile` if it has the shape :func:`temporal_profile` writes, else DataError naming `where`."""
    def counts(value: Any, shape: tuple[int, ...]) -> bool:  # nested lists of counts (ints >= 0)
        if not shape:
            return type(value) is int and value >= 0
        return isinstance(value, list) and len(value) == shape[0] and all(counts(v, shape[1:]) for v in value)

    try:
        ok = (isinstance(profile, dict) and profile.get("version") == PROFILE_VERSION
              and all(counts(profile[k], (7, 24)) for k in ("counts", "slot_max", "slot_active_days"))
              and counts(profile["weekday_days"], (7,)) and counts(profile["days"], ())
              and counts(profile["lines_with_timestamp"], ()) and isinstance(profile["templates"], dict)
              and all(isinstance(k, str) and counts(v, (24,)) for k, v in profile["templates"].items()))
    except (KeyError, TypeError, AttributeError):
        ok = False
    if not ok:
        raise DataError(f"{where}: not a temporal profile of version {PROFILE_VERSION}")
    return profile


class _Reference:
    """Expected lines per slot, and template hours, of a normal profile."""

    def __init__(self, volume: dict[str, Any], templates: dict[str, np.ndarray]):
        counts = np.asarray(volume["counts"], dtype=float)
        peak = np.asarray(volume["slot_max"], dtype=float)
        active = np.asarray(volume["slot_active_days"], dtype=float)
        wdays = np.asarray(volume["weekday_days"], dtype=float)
        days = max(float(volume["days"]), 1.0)
        self.days = int(volume["days"])
        self.by_weekday = bool(wdays.min() >= WEEKDAY_MIN_DAYS)
        if self.by_weekday:
            self.mean = counts / wdays[:, None]
            self.active = active / wdays[:, None]
        else:
            self.mean = np.tile(counts.sum(0) / days, (7, 1))
            self.active = np.tile(active.sum(0) / days, (7, 1))
        # the busiest dated hour at this hour of day, any weekday: bursts that normal data already had
        # on some day are not "far above" on another weekday
        self.peak = np.tile(peak.max(0), (7, 1))
        self.hour_seen = counts.sum(0) > 0
        self.lines = int(counts.sum())
        self.templates = templates  # template -> 24 counts
        self.active_hours = int(self.hour_seen.sum())

    def unusual_templates(self, hour: int, present: pd.Series) -> list[str]:
        """Templates of `present` (template -> lines in the hour) that the normal data has in at least
        TEMPLATE_MIN_COUNT episodes, with usual hours, but never at `hour`; most frequent first."""
        out = []
        for tpl, n in present.items():
            hours = self.templates.get(tpl)
            if (hours is not None and hours.sum() >= TEMPLATE_MIN_COUNT and hours[hour] == 0
                    and self._concentrated(hours)):
                out.append((int(n), tpl))
        return [tpl for _, tpl in sorted(out, key=lambda x: (-x[0], x[1]))]


    def _concentrated(self, hours: np.ndarray) -> bool:
        a, n = max(self.active_hours, 1), float(hours.sum())
        return (hours > 0).sum() <= TEMPLATE_CONCENTRATION * a * (1 - (1 - 1 / a) ** n)


def _reference_from_profile(profile: dict[str, Any]) -> _Reference:
    return _Reference(profile, {k: np.asarray(v, dtype=np.int64) for k, v in profile["templates"].items()})


# ---- flagging --------------------------------------------------------------------------------------

def _flag_day(ref: _Reference, counts: np.ndarray, weekday: int, span: np.ndarray,
              templates_by_hour: dict[int, pd.Series]) -> list[tuple[int, list[str], list[str]]]:
    """(hour, reasons, unusual templates) of one date: `counts` [24] lines per hour, `span` [24] bool
    = hour inside the analysed span (for volume_low)."""
    out = []
    for h in range(24):
        n, mean, peak = int(counts[h]), ref.mean[weekday, h], ref.peak[weekday, h]
        reasons, unusual = [], []
        if n and not ref.hour_seen[h]:
            reasons.append("unseen_hour")
        if n >= MIN_LINES and n > HIGH_FACTOR * mean and n > peak:
            reasons.append("volume_high")
        if (span[h] and ref.active[weekday, h] >= LOW_ACTIVE_SHARE and mean >= MIN_LINES
                and n * HIGH_FACTOR < mean):
            reasons.append("volume_low")
        if n and h in templates_by_hour:
            unusual = ref.unusual_templates(h, templates_by_hour[h])
            if unusual:
                reasons.append("template_hour")
        if reasons:
            out.append((h, reasons, unusual))
    return out


def _flag(df: pd.DataFrame, reference: _Reference | None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Flagged dated hours of the timestamped rows `df` against `reference` (None: leave-one-day-out)."""
    ts = df["timestamp"]
    m, weekday, dates = _dated_hours(ts)
    first_hour, last_hour = ts.min().floor("h"), ts.max().floor("h")
    days = hour_numbers(ts) // 24
    day_pos = days - int(days.min()) if len(days) else days  # position in `dates` (consecutive days)
    per_day_tpl = _per_day_templates(df, day_pos)
    all_tpl = _template_hours(df) if reference is None else None
    rows: list[dict[str, Any]] = []
    info: dict[str, Any] = {"mode_by_weekday": None, "comparable": True}
    for d, date in enumerate(dates):
        if reference is None:  # leave-one-day-out
            others = np.arange(len(m)) != d
            if not others.any():
                info["comparable"] = False
                break
            day_tpl = per_day_tpl.xs(d, level="d") if d in per_day_tpl.index.get_level_values("d") else None
            templates = {}
            if day_tpl is not None:
                day_table = day_tpl.unstack("h", fill_value=0).reindex(columns=range(24), fill_value=0)
                rest = all_tpl.loc[day_table.index].to_numpy() - (day_table.to_numpy() > 0)
                templates = dict(zip(all_tpl.index, all_tpl.to_numpy()))
                templates.update(dict(zip(day_table.index, rest)))
            ref = _Reference(_summarise(m[others], weekday[others]), templates)
        else:
            ref = reference
        info["mode_by_weekday"] = ref.by_weekday
        hours = pd.date_range(date, periods=24, freq="h")
        span = np.asarray((hours > first_hour) & (hours < last_hour))  # whole hours inside the span
        by_hour: dict[int, pd.Series] = {}
        if d in per_day_tpl.index.get_level_values("d"):
            for h, part in per_day_tpl.xs(d, level="d").groupby(level="h"):
                by_hour[int(h)] = part.droplevel("h")
        for h, reasons, unusual in _flag_day(ref, m[d], int(weekday[d]), span, by_hour):
            rows.append({"hour_start": hours[h], "weekday": int(weekday[d]), "hour": h, "lines": int(m[d, h]),
                         "expected": float(ref.mean[weekday[d], h]), "normal_peak": int(ref.peak[weekday[d], h]),
                         "reasons": reasons, "unusual_templates": unusual})
    return pd.DataFrame(rows, columns=["hour_start", "weekday", "hour", "lines", "expected", "normal_peak",
                                       "reasons", "unusual_templates"]), info


def _per_day_templates(df: pd.DataFrame, day_pos: np.ndarray) -> pd.Series:
    """Lines per (date position, hour of day, template) of known templates, sorted by all three: a
    count over template codes (sorted as the text), named by the text afterwards."""
    code, names, unseen = template_codes(df["template"])
    known = (code != unseen) & (code >= 0)  # a missing template is no group
    n = max(len(names), 1)
    key = (day_pos[known] * 24 + hour_numbers(df["timestamp"][known]) % 24) * n + code[known]
    groups, counts = distinct_counts(key)  # sorted by (date, hour, template)
    named = pd.MultiIndex.from_arrays([groups // n // 24, groups // n % 24, names.take(groups % n)],
                                      names=["d", "h", "template"])
    return pd.Series(counts, index=named)


def _first_lines(df: pd.DataFrame, flagged: pd.DataFrame, parsed: ParsedRows) -> pd.DataFrame:
    """Add `first_line_no`, `first_source`, `first_raw`: the first line of the hour, or of its first
    unusual template when there is one."""
    if flagged.empty:
        return flagged.assign(first_line_no=pd.Series(dtype="Int64"), first_source=pd.Series(dtype=object),
                              first_raw=pd.Series(dtype=object))
    picks = first_rows(df, flagged["hour_start"], [r[0] if r else None for r in flagged["unusual_templates"]])
    rows = [p for p in picks if p is not None]
    # The line number and source from the parse's key columns; only the text is fetched.
    raw = parsed.take(rows, ["raw"])["raw"] if rows else None
    keys = parsed.keys
    flagged = flagged.copy()
    flagged["first_line_no"] = pd.array([None if p is None else keys["line_no"].iat[p] for p in picks], dtype="Int64")
    flagged["first_source"] = [None if p is None else keys["source"].iat[p] for p in picks]
    flagged["first_raw"] = [None if p is None else raw.at[p] for p in picks]
    return flagged


# ---- the analysis ----------------------------------------------------------------------------------

def analyze_temporal(data_dir: str | os.PathLike, output_dir: str | os.PathLike, *,
                     baseline_dir: str | os.PathLike | None = None, baseline_profile: dict | None = None,
                     lang: str = "en", since: datetime | None = None,
                     until: datetime | None = None, shown_dir: str | os.PathLike | None = None,
                     parsed: ParsedRows | None = None) -> dict[str, Any]:
    """Profile `data_dir`'s parsed lines by weekday x hour, flag hours that deviate from the normal
    profile (from `baseline_dir`, else `baseline_profile`, else leave-one-day-out over the data
    itself) and write the report, Parquet files and summary into `output_dir`.

    Returns ``{"status": "ok" | "no_timestamps", "report", "summary", "flagged_hours", "reasons",
    "heatmap" (7 x 24 analysed lines, Monday first), "baseline_heatmap" (7 x 24 normal lines, or None
    for leave-one-day-out), "mode", "outputs": {name: Path}}``. `since` / `until` restrict the
    analysed data (not the baseline); `shown_dir` is the folder the report names for the data (default
    `data_dir`; `infer` analyses a staging folder); `parsed` the data's parse as a report reads it
    (shared by its parts). DataError for a missing parsed.parquet, a baseline without timestamps or
    an invalid profile."""
    check_lang(lang)
    data_dir = Path(data_dir)
    parsed = parsed or ParsedRows(data_dir)
    # Times and template codes only (the line numbers, sources and text of the lines shown are
    # fetched for those); the sources when a time range needs them (filter_time_range).
    df = read_times(data_dir, with_source=since is not None or until is not None, times=parsed.times)
    df, rng = filter_time_range(df, since, until)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    has_time = df["timestamp"].notna()
    n_lines, timed = len(df), (df if has_time.all() else df[has_time])
    base: dict[str, Any] | None = None
    if baseline_dir is not None:
        bdf = read_times(baseline_dir)
        base = temporal_profile(bdf)
        if not base["lines_with_timestamp"]:
            raise DataError(f"{Path(baseline_dir) / PARSED}: none of its {len(bdf):,} lines has a timestamp, so it "
                            f"cannot serve as the normal temporal profile")
        mode = "baseline_dir"
    elif baseline_profile is not None:
        base = check_profile(baseline_profile)
        if not base["lines_with_timestamp"]:
            raise DataError("the temporal profile given as baseline holds no timestamped line")
        mode = "baseline_profile"
    else:
        mode = "leave_one_day_out"
    summary: dict[str, Any] = {
        "data_dir": str(shown_dir if shown_dir is not None else data_dir), "baseline_dir": None if baseline_dir is None else str(baseline_dir),
        "mode": mode, "lines": n_lines, "lines_with_timestamp": int(len(timed)), "range": rng.to_dict(),
        "thresholds": {"min_lines": MIN_LINES, "high_factor": HIGH_FACTOR, "low_active_share": LOW_ACTIVE_SHARE,
                       "weekday_min_days": WEEKDAY_MIN_DAYS, "template_min_count": TEMPLATE_MIN_COUNT,
                       "template_concentration": TEMPLATE_CONCENTRATION},
    }
    paths = {"report": out / REPORT_MD, "summary": out / SUMMARY_JSON}
    if timed.empty and not (rng.active and rng.dropped_outside):
        summary.update({"status": "no_timestamps", "flagged_hours": 0, "reasons": {}})
        md = _render_no_timestamps(summary, rng, lang)
        _write_text(paths["report"], md)
        _write_json(paths["summary"], {**summary, "outputs": {k: str(v) for k, v in paths.items()}})
        return {**summary, "report": paths["report"], "summary": paths["summary"], "heatmap": _zeros(),
                "baseline_heatmap": None if base is None else base["counts"], "outputs": paths}
    target = temporal_profile(timed) if len(timed) else temporal_profile(timed.iloc[:0])
    parsed.between()
    reference = _reference_from_profile(base) if base is not None else None
    flagged, info = _flag(timed, reference) if len(timed) else (pd.DataFrame(), {"comparable": True,
                                                                                 "mode_by_weekday": None})
    if flagged.empty:
        flagged = pd.DataFrame(columns=["hour_start", "weekday", "hour", "lines", "expected", "normal_peak",
                                        "reasons", "unusual_templates"])
    parsed.between()
    flagged = _first_lines(timed, flagged, parsed)
    by_reason = {r: int(sum(r in x for x in flagged["reasons"])) for r in REASONS}
    summary.update({
        "status": "ok", "first": target["first"], "last": target["last"], "days": target["days"],
        "comparable": info["comparable"], "by_weekday": info["mode_by_weekday"],
        "baseline": None if base is None else {k: base[k] for k in ("lines_with_timestamp", "first", "last", "days")},
        "flagged_hours": int(len(flagged)), "reasons": by_reason,
    })
    paths.update({"profile": out / PROFILE_PARQUET, "anomalies": out / ANOMALIES_PARQUET})
    _write_profile(paths["profile"], target, base)
    _write_anomalies(paths["anomalies"], flagged)
    _write_text(paths["report"], render_temporal(summary, flagged, target, base, rng, lang))
    _write_json(paths["summary"], {**summary, "heatmap": target["counts"],
                                   "baseline_heatmap": None if base is None else base["counts"],
                                   "outputs": {k: str(v) for k, v in paths.items()}})
    return {**summary, "report": paths["report"], "summary": paths["summary"], "heatmap": target["counts"],
            "baseline_heatmap": None if base is None else base["counts"], "outputs": paths}


def _zeros() -> list[list[int]]:
    return [[0] * 24 for _ in range(7)]


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_json(path: Path, obj: Any) -> None:
    _write_text(path, json.dumps(obj, ensure_ascii=False, indent=1, default=str) + "\n")


def _write_profile(path: Path, target: dict[str, Any], base: dict[str, Any] | None) -> None:
    w, h = np.divmod(np.arange(168), 24)
    tc = np.asarray(target["counts"]).ravel()
    tdays = np.repeat(np.asarray(target["weekday_days"]), 24)
    table = {"weekday": w, "hour": h, "target_lines": tc,
             "target_per_day": np.where(tdays > 0, tc / np.maximum(tdays, 1), 0.0)}
    if base is not None:
        bc = np.asarray(base["counts"]).ravel()
        bdays = np.repeat(np.asarray(base["weekday_days"]), 24)
        table.update({"baseline_lines": bc, "baseline_per_day": np.where(bdays > 0, bc / np.maximum(bdays, 1), 0.0),
                      "baseline_peak": np.asarray(base["slot_max"]).ravel()})
    else:
        table.update({"baseline_lines": pd.array([None] * 168, dtype="Int64"),
                      "baseline_per_day": np.full(168, np.nan), "baseline_peak": pd.array([None] * 168, dtype="Int64")})
    frame = pd.DataFrame(table).astype({"weekday": "int8", "hour": "int8", "target_lines": "int64"})
    tmp = path.with_name(path.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _write_anomalies(path: Path, flagged: pd.DataFrame) -> None:
    schema = pa.schema([("hour_start", pa.timestamp("us", tz="UTC")), ("weekday", pa.int8()), ("hour", pa.int8()),
                        ("lines", pa.int64()), ("expected", pa.float64()), ("normal_peak", pa.int64()),
                        ("reasons", pa.list_(pa.string())), ("unusual_templates", pa.list_(pa.string())),
                        ("first_line_no", pa.int64()), ("first_source", pa.string()), ("first_raw", pa.string())])
    cols = {f.name: flagged[f.name].tolist() for f in schema}
    cols["hour_start"] = [None if pd.isna(x) else pd.Timestamp(x).to_pydatetime() for x in cols["hour_start"]]
    cols["first_line_no"] = [None if pd.isna(x) else int(x) for x in cols["first_line_no"]]
    for name in ("first_source", "first_raw"):  # an hour without lines (volume_low) has no first line
        cols[name] = [x if isinstance(x, str) else None for x in cols[name]]
    table = pa.table(cols, schema=schema)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


# ---- Markdown --------------------------------------------------------------------------------------

def _weekdays(lang: str) -> list[str]:
    return [t(f"temporal.weekday.{i}", lang) for i in range(7)]


def _heatmap(counts: Any, lang: str, fmt: str = "{:g}") -> list[str]:
    c = np.asarray(counts, dtype=float)
    head = "| " + t("temporal.col.weekday", lang) + " | " + " | ".join(f"{h:02d}" for h in range(24)) + " |"
    rows = [head, "|---" * 25 + "|"]
    for i, name in enumerate(_weekdays(lang)):
        rows.append(f"| {name} | " + " | ".join(fmt.format(v) if v else "·" for v in c[i]) + " |")
    return rows


def _range_line(rng: RangeFilter, lang: str) -> list[str]:
    if not rng.active:
        return []
    return [t("temporal.range", lang, since=rng.since.isoformat() if rng.since else "-",
              until=rng.until.isoformat() if rng.until else "-", kept=f"{rng.kept:,}",
              outside=f"{rng.dropped_outside:,}", no_ts=f"{rng.dropped_no_timestamp:,}"), ""]


def _render_no_timestamps(summary: dict[str, Any], rng: RangeFilter, lang: str) -> str:
    md = [f"# {t('temporal.title', lang)}", "", *_range_line(rng, lang),
          t("temporal.no_timestamps", lang, data=code_span(summary["data_dir"]), lines=f"{summary['lines']:,}"), ""]
    return "\n".join(md)


def _when(text: str | None) -> str:
    return "-" if not text else pd.Timestamp(text).strftime("%Y-%m-%d %H:%M:%S")


def render_temporal(summary: dict[str, Any], flagged: pd.DataFrame, target: dict[str, Any],
                    base: dict[str, Any] | None, rng: RangeFilter, lang: str = "en") -> str:
    """The Markdown report of :func:`analyze_temporal`."""
    md = [f"# {t('temporal.title', lang)}", "", *_range_line(rng, lang),
          t("temporal.intro", lang, data=code_span(summary["data_dir"]), lines=f"{summary['lines']:,}",
            timed=f"{summary['lines_with_timestamp']:,}", first=_when(target["first"]), last=_when(target["last"]),
            days=target["days"]), ""]
    if summary["mode"] == "baseline_dir":
        md += [t("temporal.baseline_dir", lang, baseline=code_span(summary["baseline_dir"]),
                 lines=f"{base['lines_with_timestamp']:,}", days=base["days"]), ""]
    elif summary["mode"] == "baseline_profile":
        md += [t("temporal.baseline_profile", lang, lines=f"{base['lines_with_timestamp']:,}", days=base["days"]), ""]
    elif summary["comparable"]:
        md += [t("temporal.loo", lang), ""]
    else:
        md += [t("temporal.single_day", lang), ""]
    if summary.get("by_weekday") is not None:
        md += [t("temporal.by_weekday" if summary["by_weekday"] else "temporal.by_hour", lang, n=WEEKDAY_MIN_DAYS), ""]
    md += [f"## {t('temporal.summary', lang)}", "", t("temporal.flagged", lang, n=summary["flagged_hours"]), ""]
    for r in REASONS:
        if summary["reasons"].get(r):
            md.append(f"- {t('temporal.reason.' + r, lang)}: {summary['reasons'][r]}")
    md += ["", f"## {t('temporal.flagged_title', lang)}", ""]
    if flagged.empty:
        md += [t("temporal.none", lang) if summary["comparable"] else "-", ""]
    else:
        names = _weekdays(lang)
        md += ["| " + " | ".join(t(f"temporal.col.{c}", lang) for c in
                                 ("hour", "weekday", "lines", "expected", "reasons", "first_line")) + " |",
               "|---" * 6 + "|"]
        for r in flagged.head(TOP).itertuples():
            first = "-" if r.first_line_no is pd.NA or r.first_line_no is None else \
                f"{int(r.first_line_no)}: {code_span(r.first_raw, table=True)}"
            md.append(f"| {pd.Timestamp(r.hour_start).strftime('%Y-%m-%d %H:00')} | {names[r.weekday]} | {r.lines:,} | "
                      f"{r.expected:.1f} | {'; '.join(t('temporal.reason.' + x, lang) for x in r.reasons)} | {first} |")
        if len(flagged) > TOP:
            md.append("")
            md.append(t("temporal.more", lang, n=len(flagged) - TOP, file=md_text(ANOMALIES_PARQUET)))
        md.append("")
        unusual = [(r.hour_start, tpl) for r in flagged.itertuples() for tpl in r.unusual_templates]
        if unusual:
            md += [f"## {t('temporal.templates_title', lang)}", ""]
            for when, tpl in unusual[:TOP]:
                md.append(f"- {pd.Timestamp(when).strftime('%Y-%m-%d %H:00')}: {code_span(tpl)}")
            md.append("")
    md += [f"## {t('temporal.heatmap_target', lang)}", "", *_heatmap(target["counts"], lang), ""]
    if base is not None:
        md += [f"## {t('temporal.heatmap_baseline', lang)}", "", *_heatmap(base["counts"], lang), ""]
    md += [f"## {t('temporal.method_title', lang)}", "",
           t("temporal.method", lang, min_lines=MIN_LINES, factor=f"{HIGH_FACTOR:g}", active=f"{LOW_ACTIVE_SHARE:.0%}",
             template_min=TEMPLATE_MIN_COUNT, concentration=f"{TEMPLATE_CONCENTRATION:.0%}"), ""]
    return "\n".join(md)
