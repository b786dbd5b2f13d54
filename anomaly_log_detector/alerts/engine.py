"""DeepLog Enhanced alert rules: turn one verdict per predicted event into a few alerts, each carrying
the evidence that fired it. Pure: numpy and pandas only, no model, no files; vectorised, so that a
million predictions take seconds (Python loops run over alerts and their rows only).

Input: one row per prediction, in log order (see :data:`REQUIRED` and :data:`OPTIONAL`). The rules use
Prometheus Alertmanager's vocabulary:

* **Entity**: what an alert is about (a host, a process, a session). Entities never mix: every count
  below is per entity.
* **Gap**: between two predictions, the difference of their ``time`` in seconds when both have one,
  otherwise the difference of their ``order`` (log position) in lines. Cooldowns and the session
  timeout are compared with gaps, so they are seconds of log time, or lines where times are missing.
* **Session**: an entity's predictions split where the gap to the previous one exceeds
  ``session_timeout`` (``None``: never). The K-of-N state starts empty in each session.
* **Firing** (a rule holds at a prediction):

  - ``sequence``: the prediction is a miss, is not novel, and at least ``k`` of the last ``n`` non-novel
    predictions of its session (itself included) are misses: DeepLog's K-of-N, so that one stray miss
    does not page anyone. Novel predictions stay out of the window (they have their own rule).
  - ``novelty``: the prediction is novel (its template never occurred in training). Always fires.

* **Signature** (Alertmanager's group key): ``(entity, type, template)``; for a sequence firing the
  template of the miss that fired.
* **Repeat interval** (our cooldown: ``cooldown_seq`` / ``cooldown_novelty``): a firing whose gap to the
  previous firing of the same signature is ``<= cooldown`` is *folded* into that signature's open alert
  (counted as suppressed) instead of opening a new one. The gap is measured from the last folded
  firing, so a continuous storm stays one alert however long it lasts. A firing exactly at the
  cooldown is folded, one just past it opens a new alert; a cooldown of 0 folds nothing.
* **Evidence** (the alert's ``rows``): for a novelty alert, its novel predictions; for a sequence alert,
  every miss of the K-of-N windows of its firings (so the ``k`` misses that made the first firing are
  there, the earlier ones included). An alert spans its evidence: ``first_*`` / ``last_*`` are those of
  its first and last rows.

Outputs (:class:`AlertResult`):

* ``alerts``: one row per alert, :data:`ALERT_COLUMNS`, numbered 0.. in log order of the firing that
  opened it. ``failed_count`` = evidence rows, ``suppressed_count`` = firings folded in after the first;
  ``templates`` / ``expected_templates`` are distinct, most frequent first (ties: first seen).
* ``detailed``: the input rows (input order) plus ``in_topk`` (not a miss), ``kofn_failed`` (misses among
  the last ``n`` non-novel predictions of the session; for a novel row, the count just before it),
  ``verdict`` and ``alert_id`` (the alert it fired or was folded into; NA for evidence that fired nothing).
  ``verdict``: ``alert`` opened a sequence alert, ``novel`` opened a novelty alert, ``suppressed`` fired
  into an open alert, ``miss`` a miss that fired nothing, ``ok`` anything else.
* ``summary``: counts, and how many raw failed predictions (misses or novel) each alert stands for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np
import pandas as pd

from anomaly_log_detector.builders.string_codes import compact_codes, index_dtype
from anomaly_log_detector.errors import DataError

REQUIRED = ("entity", "order", "is_miss", "is_novel", "template")
# Optional columns and what a missing one means.
OPTIONAL = {"time": "no times (gaps in lines)", "line_no": "NA", "source": "''", "expected": "[]",
            "raw": "''", "score": "NaN"}
TYPES = ("sequence", "novelty")
VERDICTS = ("ok", "miss", "novel", "alert", "suppressed")
OK, MISS, NOVEL, ALERT, SUPPRESSED = range(5)
ALERT_COLUMNS = ("alert_id", "entity", "type", "source", "first_time", "last_time", "first_line", "last_line",
                 "first_order", "last_order", "rows", "line_nos", "failed_count", "suppressed_count",
                 "templates", "expected_templates", "sample_raw", "score")
DETAIL_COLUMNS = ("in_topk", "kofn_failed", "verdict", "alert_id")
NO_ENTITY = "<none>"
_NS = 1_000_000_000


@dataclass(frozen=True)
class AlertSettings:
    """K-of-N (``k`` misses among ``n``), cooldowns and session timeout in seconds of log time (lines
    where times are missing), and how many raw lines an alert quotes."""

    k: int = 7
    n: int = 10
    cooldown_seq: float = 60
    cooldown_novelty: float = 60
    session_timeout: float | None = None
    max_samples: int = 3

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.k <= self.n:
            problems.append(f"need 1 <= k <= n (k={self.k}, n={self.n})")
        if not (self.cooldown_seq >= 0 and self.cooldown_novelty >= 0):
            problems.append("cooldowns must be >= 0")
        if self.session_timeout is not None and not self.session_timeout > 0:
            problems.append("session_timeout must be > 0 (or None)")
        if self.max_samples < 0:
            problems.append("max_samples must be >= 0")
        if problems:
            raise DataError("alert settings: " + "; ".join(problems))


@dataclass
class AlertResult:
    """What :func:`run_alerts` returns: the alerts, the input annotated row by row, and the counts."""

    alerts: pd.DataFrame
    detailed: pd.DataFrame | None  # None from run_alerts_columns
    summary: dict


def run_alerts(predictions: pd.DataFrame, settings: AlertSettings = AlertSettings()) -> AlertResult:
    """Apply the rules of the module docstring to a predictions table."""
    df = _normalise(predictions)
    entity_code, entity_names = pd.factorize(df["entity"], sort=False)
    template_code, template_names = pd.factorize(df["template"], sort=False)
    ns, has_time = _nanoseconds(df["time"])
    fired = _fire(entity_code, template_code, len(template_names), df["order"].to_numpy(np.int64), ns, has_time,
                  df["is_miss"].to_numpy(bool), df["is_novel"].to_numpy(bool), settings)
    alerts = _alert_table(df, fired.evidence_rows, fired.pair_alert, fired.n_alerts,
                          entity_names[fired.opener_entity], fired.opener_type, fired.opener_rows, fired.suppressed,
                          template_names, template_code, settings.max_samples)
    detailed = df.copy()
    detailed["in_topk"] = ~df["is_miss"].to_numpy(bool)
    detailed["kofn_failed"] = fired.kofn
    detailed["verdict"] = np.asarray(VERDICTS, dtype=object)[fired.verdict]
    detailed["verdict"] = detailed["verdict"].astype(str)
    detailed["alert_id"] = pd.arrays.IntegerArray(fired.alert_id, fired.alert_id < 0)
    return AlertResult(alerts, detailed, _summary(fired, alerts, len(entity_names), settings))


def run_alerts_columns(entity_code: np.ndarray, n_entities: int, entity_name: Callable[[np.ndarray], np.ndarray],
                       template_code: np.ndarray, template_names: Any, order: np.ndarray, time: pd.Series,
                       is_miss: np.ndarray, is_novel: np.ndarray, rows_of: Callable[[np.ndarray], pd.DataFrame],
                       settings: AlertSettings = AlertSettings()) -> AlertResult:
    """:func:`run_alerts` over a predictions table given as columns: what the rules read on every row
    (integer codes of the entity and template, ``order``, ``time``, the two verdicts) as arrays in the
    table's row order, and the rest of a row (``line_no``, ``source``, ``raw``, ``expected``, ``score``,
    ``time``, ``order``) only for the rows an alert shows: ``rows_of(sorted input rows)`` returns them as
    a predictions table (it is normalised here). ``entity_name(codes)`` names entity codes; codes
    number the distinct values in any order. The alerts and the summary are :func:`run_alerts`'s on the
    whole table; ``detailed`` is not built (None). A million predictions then cost a few arrays instead
    of a million rows of Python strings."""
    ns, has_time = time if isinstance(time, tuple) else _nanoseconds(_utc(time))
    fired = _fire(np.asarray(entity_code), np.asarray(template_code), len(template_names),
                  _integers(order), ns, has_time, np.asarray(is_miss, dtype=bool),
                  np.asarray(is_novel, dtype=bool), settings, per_row=False)
    needed = np.unique(np.concatenate([fired.evidence_rows, fired.opener_rows]))
    df = _normalise(rows_of(needed))
    if len(df) != len(needed):
        raise DataError(f"predictions: {len(df)} rows fetched for {len(needed)} asked")
    local = lambda rows: np.searchsorted(needed, rows)  # noqa: E731
    alerts = _alert_table(df, local(fired.evidence_rows), fired.pair_alert, fired.n_alerts,
                          entity_name(fired.opener_entity), fired.opener_type, local(fired.opener_rows),
                          fired.suppressed, template_names, np.asarray(template_code)[needed],
                          settings.max_samples)
    return AlertResult(alerts, None, _summary(fired, alerts, n_entities, settings))


@dataclass
class _Fired:
    """What the rules decide, in input row numbers: every alert's evidence (``evidence_rows`` grouped by
    ``pair_alert``, each alert's rows in log order), each alert's opening row, entity code, type and
    folded firings, and per input row the K-of-N count, verdict code and alert id (-1: none)."""

    evidence_rows: np.ndarray
    pair_alert: np.ndarray
    n_alerts: int
    opener_rows: np.ndarray
    opener_entity: np.ndarray
    opener_type: np.ndarray
    suppressed: np.ndarray
    kofn: np.ndarray | None  # None: not asked for (per_row off)
    verdict: np.ndarray | None
    alert_id: np.ndarray | None
    counts: dict


def _fire(entity_code, template_code, n_templates, order_in, ns_in, has_time_in, miss_in, novel_in,
          settings: AlertSettings, per_row: bool = True) -> _Fired:
    """The rules of the module docstring over integer columns (one value per input row). Without
    ``per_row`` the per-row columns (``kofn``, ``verdict``, ``alert_id``: what ``detailed`` shows) are
    not made (None): a million rows' worth of arrays less at the engine's peak."""
    n_rows = len(order_in)
    # Work per entity in log order; the input position breaks ties, so the sort is stable.
    perm = _entity_log_order(entity_code, order_in)
    # The entity codes in their smallest dtype; times and orders are read through ``perm`` where needed
    # (at firings), not copied whole.
    ent = _small_codes(entity_code)[perm]
    miss = miss_in[perm]
    novel = novel_in[perm]

    def gap(prev: np.ndarray, cur: np.ndarray) -> np.ndarray:
        prev, cur = perm[prev], perm[cur]
        both = has_time_in[prev] & has_time_in[cur]
        return np.where(both, (ns_in[cur] - ns_in[prev]) / _NS, (order_in[cur] - order_in[prev]).astype(np.float64))

    new_session = np.ones(n_rows, dtype=bool)
    new_session[1:] = ent[1:] != ent[:-1]
    if settings.session_timeout is not None and n_rows > 1:
        new_session[1:] |= gap(np.arange(n_rows - 1), np.arange(1, n_rows)) > settings.session_timeout
    session = np.cumsum(new_session, dtype=index_dtype(n_rows))
    session -= 1
    del new_session
    n_sessions = int(session[-1] + 1) if n_rows else 0

    kofn, nn, window_lo, nn_index = _k_of_n(miss, novel, session, settings.n)
    del session

    # Firings, grouped by signature (entity, type, template) and in log order within each.
    fire = np.flatnonzero(novel | (miss & (kofn >= settings.k)))
    ftype = novel[fire].astype(np.int64)
    sig = (ent[fire].astype(np.int64) * 2 + ftype) * max(n_templates, 1) + template_code[perm[fire]]
    by_sig = np.lexsort((fire, sig))
    fire, ftype, sig = fire[by_sig], ftype[by_sig], sig[by_sig]
    same = np.zeros(len(fire), dtype=bool)
    same[1:] = sig[1:] == sig[:-1]
    cooldown = np.where(ftype == 1, float(settings.cooldown_novelty), float(settings.cooldown_seq))
    since = np.full(len(fire), np.inf)
    since[1:] = gap(fire[:-1], fire[1:])
    folded = same & (cooldown > 0) & (since <= cooldown)
    opens = ~folded
    # Alerts are numbered in log order of their opening firing.
    open_pos = fire[opens]
    by_log = np.lexsort((perm[open_pos], order_in[perm[open_pos]]))
    n_alerts = len(open_pos)
    renumber = np.empty(n_alerts, dtype=np.int64)
    renumber[by_log] = np.arange(n_alerts)
    alert_of_fire = renumber[np.cumsum(opens) - 1]

    pair_alert, pair_pos = _evidence(fire, ftype, alert_of_fire, miss, nn, window_lo, nn_index)

    counts = {"predictions": n_rows, "misses": int(miss.sum()), "novel": int(novel.sum()),
              "failed": int((miss | novel).sum()), "sessions": n_sessions,
              "firings": int(len(fire)), "suppressed": int(folded.sum())}
    fired = _Fired(perm[pair_pos], pair_alert, n_alerts, perm[open_pos[by_log]], ent[open_pos[by_log]],
                   np.asarray(TYPES, dtype=object)[ftype[opens][by_log]],
                   np.bincount(alert_of_fire, minlength=n_alerts) - 1, None, None, None, counts)
    if per_row:
        verdict = np.where(miss, MISS, OK).astype(np.int8)
        verdict[open_pos] = np.where(ftype[opens] == 1, NOVEL, ALERT)
        verdict[fire[folded]] = SUPPRESSED
        alert_id = np.full(n_rows, -1, dtype=np.int64)
        alert_id[fire] = alert_of_fire
        fired.kofn = _unsort(kofn.astype(np.int64, copy=False), perm)
        fired.verdict, fired.alert_id = _unsort(verdict, perm), _unsort(alert_id, perm)
    return fired


def _summary(fired: _Fired, alerts: pd.DataFrame, n_entities: int, settings: AlertSettings) -> dict:
    c = fired.counts
    failed, n_alerts = c["failed"], fired.n_alerts
    by_type = alerts["type"].value_counts()
    return {
        "predictions": c["predictions"], "misses": c["misses"], "novel": c["novel"], "failed": failed,
        "entities": int(n_entities), "sessions": c["sessions"],
        "firings": c["firings"],
        "alerts": n_alerts, "alerts_by_type": {t: int(by_type.get(t, 0)) for t in TYPES},
        "suppressed": c["suppressed"],
        # One alert instead of every failed prediction: the noise the rules take away.
        "failed_per_alert": failed / n_alerts if n_alerts else None,
        "reduction": 1.0 - n_alerts / failed if failed else 0.0,
        "settings": asdict(settings),
    }


# ---- steps ----------------------------------------------------------------------------------------
def _normalise(pred: pd.DataFrame) -> pd.DataFrame:
    """A copy with every column present and of one type; DataError on what cannot be read."""
    if not isinstance(pred, pd.DataFrame):
        raise DataError("alert rules take the predictions as a pandas DataFrame")
    missing = [c for c in REQUIRED if c not in pred.columns]
    if missing:
        raise DataError(f"predictions lack column(s) {', '.join(missing)}")
    df = pred.reset_index(drop=True).copy()
    n = len(df)
    if df["order"].isna().any():
        raise DataError("predictions: 'order' must be set on every row")
    try:
        df["order"] = df["order"].astype(np.int64)
        df["line_no"] = df["line_no"].astype("Int64") if "line_no" in df.columns else pd.array([pd.NA] * n, "Int64")
        df["score"] = df["score"].astype(np.float64) if "score" in df.columns else np.nan
    except (TypeError, ValueError) as exc:
        raise DataError(f"predictions: 'order', 'line_no' and 'score' must be numbers ({exc})") from None
    for col in ("is_miss", "is_novel"):
        df[col] = df[col].fillna(False).astype(bool)
    df["entity"] = df["entity"].astype("string").fillna(NO_ENTITY).astype(str)
    df["template"] = df["template"].astype("string").fillna("").astype(str)
    for col in ("source", "raw"):
        df[col] = df[col].astype("string").fillna("").astype(str) if col in df.columns else ""
    df["time"] = _utc(df["time"]) if "time" in df.columns else pd.Series(pd.NaT, index=df.index,
                                                                          dtype="datetime64[ns, UTC]")
    if "expected" not in df.columns:
        df["expected"] = pd.Series([[]] * n, index=df.index, dtype=object)
    return df


def _utc(time: pd.Series) -> pd.Series:
    try:
        if not isinstance(time.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_dtype(time.dtype):
            return pd.to_datetime(time, utc=True)
        return time.dt.tz_localize("UTC") if time.dt.tz is None else time.dt.tz_convert("UTC")
    except (TypeError, ValueError) as exc:
        raise DataError(f"predictions: 'time' is not a time column ({exc})") from None


def nanoseconds_at(time: pd.Series, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_nanoseconds(_utc(time.iloc[rows]))`` for a datetime column, read from its int64 epoch values
    (what a zone-aware column holds, in UTC) at ``rows`` only: no converted copies of the whole
    column. Other columns, and values beyond what nanoseconds hold, go the general way."""
    dtype = time.dtype
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        scale = {"s": _NS, "ms": 1_000_000, "us": 1_000, "ns": 1}.get(time.dt.unit)
        values = time.array.asi8[rows]
        has = values != np.iinfo(np.int64).min  # NaT
        limit = np.iinfo(np.int64).max // scale if scale else 0
        if scale and not (np.abs(values[has]) > limit).any():
            return np.where(has, values * scale, 0), has
    return _nanoseconds(_utc(time.iloc[rows].reset_index(drop=True)))


