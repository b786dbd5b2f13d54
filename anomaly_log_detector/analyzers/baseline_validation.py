"""Vet candidate normal log files before training: a verdict per file (good / suspicious / reject).

A model learns whatever its training logs hold: a file cut during an outage, a log of another system, a
binary or an empty file teaches it that faults are normal or that nothing is. :func:`validate_baseline`
parses the candidates once, with ONE shared template state (so a template id means the same message in
every file), and measures per file:

* readability: missing, unreadable, not a regular file, binary, empty (reject); read only up to damage,
  lines with undecodable bytes (suspicious); lines skipped (blank / refused) are counted;
* error / warning rate: a line is an error (warning) line when its header level is error-class
  (warning-class); a line without a level counts when its masked message holds an error (warning)
  keyword as a whole word (``ERROR_WORDS`` / ``WARNING_WORDS``);
* template novelty: the share of the file's lines whose template occurs in no other candidate of the
  same header format (files of different formats - dpkg.log beside syslog - are not compared; one
  file alone cannot be judged);
* rare-template share: the share of lines whose template occurs fewer than ``RARE_COUNT`` times over
  all candidates;
* error bursts: minutes whose error lines far exceed the file's usual per-minute error share (an error
  storm inside the file, whatever its overall rate);
* volume spikes: minutes whose line count has a robust z-score (median / MAD of the file's non-empty
  minutes) of at least ``SPIKE_Z`` and is at least ``SPIKE_RATIO`` times the median;
* time gaps: the longest pause between consecutive timestamps against the median pause.

The thresholds (``THRESHOLDS``) are round numbers chosen from what each measure means for a detector
trained on the file (docs/baseline-validation.md says why); none was tuned on labelled data. Every
reason is a message key plus params (``vet.*`` in the locale catalogs), so a report renders in any
language and a program reads the JSON.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from anomaly_log_detector.analyzers.baseline_validation_report import (  # noqa: F401 (re-exported)
    REPORT_JSON, REPORT_MD, format_verdicts, reason_text, render_markdown, write_outputs,
)
from anomaly_log_detector.errors import InputError

VERDICTS = ("good", "suspicious", "reject")

#: header levels counted as errors / warnings (lower-cased; syslog severities 0-3 / 4 as numbers)
ERROR_LEVELS = frozenset({"emerg", "emergency", "panic", "alert", "crit", "critical", "err", "error", "fatal",
                          "severe", "failure", "0", "1", "2", "3"})
WARNING_LEVELS = frozenset({"warn", "warning", "4"})
#: whole words that make a line without a level an error / warning line (case-insensitive)
ERROR_WORDS = ("error", "errors", "fail", "fails", "failed", "failure", "failures", "fatal", "panic",
               "panicked", "segfault", "segmentation fault", "oops", "call trace", "critical", "exception",
               "traceback", "aborted")
WARNING_WORDS = ("warn", "warning", "warnings")
_ERROR_RE = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in ERROR_WORDS) + r")\b", re.IGNORECASE)
_WARNING_RE = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in WARNING_WORDS) + r")\b", re.IGNORECASE)

#: a template seen fewer times than this over all candidates is rare
RARE_COUNT = 5

THRESHOLDS: dict[str, float] = {
    # error lines: absolute share of the file (any file)
    "error_share_suspicious": 0.05,
    "error_share_reject": 0.50,
    # error lines against the pooled share of the other files of the same format (an error storm):
    # both a ratio and an absolute excess must hold, so 0.1 % -> 0.4 % is not a storm
    "error_excess_ratio": 3.0,
    "error_excess_suspicious": 0.01,
    "error_excess_reject": 0.05,
    # warning lines against the other files of the same format (warnings alone never reject)
    "warning_excess_ratio": 3.0,
    "warning_excess_suspicious": 0.10,
    # lines whose template no other candidate of the same format has
    "novelty_suspicious": 0.20,
    "novelty_reject": 0.50,
    # ... reject only when at least this many other files of the format agree among themselves
    "novelty_reject_min_peers": 2,
    # lines of templates seen fewer than RARE_COUNT times over all candidates
    "rare_share_suspicious": 0.10,
    # volume spikes: robust z-score and ratio to the median minute, and the share of lines they hold
    "spike_z": 6.0,
    "spike_ratio": 3.0,
    "spike_share_suspicious": 0.05,
    "spike_min_minutes": 10,
    # error storms inside a file: error lines in burst minutes (see _error_bursts), as a share of its lines
    "burst_min_errors": 10,
    "burst_share_suspicious": 0.01,
    "burst_share_reject": 0.05,
    # time gaps: longest pause at least this long and this many times the median pause
    "gap_min_seconds": 3600.0,
    "gap_ratio": 1000.0,
    # lines with undecodable bytes (invalid UTF-8, NUL)
    "unreadable_share_suspicious": 0.01,
}
_MAD_SCALE = 1.4826  # MAD -> standard deviation of a normal distribution


def _reason(key: str, level: str, **params: Any) -> dict[str, Any]:
    return {"key": key, "level": level, "params": params}


def _check_file(path: str) -> dict[str, Any] | None:
    """A reject reason for a path that cannot be read as a file, else None."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return _reason("vet.reason.missing", "reject")
    except OSError as exc:
        return _reason("vet.reason.unreadable", "reject", error=exc.strerror or str(exc))
    if not stat.S_ISREG(st.st_mode):
        return _reason("vet.reason.not_file", "reject")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        return _reason("vet.reason.unreadable", "reject", error=exc.strerror or str(exc))
    return None


