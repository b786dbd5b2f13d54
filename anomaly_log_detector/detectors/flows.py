"""Identifier flows: lines that share an identifier, followed across processes.

An SSH login writes lines from sshd (its pid, a port), systemd-logind and systemd (a session number);
a container's start and exit come from dockerd (its id) and the kernel (its veth interface); a cron
run is one CRON pid. A per-process sequence model sees these steps interleaved with every other
session of the host, so a session whose steps come in the wrong order, or that starts in the middle,
hides in the crowd. This detector links the lines of one *flow* by the identifier they share and
learns, from normal lines, which step follows which.

**Identifiers** are learned, not listed. A line's candidate tokens are the words of its message that
hold a digit (3+ characters: ``51234``, ``3f2a9c1b7e04``, ``veth1a2b3c4``; an IPv4 address or a
dash-joined UUID is one token, never a few digits of it) plus its header pid; a
*slot* is (template, position among those tokens) or (template, pid). A slot is an identifier when,
in the training lines, most of its values link 2..``max_lines`` lines of one host within ``gap``
seconds, its values are varied (a constant is a name, not an id), and its numbers do not follow the
line's own clock (a kernel uptime or an epoch stamp links lines of one second, not of one flow).
Identifier slots that link the same lines form a *family* (the port of ``Accepted ... port N`` and of
``Disconnected ... port N``); a flow is the lines of one source and host with one value in one family,
cut at ``gap`` seconds of quiet.

**Steps** are the lines' templates; a template is split into its variants (the masked text) when one
flow normally passes through several of them (``entered blocking / forwarding / disabled state`` is
one template but three steps of a container's network port).

**Learned from normal flows**: every step -> next step transition; the steps that start a flow and
those that end one (only where the flow could not have begun before its file or continued after it:
see below); per step, how long after its flow's start it can come (``since``) and the longest wait
for the next step (``next_gap``).

**Flagged** (``kind``), on a target:

* ``order``: a transition between two known steps that no normal flow made (a swapped or reversed
  session), unless the two lines disagree on an identifier of another family (two sessions that
  share a port number by chance, with different sshd pids: a collision, not a disorder);
* ``start``: a flow that opens with a step no normal flow opens with, later in its file than that step
  ever comes after a flow's start (earlier, the flow may have begun before the file did);
* ``end``: a flow whose last step never ends a normal flow, with more of its file after it than
  twice the longest normal wait for the next step plus a minute (a run that stopped half-way).

Steps the training never saw in a flow are not judged (an unseen message is novelty's business).
Lines without a timestamp are in no flow. Nothing is learned from labels; the settings below are
round numbers, documented here, the same for every log. Saved as JSON (``flows.json``).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd

from anomaly_log_detector.detectors.base import Detector
from anomaly_log_detector.detectors.flow_scoring import flag_batches, flag_flows
from anomaly_log_detector.detectors.flow_tokens import (PID_SLOT, VARIANT, _codes, pairs, text as _text,
                                                        tokens as _tokens)
from anomaly_log_detector.errors import DataError, ModelError
from anomaly_log_detector.fileio.jsonio import check_format, finite, read_json, write_json_atomic

FORMAT = "alog-detect/flows"
VERSION = 1
REQUIRED = ("template", "content", "timestamp")
KINDS = ("order", "start", "end")
FLAG_COLUMNS = ["row", "kind", "identifier", "step", "previous", "expected", "flow_lines"]


def _seconds(X: pd.DataFrame) -> np.ndarray:
    ts = pd.to_datetime(X["timestamp"], utc=True, errors="coerce")
    return ((ts - pd.Timestamp(0, tz="UTC")).dt.total_seconds()).to_numpy(float)


def _slot_names(e: pd.DataFrame) -> np.ndarray:
    code, names = _slot_codes(e)
    return names[code]


def _slot_codes(e: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each token's slot ``f"{k}\t{template}"`` as a code into the distinct slot names (each made once)."""
    if not len(e):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    k_code, k_names = pd.factorize(e["k"].to_numpy(np.int64))
    t_code, t_names = pd.factorize(e["template"])
    names, code = pairs(k_code, k_names, t_code, t_names)
    return code, np.asarray(names, dtype=object)


