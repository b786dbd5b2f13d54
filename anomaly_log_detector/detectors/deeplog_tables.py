"""DeepLog's per-window result table (`deeplog_infer.parquet`) without a million-row frame.

:class:`WindowTable` holds the table's columns as the arrays the scoring already made (the windows'
session, position and target, the verdicts, the thresholds) plus the target line numbers and any
columns added later (``add``). :meth:`WindowTable.frame` builds the pandas frame of any rows - every
row gives exactly the frame ``DeepLogDetector.tables`` returns - and :meth:`WindowTable.write` writes
the Parquet file a row group at a time, each group built as Arrow arrays on its own (no pandas
frame): the same table (schema, pandas metadata and values) as ``pa.Table.from_pandas`` of the whole
frame, without the whole frame and its whole Arrow copy in memory at once (~200 MB at a million
windows).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from anomaly_log_detector.builders.string_codes import int32_if_fits

#: Rows per row group when writing.
ROW_GROUP = 65536


class WindowTable:
    """The per-window table of a scored set of sessions (``tables``' first frame), column by column.

    ``session_ids`` / ``sources``: one value per session (object arrays; sources may be None);
    ``session``, ``pos``, ``targets``: per window (``Windows``); ``lines``: target line number per
    window, -1 for none; ``scores``: the ``WindowScores`` verdict columns; ``threshold``: per window, or
    None for NaN everywhere (top-k / top-p rules)."""

    def __init__(self, session_ids: np.ndarray, sources: np.ndarray, ws: Any, lines: np.ndarray,
                 threshold: np.ndarray | None):
        w = ws.windows
        self.session_ids, self.sources = session_ids, sources
        # The targets copied out of the keys, which then need not outlive the scoring.
        self.session, self.pos, self.targets = w.session, w.pos, np.ascontiguousarray(w.targets)
        self.lines = lines
        self.in_topk, self.rank, self.prob = ws.in_topk, ws.rank, ws.prob
        self.surprise, self.is_novel, self.threshold = ws.surprise, ws.is_novel, threshold
        self.extra: dict[str, Any] = {}
        self.dropped: set[str] = set()

    def __len__(self) -> int:
        return len(self.session)

    def add(self, name: str, values: Any) -> None:
        """A column appended after the others (a numpy array, or a list of Python values)."""
        if len(values) != len(self):
            raise ValueError(f"column {name!r}: {len(values)} values for {len(self)} rows")
        self.extra[name] = values

    def keep_only(self, names: Iterable[str]) -> None:
        """Free the arrays only this table holds (``source``, ``target``, ``threshold``, the added
        columns) except ``names``: after :meth:`write`, what a later reader of a few rows still
        needs. Asking for a freed column afterwards raises KeyError."""
        keep = set(names)
        self.extra = {k: v for k, v in self.extra.items() if k in keep}
        self.dropped = {"source", "target", "threshold"} - keep
        if "source" in self.dropped:
            self.sources = None
        if "target" in self.dropped:
            self.targets = None
        if "threshold" in self.dropped:
            self.threshold = None

    def compact(self) -> None:
        """Hold the integer columns (session, position, rank, line number) as int32 where every value
        fits; they are read back as int64, so frames and files do not change. Call it once the
        scores' own int64 arrays are gone (each column is then replaced, not doubled)."""
        for name in ("session", "pos", "rank", "lines"):
            setattr(self, name, int32_if_fits(getattr(self, name)))

    def column(self, name: str, rows: np.ndarray | None = None) -> np.ndarray:
        """One column's values (``rows`` only, when given) as numpy."""
        return self.frame(rows, [name])[name].to_numpy()

    def _array(self, name: str, rows: np.ndarray | slice | None) -> np.ndarray:
        if name in self.dropped:
            raise KeyError(f"column {name!r} was freed (keep_only)")
        take = (lambda a: a) if rows is None else (lambda a: a[rows])  # noqa: E731
        if name == "session":
            return self.session_ids[take(self.session)]
        if name == "source":
            return self.sources[take(self.session)]
        if name in self.extra:
            return take(self.extra[name])
        plain = {"idx": self.pos, "in_topk": self.in_topk, "rank": self.rank, "prob": self.prob,
                 "surprise": self.surprise, "is_novel": self.is_novel}
        if name in plain:
            values = take(plain[name])
            # Compacted columns (compact) are read back in their int64 type.
            return values.astype(np.int64) if name in ("idx", "rank") and values.dtype == np.int32 else values
        if name == "target":
            return take(self.targets).astype(np.int64)
        if name == "threshold":
            n = len(self.session[rows]) if rows is not None else len(self)  # rows: indices or a slice
            return take(self.threshold) if self.threshold is not None else np.full(n, np.nan)
        raise KeyError(name)

    def frame(self, rows: np.ndarray | None = None, columns: list[str] | None = None) -> pd.DataFrame:
        """The table's rows ``rows`` (all when None; numbered from 0), columns ``columns`` (all)."""
        names = ["session", "source", "idx", "line_no", "target", "in_topk", "rank", "prob", "surprise",
                 "is_novel", "threshold", *self.extra]
        data: dict[str, Any] = {}
        for name in names if columns is None else [n for n in names if n in columns]:
            if name == "line_no":
                lines = self.lines if rows is None else self.lines[rows]
                data[name] = pd.arrays.IntegerArray(lines.astype(np.int64), lines < 0)
            elif name in self.extra and not isinstance(self.extra[name], np.ndarray):
                values = self.extra[name]
                data[name] = pd.Series(values if rows is None else [values[i] for i in np.asarray(rows).tolist()],
                                       dtype=object)
            else:
                data[name] = self._array(name, rows)
        if not data:
            return pd.DataFrame(index=pd.RangeIndex(len(self) if rows is None else len(rows)))
        return pd.DataFrame(data)

    def _schema(self) -> pa.Schema:
        """The Arrow schema of the whole frame. Only object columns can take another type from a part
        (all None: null; all empty lists: list<null>), so it is inferred from a probe of rows holding,
        for each of them, a row with a non-null, non-empty value where the column has one."""
        probe = [0]
        for name in ("source", *self.extra):
            values = self.sources[self.session] if name == "source" else self.extra[name]
            if isinstance(values, np.ndarray) and values.dtype != object:
                continue
            at = next((i for i, v in enumerate(values) if v is not None and not _empty_list(v)), None)
            if at is not None:
                probe.append(at)
        return pa.Schema.from_pandas(self.frame(np.unique(np.asarray(probe, dtype=np.int64))), preserve_index=False)

    def write(self, path: str | os.PathLike, row_group: int = ROW_GROUP, between: Any = None) -> None:
        """``deeplog_infer.parquet``, atomically, converted and written ``row_group`` rows at a time;
        ``between()``, when given, runs after each row group (e.g. handing freed heap back)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        if len(self) == 0:
            pq.write_table(pa.Table.from_pandas(self.frame(), preserve_index=False), tmp)
            os.replace(tmp, path)
            return
        schema = self._schema()
        # The per-session text columns as Arrow once; each row group takes its rows from them.
        per_session = {name: pa.array(values, type=schema.field(name).type, from_pandas=True)
                       for name, values in (("session", self.session_ids), ("source", self.sources))
                       if name in schema.names}
        with pq.ParquetWriter(tmp, schema) as writer:
            for lo in range(0, len(self), row_group):
                part = self._arrow_rows(schema, per_session, lo, min(lo + row_group, len(self)))
                writer.write_table(part, row_group_size=row_group)
                del part
                if between is not None:
                    between()
        os.replace(tmp, path)

    def _arrow_rows(self, schema: pa.Schema, per_session: dict[str, pa.Array], lo: int, hi: int) -> pa.Table:
        """Rows ``lo:hi`` as the Arrow table ``pa.Table.from_pandas(self.frame(rows), schema=schema)``
        gives, built column by column without the frame: the session ids and sources taken from
        their per-session Arrow arrays (no Python string per row), numpy columns converted as pandas
        converts them (``from_pandas``: a NaN is a null), object columns from their distinct objects."""
        arrays = []
        for field in schema:
            name = field.name
            if name in per_session:
                values = per_session[name].take(pa.array(self.session[lo:hi]))
            elif name == "line_no":
                lines = self.lines[lo:hi]
                values = pa.array(lines.astype(np.int64), mask=lines < 0)
            elif name in self.extra and not isinstance(self.extra[name], np.ndarray):
                values = _objects_to_arrow(self.extra[name][lo:hi], field.type)
            else:
                values = pa.array(self._array(name, slice(lo, hi)), type=field.type, from_pandas=True)
            arrays.append(values)
        return pa.Table.from_arrays(arrays, schema=schema)


def _objects_to_arrow(values: list, arrow_type: pa.DataType) -> pa.Array:
    """``pa.array(values, arrow_type, from_pandas=True)`` converting each distinct object once: an
    object column such as ``expected`` repeats a few shared lists (the same empty list on every row
    without a miss), so the rows are taken from the conversion of the distinct objects, by identity."""
    if not isinstance(values, (list, np.ndarray)):
        # Iterating a Series or an extension array boxes each value anew, and a freed box's id is
        # reused by the next: held in a list, every object keeps its own id.
        values = list(values)
    ids = np.fromiter(map(id, values), dtype=np.uint64, count=len(values))
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    distinct = pa.array([values[i] for i in first.tolist()], type=arrow_type, from_pandas=True)
    return distinct.take(pa.array(inverse.reshape(-1)))


def context_flags(inputs: np.ndarray, unk: int, pad: int, min_known: int) -> tuple[np.ndarray, np.ndarray]:
    """Per context window (row of ``inputs``): whether it holds the key ``unk``, and whether fewer
    than ``min_known`` of its keys are not ``pad``. A column at a time: a pass over one key of every
    window is a fast vectorised loop, where reducing each row of ``seq_len`` keys was ~4x slower, and
    it needs no temporaries of the whole (windows, seq_len) shape."""
    unseen = np.zeros(len(inputs), dtype=bool)
    known = np.zeros(len(inputs), dtype=np.uint8 if inputs.shape[1] < 256 else np.int64)
    for c in range(inputs.shape[1]):
        column = inputs[:, c]
        unseen |= column == unk
        known += column != pad
    return unseen, known < min_known


def _empty_list(v: Any) -> bool:
    return isinstance(v, (list, tuple, np.ndarray)) and len(v) == 0
