"""Detector result files -> *hits*: one flagged parsed line each, with a comparable score and a reason.

A hit is a row of a DataFrame with columns ``row`` (0-based position in `parsed.parquet`), ``detector``,
``score`` (in [0, 1], higher is more anomalous), ``key`` (a message-table key) and ``params`` (a dict
for that message). The rules, per detector:

* **alerting** (a folder written by `infer`, with `line_alerts.parquet`): every line the alerting layer
  alerts on (severity + how new the message is + DeepLog sequence miss; detectors/alerting.py). Score
  = the layer's score / the sum of its weights. In such a folder novelty is one of its components and
  has no hits of its own, DeepLog hits are its misses of known keys from contexts of known keys (an
  unseen key and what follows it is novelty's business), and baseline hits are evidence lines whose
  template is known (the baseline's frequency view: bursts and silences).
* **novelty** (other folders): every parsed line with ``template_id == UNSEEN_ID`` (the message matches
  no training template). Score 1.0.
* **deeplog**: every prediction with ``in_topk == False`` in `deeplog_infer.parquet`; when
  `deeplog_sessions.parquet` is there too, only those of sessions it marks ``is_anomaly``. An
  unexpected end of session (EOS target, no line of its own) points at the session's last line.
  Score = 1 - tail probability of the actual template when the file has ``surprise`` (calibrated
  models), else 1 - its probability (1.0 for an unknown template). With only the
  sessions file, a flagged session's ``first_miss_line`` is the hit, scored like the baseline below.
* **mscred** (`mscred_infer.parquet`): in every window with ``is_anomaly``, the lines whose template is
  one of the window's ``top_templates`` (the series carrying its broken correlations; ``<unseen>`` =
  lines no training template matches, ``<other>`` = lines of templates outside the model's series),
  within the lines the window's smallest scale spans. Score = :func:`strength` of score / threshold.
* **flows** (`flows_infer.parquet`, detectors/flows.py): every step of an identifier flow flagged as
  out of ``order``, a flow's ``start`` or its ``end``. Score ``strength(FLOW_RATIO)`` = 0.75: the step
  is one no normal flow ever made (a never-seen transition counts as twice a threshold).
* **baseline**: in every window with ``is_anomaly``, its ``evidence_lines`` (the lines the baseline says
  explain it); a window flagged without evidence contributes its ``RAREST_PER_WINDOW`` lines whose
  templates are rarest in this file (ties: earliest). Score = the window score's empirical rank among
  all windows (the fraction scoring at most as high), so flagged windows sit near 1 whatever the
  baseline's raw scale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from anomaly_log_detector.errors import DataError
from anomaly_log_detector.reports.deeplog_picks import chosen_predictions, infer_rows
from anomaly_log_detector.reports.inputs import (
    BASELINE, DEEPLOG_INFER, DEEPLOG_SESSIONS, FLOWS_INFER, LINE_ALERTS, MSCRED_INFER, MSCRED_RESIDUALS, SEQUENCES, line_index,
    locate, read_table, take_rows,
)
from anomaly_log_detector.fileio.schema import UNSEEN_ID, UNSEEN_TEMPLATE

DETECTORS = ("alerting", "novelty", "deeplog", "flows", "baseline", "mscred")
FLOW_RATIO = 2.0  # a flow step no normal flow made scores as twice a threshold (strength 0.75)
RAREST_PER_WINDOW = 3
# A frequency change is reported when a known template occurs at least this often in the window.
BURST_MIN = 10
HIT_COLUMNS = ["row", "detector", "score", "key", "params"]
BASELINE_REQUIRED = ("source", "window_start_line", "window_end_line", "score", "is_anomaly")
# The baseline's score components (detectors/baseline.py COMPONENTS), shown in reasons when present.
BASELINE_COMPONENTS = ("new_ratio", "freq_change", "severity")


def plain(v: Any) -> Any:
    """A numpy/pandas scalar as a plain JSON value (NaN/NA -> None)."""
    if v is None or v is pd.NA:
        return None
    v = v.item() if hasattr(v, "item") else v
    return None if isinstance(v, float) and not np.isfinite(v) else v


def _lists(df: pd.DataFrame, *columns: str) -> list[list[Any]]:
    """The columns of `df` as Python lists (what iterating each gives)."""
    return [df[c].tolist() for c in columns]


def strength(ratio: np.ndarray) -> np.ndarray:
    """A hit's score from how many times its detector's own threshold it reaches: 1 - 0.5 ** ratio
    (0.5 at the threshold, 0.75 at twice it...): one scale for every detector of a bundle, so records
    of different detectors rank against each other."""
    return 1.0 - 0.5 ** np.maximum(np.asarray(ratio, dtype=float), 0.0)


def ecdf(values: pd.Series) -> np.ndarray:
    """Fraction of values <= each value (1.0 for the highest); NaN counts as lowest."""
    v = values.astype(float).fillna(-np.inf)
    return (v.rank(method="max") / max(len(v), 1)).to_numpy()


def make_hits(rows: Any, detector: str, score: Any, key: str, params: list[dict]) -> pd.DataFrame:
    return pd.DataFrame({"row": np.asarray(rows, dtype=np.int64), "detector": detector,
                         "score": np.clip(np.asarray(score, dtype=float), 0.0, 1.0),
                         "key": key, "params": params}, columns=HIT_COLUMNS)


def novelty_hits(keys: pd.DataFrame) -> pd.DataFrame:
    """Lines whose message matched no training template."""
    rows = np.flatnonzero(keys["template_id"].to_numpy() == UNSEEN_ID)
    return make_hits(rows, "novelty", np.ones(len(rows)), "reason.novel_template", [{} for _ in rows])


def _infer_rows(d: Path, infer: pd.DataFrame, keys: pd.DataFrame) -> np.ndarray:
    """Parsed rows of DeepLog predictions: via `sequences.parquet` (session, idx) -> rows[idx] when the
    folder has it (exact even when a session spans sources), else by line number."""
    path = d / SEQUENCES
    if not path.exists():
        return locate(keys, infer, str(d / DEEPLOG_INFER))
    return infer_rows(path, infer, keys["line_no"].to_numpy())


def alerting_hits(d: Path, keys: pd.DataFrame) -> pd.DataFrame:
    """Lines the alerting layer alerts on (`line_alerts.parquet`)."""
    df = read_table(d / LINE_ALERTS, ["row", "severity", "novel", "novelty", "seq_miss", "score", "is_alert",
                                       "threshold"])
    df = df[df["is_alert"].astype(bool)].reset_index(drop=True)
    if df.empty:
        return make_hits([], "alerting", [], "reason.alert_line", [])
    nearest = df["nearest"].tolist() if "nearest" in df.columns else [None] * len(df)
    # Column lists, not rows: a row tuple holds every column, Arrow-backed text ones included (slow to iterate)
    params = [{"score": float(score), "severity": float(severity), "novel": bool(novel), "novelty": float(novelty),
               "nearest": plain(n), "seq_miss": bool(miss)}
              for score, severity, novel, novelty, n, miss in zip(*_lists(df, "score", "severity", "novel", "novelty"),
                                                                   nearest, df["seq_miss"].tolist())]
    ratio = df["score"].to_numpy(float) / np.maximum(df["threshold"].to_numpy(float), 1e-9)
    return make_hits(df["row"].to_numpy(np.int64), "alerting", strength(ratio), "reason.alert_line", params)


def deeplog_hits(d: Path, keys: pd.DataFrame) -> pd.DataFrame:
    """Unexpected events of DeepLog (see the module docstring for which ones count)."""
    infer_path, sessions_path = d / DEEPLOG_INFER, d / DEEPLOG_SESSIONS
    if not infer_path.exists():
        return _session_hits(sessions_path, keys)
    # One row per prediction (a million at 1M lines): deeplog_picks.py reads the choosing columns as
    # arrays and the rest for the chosen rows only.
    df = chosen_predictions(infer_path, sessions_path if sessions_path.exists() else None,
                            alerting=(d / LINE_ALERTS).exists())
    if "expected" in df.columns and len(df):  # template strings (infer) rather than vocab indices;
        # converted for the misses kept only (a per-row loop over every prediction is slow)
        df["expected"] = [[x if isinstance(x, str) else int(x) for x in v] if v is not None else []
                          for v in df["expected"]]
    rows = _infer_rows(d, df, keys)
    calibrated = "surprise" in df.columns
    plain_miss = "reason.deeplog_surprise" if calibrated else "reason.deeplog_miss"
    kind = np.where(df["eos"], "reason.deeplog_eos",
                    np.where(df["is_novel"].astype(bool), "reason.deeplog_novel", plain_miss))
    if calibrated and "threshold" in df.columns:
        hit_score = strength(df["surprise"].astype(float).to_numpy() / np.maximum(df["threshold"].to_numpy(float), 1e-9))
    elif calibrated:
        hit_score = 1.0 - 10.0 ** -df["surprise"].astype(float).to_numpy()
    else:
        hit_score = 1.0 - df["prob"].astype(float).to_numpy()
    score = np.where(kind == "reason.deeplog_novel", 1.0, hit_score)
    params = [{"session": str(s), "rank": int(r), "prob": float(p)}
              for s, r, p in zip(df["session"], df["rank"], df["prob"])]
    if calibrated:
        for p, s in zip(params, df["surprise"].astype(float)):
            p["surprise"], p["tail"] = float(s), float(10.0 ** -s)
    if "expected" in df.columns:  # optional: the model's top candidates (vocab indices), most likely first
        for p, expected in zip(params, df["expected"]):
            p["expected"] = [x if isinstance(x, str) else int(x) for x in expected]
    return make_hits(rows, "deeplog", score, "", params).assign(key=kind)


def flow_hits(d: Path, keys: pd.DataFrame) -> pd.DataFrame:
    """Flagged steps of identifier flows (`flows_infer.parquet`), one hit per line (its first kind)."""
    df = read_table(d / FLOWS_INFER, ["row", "kind", "identifier", "step", "expected", "flow_lines"])
    df = df.drop_duplicates("row").reset_index(drop=True)
    previous = df["previous"].tolist() if "previous" in df.columns else [None] * len(df)
    params = [{"identifier": str(identifier), "step": str(step), "previous": plain(p),
               "expected": [str(x) for x in (expected if expected is not None else [])], "flow_lines": int(lines)}
              for identifier, step, expected, lines, p in zip(*_lists(df, "identifier", "step", "expected", "flow_lines"),
                                                               previous)]
    hits = make_hits(df["row"].to_numpy(np.int64), "flows", np.full(len(df), strength(FLOW_RATIO)), "", params)
    return hits.assign(key=("reason.flow_" + df["kind"].astype(str)).to_numpy())


def _session_hits(path: Path, keys: pd.DataFrame) -> pd.DataFrame:
    """Hits from `deeplog_sessions.parquet` alone: the first miss of each flagged session, placed through
    `sequences.parquet` when the folder has it (a session may span sources), else by line number."""
    sessions = read_table(path, ["session", "is_anomaly", "first_miss_line"])
    score = ecdf(sessions["score"]) if "score" in sessions.columns else np.ones(len(sessions))
    keep = (sessions["is_anomaly"].astype(bool) & sessions["first_miss_line"].notna()).to_numpy()
    flagged = sessions[keep].rename(columns={"first_miss_line": "line_no"}).astype({"line_no": "int64"})
    params = [{"session": str(r["session"]), "misses": plain(r.get("misses")), "windows": plain(r.get("windows"))}
              for r in flagged.to_dict("records")]
    if (path.parent / SEQUENCES).exists():
        seq = read_table(path.parent / SEQUENCES, ["session", "rows", "line_nos"]).set_index("session")
        rows = []
        for session, line in zip(flagged["session"].astype(str), flagged["line_no"]):
            at = np.flatnonzero(np.asarray(seq.at[session, "line_nos"]) == line) if session in seq.index else []
            if not len(at):
                raise DataError(f"{path.parent / SEQUENCES} does not match {path.name} (session {session!r}, "
                                f"line {line}): rebuild the sequences or rerun deeplog-infer on this folder")
            rows.append(seq.at[session, "rows"][at[0]])
    else:
        rows = locate(keys, flagged, str(path))
    return make_hits(rows, "deeplog", score[keep], "reason.deeplog_session", params)


class _Frequency:
    """Occurrences in the parse of each row's template, looked up for the rows asked (``freq[rows]``):
    counted per template id, not sorted and spread over a million rows."""

    def __init__(self, template_ids: np.ndarray):
        self.ids = template_ids
        self.low = int(template_ids.min()) if len(template_ids) else 0
        span = int(template_ids.max()) - self.low + 1 if len(template_ids) else 0
        if span <= 1 << 24:
            self.counts, self.full = np.bincount(template_ids - self.low, minlength=span), None
        else:  # ids too sparse to count by position
            _, inverse, counts = np.unique(template_ids, return_inverse=True, return_counts=True)
            self.counts, self.full = None, counts[inverse]

    def __getitem__(self, rows):
        return self.full[rows] if self.counts is None else self.counts[self.ids[rows] - self.low]


def baseline_hits(d: Path, keys: pd.DataFrame) -> pd.DataFrame:
    """The evidence (or rarest) lines of every window the baseline flagged."""
    path = d / BASELINE
    df = read_table(path, BASELINE_REQUIRED)
    norm = ecdf(df["score"])
    flagged = df["is_anomaly"].astype(bool).to_numpy()
    windows, norm = df[flagged].reset_index(drop=True), norm[flagged]
    if windows.empty:
        return make_hits([], "baseline", [], "reason.baseline_evidence", [])
    frequency_only = (d / LINE_ALERTS).exists()
    if frequency_only and "threshold" in windows.columns:
        norm = strength(windows["score"].to_numpy(float) / np.maximum(windows["threshold"].to_numpy(float), 1e-9))
    template_ids = keys["template_id"].to_numpy()
    index = line_index(keys, True, str(path))  # built once for the three lookups (every line has its source)
    starts = index.rows(windows.rename(columns={"window_start_line": "line_no"}), str(path))
    ends = index.rows(windows.rename(columns={"window_end_line": "line_no"}), str(path))
    freq = _Frequency(template_ids)  # occurrences in this file of each row's template
    components = [c for c in BASELINE_COMPONENTS if c in windows.columns]
    evidence = windows["evidence_lines"] if "evidence_lines" in windows.columns else None
    lists = [[] if evidence is None or evidence[i] is None else list(evidence[i]) for i in range(len(windows))]
    n_evidence = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    # Every window's evidence lines are located in one lookup: one per window would scan all parsed
    # rows each time (minutes on a million-line target with thousands of flagged windows).
    located = index.rows(pd.DataFrame({
        "source": np.repeat(windows["source"].to_numpy(), n_evidence),
        "line_no": np.fromiter((x for lines in lists for x in lines), dtype=np.int64, count=int(n_evidence.sum())),
    }), str(path))
    offsets = np.concatenate([[0], np.cumsum(n_evidence)])
    picked: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    kinds: list[str] = []
    params: list[dict] = []
    for i, w in enumerate(windows.to_dict("records")):
        base = {"start": int(w["window_start_line"]), "end": int(w["window_end_line"]),
                "score": float(w["score"]), "components": {c: plain(w[c]) for c in components}}
        if n_evidence[i]:
            rows = located[offsets[i]:offsets[i + 1]]
            key = "reason.baseline_evidence"
        else:
            rows = starts[i] + np.argsort(freq[starts[i]:ends[i] + 1], kind="stable")[:RAREST_PER_WINDOW]
            key = "reason.baseline_window"
        if frequency_only:  # the baseline's own view: known templates in a burst (BURST_MIN+ in the window)
            in_window = template_ids[starts[i]:ends[i] + 1]
            ids, n_in = np.unique(in_window, return_counts=True)
            bursting = ids[(n_in >= BURST_MIN) & (ids != UNSEEN_ID)]
            rows = rows[np.isin(template_ids[rows], bursting)]
        picked.append(rows)
        scores.append(np.full(len(rows), norm[i]))
        kinds += [key] * len(rows)
        params += [{**base, "count": int(freq[r])} for r in rows]
    if not params:  # (the empty frame a concatenation of empty ones gives)
        return make_hits([], "baseline", [], "reason.baseline_evidence", [])
    # One frame for every window's hits (a frame per window and their concatenation cost more).
    return make_hits(np.concatenate(picked), "baseline", np.concatenate(scores), "", params).assign(key=kinds)


def mscred_hits(d: Path, keys: pd.DataFrame) -> pd.DataFrame:
    """The lines of the top templates of every window MS-CRED flagged (see the module docstring)."""
    path = d / MSCRED_INFER
    df = read_table(path, ["start_row", "end_row", "start_line", "end_line", "score", "is_anomaly", "threshold",
                           "broken_entries", "top_templates", "window_idx"])
    windows = df[df["is_anomaly"].astype(bool)].reset_index(drop=True)
    if windows.empty:
        return make_hits([], "mscred", [], "reason.mscred_window", [])
    n = len(keys)
    starts = np.clip(windows["start_row"].to_numpy(np.int64), 0, n)
    ends = np.clip(windows["end_row"].to_numpy(np.int64), 0, n)
    spanned = np.unique(np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)]))
    template = take_rows(d, spanned, ["template"])["template"].astype("string").reindex(range(n))
    series = _mscred_series(d / MSCRED_RESIDUALS)
    ratio = windows["score"].to_numpy(float) / np.maximum(windows["threshold"].to_numpy(float), 1e-9)
    parts = []
    for i, w in enumerate(windows.to_dict("records")):
        top = [str(x) for x in (w["top_templates"] if w["top_templates"] is not None else [])]
        rows = np.arange(starts[i], ends[i])
        text = template.iloc[rows].fillna("").to_numpy(dtype=object)
        wanted = np.isin(text, [x for x in top if not x.startswith("<")])
        if "<unseen>" in top:
            wanted |= text == UNSEEN_TEMPLATE
        if "<other>" in top and series is not None:
            wanted |= ~np.isin(text, series) & (text != UNSEEN_TEMPLATE)
        rows = rows[wanted]
        params = {"window": int(w["window_idx"]), "start": plain(w["start_line"]), "end": plain(w["end_line"]),
                  "score": float(w["score"]), "broken": int(w["broken_entries"]), "threshold": float(w["threshold"]),
                  "top_templates": top}
        parts.append(make_hits(rows, "mscred", np.full(len(rows), strength(ratio[i])), "reason.mscred_window",
                               [params for _ in rows]))
    return pd.concat(parts, ignore_index=True)


def _mscred_series(path: Path) -> np.ndarray | None:
    """The template strings of MS-CRED's series (from `mscred_residuals.npz`), or None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            return np.asarray(npz["series"], dtype=object)
    except (OSError, ValueError, KeyError):
        return None


