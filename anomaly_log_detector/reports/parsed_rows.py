"""One processed folder's `parsed.parquet` as every part of a report reads it: once.

The result table, the log samples, the temporal analysis and report.html each read the parse's key
columns and fetch the text of the lines they show. Fetching a few rows still reads and decodes their
whole row groups (~40k rows of raw text each), so each part fetching its own rows read the text columns
several times over. :class:`ParsedRows` keeps the key columns and every fetched row's columns, so a
part asks for what an earlier one fetched without a read, and the report can fetch the lines of
several parts in one pass (:meth:`ParsedRows.prefetch`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

import numpy as np
import pandas as pd

from anomaly_log_detector.reports.inputs import read_keys, read_times_column, take_rows


TEXT_COLUMNS = ["line_no", "raw", "template"]
T = TypeVar("T")


def _not_in(wanted: np.ndarray, have: np.ndarray) -> np.ndarray:
    """The values of `wanted` not in the sorted array `have`."""
    if not len(have):
        return wanted
    pos = np.minimum(np.searchsorted(have, wanted), len(have) - 1)
    return wanted[have[pos] != wanted]


class ParsedRows:
    """The key columns of a folder's parse (read once) and the rows fetched so far (kept)."""

    def __init__(self, processed_dir: str | os.PathLike):
        self.dir = Path(processed_dir)
        #: the rows the report shows for a result table (its parts' lines), fetched with the table's text;
        #: set by the caller, since it reads these very keys (workflows/reporting.py)
        self.shown: Callable[[pd.DataFrame], Iterable[int]] | None = None
        #: run between the steps of a part (infer: a heap trim), so that a step's freed working set
        #: does not stay resident under the next one's
        self.between: Callable[[], None] = lambda: None
        self._keys: pd.DataFrame | None = None
        self._times: pd.Series | None | bool = False  # False: not read yet; None: no timestamp column
        self._columns: dict[str, pd.Series] = {}  # column -> its fetched rows (index = row, sorted)
        self._per_table: dict[Callable, tuple[pd.DataFrame, Any]] = {}  # compute -> (table, its result)

    @property
    def keys(self) -> pd.DataFrame:
        """:func:`.inputs.read_keys` of the folder, read on first use."""
        if self._keys is None:
            self._keys = read_keys(self.dir)
        return self._keys

    @property
    def times(self) -> pd.Series | None:
        """Every row's `timestamp` as UTC times (index = row position), None when the parse has no such
        column; read on first use (the temporal analysis and the timeline both place every row)."""
        if self._times is False:
            self._times = read_times_column(self.dir)
        return self._times

    def per_table(self, table: pd.DataFrame, compute: Callable[[pd.DataFrame, pd.DataFrame], T]) -> T:
        """``compute(keys, table)`` once per result table (the very object): several parts of a report
        cut their lists from the same numbers (reports/summary.py `template_stats`). The cache knows
        the table by identity only: columns that ``compute`` reads must not change after the first
        call (the report only adds text columns to it afterwards)."""
        held = self._per_table.get(compute)
        if held is None or held[0] is not table:
            held = self._per_table[compute] = (table, compute(self.keys, table))
        return held[1]

    def take(self, rows: Iterable[int], columns: Iterable[str]) -> pd.DataFrame:
        """:func:`.inputs.take_rows`: the columns at the rows (index = row, sorted), fetching only
        the (row, column)s not fetched before."""
        columns = list(columns)
        wanted = np.unique(np.fromiter(rows, dtype=np.int64))
        if not wanted.size:
            return take_rows(self.dir, [], columns)
        self.prefetch(wanted, columns)
        return pd.DataFrame({c: pd.Series(self._keys[c].to_numpy()[wanted], index=wanted) if self._in_keys(c, wanted)
                             else self._columns[c].loc[wanted] for c in columns}, index=pd.Index(wanted))[columns]

    def _in_keys(self, column: str, wanted: np.ndarray) -> bool:
        """Whether the key columns, read already, give `column` at the sorted rows `wanted` as a fetch
        would: the integer ones (not `source`, a category there), when no null made them floats."""
        return (column in ("line_no", "template_id") and self._keys is not None and 0 <= wanted[0]
                and wanted[-1] < len(self._keys) and self._keys[column].dtype == np.int64)

    def fetch_text(self, table: pd.DataFrame, rows: Iterable[int]) -> None:
        """Fetch the TEXT_COLUMNS of `rows` and of the rows the report shows for `table` (`shown`) in one
        pass: the raw text is the costly column to decode, once per row group."""
        shown = list(self.shown(table)) if self.shown is not None else []
        self.prefetch([*np.asarray(rows, dtype=np.int64).tolist(), *shown], TEXT_COLUMNS)

    def prefetch(self, rows: Iterable[int], columns: Iterable[str]) -> None:
        """Fetch the columns at the rows not fetched yet, in one pass over the row groups (not those
        the key columns give)."""
        wanted = np.unique(np.fromiter(rows, dtype=np.int64))
        if not wanted.size:
            return
        missing = {c: _not_in(wanted, self._columns[c].index.to_numpy()) if c in self._columns else wanted
                   for c in dict.fromkeys(columns) if not self._in_keys(c, wanted)}
        missing = {c: r for c, r in missing.items() if r.size}
        if not missing:
            return
        need = np.unique(np.concatenate(list(missing.values())))
        fetched = take_rows(self.dir, need, list(missing))
        for c in missing:
            new = fetched[c]
            old = self._columns.get(c)
            if old is not None:
                new = pd.concat([old, new[~new.index.isin(old.index)]]).sort_index()
            self._columns[c] = new
