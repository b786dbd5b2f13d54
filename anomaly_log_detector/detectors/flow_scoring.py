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

from anomaly_log_detector.builders.string_codes import arrow_codes, index_dtype, missing_last
from anomaly_log_detector.detectors.flow_tokens import VARIANT, message_tokens

NO_TIME = (np.nan, np.nan)
FILE_EDGES = "file"  # edges: each source's first and last time over all the lines scored


def flag_flows(det, rows: np.ndarray, stream: np.ndarray, value: np.ndarray, fam: np.ndarray,
               fam_names: np.ndarray, code: np.ndarray, tt: np.ndarray, start_t: np.ndarray,
               end_t: np.ndarray, identifier: Callable[[np.ndarray], np.ndarray]) -> pd.DataFrame | None:
    """The flags (FLAG_COLUMNS, sorted by row and kind, one per (row, kind)) of flow entries sorted by
    (stream, row): each entry's output ``rows``, ``stream``, ``value`` and ``fam`` (codes, or anything
    comparable), the step ``code``, time ``tt`` and its source's first and last time; ``identifier``
    gives the value text of some entries. None when nothing is flagged.

    Each test runs over the entries it concerns only (a flow's first, its last, those with a next):
    no full-length temporary per test."""
    n, size = len(det.keys_), len(rows)
    if not size:
        return None
    new = np.ones(size, dtype=bool)
    new[1:] = stream[1:] != stream[:-1]
    heads = np.flatnonzero(new)  # each flow's first entry
    del new
    tails = np.append(heads[1:], size) - 1  # and its last
    lines = np.diff(np.append(heads, size))  # its number of lines
    since, wait = np.asarray(det.since_), np.asarray(det.next_gap_)
    starts = np.zeros(n, dtype=bool)
    starts[list(det.starts_)] = True
    ends = np.zeros(n, dtype=bool)
    ends[list(det.ends_)] = True
    h = heads[(code[heads] >= 0) & ~starts[np.maximum(code[heads], 0)]]
    h = h[tt[h] - start_t[h] > since[code[h]] + 1.0]
    e = tails[(code[tails] >= 0) & ~ends[np.maximum(code[tails], 0)]]
    e = e[end_t[e] - tt[e] > 2 * wait[code[e]] + 60.0]
    has_next = np.ones(size, dtype=bool)
    has_next[tails] = False
    o = np.flatnonzero(has_next)
    del has_next
    o = o[(code[o] >= 0) & (code[o + 1] >= 0)]
    pair = code[o].astype(np.int64) * n + code[o + 1]
    o = o[~np.isin(pair, np.fromiter(det.transitions_, dtype=np.int64, count=len(det.transitions_)))]
    del pair
    if len(o):  # flagged at the next line
        o = o[~collisions(rows, fam, value, o, o + 1)]
    parts, seen = [], {}

    def expected(kind: str, step: int, f) -> list[str]:
        # Many flags share a (kind, step, family): each list made once (and copied per row).
        key = (kind, step, f)
        if key not in seen:
            seen[key] = det._expected(kind, step, fam_names[f])
        return list(seen[key])

    for kind, i, line in (("order", o, o + 1), ("start", h, h), ("end", e, e)):
        if not len(i):
            continue
        parts.append(pd.DataFrame({
            "row": rows[line].astype(np.int64), "kind": kind, "identifier": identifier(i),
            "step": [det._show(x) for x in code[line].tolist()],
            "previous": [det._show(x) for x in code[i].tolist()] if kind == "order" else None,
            "expected": [expected(kind, x, f) for x, f in zip(code[i].tolist(), fam[i].tolist())],
            "flow_lines": lines[np.searchsorted(heads, i, side="right") - 1].astype(np.int64)}))
    if not parts:
        return None
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["row", "kind"], kind="stable").drop_duplicates(["row", "kind"]).reset_index(drop=True)