def _streams(e: pd.DataFrame, t: np.ndarray, family: np.ndarray, gap: float) -> pd.DataFrame:
    """``e`` sorted into flows: the same group, family and value, cut at `gap` seconds of quiet;
    adds ``stream`` (flow number) and keeps one entry per (flow, line)."""
    e = e.assign(family=family)
    # A stable sort by (group, family, value, row) over sorted codes: the order of sorting the text.
    cols = [pd.factorize(e[c], sort=True)[0] for c in ("group", "family", "value")]
    row = e["row"].to_numpy(np.int64)
    order = np.lexsort((row, cols[2], cols[1], cols[0]))
    e = e.take(order).reset_index(drop=True)
    cols, row = [c[order] for c in cols], row[order]
    tt = t[row]
    same = np.zeros(len(e), dtype=bool)
    if len(e) > 1:
        same[1:] = np.logical_and.reduce([c[1:] == c[:-1] for c in cols]) & ((tt[1:] - tt[:-1]) <= gap)
    stream = np.cumsum(~same) - 1
    e["stream"] = stream
    # One entry per (flow, line): a flow's entries are adjacent and in row order, so a line's repeats
    # follow its first entry.
    first = np.ones(len(e), dtype=bool)
    first[1:] = (stream[1:] != stream[:-1]) | (row[1:] != row[:-1])
    return e[first].reset_index(drop=True)


def _clock_slots(e: pd.DataFrame, t: np.ndarray, seconds: float) -> set[str]:
    """Slots whose numbers follow the line's own clock (value - time nearly constant per group)."""
    num = pd.to_numeric(e["value"], errors="coerce").to_numpy(float)
    d = pd.DataFrame({"slot": e["slot"].to_numpy(), "group": e["group"].to_numpy(),
                      "d": num - t[e["row"].to_numpy()]})
    numeric = d.groupby("slot")["d"].apply(lambda x: x.notna().mean())
    d = d[d["slot"].isin(numeric.index[numeric > 0.5]) & d["d"].notna()]
    if d.empty:
        return set()
    med = d.groupby(["slot", "group"])["d"].transform("median")
    d = d.assign(dev=(d["d"] - med).abs())
    spread = d.groupby(["slot", "group"])["dev"].median().reset_index()
    share = (spread["dev"] < seconds).groupby(spread["slot"]).mean()
    return set(share.index[share > 0.5])


def _families(e: pd.DataFrame, link: float) -> dict[str, str]:
    """Identifier slots that link the same flows, as one family name per slot (union-find): two slots
    join when they share flows in at least `link` of the rarer one's flows."""
    slots = sorted(set(e["slot"]))
    parent = {s: s for s in slots}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    per = e[["stream", "slot"]].drop_duplicates()
    flows_of = per.groupby("slot").size()
    pairs = per.merge(per, on="stream")
    pairs = pairs[pairs["slot_x"] < pairs["slot_y"]].groupby(["slot_x", "slot_y"]).size()
    for (a, b), n in pairs.items():
        if n >= link * min(flows_of[a], flows_of[b]):
            parent[find(a)] = find(b)
    return {s: find(s) for s in slots}


