"""Scoring identifier flows (:mod:`anomaly_log_detector.detectors.flows`) with integer codes.

:func:`flag_batches` scores parsed lines that arrive as Arrow tables (a Parquet file's row groups):
each batch is reduced at once to what scoring needs, and its text is dropped. A line of a template
with identifiers keeps its time, step (index in ``keys_``) and (source, host) group in dense arrays
over the rows; each of its identifier tokens keeps its row, family (code) and value (Arrow text).
Flows are then cut one (source, host) group at a time over codes: the values are ranked once per group
(their sort order, as :func:`flows._streams` sorts the text), and only flagged entries' values become
Python strings. :func:`flag_flows` turns sorted flows into flags; :meth:`FlowDetector.flag` shares it.
"""

from __future__ import annotations

from typing import Callable, Iterable

import numpy as np
import pandas as pd

from anomaly_log_detector.detectors.flow_tokens import PID_SLOT, message_tokens

NO_TIME = (np.nan, np.nan)
VARIANT = "\x1f"  # joins a template and its masked variant in a step key (flows.VARIANT)


def flag_flows(det, rows: np.ndarray, stream: np.ndarray, value: np.ndarray, fam: np.ndarray,
               fam_names: np.ndarray, code: np.ndarray, tt: np.ndarray, start_t: np.ndarray,
               end_t: np.ndarray, identifier: Callable[[np.ndarray], np.ndarray]) -> pd.DataFrame | None:
    """The flags (FLAG_COLUMNS, sorted by row and kind, one per (row, kind)) of flow entries sorted by
    (stream, row): each entry's output ``rows``, ``stream``, ``value`` and ``fam`` (codes, or anything
    comparable), the step ``code``, time ``tt`` and its source's first and last time; ``identifier``
    gives the value text of some entries. None when nothing is flagged."""
    from anomaly_log_detector.detectors.flows import _edges

    n = len(det.keys_)
    first, last, nxt = _edges(stream)
    since, wait = np.asarray(det.since_), np.asarray(det.next_gap_)
    known = code >= 0
    at = np.arange(len(rows))
    starts = np.zeros(n, dtype=bool)
    starts[list(det.starts_)] = True
    ends = np.zeros(n, dtype=bool)
    ends[list(det.ends_)] = True
    c = np.maximum(code, 0)
    bad_start = (first == at) & known & ~starts[c] & (tt - start_t > since[c] + 1.0)
    bad_end = (last == at) & known & ~ends[c] & (end_t - tt > 2 * wait[c] + 60.0)
    has_next = nxt >= 0
    nc = code[np.maximum(nxt, 0)]
    pair = c.astype(np.int64) * n + np.maximum(nc, 0)
    seen_pair = np.isin(pair, np.fromiter(det.transitions_, dtype=np.int64, count=len(det.transitions_)))
    bad_next = has_next & known & (nc >= 0) & ~seen_pair  # flagged at the next line
    if bad_next.any():
        bad_next[bad_next] = ~collisions(rows, fam, value, np.flatnonzero(bad_next), nxt)
    size = np.bincount(stream)[stream]
    parts = []
    for kind, where, line, prev in (("order", bad_next, nxt, c), ("start", bad_start, at, None),
                                    ("end", bad_end, at, None)):
        i = np.flatnonzero(where)
        if not len(i):
            continue
        parts.append(pd.DataFrame({
            "row": rows[line[i]].astype(np.int64), "kind": kind, "identifier": identifier(i),
            "step": [det._show(code[j]) for j in line[i]],
            "previous": [det._show(prev[j]) for j in i] if prev is not None else None,
            "expected": [det._expected(kind, code[j], fam_names[fam[j]]) for j in i], "flow_lines": size[i]}))
    if not parts:
        return None
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["row", "kind"], kind="stable").drop_duplicates(["row", "kind"]).reset_index(drop=True)