def collisions(rows: np.ndarray, fam: np.ndarray, value: np.ndarray, at: np.ndarray, to: np.ndarray) -> np.ndarray:
    """Which of the transitions ``at -> to`` (entries) join two different flows that happen to share a
    value: the two lines also carry identifiers of another family, with different values (two SSH
    sessions from different clients on the same port number: same port, different sshd pids). A real
    disorder is within one flow, whose lines agree on every identifier they both carry."""
    wanted = np.unique(np.concatenate([rows[at], rows[to]]))
    sub = np.flatnonzero(np.isin(rows, wanted))
    ids: dict[int, dict] = {}
    for r, f, v in zip(rows[sub].tolist(), fam[sub].tolist(), value[sub].tolist()):
        ids.setdefault(r, {}).setdefault(f, set()).add(v)
    out = np.zeros(len(at), dtype=bool)
    for j, (i, k) in enumerate(zip(at.tolist(), to.tolist())):
        a, b = ids.get(int(rows[i]), {}), ids.get(int(rows[k]), {})
        out[j] = any(f != fam[i] and f in b and not (a[f] & b[f]) for f in a)
    return out


def _column(batch, column: str):
    """A column of an Arrow table or batch as one Array (None without the column)."""
    import pyarrow as pa

    if column not in batch.column_names:
        return None
    col = batch[column]
    if isinstance(col, pa.ChunkedArray):
        if col.num_chunks == 1:  # a row group's column: no copy
            return col.chunk(0)
        if pa.types.is_dictionary(col.type):  # chunks with their own dictionaries
            col = col.cast(col.type.value_type)
        col = col.combine_chunks()
    return col


def _text(batch, column: str, rows: np.ndarray | None = None):
    """A column of an Arrow table as large_string ("" for missing; all "" without the column), of
    ``rows`` only when given (taken before a dictionary column is decoded)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = _column(batch, column)
    n = batch.num_rows if rows is None else len(rows)
    if col is None:
        return pa.array([""] * n, pa.large_string())
    if rows is not None:
        col = col.take(pa.array(rows, pa.int64()))
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return pc.fill_null(col.cast(pa.large_string()), "")


def _codes(batch, column: str) -> tuple[np.ndarray, np.ndarray]:
    """A text column as int64 codes into its names (object array; "" for missing), from its dictionary
    when it has one (no string per row)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    col = _column(batch, column)
    if col is None:
        return np.zeros(batch.num_rows, dtype=np.int64), np.array([""], dtype=object)
    if not pa.types.is_dictionary(col.type):
        col = pc.fill_null(col.cast(pa.large_string()), "")  # a missing value is one with ""
    return missing_last(*arrow_codes(col), "")


def lookup(batch, column: str, value_set) -> np.ndarray:
    """Each row's index of its ``column`` text ("" for missing) in ``value_set`` (-1 if not there):
    looked up once per distinct value."""
    import pyarrow as pa
    import pyarrow.compute as pc

    codes, names = _codes(batch, column)
    found = pc.index_in(pa.array(names, pa.large_string()), value_set=value_set)
    return pc.fill_null(found, -1).to_numpy().astype(np.int64)[codes]


def _seconds(batch) -> np.ndarray:
    from anomaly_log_detector.detectors.flows import _seconds as seconds

    return seconds(pd.DataFrame({"timestamp": batch["timestamp"].to_pandas()}))