def expand_inputs(paths: list[str]) -> tuple[list[str], list[dict[str, str]]]:
    """The files the paths stand for, as `parse`/`train` read them (folders walked by
    parsing/sources.py), and what the walk skipped (hidden files, links out...) with the reasons."""
    from anomaly_log_detector.parsing.sources import Skips, list_sources

    files: list[str] = []
    skipped: list[dict[str, str]] = []
    for path in paths:
        if path == "-":
            raise InputError("cannot vet stdin (-): name the files to vet")
        if os.path.isdir(path):
            skips = Skips()
            files.extend(list_sources(path, skips))
            skipped.extend({"source": s["source"], "reason": s["reason"]} for s in skips.files)
        else:
            files.append(path)  # checked per file: a missing one is a reject, not an error
    seen: set[str] = set()
    return [f for f in files if not (f in seen or seen.add(f))], skipped


def _error_warning(df) -> tuple[Any, Any, str]:
    """Boolean Series (error line, warning line) and which evidence was used."""
    level = df["level"].astype("string").str.strip().str.lower() if "level" in df else None
    has_level = level.notna() if level is not None else None
    text = df["masked"].astype("string").fillna("")
    kw_err = text.str.contains(_ERROR_RE, regex=True)
    kw_warn = text.str.contains(_WARNING_RE, regex=True)
    if has_level is None or not has_level.any():
        return kw_err.astype(bool), (kw_warn & ~kw_err).astype(bool), "keywords"
    lv_err = level.isin(ERROR_LEVELS).fillna(False)
    lv_warn = level.isin(WARNING_LEVELS).fillna(False)
    err = lv_err.where(has_level, kw_err).astype(bool)
    warn = lv_warn.where(has_level, kw_warn & ~kw_err).astype(bool)
    return err, warn, "level" if has_level.all() else "level+keywords"


