"""The identifier-flow detector's candidate tokens (see :mod:`anomaly_log_detector.detectors.flows`).

:func:`tokens` takes them with Arrow's RE2 kernels over whole columns: every match of
:data:`LONG_TOKEN` (TOKEN's matches long enough to be tokens) is fenced by a separator
(``replace_substring_regex``), the fences are found in the text buffer and the positions counted with
numpy, and the tokens are taken from the buffer by Arrow. RE2 finds the same leftmost-first
matches as Python's ``re`` for this pattern on ASCII text; Python's ``\\d`` also matches other scripts'
digits, so a message with a non-ASCII character, or one holding the separator, is read by the Python
loop of :func:`tokens_reference` (the original implementation, kept as the reference the tests
compare with)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from anomaly_log_detector.builders.string_codes import missing_last, string_codes

# An IPv4 address, or a word with a digit with its dash-joined parts (a UUID is one token, not five).
TOKEN = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}|[A-Za-z0-9_]*\d[A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*")
MIN_TOKEN = 3
PID_SLOT = -1                 # the position of the header pid among a template's slots
VARIANT = "\x1f"              # joins a template and its masked variant in a step key (not NUL:
                              # numpy strings drop trailing NULs)
FENCE = "\x00"                # fences each match in the Arrow path (a message holding it is read by re)
CHUNK = 8192                  # messages tokenised at once in the Arrow path

# TOKEN's matches of MIN_TOKEN or more characters, for RE2 (most of its cost is per match, and a
# third of TOKEN's matches are shorter): an address; a word remainder of 3+ characters with a digit
# and its dash-joined parts; one of 1-2 with at least one dash-joined part. Where TOKEN matches a
# short word (``a1``) this pattern also tries the next character, and only an address can start
# there (``a1.2.3.4``: TOKEN takes ``a1`` then ``2``, ``3``, ``4``): a match right after a word
# character shows it (TOKEN never starts one there but where its previous match ended, which this
# pattern fences), and that message is read again with TOKEN (:func:`_fenced_tokens`).
_W = "[A-Za-z0-9_]"
LONG_TOKEN = (rf"\d{{1,3}}(?:\.\d{{1,3}}){{3}}|(?:{_W}{{2,}}\d{_W}*|{_W}\d{_W}+|\d{_W}{{2,}})(?:-{_W}+)*"
              rf"|(?:\d{_W}?|{_W}\d)(?:-{_W}+)+")
_WORD = np.zeros(256, dtype=bool)
_WORD[np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_", dtype=np.uint8)] = True

def text(X: pd.DataFrame, column: str) -> np.ndarray:
    """A column as an object array of Python strings ("" for missing; all "" without the column)."""
    if column not in X.columns:
        return np.full(len(X), "", dtype=object)
    return X[column].astype("string").fillna("").to_numpy(dtype=object)


def joined(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``f"{a}\t{b}"`` per row of two string arrays, each distinct pair made into a string once."""
    if not len(a):
        return np.zeros(0, dtype=object)
    code_a, names_a = pd.factorize(pd.Series(a, dtype=object))
    code_b, names_b = pd.factorize(pd.Series(b, dtype=object))
    names, inverse = pairs(code_a, names_a, code_b, names_b)
    return np.asarray(names, dtype=object)[inverse]


def pairs(code_a: np.ndarray, names_a, code_b: np.ndarray, names_b, sep: str = "\t") -> tuple[list[str], np.ndarray]:
    """The distinct ``f"{a}{sep}{b}"`` of two coded columns (codes into ``names_a`` / ``names_b``) and
    each row's index into them: each distinct pair made into a string once."""
    pair, inverse = np.unique(code_a.astype(np.int64) * len(names_b) + code_b, return_inverse=True)
    names = [f"{names_a[p // len(names_b)]}{sep}{names_b[p % len(names_b)]}" for p in pair.tolist()]
    return names, inverse.reshape(-1)


def _scan(message: str, last: int | None):
    """(position, token) of the message's tokens of >= MIN_TOKEN characters, up to position ``last``
    (all without it): the reference's ``re`` loop."""
    k = 0
    for match in TOKEN.finditer(message):
        token = match.group()
        if len(token) >= MIN_TOKEN:
            yield k, token
            if k == last:  # the last position scoring needs
                return
            k += 1


