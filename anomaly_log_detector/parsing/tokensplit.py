"""The fast header split of ``--log-format`` strings whose fields are separated by blanks.

A logparser format such as ``<Date> <Time> <Pid> <Level> <Component>: <Content>`` becomes the RE2
pattern ``^(?P<Date>.*?)\\s+(?P<Time>.*?)\\s+ ... (?P<Component>.*?):\\s+`` (message = the rest). Its
lazy groups and many captures keep RE2 on its slowest engine (~2.5 us a line for BGL's 9 fields). On
the usual line the same split is found by one whitespace split:

* the line starts with a non-blank character and holds no vertical tab (RE2's ``\\s`` is
  ``[\\t\\n\\f\\r ]``; Arrow's ASCII whitespace adds ``\\v``);
* it splits into the k fields and the rest at its first k runs of blanks;
* field i ends with the literal text that the format puts before its blanks (``:`` above).

Then the pattern's leftmost-first match gives exactly these fields: each lazy group stops at the
first place where its separator can start, and the k-th token's end is that place (a token holds no
blank, and the separator's literal is followed by a blank only at the token's end); each greedy
``\\s+`` takes the whole run; the remaining pattern then matches, so the first choice at every step is
the match. The message is the rest after the k-th run. Lines that fail any condition (leading blank,
too few fields, a separator not where expected) are split by the regex itself, so the result is the
regex's on every line (tests/test_tokensplit.py compares the two on awkward lines).
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Literal text allowed before a separator's blanks: no regex syntax, no whitespace.
_PLAIN = re.compile(r"[^\s\\^$.|?*+()\[\]{}<>]*")
_VTAB = 0x0B


def token_plan(pieces: Sequence[str]) -> tuple[tuple[str, str], ...] | None:
    """For a format split into literal texts and field names (``[t0, name1, t1, ..., namek, tk,
    Content, ""]``) whose message is last: ``((name, literal before the blanks), ...)`` for the k
    header fields, or None when the format does not have that shape (text before the first field,
    a separator without blanks or with regex syntax, a separator with blanks inside)."""
    texts, names = pieces[0::2], pieces[1::2]
    if len(names) < 2 or texts[0] or texts[-1]:
        return None
    plan = []
    for name, text in zip(names[:-1], texts[1:-1]):
        literal = text.rstrip(" ")
        if literal == text or not _PLAIN.fullmatch(literal):
            return None
        plan.append((name, literal))
    return tuple(plan)


def split_tokens(lines: pa.Array, plan: Sequence[tuple[str, str]]) -> tuple[dict[str, pa.Array], pa.Array, np.ndarray]:
    """(fields by name, message, rows) for the `rows` (bool numpy array) of `lines` where the
    whitespace split is the regex's split (module docstring); the arrays hold those rows only."""
    k = len(plan)
    n = len(lines)
    pieces = pc.ascii_split_whitespace(lines, max_splits=k)
    offsets = pieces.offsets.to_numpy()
    values = pieces.values
    starts = offsets[:-1]
    ok = np.diff(offsets) == k + 1
    if ok.any():  # the first piece is empty when the line starts with a blank
        lengths = pc.binary_length(values).to_numpy(zero_copy_only=False)
        ok &= lengths[np.minimum(starts, len(lengths) - 1)] > 0
    _drop_vertical_tabs(lines, ok)
    rows = np.flatnonzero(ok)
    fields: dict[str, pa.Array] = {}
    for i, (name, literal) in enumerate(plan):
        token = pc.take(values, pa.array(starts[rows] + i))
        if literal:
            ends = pc.ends_with(token, literal).to_numpy(zero_copy_only=False)
            if not ends.all():
                keep = np.flatnonzero(ends)
                ok[rows[~ends]] = False
                rows = rows[keep]
                fields = {f: pc.take(v, pa.array(keep)) for f, v in fields.items()}
                token = pc.take(token, pa.array(keep))
            token = pc.utf8_slice_codeunits(token, 0, -len(literal))
        fields[name] = token
    message = pc.take(values, pa.array(starts[rows] + k))
    return fields, message, ok if n else np.zeros(0, dtype=bool)


def _drop_vertical_tabs(lines: pa.Array, ok: np.ndarray) -> None:
    """Clear `ok` for the lines holding a vertical tab."""
    _, offsets, data = lines.buffers()
    if data is None or not len(lines):
        return
    off = np.frombuffer(offsets, dtype=np.int32)[lines.offset:lines.offset + len(lines) + 1]
    buf = np.frombuffer(data, dtype=np.uint8)[off[0]:off[-1]]
    hits = np.flatnonzero(buf == _VTAB)
    if hits.size:
        ok[np.searchsorted(off, hits + off[0], side="right") - 1] = False


def merge_rows(ok: np.ndarray, fast: pa.Array, slow: pa.Array) -> pa.Array:
    """One array in line order from the values of the `ok` rows (`fast`) and of the others (`slow`)."""
    if not len(slow):
        return fast
    order = np.empty(len(ok), dtype=np.int64)
    order[ok] = np.arange(len(fast))
    order[~ok] = len(fast) + np.arange(len(slow))
    return pc.take(pa.concat_arrays([fast, slow.cast(fast.type)]), pa.array(order))