def _spikes(ts) -> dict[str, Any]:
    """Per-minute volume spikes of one file's timestamps.

    The usual rate is the line-weighted median minute: the count of the minute that holds the file's
    median line (half the lines were written in minutes at most this busy). Empty minutes do not pull
    it to zero and the quiet minutes of a bursty log do not make every burst a spike. A spike minute
    holds at least ``spike_ratio`` times that rate and lies ``spike_z`` deviations above it (the larger of
    the MAD over the non-empty minutes and the Poisson noise sqrt(rate), at least one line); by
    construction spikes hold under half the lines."""
    import numpy as np

    th = THRESHOLDS
    minutes = ts.dt.floor("min").value_counts()
    out: dict[str, Any] = {"minutes": int(len(minutes)), "median_per_minute": None, "spike_minutes": 0,
                           "spike_lines": 0, "spike_share": None, "peak_per_minute": None, "peak_minute": None}
    if len(minutes) < th["spike_min_minutes"]:
        return out
    counts = minutes.to_numpy(dtype=float)
    ordered = np.sort(counts)
    usual = float(ordered[np.searchsorted(np.cumsum(ordered), counts.sum() / 2)])
    mad = float(np.median(np.abs(counts - np.median(counts))))
    scale = max(_MAD_SCALE * mad, float(np.sqrt(usual)), 1.0)  # counts: at least Poisson noise
    z = (counts - usual) / scale
    hit = (z >= th["spike_z"]) & (counts >= th["spike_ratio"] * usual)
    peak = int(np.argmax(counts))
    out.update(median_per_minute=usual, spike_minutes=int(hit.sum()), spike_lines=int(counts[hit].sum()),
               spike_share=float(counts[hit].sum() / counts.sum()), peak_per_minute=int(counts[peak]),
               peak_minute=minutes.index[peak].isoformat(), peak_z=round(float(z[peak]), 2))
    return out


def _error_bursts(ts, err) -> dict[str, Any]:
    """Minutes where errors come far above the file's usual error rate (an error storm).

    The usual rate p0 is the median over the non-empty minutes of each minute's error share (robust to
    the storm itself). A burst minute has at least ``burst_min_errors`` error lines, at least
    ``spike_ratio`` times p0 x its lines, and a binomial z-score of at least ``spike_z`` against p0 (p0
    floored at one line per minute, so a file with no errors elsewhere still needs a real cluster)."""
    import numpy as np
    import pandas as pd

    th = THRESHOLDS
    frame = pd.DataFrame({"minute": ts.dt.floor("min"), "err": err.astype(int)})
    g = frame.groupby("minute")["err"].agg(["size", "sum"])
    out: dict[str, Any] = {"usual_error_share": None, "burst_minutes": 0, "burst_errors": 0, "burst_share": None,
                           "first_burst": None}
    if len(g) < th["spike_min_minutes"]:
        return out
    n, e = g["size"].to_numpy(dtype=float), g["sum"].to_numpy(dtype=float)
    p0 = float(np.median(e / n))
    p = np.maximum(p0, 1.0 / n)
    z = (e - n * p) / np.sqrt(n * p * (1 - np.minimum(p, 0.99)))
    hit = (e >= th["burst_min_errors"]) & (e >= th["spike_ratio"] * n * p0) & (z >= th["spike_z"])
    out.update(usual_error_share=p0, burst_minutes=int(hit.sum()), burst_errors=int(e[hit].sum()),
               burst_share=float(e[hit].sum() / n.sum()),
               first_burst=g.index[hit][0].isoformat() if hit.any() else None)
    return out


def _gaps(ts) -> dict[str, Any]:
    """Longest pause between consecutive timestamps (in time order) against the median pause."""
    out: dict[str, Any] = {"longest_gap_s": None, "median_gap_s": None, "gap_ratio": None, "gap_start": None}
    if len(ts) < 3:
        return out
    ordered = ts.sort_values().reset_index(drop=True)
    gaps = ordered.diff().dt.total_seconds().iloc[1:]
    positive = gaps[gaps > 0]
    if positive.empty:
        return out
    i = int(gaps.to_numpy().argmax())
    longest, median = float(gaps.iloc[i]), float(positive.median())
    out.update(longest_gap_s=longest, median_gap_s=median, gap_ratio=longest / median if median > 0 else None,
               gap_start=ordered.iloc[i].isoformat())
    return out


def _share(n: int, d: int) -> float | None:
    return n / d if d else None