def _frame(template: np.ndarray, source: np.ndarray, host: np.ndarray, rows, ks, values) -> pd.DataFrame:
    r = np.asarray(rows, dtype=np.int64)
    return pd.DataFrame({"row": r, "template": template[r], "k": np.asarray(ks, dtype=np.int64),
                         "value": np.asarray(values, dtype=object), "group": joined(source[r], host[r])})


def tokens_reference(X: pd.DataFrame, t: np.ndarray, wanted: dict[str, tuple[int, bool]] | None = None) -> pd.DataFrame:
    """:func:`tokens` with a Python loop of ``re`` matches per line (the reference of the tests)."""
    template, content = text(X, "template"), text(X, "content")
    pid, process = text(X, "pid"), text(X, "process")
    rows, ks, values = [], [], []
    for i in np.flatnonzero(np.isfinite(t)):
        last, with_pid = (None, True) if wanted is None else wanted.get(template[i], (-1, False))
        if wanted is not None and template[i] not in wanted:
            continue
        if last is None or last >= 0:
            for k, token in _scan(content[i], last):
                rows.append(i)
                ks.append(k)
                values.append(token)
        if with_pid and pid[i]:
            rows.append(i)
            ks.append(PID_SLOT)
            values.append(f"{process[i]}[{pid[i]}]")
    return _frame(template, text(X, "source"), text(X, "host"), rows, ks, values)


def tokens(X: pd.DataFrame, t: np.ndarray, wanted: dict[str, tuple[int, bool]] | None = None) -> pd.DataFrame:
    """One row per (line, candidate token): ``row``, ``template``, ``k`` (position; PID_SLOT for the
    header pid), ``value``, ``group`` (source and host: a flow never spans either); rows in line order,
    each line's tokens in position order and its pid last.

    ``wanted`` (scoring) maps each template with identifier slots to (the highest position needed, whether
    its pid is): other lines are skipped and only positions up to that one are kept (most identifier
    slots are pids or early tokens). Without it (fitting) every token of every line is taken. Lines
    without a time (``t`` not finite) have none. The text columns are built in Arrow: no Python string
    per token."""
    import pyarrow as pa
    import pyarrow.compute as pc

    code, names = _codes(X, "template")
    if wanted is None:
        last_of = np.full(len(names), np.iinfo(np.int64).max, dtype=np.int64)
        pid_of = np.ones(len(names), dtype=bool)
        in_wanted = np.ones(len(names), dtype=bool)
    else:
        got = [wanted.get(str(n)) for n in names]
        in_wanted = np.array([g is not None for g in got], dtype=bool)
        last_of = np.array([g[0] if g is not None else -1 for g in got], dtype=np.int64)
        pid_of = np.array([bool(g[1]) if g is not None else False for g in got], dtype=bool)
    live = np.isfinite(t) & in_wanted[code]
    last = last_of[code]
    read = np.flatnonzero(live & (last >= 0))
    tok_row, tok_k, tok_value = _message_tokens(X, read, last[read])
    pid = _arrow_text(X, "pid")
    has_pid = np.flatnonzero(live & pid_of[code] & pc.not_equal(pid, "").to_numpy(zero_copy_only=False))
    take = pa.array(has_pid, pa.int64())
    bracket = [pa.scalar(x, pa.large_string()) for x in ("[", "]", "")]  # the last one joins them
    pid_value = pc.binary_join_element_wise(_arrow_text(X, "process").take(take), bracket[0], pid.take(take), *bracket[1:])
    rows = np.concatenate([tok_row, has_pid])
    ks = np.concatenate([tok_k, np.full(len(has_pid), PID_SLOT, dtype=np.int64)])
    if not len(rows):  # the reference's empty table (object columns)
        return _frame(np.zeros(0, dtype=object), np.zeros(0, dtype=object), np.zeros(0, dtype=object), [], [], [])
    # Line order; within a line the tokens (already in position order) before the pid.
    order = np.argsort(rows * 2 + (ks == PID_SLOT), kind="stable")
    rows, ks = rows[order], ks[order]
    values = pa.concat_arrays([tok_value, pid_value.cast(pa.large_string())]).take(pa.array(order, pa.int64()))
    s_code, s_names = _codes(X, "source")
    h_code, h_names = _codes(X, "host")
    groups, g_code = pairs(s_code[rows], s_names, h_code[rows], h_names)
    return pa.table({
        "row": pa.array(rows, pa.int64()),
        "template": pa.array(names.tolist(), pa.large_string()).take(pa.array(code[rows], pa.int64())),
        "k": pa.array(ks, pa.int64()), "value": values,
        "group": pa.array(groups, pa.large_string()).take(pa.array(g_code, pa.int64()))}).to_pandas()


