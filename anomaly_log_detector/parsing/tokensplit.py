"""Header splits without RE2's capture engines, for ``--log-format`` strings whose fields are separated
by blanks (below) and for presets made of single-space-separated tokens (second half of the module).

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


# ---- presets: headers of single-space-separated tokens ------------------------------------------------
# A preset such as BGL's ``^(?P<Label>\S+) \d+ \d{4}\.\d\d\.\d\d \S+ (?P<Time>...) (?P<rest>\S+ \S+ \S+ \S+)(?: |$)``
# is a run of tokens that cannot hold a space, joined by single spaces, then ``(?: |$)``. On a line it
# matches, the header's k tokens are the line's first k pieces between single spaces, each named
# group is the pieces it spans (joined by a space) less a literal suffix inside its last token (HDFS's
# ``(?P<Component>[^\s:]+):``), and the message is what follows the k-th space. So one RE2 *match*
# (no captures: its DFA) and one split by " " give what extracting the groups and splitting off the
# header gave (two passes of RE2's capture engines). :func:`preset_plan` finds that shape in the
# pattern's parse tree and gives up on anything else.


def preset_plan(pattern: str) -> tuple[int, tuple[tuple[str, int, int, str], ...]] | None:
    """(k header tokens, ((group, first token, last token, literal suffix), ...)) of a preset pattern
    in the shape above; None for any other pattern."""
    import re._parser as sre

    try:
        tree = sre.parse(pattern)
    except Exception:  # noqa: BLE001 - RE2-only syntax (\x{FEFF}...): no plan, the regex does it
        return None
    names = {index: name for name, index in tree.state.groupdict.items()}
    items = list(tree)
    if len(items) < 2 or items[0] != (sre.AT, sre.AT_BEGINNING) or not _is_tail(items[-1], sre):
        return None
    state = {"token": 0, "at_start": True, "suffix_of": None}
    groups: list[list] = []

    def walk(seq, group: int | None) -> bool:
        for op, arg in seq:
            if op is sre.LITERAL and arg == 0x20:
                state["token"] += 1
                state["at_start"], state["suffix_of"] = True, None
            elif op is sre.SUBPATTERN and arg[0] is not None:
                if group is not None or not state["at_start"] or arg[0] not in names:
                    return False
                entry = [names[arg[0]], state["token"], None, ""]
                if not walk(arg[3], arg[0]):
                    return False
                entry[2] = state["token"]
                groups.append(entry)
                state["suffix_of"] = entry
                state["at_start"] = False
            elif state["suffix_of"] is not None:  # after a group, in its last token: literals only
                if op is not sre.LITERAL or arg >= 0x80:
                    return False
                state["suffix_of"][3] += chr(arg)
            else:
                if not _space_free(op, arg, sre):
                    return False
                state["at_start"] = False
        return True

    if not walk(items[1:-1], None) or sorted(g[0] for g in groups) != sorted(names.values()):
        return None
    return state["token"] + 1, tuple((n, a, b, s) for n, a, b, s in groups)


def _is_tail(item, sre) -> bool:
    """`(?: |$)`: a space or the end of the line."""
    op, arg = item
    if op is not sre.BRANCH or len(arg[1]) != 2:
        return False
    first, second = (list(b) for b in arg[1])
    return first == [(sre.LITERAL, 0x20)] and second == [(sre.AT, sre.AT_END)]


def _space_free(op, arg, sre) -> bool:
    """True when the element can never match a space (an unnamed group: all of it)."""
    if op is sre.LITERAL:
        return arg != 0x20
    if op is sre.NOT_LITERAL:
        return arg == 0x20
    if op is sre.IN:
        negate = bool(arg) and arg[0][0] is sre.NEGATE
        has = False
        for o, a in arg[1:] if negate else arg:
            if o is sre.LITERAL:
                has |= a == 0x20
            elif o is sre.RANGE:
                has |= a[0] <= 0x20 <= a[1]
            elif o is sre.CATEGORY:
                has |= a in (sre.CATEGORY_SPACE, sre.CATEGORY_NOT_DIGIT, sre.CATEGORY_NOT_WORD)
            else:
                return False
        return has == negate
    if op is sre.CATEGORY:
        return arg in (sre.CATEGORY_NOT_SPACE, sre.CATEGORY_DIGIT, sre.CATEGORY_WORD)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
        return all(_space_free(o, a, sre) for o, a in arg[2])
    if op is sre.SUBPATTERN and arg[0] is None:
        return all(_space_free(o, a, sre) for o, a in arg[3])
    if op is sre.BRANCH:
        return all(_space_free(o, a, sre) for branch in arg[1] for o, a in branch)
    return op is sre.AT and arg in (sre.AT_BOUNDARY, sre.AT_NON_BOUNDARY)


def split_preset(lines: pa.Array, bare: str, plan) -> tuple[dict[str, pa.Array], pa.Array, pa.Array]:
    """(groups, message, header matched) of `lines` by a preset `plan` (:func:`preset_plan`); `bare`
    is the pattern without named groups. Lines the pattern does not match keep null groups and their
    whole text as message, as with the regex."""
    k, groups = plan
    n = len(lines)
    matched = pc.fill_null(pc.match_substring_regex(lines, bare), False)
    hit = matched.to_numpy(zero_copy_only=False)
    rows = lines.filter(matched) if not hit.all() else lines
    pieces = pc.split_pattern(rows, " ", max_splits=k)
    offsets = pieces.offsets.to_numpy()
    values = pieces.values
    starts = offsets[:-1]
    fields: dict[str, pa.Array] = {}
    for name, first, last, suffix in groups:
        parts = [pc.take(values, pa.array(starts + t)) for t in range(first, last + 1)]
        value = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, " ")
        if suffix:
            value = pc.utf8_slice_codeunits(value, 0, -len(suffix))
        fields[name] = value
    has_rest = np.diff(offsets) > k
    message = pc.take(values, pa.array(np.where(has_rest, starts + k, 0)))
    if not has_rest.all():
        message = pc.if_else(pa.array(has_rest), message, pa.scalar("", pa.string()))
    if hit.all():
        return fields, message, matched
    none = pa.nulls(n - len(rows), pa.string())
    return ({name: merge_rows(hit, value, none) for name, value in fields.items()},
            merge_rows(hit, message, lines.filter(pc.invert(matched))), matched)