def _file_metrics(df, counts_all: Counter, by_format_files: dict, fmt: str | None, source: str,
                  files_of: dict[str, set]) -> dict[str, Any]:
    """Every measure of one parsed file (`df`: its rows)."""
    n = len(df)
    err, warn, evidence = _error_warning(df)
    tids = df["template_id"]
    peers = [s for s in by_format_files.get(fmt, []) if s != source]
    other_templates: set = set()
    for p in peers:
        other_templates |= files_of[p]
    novelty = float((~tids.isin(other_templates)).mean()) if peers and n else None
    rare = tids.map(counts_all) < RARE_COUNT
    stamped = df["timestamp"].notna() if "timestamp" in df else None
    ts = df["timestamp"][stamped] if stamped is not None else df.iloc[:0]
    unreadable = int(df["raw"].astype("string").str.contains("\ufffd", regex=False).fillna(False).sum())
    m = {
        "lines_parsed": n,
        "lines_unreadable": unreadable,
        "unreadable_share": _share(unreadable, n),
        "error_lines": int(err.sum()), "error_share": _share(int(err.sum()), n),
        "warning_lines": int(warn.sum()), "warning_share": _share(int(warn.sum()), n),
        "error_evidence": evidence,
        "templates": int(tids.nunique()),
        "novelty_peers": len(peers),
        "novelty_share": novelty,
        "novel_templates": (int(len(set(tids.unique()) - other_templates)) if peers else None),
        "rare_lines": int(rare.sum()), "rare_share": _share(int(rare.sum()), n),
        "timestamped_share": _share(len(ts), n),
    }
    if len(ts):
        m["first_time"], m["last_time"] = ts.min().isoformat(), ts.max().isoformat()
        m["volume"] = _spikes(ts)
        m["gaps"] = _gaps(ts)
        m["error_bursts"] = _error_bursts(ts, err[stamped])
    else:
        m["volume"], m["gaps"], m["error_bursts"] = None, None, None
    return m