class FlowDetector(Detector):
    """Order, start and end of identifier flows (module docstring) over parsed lines: ``template``,
    ``content``, ``timestamp``, and where present ``masked``, ``host``, ``process``, ``pid``, ``source``.

    ``score(X)`` is 1.0 for a flagged line, else 0.0; ``threshold_`` is 0.5."""

    name = "flows"

    def __init__(self, gap: float = 3600.0, max_lines: int = 50, min_linked: float = 0.5,
                 min_distinct: float = 0.2, clock_seconds: float = 5.0, family_link: float = 0.2,
                 max_variants: int = 20, min_split: float = 0.2):
        self.gap = gap
        self.max_lines = max_lines
        self.min_linked = min_linked
        self.min_distinct = min_distinct
        self.clock_seconds = clock_seconds
        self.family_link = family_link
        self.max_variants = max_variants
        self.min_split = min_split

    # ---- learning ---------------------------------------------------------------------------
    def fit(self, X: pd.DataFrame, y=None) -> "FlowDetector":
        """Learn the identifier slots, their families, the split templates and the normal flows' steps."""
        _check(X)
        t = _seconds(X)
        e = _tokens(X, t)
        e["slot"] = _slot_names(e)
        self.slots_, self.split_ = {}, []
        self.keys_, self.transitions_, self.starts_, self.ends_ = [], {}, {}, {}
        self.since_, self.next_gap_ = [], []
        self.threshold_ = 0.5
        if e.empty:
            return self
        linked = _streams(e, t, np.zeros(len(e), dtype=np.int64), self.gap)
        size = linked.groupby("stream")["row"].transform("size")
        linked["ok"] = (size >= 2) & (size <= self.max_lines)
        stats = linked.groupby("slot").agg(ok=("ok", "mean"), n=("ok", "size"), distinct=("value", "nunique"))
        ids = set(stats.index[(stats["ok"] >= self.min_linked) & (stats["distinct"] >= self.min_distinct * stats["n"])])
        ids -= _clock_slots(e[e["slot"].isin(ids)], t, self.clock_seconds)
        e = e[e["slot"].isin(ids)].reset_index(drop=True)
        if e.empty:
            return self
        family = _families(_streams(e, t, np.zeros(len(e), dtype=np.int64), self.gap), self.family_link)
        self.slots_ = family
        flows = _streams(e, t, e["slot"].map(family).to_numpy(dtype=object), self.gap)
        self.split_ = self._split_templates(X, flows)
        self._learn_steps(X, t, flows)
        return self

    def _split_templates(self, X: pd.DataFrame, flows: pd.DataFrame) -> list[str]:
        """Templates whose masked variants are distinct steps: one flow passes through several of them
        in at least `min_split` of the flows holding the template (and it has few variants)."""
        if "masked" not in X.columns:
            return []
        masked = _text(X, "masked")
        f = flows[["stream", "row", "template"]].assign(masked=masked[flows["row"].to_numpy()])
        per = f.groupby(["template", "stream"])["masked"].nunique()
        share = (per > 1).groupby(level="template").mean()
        variants = pd.Series(masked).groupby(_text(X, "template")).nunique()
        return sorted(str(x) for x in share.index[share >= self.min_split]
                      if variants.get(x, 0) <= self.max_variants)

    def _step_names(self, X: pd.DataFrame, rows: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """The step key of each of ``rows`` - its template, or ``template<VARIANT>masked`` for a split
        template - as (code per row, the keys coded): each distinct key made into a string once."""
        t_code, t_names = _codes(X, "template")
        t_code = t_code[rows]
        names = list(t_names)
        if self.split_:
            split = pd.Index(t_names, dtype=object).isin(self.split_)[t_code]
            m_code, m_names = _codes(X, "masked")
            keys, inv = pairs(t_code[split], t_names, m_code[rows][split], m_names, sep=VARIANT)
            t_code = t_code.copy()
            t_code[split] = len(names) + inv
            names += keys
        return t_code, names

    def _step_codes(self, X: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
        """The step (index in ``keys_``, -1 if unknown) of each of ``rows``."""
        code, names = self._step_names(X, rows)
        return pd.Index(self.keys_, dtype=object).get_indexer(pd.Index(names, dtype=object)).astype(np.int64)[code]

    def _learn_steps(self, X: pd.DataFrame, t: np.ndarray, flows: pd.DataFrame) -> None:
        rows = flows["row"].to_numpy()
        stream = flows["stream"].to_numpy()
        code, names = self._step_names(X, rows)
        key = np.asarray(names, dtype=object)[code]
        names, code = np.unique(key.astype(str), return_inverse=True)
        self.keys_ = [str(x) for x in names]
        first, last, nxt = _edges(stream)
        tt = t[rows]
        since = tt - tt[first]
        self.since_ = _max_by(code, since, len(names))
        wait = np.where(nxt >= 0, tt[np.maximum(nxt, 0)] - tt, np.nan)
        self.next_gap_ = _max_by(code, np.nan_to_num(wait, nan=0.0), len(names))
        pairs = code[nxt >= 0] * len(names) + code[nxt[nxt >= 0]]
        p, n = np.unique(pairs, return_counts=True)
        self.transitions_ = {int(a): int(c) for a, c in zip(p, n)}
        start_t, end_t = _edge_times(X, rows, None)
        opens = first == np.arange(len(rows))
        closes = last == np.arange(len(rows))
        # A flow seen from its first step: later in its file than that step ever follows a start.
        whole_start = opens & (tt - start_t > np.asarray(self.since_)[code] + 1.0)
        whole_end = closes & (end_t - tt > 2 * np.asarray(self.next_gap_)[code] + 60.0)
        self.starts_ = _counts(code[whole_start])
        self.ends_ = _counts(code[whole_end])

    def extend(self, X: pd.DataFrame) -> "FlowDetector":
        """Take in more normal lines: a model fitted on them alone is merged in (identifier slots,
        split templates, steps, transitions, starts, ends; the longest times)."""
        self._check_fitted()
        other = FlowDetector(**self.get_params()).fit(X)
        merged = {**other.slots_, **self.slots_}
        keys = sorted(set(self.keys_) | set(other.keys_))
        index = {k: i for i, k in enumerate(keys)}

        def remap(det: "FlowDetector") -> tuple[dict, dict, dict, np.ndarray, np.ndarray]:
            m = np.array([index[k] for k in det.keys_], dtype=np.int64)
            n = len(det.keys_)
            trans = {int(m[a // n] * len(keys) + m[a % n]): c for a, c in det.transitions_.items()}
            since, wait = np.zeros(len(keys)), np.zeros(len(keys))
            since[m], wait[m] = det.since_, det.next_gap_
            return (trans, {int(m[k]): c for k, c in det.starts_.items()},
                    {int(m[k]): c for k, c in det.ends_.items()}, since, wait)

        a, b = remap(self), remap(other)
        self.slots_, self.split_, self.keys_ = merged, sorted(set(self.split_) | set(other.split_)), keys
        self.transitions_, self.starts_, self.ends_ = (_add(a[0], b[0]), _add(a[1], b[1]), _add(a[2], b[2]))
        self.since_ = [float(x) for x in np.maximum(a[3], b[3])]
        self.next_gap_ = [float(x) for x in np.maximum(a[4], b[4])]
        return self

    # ---- scoring ----------------------------------------------------------------------------
    def flag(self, X: pd.DataFrame, edges: dict[str, tuple[float, float]] | None = None) -> pd.DataFrame:
        """The flagged lines (FLAG_COLUMNS): ``row`` (position in X), ``kind`` (order/start/end), the
        flow's ``identifier``, the line's ``step``, the ``previous`` step (order), the ``expected``
        steps (what normally follows the previous step, opens a flow, or follows the last step;
        most frequent first, at most 3) and ``flow_lines``. One row per (line, kind).

        ``edges`` gives each source's first and last time (epoch seconds) when ``X`` holds only some
        of its lines (default: the times in ``X``)."""
        self._check_fitted()
        _check(X)
        empty = _empty_flags()
        if not self.slots_ or not self.keys_:
            return empty
        t = _seconds(X)
        e = _tokens(X, t, self._wanted())
        # Slots and families looked up once per distinct slot, not once per token.
        slot, names = _slot_codes(e)
        family_of = np.array([self.slots_.get(str(x)) for x in names], dtype=object)
        keep = np.array([f is not None for f in family_of], dtype=bool)[slot]
        e = e[keep].reset_index(drop=True)
        if e.empty:
            return empty
        family = family_of[slot[keep]]
        del slot, keep
        # Scoring needs the flows' rows, values and families only: the template text of every token
        # would be copied by each sort below.
        flows = _streams(e.drop(columns=["template"]), t, family, self.gap)
        del e, family
        rows, stream = flows["row"].to_numpy(), flows["stream"].to_numpy()
        start_t, end_t = _edge_times(X, rows, edges)
        fam, fam_names = pd.factorize(flows["family"])
        value = flows["value"]
        out = flag_flows(self, rows, stream, value.to_numpy(), fam, np.asarray(fam_names, dtype=object),
                         self._step_codes(X, rows), t[rows], start_t, end_t, lambda i: value.iloc[i].to_numpy())
        return empty if out is None else out

    def flag_table(self, table: Any, edges: dict[str, tuple[float, float]] | None = None,
                   between: Callable[[], None] | None = None) -> pd.DataFrame:
        """:meth:`flag` over an Arrow table of parsed lines: the frame of ``flag(table.to_pandas(), edges)``
        (with ``edges`` None, each (source, host) group's own times), scored by :meth:`flag_batches` a
        batch of rows at a time."""
        return self.flag_batches(table.to_batches(max_chunksize=65536), table.num_rows, table.column_names,
                                 edges, between)

    def flag_batches(self, batches: Any, n_rows: int, columns: list[str],
                     edges: dict[str, tuple[float, float]] | str | None = None,
                     between: Callable[[], None] | None = None) -> pd.DataFrame:
        """:meth:`flag_table` over ``n_rows`` lines that come as Arrow tables or batches with ``columns``
        (e.g. a Parquet file's row groups), rows numbered over all of them. Each batch is reduced to
        integer codes and its identifier tokens at once, flows are cut one (source, host) group at a
        time (a flow never spans two), and ``between`` runs after each group (detectors/flow_scoring.py).
        ``edges`` as in :meth:`flag_table`, or ``"file"``: each source's first and last time over all
        the batches (``file_edges`` of all the lines, without reading them twice)."""
        self._check_fitted()
        missing = [c for c in REQUIRED if c not in columns]
        if missing:
            raise DataError(f"parsed lines lack column(s) {', '.join(missing)}")
        if not self.slots_ or not self.keys_:
            return _empty_flags()
        out = flag_batches(self, batches, n_rows, edges, between)
        return _empty_flags() if out is None else out

    def summary(self) -> dict[str, int]:
        """What was learned, in counts (for the training summary)."""
        self._check_fitted()
        return {"identifier_slots": len(self.slots_), "families": len(set(self.slots_.values())),
                "split_templates": len(self.split_), "steps": len(self.keys_),
                "transitions": len(self.transitions_), "starts": len(self.starts_), "ends": len(self.ends_)}

    def _wanted(self) -> dict[str, tuple[int, bool]]:
        """Per template with identifier slots: (its highest token position that is one, -1 if none;
        whether its pid is one)."""
        out: dict[str, tuple[int, bool]] = {}
        for slot in self.slots_:
            k, template = slot.split("\t", 1)
            last, with_pid = out.get(template, (-1, False))
            out[template] = (max(last, int(k)), with_pid or int(k) == PID_SLOT)
        return out

    def templates(self) -> set[str]:
        """The templates that carry an identifier (only their lines can be in a flow)."""
        self._check_fitted()
        return {s.split("\t", 1)[1] for s in self.slots_}

    def score(self, X: pd.DataFrame) -> np.ndarray:
        out = np.zeros(len(X))
        out[self.flag(X)["row"].to_numpy(np.int64)] = 1.0
        return out

    def _show(self, code: int) -> str:
        """A step as shown: its template, or for a split template the variant (the masked text)."""
        return self.keys_[code].split(VARIANT)[-1] if code >= 0 else ""

    def _expected(self, kind: str, code: int, family: str, top: int = 3) -> list[str]:
        n = len(self.keys_)
        if kind == "start":  # the steps that open flows of this identifier's family
            if "_family_templates" not in self.__dict__:
                self._family_templates = {}
                for slot, fam in self.slots_.items():
                    self._family_templates.setdefault(fam, set()).add(slot.split("\t", 1)[1])
            mine = self._family_templates.get(family, set())
            cands = {k: c for k, c in self.starts_.items() if self.keys_[k].split(VARIANT, 1)[0] in mine}
        else:
            cands = {a % n: cnt for a, cnt in self.transitions_.items() if a // n == code}
        best = sorted(cands.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return [self._show(k) for k, _ in best]

    # ---- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"format": FORMAT, "version": VERSION, "params": self.get_params(),
                "slots": self.slots_, "split": self.split_, "keys": self.keys_,
                "transitions": [[a, c] for a, c in sorted(self.transitions_.items())],
                "starts": [[k, c] for k, c in sorted(self.starts_.items())],
                "ends": [[k, c] for k, c in sorted(self.ends_.items())],
                "since": self.since_, "next_gap": self.next_gap_, "threshold": self.threshold_}

    def save(self, path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path) -> "FlowDetector":
        return cls.from_dict(read_json(path, "flow model", ModelError), str(path))

    @classmethod
    def from_dict(cls, state: Any, where: str = "flow model") -> "FlowDetector":
        """Rebuild and validate a model saved by :meth:`save` (ModelError naming `where` if invalid)."""
        check_format(state, FORMAT, VERSION, where, "flow model", ModelError)
        try:
            params = state["params"]
            if not isinstance(params, dict):
                raise ValueError("params must be an object")
            det = cls(**{k: finite(v, k) for k, v in params.items()})
            det.max_lines, det.max_variants = int(det.max_lines), int(det.max_variants)
            slots, split, keys = state["slots"], state["split"], state["keys"]
            if not (isinstance(slots, dict) and all(isinstance(v, str) for v in slots.values())):
                raise ValueError("slots must map slot names to family names")
            if not (isinstance(split, list) and all(isinstance(x, str) for x in split)):
                raise ValueError("split must be a list of templates")
            if not (isinstance(keys, list) and all(isinstance(x, str) for x in keys)):
                raise ValueError("keys must be a list of strings")
            n = len(keys)
            det.slots_, det.split_, det.keys_ = {str(k): v for k, v in slots.items()}, split, keys
            det.transitions_ = _pairs(state["transitions"], n * n, "transitions")
            det.starts_, det.ends_ = _pairs(state["starts"], n, "starts"), _pairs(state["ends"], n, "ends")
            det.since_ = [finite(x, "since", 0.0) for x in state["since"]]
            det.next_gap_ = [finite(x, "next_gap", 0.0) for x in state["next_gap"]]
            if len(det.since_) != n or len(det.next_gap_) != n:
                raise ValueError("since and next_gap need one number per step")
            det.threshold_ = finite(state["threshold"], "threshold")
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{where}: invalid flow model ({exc})") from None
        return det


def _empty_flags() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in FLAG_COLUMNS}).astype({"row": "int64", "flow_lines": "int64"})


def flow_columns(available) -> list[str]:
    """The parsed columns the detector reads (those of them present in `available`)."""
    wanted = ("source", "timestamp", "host", "process", "pid", "content", "masked", "template")
    return [c for c in wanted if c in set(available)]


def _edges(stream: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per entry of flows sorted by (stream, row): the index of its flow's first and last entry, and
    of the next entry of its flow (-1 at the last)."""
    n = len(stream)
    new = np.ones(n, dtype=bool)
    new[1:] = stream[1:] != stream[:-1]
    starts = np.flatnonzero(new)
    first = starts[np.cumsum(new) - 1]
    ends = np.r_[starts[1:], n] - 1
    last = ends[np.cumsum(new) - 1]
    nxt = np.where(np.arange(n) < last, np.arange(n) + 1, -1)
    return first, last, nxt


def file_edges(X: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Each source's first and last time (epoch seconds) in ``X``."""
    # Codes of the distinct sources, not one Python string per line.
    source = (X["source"].astype("string").fillna("") if "source" in X.columns
              else pd.Series("", index=X.index, dtype="string"))
    code, names = pd.factorize(source, sort=True)
    times = pd.Series(_seconds(X)).groupby(code)
    lo, hi = times.min(), times.max()
    return {str(names[k]): (float(lo[k]), float(hi[k])) for k in lo.index}


def _edge_times(X: pd.DataFrame, rows: np.ndarray, edges: dict | None) -> tuple[np.ndarray, np.ndarray]:
    """The first and last time of the source of each of ``rows`` (``edges``, default: ``X``'s own)."""
    edges = file_edges(X) if edges is None else edges
    code, src = _codes(X, "source")  # each source looked up once
    code = code[rows]
    lo = np.array([edges[k][0] if k in edges else np.nan for k in src], dtype=float)
    hi = np.array([edges[k][1] if k in edges else np.nan for k in src], dtype=float)
    return lo[code], hi[code]


def _max_by(code: np.ndarray, values: np.ndarray, n: int) -> list[float]:
    out = np.zeros(n)
    np.maximum.at(out, code, values)
    return [float(x) for x in out]


def _counts(code: np.ndarray) -> dict[int, int]:
    k, c = np.unique(code, return_counts=True)
    return {int(a): int(b) for a, b in zip(k, c)}


def _add(a: dict, b: dict) -> dict:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0) + v
    return out


def _pairs(items: Any, limit: int, what: str) -> dict[int, int]:
    if not isinstance(items, list):
        raise ValueError(f"{what} must be a list")
    out = {}
    for item in items:
        if not (isinstance(item, list) and len(item) == 2 and all(type(x) is int for x in item)
                and 0 <= item[0] < limit and item[1] > 0):
            raise ValueError(f"{what} must hold [index, count] pairs within the steps")
        out[item[0]] = item[1]
    return out


def _check(X: pd.DataFrame) -> None:
    if not isinstance(X, pd.DataFrame):
        raise DataError("the flow detector takes parsed lines as a pandas DataFrame")
    missing = [c for c in REQUIRED if c not in X.columns]
    if missing:
        raise DataError(f"parsed lines lack column(s) {', '.join(missing)}")
