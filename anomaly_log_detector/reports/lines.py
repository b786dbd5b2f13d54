"""Finding result lines in the parse: (source, line number) -> the first parsed row with them.

Result files name lines by source and line number; the report needs their rows in `parsed.parquet`.
A merge with a frame of every parsed row hashes a million (source, line) pairs per lookup. Here each
parsed row gets one int64 key (its line number, plus its source's code times the line range when the
parse has several sources), the keys are sorted once - not at all in the parse's own order, where
they already are - and each result line is found in a table of positions by key value when the keys
lie close together (a million lines with few gaps), else by binary search. Missing sources equal each
other, as in a merge.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from anomaly_log_detector.builders.string_codes import column_codes
from anomaly_log_detector.errors import DataError

PARSED = "parsed.parquet"
#: a dense lookup table when the keys span fewer than this many values per key (int32s: at most 2x the keys' bytes)
DENSE_SPAN = 4


class LineIndex:
    """The parsed rows of `keys` (`source`, `line_no`) by (source, line) - or by line alone, without
    `by_source` - built once and asked for any number of result lines."""

    def __init__(self, keys: pd.DataFrame, by_source: bool):
        self.keys, self.by_source = keys, by_source
        line = keys["line_no"].to_numpy(np.int64)
        self.lo, self.hi = (int(line.min()), int(line.max())) if len(line) else (0, 0)
        self.span = self.hi - self.lo + 1
        self.single: int | None = None  # the one source code of a one-source parse
        self.merge = False  # line numbers too far apart for int64 keys: a merge instead
        row_key = line  # no copy: a one-source parse is keyed by its line numbers
        if by_source:
            codes, self.names = column_codes(keys["source"])
            if not len(codes) or bool((codes == codes[0]).all()):
                self.single = int(codes[0]) if len(codes) else -1
            elif (len(self.names) + 2) * self.span >= 2 ** 62:
                self.merge = True
                return
            else:
                row_key = codes.astype(np.int64)
                row_key += 1
                row_key *= self.span
                row_key += line
                row_key -= self.lo
        self._sort(row_key)

    def _sort(self, row_key: np.ndarray) -> None:
        """Sorted keys and the first row of each (none to keep when already sorted and distinct), and
        the dense table of their positions when the keys are close together."""
        if len(row_key) < 2 or bool(np.all(row_key[1:] > row_key[:-1])):  # the parse's own order
            self.sorted, self.first = row_key, None
        else:
            order = np.argsort(row_key, kind="stable")
            sorted_key = row_key[order]
            new = np.ones(len(order), dtype=bool)
            new[1:] = sorted_key[1:] != sorted_key[:-1]
            self.sorted, self.first = sorted_key[new], order[new]
        self.dense: np.ndarray | None = None
        if len(self.sorted) and int(self.sorted[-1]) - int(self.sorted[0]) < DENSE_SPAN * len(self.sorted):
            # A position per key value: a lookup is one index, where a binary search over a million
            # keys misses the cache at every step (most parses: line numbers with few gaps).
            self.dense = np.full(int(self.sorted[-1]) - int(self.sorted[0]) + 1, -1,
                                 dtype=np.int32 if len(self.sorted) < 2 ** 31 else np.int64)
            self.dense[self.sorted - self.sorted[0]] = np.arange(len(self.sorted), dtype=self.dense.dtype)

    def _query(self, lines: pd.DataFrame) -> np.ndarray:
        """Each result line's key, -1 for one that can match no parsed row."""
        asked = pd.to_numeric(lines["line_no"], errors="coerce").to_numpy(np.float64)
        ok = np.isfinite(asked) & (asked == np.floor(asked)) & (asked >= self.lo) & (asked <= self.hi)
        query = np.where(ok, asked, self.lo).astype(np.int64)
        if self.by_source:
            source = lines["source"]
            if isinstance(source.dtype, pd.CategoricalDtype):  # each category looked up once
                codes = np.append(self.names.get_indexer(source.cat.categories), -1)[source.cat.codes.to_numpy()]
            else:
                codes = self.names.get_indexer(source)
            codes = codes.astype(np.int64)
            ok &= ~((codes < 0) & source.notna().to_numpy(bool))  # a source the parse does not have
            if self.single is not None:
                ok &= codes == self.single
            else:
                query += (codes + 1) * self.span - self.lo
        return np.where(ok, query, -1)

    def find(self, lines: pd.DataFrame) -> np.ndarray:
        """The first parsed row of each result line (`line_no`, and `source` when by source); -1 when
        there is none."""
        if self.merge:
            return _merge(self.keys, lines, ["source", "line_no"])
        query = self._query(lines)
        if not len(self.sorted):
            return np.full(len(query), -1, dtype=np.int64)
        if self.dense is not None:
            at = query - self.sorted[0]
            inside = (query >= 0) & (at >= 0) & (at < len(self.dense))
            pos = np.where(inside, self.dense[np.where(inside, at, 0)], -1).astype(np.int64)
            hit = pos >= 0
            pos[~hit] = 0
        else:
            pos = np.minimum(np.searchsorted(self.sorted, query), len(self.sorted) - 1)
            hit = (query >= 0) & (self.sorted[pos] == query)
        rows = pos if self.first is None else self.first[pos]
        return np.where(hit, rows, -1).astype(np.int64)

    def rows(self, lines: pd.DataFrame, where: str) -> np.ndarray:
        """:meth:`find`, with DataError naming `where` and the first line not in the parse."""
        found = self.find(lines)
        if (found < 0).any():
            on = ["source", "line_no"] if self.by_source else ["line_no"]
            bad = lines[on][found < 0].iloc[0].to_dict()
            raise DataError(f"{where}: line {bad} is not in {PARSED} (results from another parse?)")
        return found


def _merge(keys: pd.DataFrame, lines: pd.DataFrame, on: list[str]) -> np.ndarray:
    """:meth:`LineIndex.find` by a merge (-1 = not found), for line numbers too far apart for int64 keys."""
    index = pd.DataFrame({**{c: keys[c] for c in on}, "_row": np.arange(len(keys), dtype=np.int64)})
    found = lines[on].merge(index.drop_duplicates(on), on=on, how="left")["_row"]
    return found.fillna(-1).to_numpy(dtype=np.int64)