class _Collector:
    """What scoring keeps of the lines, filled a batch at a time (module docstring)."""

    def __init__(self, det, n_rows: int):
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
        self.fam_of = np.full((len(self.templates), max(maxk, 0) + 2), -1, dtype=np.int16)
        self.last_of = np.full(len(self.templates), -1, dtype=np.int64)
        for slot, fam in det.slots_.items():
            k, template = slot.split("\t", 1)
            self.fam_of[t_index[template], int(k) + 1] = fam_index[fam]
            self.last_of[t_index[template]] = max(self.last_of[t_index[template]], int(k))
        self.step_of = pd.Index(det.keys_, dtype=object).get_indexer(pd.Index(self.templates, dtype=object)).astype(np.int32)
        self.is_split = pd.Index(self.templates, dtype=object).isin(det.split_)
        self.row_dtype = index_dtype(n_rows)
        # Per row (only those of templates with identifiers are set): time and step.
        self.t = np.full(n_rows, np.nan)
        self.step = np.full(n_rows, -1, dtype=np.int32)
        self.groups: dict[tuple[str, str], int] = {}
        self.lo, self.hi = np.zeros(0), np.zeros(0)
        self.parts: list[tuple[list, list, list]] = []  # per group: its entries' rows, families, values

    def add(self, batch, start: int) -> None:
        """Take in one batch of lines, rows ``start`` onwards."""
        import pyarrow as pa
        import pyarrow.compute as pc

        gid = self._group_ids(batch)
        t_all = _seconds(batch)
        np.fmin.at(self.lo, gid, t_all)  # NaN (no time) is skipped, as file_edges' min and max
        np.fmax.at(self.hi, gid, t_all)
        tix = lookup(batch, "template", self.template_set)
        inside = np.flatnonzero(tix >= 0)
        if not len(inside):
            return
        ti = tix[inside]
        rows = (inside + start).astype(self.row_dtype)
        t = t_all[inside]
        del t_all, tix
        self.t[rows] = t
        self.step[rows] = self._steps(batch, inside, ti)
        live = np.isfinite(t)
        last = self.last_of[ti]
        read = np.flatnonzero(live & (last >= 0))
        tok_row, tok_k, tok_value = message_tokens(_text(batch, "content", inside[read]), read, last[read])
        fam = self.fam_of[ti[tok_row], tok_k + 1]
        ok = np.flatnonzero(fam >= 0)  # identifier tokens only
        at, fams, values = [tok_row[ok]], [fam[ok]], [tok_value.take(pa.array(ok))]
        del tok_row, tok_k, tok_value, fam, ok
        fam = self.fam_of[ti, 0]
        has = np.flatnonzero(live & (fam >= 0))
        pid = _text(batch, "pid", inside[has])
        nonempty = pc.not_equal(pid, "").to_numpy(zero_copy_only=False)
        has, pid = has[nonempty], pid.filter(pa.array(nonempty))
        if len(has):
            bracket = [pa.scalar(x, pa.large_string()) for x in ("[", "]", "")]  # the last one joins them
            values.append(pc.binary_join_element_wise(_text(batch, "process", inside[has]), bracket[0], pid,
                                                      *bracket[1:]))
            at.append(has)
            fams.append(fam[has])
        self._keep(np.concatenate(at), np.concatenate(fams), pa.concat_arrays(values), rows, gid[inside])

    def _keep(self, at: np.ndarray, fam: np.ndarray, value, rows: np.ndarray, group: np.ndarray) -> None:
        """Keep a batch's identifier entries (``at``: index into its lines of ``rows`` and ``group``),
        split by group; values dictionary-encoded (a flow's lines, close in time, repeat its value:
        a third as many strings) with 32-bit offsets (a batch's tokens are far under 2 GB)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        g = group[at]
        value = value.cast(pa.string())
        for k in np.flatnonzero(np.bincount(g)).tolist():  # the few groups present, in order
            i = np.flatnonzero(g == k)
            self.parts[k][0].append(rows[at[i]])
            self.parts[k][1].append(fam[i])
            self.parts[k][2].append(pc.dictionary_encode(value.take(pa.array(i))))

    def _group_ids(self, batch) -> np.ndarray:
        """Each line's (source, host) group number (groups numbered as first seen)."""
        (s_code, s_names), (h_code, h_names) = _codes(batch, "source"), _codes(batch, "host")
        pair, inverse = np.unique(s_code * len(h_names) + h_code, return_inverse=True)
        ids = np.empty(len(pair), dtype=np.int32)
        for j, p in enumerate(pair.tolist()):
            key = (s_names[p // len(h_names)], h_names[p % len(h_names)])
            if key not in self.groups:
                self.groups[key] = len(self.groups)
                self.lo, self.hi = np.append(self.lo, np.nan), np.append(self.hi, np.nan)
                self.parts.append(([], [], []))
            ids[j] = self.groups[key]
        return ids[inverse.reshape(-1)]

    def _steps(self, batch, inside: np.ndarray, ti: np.ndarray) -> np.ndarray:
        """The step of lines ``inside``: their template's, or for a split template their (template,
        masked) variant's."""
        import pyarrow as pa
        import pyarrow.compute as pc

        step = self.step_of[ti]
        split = np.flatnonzero(self.is_split[ti])
        if len(split):
            keys = pc.binary_join_element_wise(_text(batch, "template", inside[split]),
                                               _text(batch, "masked", inside[split]),
                                               pa.scalar(VARIANT, pa.large_string()))
            step[split] = pc.fill_null(pc.index_in(keys, value_set=self.keys), -1).to_numpy()
        return step

    def edges(self, edges: dict | str | None) -> tuple[np.ndarray, np.ndarray]:
        """Each group's source's first and last time: from ``edges``, the group's own (None) or its
        source's over all the lines (FILE_EDGES)."""
        if edges is None:
            return self.lo, self.hi
        if edges == FILE_EDGES:
            sources = [source for source, _ in self.groups]
            edges = {}
            for g, source in enumerate(sources):
                lo, hi = edges.get(source, NO_TIME)
                edges[source] = (np.fmin(lo, self.lo[g]), np.fmax(hi, self.hi[g]))  # NaN (no time) skipped
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


def _joined(chunks) -> tuple:
    """Dictionary-encoded chunks as one array of their dictionaries' strings and each entry's index in it."""
    import pyarrow as pa

    at = np.cumsum([0] + [len(c.dictionary) for c in chunks[:-1]])
    index = np.concatenate([c.indices.to_numpy().astype(np.int32) + np.int32(a) for c, a in zip(chunks, at)])
    return pa.concat_arrays([c.dictionary for c in chunks]), index


def _group_flags(det, col: _Collector, row: np.ndarray, fam: np.ndarray, words, index: np.ndarray,
                 lo: float, hi: float) -> pd.DataFrame | None:
    """The flags of one group's identifier entries (value: ``words[index]``), sorted into flows as
    :func:`flows._streams` does (by family, value and row; a flow cut at ``gap`` seconds of quiet; one
    entry per (flow, line))."""
    import pyarrow as pa

    value = _ranks(words)[index]
    order = np.lexsort((row, value, fam))
    value = value[order]
    row, fam = row[order], fam[order]
    tt = col.t[row]
    new = np.ones(len(row), dtype=bool)  # a flow starts here
    new[1:] = (fam[1:] != fam[:-1]) | (value[1:] != value[:-1]) | ~((tt[1:] - tt[:-1]) <= det.gap)
    keep = new.copy()  # a flow's entries are in row order: a line's repeats follow its first entry
    keep[1:] |= row[1:] != row[:-1]
    stream = np.cumsum(new, dtype=np.int32)[keep]
    del new
    row, value, fam, tt, source = row[keep], value[keep], fam[keep], tt[keep], index[order[keep]]
    del keep, order, index
    return flag_flows(det, row, stream, value, fam, col.families, col.step[row], tt,
                      np.broadcast_to(lo, row.shape), np.broadcast_to(hi, row.shape),
                      lambda i: np.asarray(words.take(pa.array(source[i])).to_pylist(), dtype=object))


def flag_batches(det, batches: Iterable, n_rows: int, edges: dict | str | None,
                 between: Callable[[], None] | None = None) -> pd.DataFrame | None:
    """The flags of ``n_rows`` parsed lines given as Arrow tables in row order (rows numbered over all
    of them), one (source, host) group at a time; ``edges`` as in :meth:`FlowDetector.flag`, None for
    each group's own times or FILE_EDGES for each source's over all the lines. ``between`` runs after
    each group. None when nothing is flagged."""
    col = _Collector(det, n_rows)
    start = 0
    for batch in batches:
        col.add(batch, start)
        start += batch.num_rows
        del batch
    lo, hi = col.edges(edges)
    parts = []
    for g in range(len(col.groups)):
        rows, fams, values = col.parts[g]
        col.parts[g] = None  # its chunks go as they are joined
        if rows:
            row, fam = np.concatenate(rows), np.concatenate(fams)
            words, value = _joined(values)
            del rows, fams, values
            flagged = _group_flags(det, col, row, fam, words, value, lo[g], hi[g])
            del row, fam, words, value
            if flagged is not None:
                parts.append(flagged)
        if between is not None:
            between()
    if not parts:
        return None
    # Rows of different groups differ, so the groups' (row, kind) sets are disjoint.
    out = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    return out.sort_values(["row", "kind"], kind="stable").reset_index(drop=True)