def _codes(X: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """A text column (as :func:`text` reads it) as int64 codes into its distinct values (object array;
    a missing value, and every row without the column, is ""). A missing value and a real "" may have
    codes of their own: their names are equal."""
    if column not in X.columns:
        return np.zeros(len(X), dtype=np.int64), np.array([""], dtype=object)
    return missing_last(*string_codes(X[column]), "")


def _message_tokens(X: pd.DataFrame, read: np.ndarray, last: np.ndarray):
    """The tokens of the messages of rows ``read``, positions 0..``last`` of each: (row, k, value as an
    Arrow array), in row then position order."""
    import pyarrow as pa

    if not len(read):
        return message_tokens(pa.array([], pa.large_string()), read, last)
    content = _arrow_text(X, "content")
    if len(read) < len(content):
        content = content.take(pa.array(read))
    return message_tokens(content, read, last)


def message_tokens(content, read: np.ndarray, last: np.ndarray):
    """:func:`_message_tokens` over ``content``, the Arrow large_string messages of rows ``read`` (one
    per row, "" for missing)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(read):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), pa.array([], pa.large_string())
    if content.type != pa.large_string():  # the fences are found through 64-bit offsets
        content = content.cast(pa.large_string())
    by_re = ~pc.string_is_ascii(content).to_numpy(zero_copy_only=False) | _holds_fence(content)
    at, ks, values = [], [], []  # per part: each token's index into ``read``, its position, its text
    fast = np.flatnonzero(~by_re)
    again = []
    for start in range(0, len(fast), CHUNK):  # a chunk of messages at a time: little transient text
        chunk = fast[start:start + CHUNK]
        messages = content.slice(start, CHUNK) if len(fast) == len(content) else content.take(pa.array(chunk))
        i, k, v, redo = _fenced_tokens(messages, last[chunk], LONG_TOKEN)
        at.append(chunk[i])
        ks.append(k)
        values.append(v)
        again.append(chunk[redo])
    again = np.concatenate(again) if again else np.zeros(0, dtype=np.int64)
    for start in range(0, len(again), CHUNK):  # the few messages LONG_TOKEN may misread
        chunk = again[start:start + CHUNK]
        i, k, v, _ = _fenced_tokens(content.take(pa.array(chunk)), last[chunk], TOKEN.pattern)
        at.append(chunk[i])
        ks.append(k)
        values.append(v)
    slow = np.flatnonzero(by_re)
    if len(slow):
        r, kk, v = [], [], []
        for j, message, end in zip(slow.tolist(), content.take(pa.array(slow)).to_pylist(), last[slow].tolist()):
            for k, token in _scan(message, end):
                r.append(j)
                kk.append(k)
                v.append(token)
        at.append(np.asarray(r, dtype=np.int64))
        ks.append(np.asarray(kk, dtype=np.int64))
        values.append(pa.array(v, pa.large_string()))
    at, k = np.concatenate(at), np.concatenate(ks)
    values = pa.concat_arrays(values) if len(values) > 1 else values[0]
    if len(slow) or len(again):
        # Each message's tokens are at positions 0, 1, 2, ... of one part: a token's place in row then
        # position order is its message's first place plus its position (no sort).
        first = np.zeros(len(read) + 1, dtype=np.int64)
        np.cumsum(np.bincount(at, minlength=len(read)), out=first[1:])
        order = np.empty(len(at), dtype=np.int64)
        order[first[at] + k] = np.arange(len(at), dtype=np.int64)
        at, k, values = at[order], k[order], values.take(pa.array(order))
    return read[at], k, values


def _fenced_tokens(messages, last: np.ndarray, pattern: str):
    """The tokens of ``messages`` (Arrow large_string, ASCII, without FENCE) up to position ``last`` of
    each, from the matches of ``pattern`` (TOKEN's or LONG_TOKEN): (message index, position, text as an
    Arrow array) in message then position order, and the messages LONG_TOKEN may have misread (their
    tokens left out). RE2 fences each match; the fences are found in the text buffer with numpy and the
    tokens copied out of it (no list of pieces per message)."""
    import pyarrow.compute as pc

    fenced = pc.replace_substring_regex(messages, pattern=pattern, replacement=f"{FENCE}\\0{FENCE}")
    bufs = fenced.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int64)[fenced.offset:fenced.offset + len(fenced) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, dtype=np.uint8)
    fence = np.flatnonzero(data[offsets[0]:offsets[-1]] == ord(FENCE)) + offsets[0]
    # Fences come in pairs around each match; only the long enough matches are tokens.
    begin, end = fence[0::2] + 1, fence[1::2]
    message = np.searchsorted(offsets, begin, side="right") - 1
    redo = np.zeros(0, dtype=np.int64)
    if pattern == LONG_TOKEN:  # a match right after a word character: read that message with TOKEN
        after = begin - 2 >= offsets[message]
        redo = np.unique(message[after][_WORD[data[begin[after] - 2]]])
    long = end - begin >= MIN_TOKEN
    if len(redo):
        long &= ~np.isin(message, redo)
    begin, end, message = begin[long], end[long], message[long]
    first = np.zeros(len(messages) + 1, dtype=np.int64)  # each message's first token
    np.cumsum(np.bincount(message, minlength=len(messages)), out=first[1:])
    k = np.arange(len(begin), dtype=np.int64) - first[message]
    ok = k <= last[message]
    return message[ok], k[ok], _spans(bufs[2], begin[ok], end[ok]), redo


def _spans(data, begin: np.ndarray, end: np.ndarray):
    """The byte spans ``[begin, end)`` of an Arrow buffer ``data`` as a large_string array: the spans
    and the gaps between them are the values of one array over the buffer (no copy), whose spans are
    taken."""
    import pyarrow as pa

    if not len(begin):
        return pa.array([], pa.large_string())
    offsets = np.empty(2 * len(begin), dtype=np.int64)
    offsets[0::2], offsets[1::2] = begin, end
    pieces = pa.Array.from_buffers(pa.large_string(), len(offsets) - 1, [None, pa.py_buffer(offsets), data])
    return pieces.take(pa.array(np.arange(0, len(offsets), 2, dtype=np.int64)))


def _holds_fence(content) -> np.ndarray:
    """Which messages (an Arrow string or large_string array) hold FENCE: one scan of the text buffer, a megabyte at a
    time (a substring kernel per message took ~5x as long)."""
    import pyarrow as pa

    out = np.zeros(len(content), dtype=bool)
    bufs = content.buffers()
    if not len(content) or bufs[2] is None:
        return out
    width = np.int64 if content.type == pa.large_string() else np.int32
    offsets = np.frombuffer(bufs[1], dtype=width)[content.offset:content.offset + len(content) + 1].astype(np.int64)
    data = np.frombuffer(bufs[2], dtype=np.uint8)
    fence = ord(FENCE)
    for at in range(int(offsets[0]), int(offsets[-1]), 1 << 20):
        hits = np.flatnonzero(data[at:min(at + (1 << 20), int(offsets[-1]))] == fence) + at
        if len(hits):
            out[np.searchsorted(offsets, hits, side="right") - 1] = True
    return out


def _arrow_text(X: pd.DataFrame, column: str):
    """A column as an Arrow string array ("" for missing), without Python strings when it is Arrow-backed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    s = X[column] if column in X.columns else None
    if s is not None and isinstance(s.dtype, pd.StringDtype):
        arr = pa.array(s)
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        return pc.fill_null(arr.cast(pa.large_string()), "")
    return pa.array(text(X, column), type=pa.large_string())