def _nanoseconds(time: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """int64 nanoseconds since the epoch (0 where missing) and the has-a-time mask."""
    values = time.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
    has = ~np.isnat(values)
    return np.where(has, values.astype(np.int64), 0), has


def _k_of_n(miss, novel, session, n):
    """Misses among the last ``n`` non-novel predictions of each session, per row (novel rows: the
    count of the non-novel prediction before them). Also the non-novel rows ``nn``, each one's window
    start (an index into ``nn``) and, per row, the index into ``nn`` of the last non-novel row so far.
    Positions and counts in int32 below 2**31 rows: the same values in half the bytes of int64."""
    index = index_dtype(len(miss))
    nn = np.flatnonzero(~novel).astype(index, copy=False)
    cum = np.zeros(len(nn) + 1, dtype=index)
    np.cumsum(miss[nn], dtype=index, out=cum[1:])
    j = np.arange(len(nn), dtype=index)
    s_nn = session[nn]
    starts = np.ones(len(nn), dtype=bool)
    starts[1:] = s_nn[1:] != s_nn[:-1]
    window_lo = np.where(starts, j, 0)
    del starts
    np.maximum.accumulate(window_lo, out=window_lo)
    np.maximum(window_lo, j - (n - 1), out=window_lo)
    count = cum[1:] - cum[window_lo]  # cum[j + 1] - cum[window_lo]
    del cum, j
    nn_index = np.cumsum(~novel, dtype=index)
    nn_index -= 1
    kofn = np.zeros(len(miss), dtype=index)
    has = nn_index >= 0
    has[has] = s_nn[nn_index[has]] == session[has]
    kofn[has] = count[nn_index[has]]
    return kofn, nn, window_lo, nn_index


def _integers(values: Any) -> np.ndarray:
    """An integer column as it is (int32 log positions stay int32: only firings' gaps are computed
    from them, in float64); anything else as int64."""
    values = np.asarray(values)
    return values if values.dtype.kind in "iu" else values.astype(np.int64)


def _small_codes(codes: np.ndarray) -> np.ndarray:
    """Non-negative codes in the smallest dtype that holds them (others as they are)."""
    if len(codes) == 0 or codes.min() < 0:
        return codes
    return compact_codes(codes, int(codes.max()) + 1)


def _entity_log_order(entity_code: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``np.lexsort((np.arange(n), order, entity_code))``: rows by entity, then log order, then input
    position. When the input is already in log order (what run_prediction_alerts gives), that is a
    stable sort by entity alone, a radix sort when the entities fit 16 bits."""
    n = len(order)
    if n > 1 and entity_code.min() >= 0 and bool(np.all(order[1:] >= order[:-1])):
        return np.argsort(_small_codes(entity_code), kind="stable")
    return np.lexsort((np.arange(n), order, entity_code))


def _evidence(fire, ftype, alert_of_fire, miss, nn, window_lo, nn_index):
    """(alert, sorted row) pairs of every alert's evidence, sorted by alert then log order."""
    novelty = ftype == 1
    seq_fire, seq_alert = fire[~novelty], alert_of_fire[~novelty]
    hi = nn_index[seq_fire]
    lo = window_lo[hi]
    # Firings of one alert are adjacent and in log order; clipping each window to start after the
    # previous one ends leaves disjoint pieces covering their union, so no row is listed twice.
    cont = np.zeros(len(hi), dtype=bool)
    cont[1:] = seq_alert[1:] == seq_alert[:-1]
    lo[cont] = np.maximum(lo[cont], hi[np.flatnonzero(cont) - 1] + 1)
    miss_nn = np.flatnonzero(miss[nn])
    a = np.searchsorted(miss_nn, lo, "left")
    cnt = np.maximum(np.searchsorted(miss_nn, hi, "right") - a, 0)
    take = np.repeat(a, cnt) + _ranks(cnt)
    alert = np.concatenate([alert_of_fire[novelty], np.repeat(seq_alert, cnt)])
    pos = np.concatenate([fire[novelty], nn[miss_nn[take]]])
    by_alert = np.lexsort((pos, alert))
    return alert[by_alert], pos[by_alert]


def _alert_table(df, rows_in, pair_alert, n_alerts, entities, types, opener, suppressed,
                 template_names, template_code, max_samples) -> pd.DataFrame:
    """The alerts from their evidence: ``rows_in`` (rows of ``df``, grouped by ``pair_alert``) and their
    opening rows ``opener``; ``template_code`` gives ``df``'s rows their index into ``template_names``."""
    counts = np.bincount(pair_alert, minlength=n_alerts)
    offs = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    first_in, last_in = rows_in[offs[:-1]], rows_in[offs[1:] - 1]

    def lists(values: list) -> list[list]:
        return [values[a:b] for a, b in zip(offs[:-1], offs[1:])]

    line_no = df["line_no"].iloc[rows_in]
    raw = df["raw"].to_numpy(dtype=object)[rows_in]
    keep = raw != ""
    # Rank of each non-empty raw line within its alert: sample the first max_samples.
    nonempty_before = np.cumsum(keep) - keep
    rank = nonempty_before - np.repeat(nonempty_before[offs[:-1]], counts)
    sampled = keep & (rank < max_samples)
    sample_bounds = np.searchsorted(pair_alert[sampled], np.arange(n_alerts + 1))
    sample_values = raw[sampled].tolist()
    score = df["score"].to_numpy(np.float64)[rows_in]
    miss_rows = df["is_miss"].to_numpy(bool)[rows_in]
    exp_lists = [_as_list(x) if m else [] for x, m in zip(df["expected"].to_numpy(dtype=object)[rows_in], miss_rows)]
    exp_codes, exp_names = pd.factorize(pd.Series([t for x in exp_lists for t in x], dtype=object))
    exp_alert = np.repeat(pair_alert, np.fromiter(map(len, exp_lists), np.int64, len(exp_lists)))
    time = df["time"]
    return pd.DataFrame({
        "alert_id": np.arange(n_alerts, dtype=np.int64),
        "entity": pd.Series(entities, dtype=object).astype(str),
        "type": pd.Series(types, dtype=object).astype(str),
        "source": df["source"].iloc[opener].reset_index(drop=True),
        "first_time": time.iloc[first_in].reset_index(drop=True),
        "last_time": time.iloc[last_in].reset_index(drop=True),
        "first_line": df["line_no"].iloc[first_in].reset_index(drop=True),
        "last_line": df["line_no"].iloc[last_in].reset_index(drop=True),
        "first_order": df["order"].to_numpy(np.int64)[first_in],
        "last_order": df["order"].to_numpy(np.int64)[last_in],
        "rows": _objects(lists(df["order"].to_numpy(np.int64)[rows_in].tolist())),
        "line_nos": _objects(lists(line_no.astype(object).where(line_no.notna(), None).tolist())),
        "failed_count": counts.astype(np.int64),
        "suppressed_count": suppressed.astype(np.int64),
        "templates": _objects(_ranked_distinct(pair_alert, template_code[rows_in], n_alerts, template_names)),
        "expected_templates": _objects(_ranked_distinct(exp_alert, exp_codes, n_alerts, exp_names)),
        "sample_raw": _objects([sample_values[a:b] for a, b in zip(sample_bounds[:-1], sample_bounds[1:])]),
        "score": np.fmax.reduceat(score, offs[:-1]) if n_alerts else np.zeros(0),
    }, columns=list(ALERT_COLUMNS))


# ---- helpers --------------------------------------------------------------------------------------
def _ranked_distinct(groups: np.ndarray, codes: np.ndarray, n_groups: int, names) -> list[list[str]]:
    """Per group, the distinct names of its codes, most frequent first (ties: first seen)."""
    if len(codes) == 0:
        return [[] for _ in range(n_groups)]
    width = int(codes.max()) + 1
    key = groups.astype(np.int64) * width + codes
    uniq, first, counts = np.unique(key, return_index=True, return_counts=True)
    by = np.lexsort((first, -counts, uniq // width))
    group, code = (uniq // width)[by], (uniq % width)[by]
    labels = np.asarray(names, dtype=object)[code].tolist()
    bounds = np.searchsorted(group, np.arange(n_groups + 1))
    return [labels[a:b] for a, b in zip(bounds[:-1], bounds[1:])]


def _objects(values: list) -> pd.Series:
    """A column of Python lists (object dtype even when empty)."""
    return pd.Series(values, dtype=object)


def _as_list(x) -> list[str]:
    if isinstance(x, (list, tuple, np.ndarray)):
        return [str(t) for t in x]
    return []


def _ranks(lengths: np.ndarray) -> np.ndarray:
    """0..len-1 for each group, concatenated: [2, 3] -> [0, 1, 0, 1, 2]."""
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(int(lengths.sum()), dtype=np.int64) - starts


def _unsort(values: np.ndarray, perm: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    out[perm] = values
    return out