def collisions(rows: np.ndarray, fam: np.ndarray, value: np.ndarray, at: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Which of the transitions ``at -> nxt[at]`` join two different flows that happen to share a
    value: the two lines also carry identifiers of another family, with different values (two SSH
    sessions from different clients on the same port number: same port, different sshd pids). A real
    disorder is within one flow, whose lines agree on every identifier they both carry."""
    wanted = np.unique(np.concatenate([rows[at], rows[nxt[at]]]))
    sub = np.flatnonzero(np.isin(rows, wanted))
    ids: dict[int, dict] = {}
    for r, f, v in zip(rows[sub].tolist(), fam[sub].tolist(), value[sub].tolist()):
        ids.setdefault(r, {}).setdefault(f, set()).add(v)
    out = np.zeros(len(at), dtype=bool)
    for j, i in enumerate(at.tolist()):
        a, b = ids.get(int(rows[i]), {}), ids.get(int(rows[nxt[i]]), {})
        out[j] = any(f != fam[i] and f in b and not (a[f] & b[f]) for f in a)
    return out


def _text(batch, column: str):
    """A column of an Arrow table as large_string ("" for missing; all "" without the column)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if column not in batch.column_names:
        return pa.array([""] * batch.num_rows, pa.large_string())
    col = batch[column]
    if pa.types.is_dictionary(col.type):  # decoded chunk by chunk (each chunk has its own dictionary)
        col = col.cast(col.type.value_type)
    col = pc.fill_null(col.cast(pa.large_string()), "")
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _seconds(batch) -> np.ndarray:
    from anomaly_log_detector.detectors.flows import _seconds as seconds

    return seconds(pd.DataFrame({"timestamp": batch["timestamp"].to_pandas()}))


class _Collector:
    """What scoring keeps of the lines, filled a batch at a time (module docstring)."""

    def __init__(self, det, n_rows: int, own_edges: bool):
        import pyarrow as pa

        self.det = det
        self.templates = sorted(det.templates())
        self.template_set = pa.array(self.templates, pa.large_string())
        self.keys = pa.array(det.keys_, pa.large_string())
        self.families = np.asarray(sorted(set(det.slots_.values())), dtype=object)
        fam_index = {f: i for i, f in enumerate(self.families)}
        t_index = {t: i for i, t in enumerate(self.templates)}
        maxk = max(int(s.split("\t", 1)[0]) for s in det.slots_)
        # Family of (template, position): column 0 is the pid slot, -1 where no identifier; and each
        # template's highest identifier position (-1: its pid only), as FlowDetector._wanted.
        self.fam_of = np.full((len(self.templates), max(maxk, 0) + 2), -1, dtype=np.int32)
        self.last_of = np.full(len(self.templates), -1, dtype=np.int64)
        for slot, fam in det.slots_.items():
            k, template = slot.split("\t", 1)
            self.fam_of[t_index[template], int(k) + 1] = fam_index[fam]
            self.last_of[t_index[template]] = max(self.last_of[t_index[template]], int(k))
        self.step_of = pd.Index(det.keys_, dtype=object).get_indexer(pd.Index(self.templates, dtype=object)).astype(np.int32)
        self.is_split = pd.Index(self.templates, dtype=object).isin(det.split_)
        dtype = np.int32 if n_rows < 2**31 else np.int64
        self.t = np.full(n_rows, np.nan)
        self.step = np.full(n_rows, -1, dtype=np.int32)
        self.group = np.full(n_rows, -1, dtype=np.int32)
        self.groups: dict[tuple[str, str], int] = {}
        self.own_edges = own_edges
        self.lo, self.hi = np.zeros(0), np.zeros(0)
        self.e_row, self.e_fam, self.e_value = [], [], []
        self.row_dtype = dtype

    def add(self, batch, start: int) -> None:
        """Take in one batch of lines, rows ``start`` onwards."""
        import pyarrow as pa
        import pyarrow.compute as pc

        gid = self._group_ids(batch)
        if self.own_edges:
            t_all = _seconds(batch)
            np.fmin.at(self.lo, gid, t_all)  # NaN (no time) is skipped, as file_edges' min and max
            np.fmax.at(self.hi, gid, t_all)
        tix = pc.fill_null(pc.index_in(_text(batch, "template"), value_set=self.template_set), -1).to_numpy()
        inside = np.flatnonzero(tix >= 0)
        if not len(inside):
            return
        sub = batch.take(pa.array(inside))
        ti = tix[inside]
        rows = (inside + start).astype(self.row_dtype)
        t = _seconds(sub)
        self.t[rows] = t
        self.group[rows] = gid[inside]
        self.step[rows] = self._steps(sub, ti)
        live = np.isfinite(t)
        last = self.last_of[ti]
        read = np.flatnonzero(live & (last >= 0))
        content = _text(sub, "content")
        tok_row, tok_k, tok_value = message_tokens(content.take(pa.array(read)) if len(read) < len(content)
                                                   else content, read, last[read])
        del content
        fam = self.fam_of[ti[tok_row], tok_k + 1]
        ok = np.flatnonzero(fam >= 0)
        self._keep(rows[tok_row[ok]], fam[ok], tok_value.take(pa.array(ok)))
        del tok_row, tok_k, tok_value, fam, ok
        pid = _text(sub, "pid")
        fam = self.fam_of[ti, 0]
        has = np.flatnonzero(live & (fam >= 0) & pc.not_equal(pid, "").to_numpy(zero_copy_only=False))
        if len(has):
            take = pa.array(has)
            bracket = [pa.scalar(x, pa.large_string()) for x in ("[", "]", "")]  # the last one joins them
            value = pc.binary_join_element_wise(_text(sub, "process").take(take), bracket[0], pid.take(take),
                                                *bracket[1:])
            self._keep(rows[has], fam[has], value)

    def _keep(self, rows: np.ndarray, fam: np.ndarray, value) -> None:
        if len(rows):
            self.e_row.append(rows)
            self.e_fam.append(fam)
            self.e_value.append(value)

    def _group_ids(self, batch) -> np.ndarray:
        """Each line's (source, host) group number (groups numbered as first seen)."""
        import pyarrow.compute as pc

        codes, names = [], []
        for column in ("source", "host"):
            enc = pc.dictionary_encode(_text(batch, column))
            codes.append(enc.indices.to_numpy(zero_copy_only=False).astype(np.int64))
            names.append(enc.dictionary.to_pylist())
        pair, inverse = np.unique(codes[0] * len(names[1]) + codes[1], return_inverse=True)
        ids = np.empty(len(pair), dtype=np.int32)
        for j, p in enumerate(pair.tolist()):
            key = (names[0][p // len(names[1])], names[1][p % len(names[1])])
            if key not in self.groups:
                self.groups[key] = len(self.groups)
                self.lo, self.hi = np.append(self.lo, np.nan), np.append(self.hi, np.nan)
            ids[j] = self.groups[key]
        return ids[inverse.reshape(-1)]

    def _steps(self, sub, ti: np.ndarray) -> np.ndarray:
        """The step of each line: its template's, or for a split template its (template, masked) variant's."""
        import pyarrow as pa
        import pyarrow.compute as pc

        step = self.step_of[ti]
        split = np.flatnonzero(self.is_split[ti])
        if len(split):
            take = pa.array(split)
            keys = pc.binary_join_element_wise(_text(sub, "template").take(take), _text(sub, "masked").take(take),
                                               pa.scalar(VARIANT, pa.large_string()))
            step[split] = pc.fill_null(pc.index_in(keys, value_set=self.keys), -1).to_numpy()
        return step

    def edges(self, edges: dict | None) -> tuple[np.ndarray, np.ndarray]:
        """Each group's source's first and last time."""
        if edges is None:
            return self.lo, self.hi
        by = [edges.get(source, NO_TIME) for source, _ in self.groups]
        return np.array([b[0] for b in by], dtype=float), np.array([b[1] for b in by], dtype=float)


def _ranks(values) -> np.ndarray:
    """Each string's rank among the distinct ones, in sorted (byte) order: the codes of a sorted factorize."""
    import pyarrow.compute as pc

    enc = pc.dictionary_encode(values)
    order = pc.sort_indices(enc.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return rank[enc.indices.to_numpy(zero_copy_only=False)]


def _group_flags(det, col: _Collector, row: np.ndarray, fam: np.ndarray, values, lo: float, hi: float) -> pd.DataFrame | None:
    """The flags of one group's identifier entries: sorted into flows as :func:`flows._streams` does."""
    import pyarrow as pa

    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    value = _ranks(values)
    order = np.lexsort((row, value, fam))
    row, value, fam = row[order], value[order], fam[order]
    tt = col.t[row]
    same = np.zeros(len(row), dtype=bool)
    same[1:] = (fam[1:] == fam[:-1]) & (value[1:] == value[:-1]) & ((tt[1:] - tt[:-1]) <= det.gap)
    stream = np.cumsum(~same) - 1
    first = np.ones(len(row), dtype=bool)
    first[1:] = (stream[1:] != stream[:-1]) | (row[1:] != row[:-1])
    keep = np.flatnonzero(first)
    row, value, fam, stream, tt = row[keep], value[keep], fam[keep], stream[keep], tt[keep]
    source = order[keep]  # each entry's place in `values`
    del order, same, first, keep
    return flag_flows(det, row, stream, value, fam, col.families, col.step[row], tt,
                      np.full(len(row), lo), np.full(len(row), hi),
                      lambda i: np.asarray(values.take(pa.array(source[i])).to_pylist(), dtype=object))


def flag_batches(det, batches: Iterable, n_rows: int, edges: dict | None,
                 between: Callable[[], None] | None = None) -> pd.DataFrame | None:
    """The flags of ``n_rows`` parsed lines given as Arrow tables in row order (rows numbered over all
    of them), one (source, host) group at a time; ``edges`` as in :meth:`FlowDetector.flag` (None: each
    group's own times). ``between`` runs after each group. None when nothing is flagged."""
    import pyarrow as pa

    col = _Collector(det, n_rows, edges is None)
    start = 0
    for batch in batches:
        col.add(batch, start)
        start += batch.num_rows
    lo, hi = col.edges(edges)
    if col.e_row:
        e_row = np.concatenate(col.e_row)
        e_fam = np.concatenate(col.e_fam)
        e_value = pa.chunked_array(col.e_value, pa.large_string())
        e_group = col.group[e_row]
    else:
        e_row = e_fam = e_group = np.zeros(0, dtype=np.int32)
    col.e_row = col.e_fam = col.e_value = None
    parts = []
    for g in range(len(col.groups)):
        at = np.flatnonzero(e_group == g)
        if len(at):
            flagged = _group_flags(det, col, e_row[at], e_fam[at], e_value.take(pa.array(at)), lo[g], hi[g])
            if flagged is not None:
                parts.append(flagged)
        if between is not None:
            between()
    if not parts:
        return None
    # Rows of different groups differ, so the groups' (row, kind) sets are disjoint.
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return out.sort_values(["row", "kind"], kind="stable").reset_index(drop=True)