def _judge(m: dict[str, Any], peer: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The reasons of one parsed file (empty = good)."""
    th = THRESHOLDS
    out = []
    if m["source_error"]:
        out.append(_reason("vet.reason.damaged", "suspicious", error=m["source_error"]))
    if m["unreadable_share"] and m["unreadable_share"] >= th["unreadable_share_suspicious"]:
        out.append(_reason("vet.reason.unreadable_lines", "suspicious", n=m["lines_unreadable"],
                           share=m["unreadable_share"]))
    es = m["error_share"] or 0.0
    if es >= th["error_share_reject"]:  # an explicit level rejects; keywords ("Failed password") only warn
        level = "reject" if m["error_evidence"] == "level" else "suspicious"
        out.append(_reason("vet.reason.errors_most", level, share=es, n=m["error_lines"]))
    elif es >= th["error_share_suspicious"]:
        out.append(_reason("vet.reason.errors_high", "suspicious", share=es, n=m["error_lines"],
                           limit=th["error_share_suspicious"]))
    bursts = m["error_bursts"]
    if bursts and bursts["burst_share"] and bursts["burst_share"] >= th["burst_share_suspicious"]:
        level = "reject" if bursts["burst_share"] >= th["burst_share_reject"] else "suspicious"
        out.append(_reason("vet.reason.error_burst", level, minutes=bursts["burst_minutes"], n=bursts["burst_errors"],
                           share=bursts["burst_share"], usual=bursts["usual_error_share"], when=bursts["first_burst"]))
    if peer is not None:
        ps = peer["error_share"]
        excess = es - ps
        if es >= th["error_excess_ratio"] * ps and excess >= th["error_excess_suspicious"]:
            level = "reject" if excess >= th["error_excess_reject"] else "suspicious"
            out.append(_reason("vet.reason.errors_peers", level, share=es, peer_share=ps, peers=peer["files"]))
        ws, pw = m["warning_share"] or 0.0, peer["warning_share"]
        if ws >= th["warning_excess_ratio"] * pw and ws - pw >= th["warning_excess_suspicious"]:
            out.append(_reason("vet.reason.warnings_peers", "suspicious", share=ws, peer_share=pw,
                               peers=peer["files"]))
    nov = m["novelty_share"]
    if nov is not None and nov >= th["novelty_suspicious"]:
        agree = m.get("peers_novelty_median")
        hard = (nov >= th["novelty_reject"] and m["novelty_peers"] >= th["novelty_reject_min_peers"]
                and agree is not None and agree < th["novelty_suspicious"])
        out.append(_reason("vet.reason.novel", "reject" if hard else "suspicious", share=nov,
                           peers=m["novelty_peers"], templates=m["novel_templates"]))
    if m["rare_share"] is not None and m["rare_share"] >= th["rare_share_suspicious"]:
        out.append(_reason("vet.reason.rare", "suspicious", share=m["rare_share"], count=RARE_COUNT))
    vol = m["volume"]
    if vol and vol["spike_share"] is not None and vol["spike_share"] >= th["spike_share_suspicious"]:
        out.append(_reason("vet.reason.spikes", "suspicious", minutes=vol["spike_minutes"], share=vol["spike_share"],
                           peak=vol["peak_per_minute"], median=vol["median_per_minute"], when=vol["peak_minute"]))
    gaps = m["gaps"]
    if (gaps and gaps["gap_ratio"] is not None and gaps["longest_gap_s"] >= th["gap_min_seconds"]
            and gaps["gap_ratio"] >= th["gap_ratio"]):
        out.append(_reason("vet.reason.gap", "suspicious", hours=gaps["longest_gap_s"] / 3600,
                           ratio=gaps["gap_ratio"], when=gaps["gap_start"]))
    return out


def _verdict(reasons: list[dict[str, Any]]) -> str:
    levels = {r["level"] for r in reasons}
    return "reject" if "reject" in levels else "suspicious" if "suspicious" in levels else "good"


def _notes(m: dict[str, Any] | None, n_files: int) -> list[dict[str, Any]]:
    """What could not be judged for a file (not reasons: they do not change the verdict)."""
    if m is None:
        return []
    out = []
    if m["novelty_share"] is None:
        out.append(_reason("vet.note.novelty_single" if n_files < 2 else "vet.note.novelty_no_peer", "note",
                           format=m.get("format") or "raw"))
    if m["volume"] is None:
        out.append(_reason("vet.note.no_timestamps", "note"))
    elif m["volume"]["median_per_minute"] is None:
        out.append(_reason("vet.note.few_minutes", "note", minutes=m["volume"]["minutes"],
                           need=int(THRESHOLDS["spike_min_minutes"])))
    return out


def validate_baseline(paths: list[str], output_dir: str | os.PathLike | None, *, lang: str = "en",
                      format: str = "auto", log_format: str | None = None, quiet: bool = True,
                      since: datetime | str | None = None, until: datetime | str | None = None) -> dict[str, Any]:
    """Vet candidate normal files (folders expand to their files); write ``baseline_validation.json`` and
    ``baseline_validation_report.md`` into `output_dir` (None: write nothing); return the summary:
    ``{"files": [{"source", "verdict", "reasons": [{"key", "level", "params"}], "notes", "metrics"}],
    "counts": {verdict: n}, "exit_status": 0 | 1, "thresholds", ...}``. `since` / `until` (datetimes or
    ISO 8601 texts, no zone = UTC) keep only the lines with ``since <= time < until``, as `parse` does."""
    import pandas as pd

    from anomaly_log_detector.parsing.run import parse_logs
    from anomaly_log_detector.reports.messages import check_lang

    check_lang(lang)
    lo, hi = _time_bound(since, "--since"), _time_bound(until, "--until")
    files, walk_skipped = expand_inputs([str(p) for p in paths])
    if not files:
        raise InputError(f"no files to vet in {', '.join(map(str, paths))}")
    results: dict[str, dict[str, Any]] = {}
    readable = []
    for f in files:
        problem = _check_file(f)
        results[f] = {"source": f, "reasons": [problem] if problem else [], "metrics": None}
        if problem is None:
            readable.append(f)
    frames: dict[str, Any] = {}
    entries: dict[str, dict] = {}
    summary: dict[str, Any] = {}
    if readable:
        with tempfile.TemporaryDirectory(prefix="alog-vet-") as tmp:
            summary = parse_logs(readable, os.path.join(tmp, "parsed"), drain_state=os.path.join(tmp, "state.json"),
                                 format=format, log_format=log_format, quiet=quiet, since=lo, until=hi)
            cols = ["source", "timestamp", "level", "raw", "masked", "template_id"]
            import pyarrow.parquet as pq

            have = set(pq.read_schema(os.path.join(tmp, "parsed", "parsed.parquet")).names)
            df = pd.read_parquet(os.path.join(tmp, "parsed", "parsed.parquet"), columns=[c for c in cols if c in have])
        entries = {e["source"]: e for e in summary.get("sources", [])}
        for s in summary.get("files_skipped", []):
            if s["source"] in results:
                key = "vet.reason.binary" if s["reason"].startswith("binary") else "vet.reason.not_read"
                results[s["source"]]["reasons"].append(_reason(key, "reject", why=s["reason"]))
        frames = {src: g for src, g in df.groupby("source", sort=False)}
    # parsed.parquet names a source as valid UTF-8 text (undecodable bytes of a name as \xNN): map back
    by_text = {f.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace"): f for f in readable}
    frames = {by_text.get(k, k): v for k, v in frames.items()}
    parsed_files = [f for f in readable if f in entries and f in frames and len(frames[f])]
    for f in readable:
        if f in entries and f not in parsed_files and not results[f]["reasons"]:
            key = "vet.reason.outside_range" if (lo or hi) and entries[f]["lines_read"] else "vet.reason.empty"
            results[f]["reasons"].append(_reason(key, "reject", lines=entries[f]["lines_read"]))
    counts_all: Counter = Counter()
    files_of: dict[str, set] = {}
    by_format: dict[str | None, list[str]] = {}
    for f in parsed_files:
        tids = frames[f]["template_id"]
        counts_all.update(tids.tolist())
        files_of[f] = set(tids.unique())
        by_format.setdefault(entries[f].get("format"), []).append(f)
    metrics: dict[str, dict] = {}
    for f in parsed_files:
        fmt = entries[f].get("format")
        m = _file_metrics(frames[f], counts_all, by_format, fmt, f, files_of)
        e = entries[f]
        m.update(format=fmt, lines_read=e["lines_read"], lines_skipped=e["lines_read"] - m["lines_parsed"],
                 source_error=e.get("error"))
        metrics[f] = m
    for f in parsed_files:  # do the other files of the format agree among themselves?
        others = [metrics[p]["novelty_share"] for p in by_format[entries[f].get("format")]
                  if p != f and metrics[p]["novelty_share"] is not None]
        metrics[f]["peers_novelty_median"] = float(pd.Series(others).median()) if others else None
    for f in parsed_files:
        peers = [p for p in by_format[entries[f].get("format")] if p != f]
        peer = None
        if peers:
            n = sum(metrics[p]["lines_parsed"] for p in peers)
            peer = {"files": len(peers),
                    "error_share": sum(metrics[p]["error_lines"] for p in peers) / n,
                    "warning_share": sum(metrics[p]["warning_lines"] for p in peers) / n}
            metrics[f]["peer_error_share"] = peer["error_share"]
            metrics[f]["peer_warning_share"] = peer["warning_share"]
        results[f]["reasons"].extend(_judge(metrics[f], peer))
        results[f]["metrics"] = metrics[f]
    out_files = []
    for f in files:
        r = results[f]
        r["verdict"] = _verdict(r["reasons"])
        r["notes"] = _notes(r["metrics"], len(parsed_files))
        out_files.append(r)
    counts = {v: sum(r["verdict"] == v for r in out_files) for v in VERDICTS}
    result = {
        "files": out_files,
        "counts": counts,
        "exit_status": 1 if counts["reject"] else 0,
        "walk_skipped": walk_skipped,
        "lang": lang,
        "since": lo.isoformat() if lo else None, "until": hi.isoformat() if hi else None,
        "thresholds": {**THRESHOLDS, "rare_count": RARE_COUNT},
        "evidence": {"error_levels": sorted(ERROR_LEVELS), "warning_levels": sorted(WARNING_LEVELS),
                     "error_words": list(ERROR_WORDS), "warning_words": list(WARNING_WORDS)},
        "templates": len(counts_all),
        "generated_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if output_dir is not None:
        result["outputs"] = write_outputs(result, output_dir, lang)
    return result


def _time_bound(value: datetime | str | None, option: str) -> datetime | None:
    """`value` (a datetime, or an ISO 8601 text; no zone = UTC) as an aware UTC datetime."""
    if value is None or isinstance(value, datetime):
        return value
    from anomaly_log_detector.errors import DataError

    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" and text else text)
    except ValueError:
        raise DataError(f"{option}: {value!r} is not an ISO 8601 date or time") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


#: how `train --vet` treats rejected files
VET_MODES = ("refuse", "drop", "keep")
#: the copy of the vetting result inside a bundle (checksummed with the other components)
BUNDLE_FILE = REPORT_JSON


def vet_report_dir(model_dir: str | os.PathLike) -> Path:
    """Where `train --vet` writes its report: ``MODEL_DIR.vet`` beside the bundle (a bundle holds only its
    components; the report must also exist when training is refused and no bundle is written)."""
    final = Path(model_dir).absolute()
    return final.parent / f"{final.name}.vet"


def vet_for_training(paths: list[str], model_dir: str | os.PathLike, mode: str, *, format: str = "auto",
                     log_format: str | None = None, quiet: bool = False) -> tuple[list[str], dict[str, Any]]:
    """Vet the training inputs (`train --vet`); return (the inputs to train on, the result). Verdicts go
    to stderr (`quiet`: only those that are not good, as warnings). A rejected file: `refuse` raises
    InputError naming each with its reasons; `drop` trains on the others (InputError when none is left);
    `keep` trains on every file anyway."""
    import sys

    from anomaly_log_detector.reports.escape import terminal_safe

    if mode not in VET_MODES:
        raise InputError(f"--vet: unknown mode {mode!r} (use {', '.join(VET_MODES)})")
    result = validate_baseline(paths, vet_report_dir(model_dir))
    report = result["outputs"]["report"]
    shown = [r for r in result["files"] if not quiet or r["verdict"] != "good"]
    for line in format_verdicts({"files": shown}).splitlines():
        print(terminal_safe(f"vet: {line}"), file=sys.stderr, flush=True)
    if shown:
        print(terminal_safe(f"vet: report {report}"), file=sys.stderr, flush=True)
    rejected = [r for r in result["files"] if r["verdict"] == "reject"]
    result["mode"] = mode
    result["dropped"] = []
    if not rejected or mode == "keep":
        return paths, result
    named = "; ".join(f"{r['source']} ({', '.join(reason_text(x) for x in r['reasons'] if x['level'] == 'reject')})"
                      for r in rejected)
    if mode == "refuse":
        raise InputError(f"--vet rejected {len(rejected)} training file(s): {named}. Report: {report}. Train "
                         f"without them with --vet=drop, or on them anyway with --vet=keep")
    kept = [r["source"] for r in result["files"] if r["verdict"] != "reject"]
    if not kept:
        raise InputError(f"--vet rejected every training file: {named}. Report: {report}")
    result["dropped"] = [r["source"] for r in rejected]
    print(terminal_safe(f"vet: training without {len(rejected)} rejected file(s)"), file=sys.stderr, flush=True)
    return kept, result
