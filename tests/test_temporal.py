"""analyze-temporal: hour-of-day / weekday profiles and the hours that leave them (analyzers/temporal.py).

On a real Loghub file (Linux_2k: 44 days of timestamped syslog) and on gen-synth logs whose lines are
re-timed at test time (gen-synth runs at 10 lines/s, so its own span is minutes): night activity
injected into a target whose baseline only has daytime is flagged, daytime hours are not; a template
of usual hours seen at another hour is flagged; logs without timestamps give status no_timestamps
(exit 0, message on stderr); a missing parsed.parquet is a one-line error.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from helpers import assert_one_line_error, run_cli, shared_data

from anomaly_log_detector.analyzers.temporal import analyze_temporal, check_profile, temporal_profile
from anomaly_log_detector.analyzers.timerange import filter_time_range

OUTPUTS = {"temporal_report.md", "temporal_profile.parquet", "temporal_anomalies.parquet", "temporal_summary.json"}


def parse(log: Path, out: Path, state: Path, year: int) -> Path:
    run_cli("parse", "--input", str(log), "--out-dir", str(out), "--drain-state", str(state), "--year", str(year),
            "--quiet", check=True)
    return out


def syslog_time(dt: datetime) -> str:
    return f"{dt:%b} {dt.day:>2} {dt:%H:%M:%S}"


# ---- a real Loghub file ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def linux(tmp_path_factory):
    """Linux_2k parsed whole (target) and without its hour-00 lines (baseline), one template state."""
    source = shared_data("loghub_2k", "Linux", "corrected", "Linux_2k.log")
    root = tmp_path_factory.mktemp("temporal_linux")
    lines = source.read_text(encoding="utf-8", errors="replace").splitlines()
    full, day = root / "linux.log", root / "linux_no_midnight.log"
    full.write_text("\n".join(lines) + "\n", encoding="utf-8")
    day.write_text("\n".join(x for x in lines if x[7:9] != "00") + "\n", encoding="utf-8")
    state = root / "state.json"
    base = parse(day, root / "p_base", state, 2005)
    target = parse(full, root / "p_target", state, 2005)
    return {"root": root, "lines": lines, "base": base, "target": target,
            "midnight": [i + 1 for i, x in enumerate(lines) if x[7:9] == "00"]}


def test_linux_hour_never_seen_in_the_baseline_is_the_only_flag(linux, tmp_path):
    assert linux["midnight"], "Linux_2k has lines at hour 00 (the test relies on it)"
    r = analyze_temporal(linux["target"], tmp_path, baseline_dir=linux["base"])
    assert r["status"] == "ok" and r["mode"] == "baseline_dir"
    assert {p.name for p in r["outputs"].values()} == OUTPUTS
    assert sum(map(sum, r["heatmap"])) == 2000
    assert sum(map(sum, r["baseline_heatmap"])) == 2000 - len(linux["midnight"])
    flagged = pd.read_parquet(tmp_path / "temporal_anomalies.parquet")
    # The only hour the baseline lacks is 00; every other hour of the target is in the baseline as is.
    assert set(flagged["hour"]) == {0} and r["flagged_hours"] == len(flagged) >= 1
    assert all("unseen_hour" in x for x in flagged["reasons"])
    first = flagged.iloc[0]
    assert first["first_line_no"] in linux["midnight"]
    assert linux["lines"][first["first_line_no"] - 1] == first["first_raw"]
    report = (tmp_path / "temporal_report.md").read_text(encoding="utf-8")
    assert "activity at an hour of day the normal data never shows" in report
    profile = pd.read_parquet(tmp_path / "temporal_profile.parquet")
    assert len(profile) == 168 and profile["target_lines"].sum() == 2000
    assert profile.loc[profile["hour"] == 0, "baseline_lines"].sum() == 0


def test_linux_without_baseline_is_leave_one_day_out(linux, tmp_path):
    r = analyze_temporal(linux["target"], tmp_path)
    assert r["mode"] == "leave_one_day_out" and r["baseline_heatmap"] is None and r["days"] == 44
    flagged = pd.read_parquet(tmp_path / "temporal_anomalies.parquet")
    # Hour 00 has lines on one day only: no other day shows it.
    midnight = flagged[flagged["hour"] == 0]
    assert len(midnight) == 1 and "unseen_hour" in midnight.iloc[0]["reasons"]
    assert sum(["unseen_hour" in x for x in flagged["reasons"]]) == 1
    for row in flagged.itertuples():  # every example line is the raw line it names
        assert linux["lines"][row.first_line_no - 1] == row.first_raw
    summary = json.loads((tmp_path / "temporal_summary.json").read_text())
    assert summary["flagged_hours"] == len(flagged) and summary["status"] == "ok"


def test_linux_since_until_and_korean(linux, tmp_path):
    proc = run_cli("analyze-temporal", "--data-dir", str(linux["target"]), "--output-dir", str(tmp_path),
                   "--since", "2005-07-01", "--until", "2005-07-02T00:00:00+00:00", "--lang", "ko")
    assert proc.returncode == 0, proc.stderr.decode()
    summary = json.loads((tmp_path / "temporal_summary.json").read_text())
    rng = summary["range"]
    assert rng["kept"] == summary["lines"] > 0 and rng["kept"] + rng["dropped_outside"] == 2000
    assert summary["first"].startswith("2005-07-01") and summary["last"].startswith("2005-07-01")
    report = (tmp_path / "temporal_report.md").read_text(encoding="utf-8")
    assert report.startswith("# 시간대 분석") and "시간 범위" in report


def test_bundle_profile_round_trip(linux, tmp_path):
    parsed = pd.read_parquet(linux["target"] / "parsed.parquet", columns=["timestamp", "template"])
    profile = json.loads(json.dumps(temporal_profile(parsed)))
    assert check_profile(profile) is profile and profile["lines_with_timestamp"] == 2000
    assert profile["days"] == 44 and sum(profile["weekday_days"]) == 44
    r = analyze_temporal(linux["target"], tmp_path, baseline_profile=profile)
    assert r["mode"] == "baseline_profile" and r["flagged_hours"] == 0  # data against its own profile


# ---- gen-synth, re-timed -----------------------------------------------------------------------------

def retime(lines: list[str], start: datetime, hours: range, per_hour: int) -> list[str]:
    """`lines` with their syslog time replaced: `per_hour` lines in each hour of `hours`, day after day."""
    out, day = [], start
    i = 0
    while i < len(lines):
        for h in hours:
            for k in range(per_hour):
                if i >= len(lines):
                    break
                when = day.replace(hour=h) + timedelta(seconds=k * 3600 // per_hour)
                out.append(syslog_time(when) + lines[i][15:])
                i += 1
        day += timedelta(days=1)
    return out


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("temporal_synth")
    log = root / "synth.log"
    run_cli("gen-synth", "--out", str(log), "--lines", "4000", "--anomaly-rate", "0", "--seed", "3", check=True)
    lines = log.read_text().splitlines()
    start = datetime(2024, 3, 4)  # a Monday
    daytime = range(8, 18)
    base = retime(lines[:3000], start, daytime, 60)  # 5 days, 08:00-17:59
    # a job of usual hours: every baseline day at 09:30
    job = "web-01 backupd[4242]: nightly snapshot of volume data finished in 42 seconds"
    base += [f"{syslog_time(start + timedelta(days=d, hours=9, minutes=30))} {job}" for d in range(5)]
    base.sort(key=lambda x: datetime.strptime("2024 " + x[:15], "%Y %b %d %H:%M:%S"))
    target_day = start + timedelta(days=7)
    target = retime(lines[3000:3600], target_day, daytime, 60)
    night = [syslog_time(target_day + timedelta(hours=3, minutes=m)) + x[15:] for m, x in enumerate(lines[3600:3620])]
    late_job = [f"{syslog_time(target_day + timedelta(hours=14, minutes=5))} {job}"]
    target = night + sorted(target + late_job, key=lambda x: x[:15])
    (root / "base.log").write_text("\n".join(base) + "\n")
    (root / "target.log").write_text("\n".join(target) + "\n")
    state = root / "state.json"
    return {"root": root, "base": parse(root / "base.log", root / "p_base", state, 2024),
            "target": parse(root / "target.log", root / "p_target", state, 2024), "target_lines": target,
            "job": job}


def test_synth_night_activity_is_flagged_and_daytime_is_not(synth, tmp_path):
    out = tmp_path / "out"
    proc = run_cli("analyze-temporal", "--data-dir", str(synth["target"]), "--baseline-dir", str(synth["base"]),
                   "--output-dir", str(out))
    assert proc.returncode == 0, proc.stderr.decode()
    flagged = pd.read_parquet(out / "temporal_anomalies.parquet").set_index("hour")
    assert 3 in flagged.index and "unseen_hour" in flagged.at[3, "reasons"] and flagged.at[3, "lines"] == 20
    assert flagged.at[3, "first_line_no"] == 1
    assert synth["target_lines"][0] == flagged.at[3, "first_raw"]
    # the 09:30 job at 14:05: a template of usual hours at another hour
    assert 14 in flagged.index and list(flagged.at[14, "reasons"]) == ["template_hour"]
    assert len(flagged.at[14, "unusual_templates"]) == 1 and "snapshot" in flagged.at[14, "unusual_templates"][0]
    assert synth["job"] in flagged.at[14, "first_raw"]
    # no other daytime hour is flagged: the same kind of lines at the same rate as the baseline
    assert set(flagged.index) == {3, 14}
    report = (out / "temporal_report.md").read_text()
    assert "Flagged hours" in report and "2024-03-11 03:00" in report


def test_synth_volume_far_above_the_profile(synth, tmp_path):
    """The same target with its 10:00 hour repeated six times: far above the busiest baseline hour."""
    parsed = pd.read_parquet(synth["target"] / "parsed.parquet")
    ten = parsed[parsed["timestamp"].dt.hour == 10]
    burst = pd.concat([parsed] + [ten] * 5, ignore_index=True)
    d = tmp_path / "p"
    d.mkdir()
    burst.to_parquet(d / "parsed.parquet", index=False)
    r = analyze_temporal(d, tmp_path / "out", baseline_dir=synth["base"])
    flagged = pd.read_parquet(tmp_path / "out" / "temporal_anomalies.parquet").set_index("hour")
    assert "volume_high" in flagged.at[10, "reasons"] and flagged.at[10, "lines"] == 6 * len(ten)
    # the night hour (20 lines where the baseline has none) is far above too; nothing else is
    assert {h for h, x in flagged["reasons"].items() if "volume_high" in x} == {3, 10}
    assert r["reasons"]["volume_high"] == 2


def test_logs_without_timestamps(tmp_path):
    log = tmp_path / "plain.log"
    log.write_text("".join(f"worker {i % 3} finished job {i}\n" for i in range(50)))
    run_cli("parse", "--input", str(log), "--out-dir", str(tmp_path / "p"), "--format", "raw", "--quiet", check=True)
    proc = run_cli("analyze-temporal", "--data-dir", str(tmp_path / "p"), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 0
    assert "has a timestamp" in proc.stderr.decode()
    summary = json.loads((tmp_path / "out" / "temporal_summary.json").read_text())
    assert summary["status"] == "no_timestamps" and summary["flagged_hours"] == 0
    assert "None of the 50 lines" in (tmp_path / "out" / "temporal_report.md").read_text()


def test_missing_parsed_is_a_one_line_error(tmp_path):
    proc = run_cli("analyze-temporal", "--data-dir", str(tmp_path / "nothing"), "--output-dir", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "parsed.parquet: not found" in assert_one_line_error(proc)
    proc = run_cli("analyze-temporal", "--data-dir", str(tmp_path), "--since", "yesterday")
    assert proc.returncode == 2 and "not an ISO 8601 date or time" in proc.stderr.decode()


def test_filter_time_range_counts_what_it_drops():
    df = pd.DataFrame({"source": ["a", "a", "a", "b", "b"],
                       "timestamp": pd.to_datetime([None, "2026-01-01T01:00", None, "2026-01-01T05:00", None], utc=True)})
    kept, rng = filter_time_range(df, datetime(2026, 1, 1, 0, 30), datetime(2026, 1, 1, 4, tzinfo=timezone.utc))
    # the untimed line after 01:00 goes with it; the first line of `a` has no time to go with
    assert list(kept.index) == [1, 2]
    assert (rng.kept, rng.dropped_outside, rng.dropped_no_timestamp) == (2, 2, 1)
    same, rng = filter_time_range(df, None, None)
    assert same is df and not rng.active


def test_synth_silent_hour_is_far_below(synth, tmp_path):
    """The target without its 12:00 lines: the baseline is active at 12 every day, so it is far below."""
    parsed = pd.read_parquet(synth["target"] / "parsed.parquet")
    d = tmp_path / "p"
    d.mkdir()
    parsed[parsed["timestamp"].dt.hour != 12].to_parquet(d / "parsed.parquet", index=False)
    analyze_temporal(d, tmp_path / "out", baseline_dir=synth["base"])
    flagged = pd.read_parquet(tmp_path / "out" / "temporal_anomalies.parquet").set_index("hour")
    assert list(flagged.at[12, "reasons"]) == ["volume_low"] and flagged.at[12, "lines"] == 0
    assert flagged.at[12, "expected"] == pytest.approx(60.0) and pd.isna(flagged.at[12, "first_raw"])
    assert set(flagged.index) == {3, 12, 14}


def test_check_profile_refuses_what_is_not_one():
    from anomaly_log_detector.errors import DataError

    good = temporal_profile(pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-05T03:00"], utc=True),
                                          "template": ["a"]}))
    assert check_profile(good)["counts"][0][3] == 1  # a Monday, 03:00
    for bad in ({}, {**good, "version": 99}, {**good, "counts": [[0] * 24] * 6}, {**good, "templates": {"a": [1]}},
                {**good, "days": "44"}, {**good, "weekday_days": [1, 0, 0, 0, 0, 0, -1]},
                {**good, "templates": {"a": ["1"] * 24}}, [1, 2]):
        with pytest.raises(DataError, match="not a temporal profile"):
            check_profile(bad, "temporal_profile.json")