def detectors_run(d: Path) -> list[str]:
    """The detectors whose results are in the folder (novelty always: it needs only parsed.parquet)."""
    layer = (d / LINE_ALERTS).exists()
    ran = {"alerting": layer, "novelty": not layer,
           "deeplog": (d / DEEPLOG_INFER).exists() or (d / DEEPLOG_SESSIONS).exists(),
           "baseline": (d / BASELINE).exists(), "mscred": (d / MSCRED_INFER).exists(),
           "flows": (d / FLOWS_INFER).exists()}
    return [name for name in DETECTORS if ran[name]]


def collect_hits(d: Path, keys: pd.DataFrame, between: Callable[[], None] | None = None) -> pd.DataFrame:
    """Every detector's hits in the folder; one per (line, detector), the strongest (a line can sit in
    several overlapping windows). `between` runs after each detector's (e.g. a heap trim)."""
    get = {"alerting": lambda: alerting_hits(d, keys), "novelty": lambda: novelty_hits(keys),
           "deeplog": lambda: deeplog_hits(d, keys), "flows": lambda: flow_hits(d, keys),
           "baseline": lambda: baseline_hits(d, keys), "mscred": lambda: mscred_hits(d, keys)}
    parts = []
    for name in detectors_run(d):
        parts.append(get[name]())
        if between is not None:
            between()
    hits = pd.concat(parts, ignore_index=True)
    hits = hits.sort_values(["row", "detector", "score"], ascending=[True, True, False], kind="stable")
    return hits.drop_duplicates(["row", "detector"]).reset_index(drop=True)
