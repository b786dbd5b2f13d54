"""Masking rules (`rules.json`): replace variable parts of messages (numbers, IPs, paths...) by masks.

Rules are data: an ordered JSON list of ``{"name", "group", "pattern", "mask"}`` objects, applied one
after the other. Patterns use the common subset of Python ``re`` and RE2 (no look-around, no
backreferences) because chunks are masked vectorized with ``pyarrow.compute.replace_substring_regex``
(RE2); :meth:`Masker.mask` is the pure-Python reference and gives identical results. A mask may refer to
a capture group of its pattern as ``\\1`` .. ``\\9`` (both engines share that syntax).
"""

from __future__ import annotations

import json
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from anomaly_log_detector.errors import RulesError
from anomaly_log_detector.fileio.jsonio import MAX_SETTINGS_BYTES, read_regular

if TYPE_CHECKING:  # pyarrow is imported lazily: the CLI root must stay light
    import pyarrow as pa

#: Groups that have a ``--no-mask-<group>`` flag on the command line.
FLAG_GROUPS = ("paths", "hex", "ips", "mac", "uuid", "pid", "device", "num")
DEFAULT_RULES = Path(__file__).resolve().parent.parent / "data" / "rules.json"

_KEYS = ("name", "group", "pattern", "mask")
# Strings that every rule is tried on to detect patterns that can match an empty substring: such a
# pattern would insert its mask between characters, and RE2 and Python disagree on where.
_EMPTY_PROBES = ("", " ", "a", "0", "a b", "0 a", "-", "/", ":", "a=1", "<NUM>", "x.y", "\t")
_GROUP_REF = re.compile(r"\\(.?)")  # a backslash and what follows it (nothing at the end)
# Syntax both engines accept but read differently: refused so that mask() and mask_array() always agree.
_DIVERGENT = (
    (re.compile(r"(?<!\\)(?:\\\\)*\\[sS]"), r"\s/\S differ (RE2 leaves out \v): write [ \t\n\r\f\v] instead"),
    (re.compile(r"\(\?[a-zA-Z]*i"), "(?i) folds non-ASCII letters in RE2 only: list both cases, e.g. [Pp]"),
)
# Masking runs on slices of at least this many distinct messages in parallel threads (RE2 releases the GIL).
_SLICE = 8192
_THREADS = max(1, min(8, os.cpu_count() or 1))
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class MaskRule:
    """One masking rule: every match of ``pattern`` is replaced by ``mask``."""

    name: str
    group: str
    pattern: str
    mask: str


def _compile(rule: MaskRule, where: str) -> re.Pattern[str]:
    try:
        # ASCII: RE2's \d, \w and \b are ASCII-only; Python's default would also match other scripts.
        rx = re.compile(rule.pattern, re.ASCII)
    except re.error as exc:
        raise RulesError(f"{where}: pattern does not compile: {exc}") from None
    for rx_bad, why in _DIVERGENT:
        if rx_bad.search(rule.pattern):
            raise RulesError(f"{where}: {why}")
    for ref in _GROUP_REF.findall(rule.mask):
        if not ref.isdigit() or ref == "0" or int(ref) > rx.groups:
            allowed = f"only \\1..\\{rx.groups} (groups of the pattern)" if rx.groups else "no backslash (no groups)"
            raise RulesError(f"{where}: mask {rule.mask!r} has '\\{ref}'; a mask may hold {allowed}")
    for probe in _EMPTY_PROBES:
        if any(m.end() == m.start() for m in rx.finditer(probe)):
            raise RulesError(f"{where}: pattern {rule.pattern!r} can match the empty string")
    return rx


def _check_re2(rules: tuple[MaskRule, ...]) -> None:
    """Ask pyarrow (RE2) to compile each pattern; Python-only syntax (look-around...) fails here."""
    import pyarrow as pa
    import pyarrow.compute as pc

    probe = pa.array(["x"], pa.string())
    for i, rule in enumerate(rules):
        try:
            pc.replace_substring_regex(probe, rule.pattern, rule.mask)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise RulesError(f"rule {i} ({rule.name!r}): not accepted by RE2 "
                             f"(no look-around or backreferences): {exc}") from None


_DIGITS = frozenset(range(0x31, 0x3A))  # "1".."9": the digits a skeleton folds into "1"
_ALL_DIGITS = frozenset(range(0x30, 0x3A))  # "0".."9": folded too in messages without an x (below)
_X = frozenset((0x78, 0x58))  # "x", "X"


def _digit_blind(pattern: str, digits: frozenset = _DIGITS, x_guard: bool = False) -> bool:
    """True when `pattern` cannot tell the `digits` apart: every test it makes on a character treats
    them alike (by default 1..9; "0" may be special: ``0[xX]``). Then masking a message and its
    *skeleton* (each of those digits replaced by "1") takes the same decisions at the same places; see
    :meth:`Masker.mask_array`.

    With `x_guard`, a test that does tell them apart is accepted when the next element of its sequence
    must match an "x" or "X" (``0[xX]``): on text without an x such a test can never be part of a match,
    so it cannot tell anything apart there."""
    import re._parser as sre  # the parse tree of Python's own compiler, read-only

    def same(items) -> bool:
        # An IN set holds all of the digits or none of them.
        hit = set()
        for op, arg in items:
            if op is sre.LITERAL and arg in digits:
                hit.add(arg)
            elif op is sre.RANGE:
                hit.update(d for d in digits if arg[0] <= d <= arg[1])
        return not hit or hit == digits

    def x_only(item) -> bool:
        op, arg = item
        if op is sre.LITERAL:
            return arg in _X
        return op is sre.IN and bool(arg) and all(o is sre.LITERAL and a in _X for o, a in arg)

    def guarded(tree, i: int) -> bool:
        return x_guard and i + 1 < len(tree) and x_only(tree[i + 1])

    def walk(tree) -> bool:
        for i, (op, arg) in enumerate(tree):
            if op in (sre.LITERAL, sre.NOT_LITERAL):
                if arg in digits and not (op is sre.LITERAL and guarded(tree, i)):
                    return False
            elif op is sre.IN:
                if not same(arg) and not guarded(tree, i):
                    return False
            elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT):
                if not walk(arg[2]):
                    return False
            elif op is sre.SUBPATTERN:
                if not walk(arg[3]):
                    return False
            elif op is sre.BRANCH:
                if not all(walk(b) for b in arg[1]):
                    return False
            elif op in (sre.ASSERT, sre.ASSERT_NOT):
                if not walk(arg[1]):
                    return False
            elif op is sre.ATOMIC_GROUP:
                if not walk(arg):
                    return False
            elif op not in (sre.AT, sre.ANY, sre.CATEGORY):
                return False  # something we do not know: no skeletons
        return True

    try:
        return walk(sre.parse(pattern, re.ASCII))
    except Exception:  # noqa: BLE001 - any doubt means "no": the slow path is always correct
        return False


def _zero_foldable(rules: "Sequence[MaskRule]") -> bool:
    """True when, in a message without "x"/"X", the rules cannot tell any digit 0-9 apart, so that its
    skeleton may fold "0" as well. Each rule must treat 0-9 alike, or only tell them apart right before
    a required x/X (the ``0[xX]`` of hex values) while no earlier rule's mask writes an x/X: then the
    text it runs on has no x, by induction (a mask's group references copy text that has none)."""
    x_written = False
    for rule in rules:
        if not _digit_blind(rule.pattern, _ALL_DIGITS):
            if x_written or not _digit_blind(rule.pattern, _ALL_DIGITS, x_guard=True):
                return False
        x_written = x_written or any(c in "xX" for c in _GROUP_REF.sub("", rule.mask))
    return True


def _skeleton(arr: "pa.Array", zero: bool = False) -> "pa.Array | None":
    """`arr` (a string array) with the ASCII digits 1-9 turned into "1", as one byte translation; None
    for types it does not handle. With `zero`, a message without "x"/"X" has its "0"s turned into "1"
    too (see :func:`_zero_foldable`). Multi-byte UTF-8 sequences hold no ASCII bytes, so they are
    untouched and the result stays valid UTF-8 with the same offsets."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if arr.type != pa.string():
        return None
    validity, offsets, data = arr.buffers()
    if data is None or len(arr) == 0:
        return arr

    def mapped(table: bytes) -> "pa.Array":
        out = pa.py_buffer(data.to_pybytes().translate(table))
        return pa.Array.from_buffers(pa.string(), len(arr), [validity, offsets, out],
                                     null_count=arr.null_count, offset=arr.offset)

    if not zero:
        return mapped(_FOLD_1_9)
    has_x = pc.fill_null(pc.match_substring_regex(arr, "[xX]"), False)
    folded = mapped(_FOLD_0_9)
    if not pc.any(has_x).as_py():
        return folded
    return pc.replace_with_mask(folded, has_x, _skeleton(arr.filter(has_x)))


def _fold_table(first: str) -> bytes:
    """The byte translation that turns the ASCII digits `first`.."9" into "1"."""
    return bytes(0x31 if ord(first) <= b <= 0x39 else b for b in range(256))


_FOLD_1_9, _FOLD_0_9 = _fold_table("1"), _fold_table("0")


def _parse_rule(i: int, obj: object) -> MaskRule:
    if not isinstance(obj, dict):
        raise RulesError(f"rule {i}: expected an object with keys {', '.join(_KEYS)}, got {type(obj).__name__}")
    name = obj.get("name")
    where = f"rule {i} ({name!r})" if isinstance(name, str) else f"rule {i}"
    unknown = sorted(set(obj) - set(_KEYS))
    if unknown:
        raise RulesError(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(_KEYS)}")
    for key in _KEYS:
        if key not in obj:
            raise RulesError(f"{where}: missing key {key!r}")
        if not isinstance(obj[key], str):
            raise RulesError(f"{where}: {key!r} must be a string")
    if not obj["name"] or not obj["group"]:
        raise RulesError(f"{where}: 'name' and 'group' must not be empty")
    if not obj["pattern"]:
        raise RulesError(f"{where}: empty pattern")
    return MaskRule(**{k: obj[k] for k in _KEYS})


class Masker:
    """An ordered list of validated masking rules, applied vectorized or line by line."""

    def __init__(self, rules: Iterable[MaskRule], disabled_groups: Iterable[str] = ()):
        all_rules = tuple(rules)
        disabled = frozenset(disabled_groups)
        known = set(FLAG_GROUPS) | {r.group for r in all_rules}
        unknown = sorted(disabled - known)
        if unknown:
            raise RulesError(f"unknown mask group(s) {', '.join(map(repr, unknown))}; "
                             f"known: {', '.join(sorted(known))}")
        compiled = [(r, _compile(r, f"rule {i} ({r.name!r})")) for i, r in enumerate(all_rules)]
        _check_re2(all_rules)
        kept = [(r, rx) for r, rx in compiled if r.group not in disabled]
        self.rules: tuple[MaskRule, ...] = tuple(r for r, _ in kept)
        self.disabled_groups = disabled
        self._compiled = tuple(rx for _, rx in kept)
        # Python's re.sub wants \g<1> where RE2 accepts \1; \g<1> also keeps "\1" + "0" unambiguous.
        self._py_masks = tuple(_GROUP_REF.sub(r"\\g<\1>", r.mask) for r in self.rules)
        # Skeleton masking (mask_array) is exact only when no active rule tells 1-9 apart.
        self._digit_blind = all(_digit_blind(r.pattern) for r in self.rules)
        # ... and a message without an x may have its 0s folded too.
        self._zero_fold = self._digit_blind and _zero_foldable(self.rules)

    # ---- construction ---------------------------------------------------------------------------
    @classmethod
    def from_list(cls, rules: object, disabled_groups: Iterable[str] = ()) -> "Masker":
        """Build from the JSON value of a rules file (a list of rule objects)."""
        if not isinstance(rules, list):
            raise RulesError(f"rules must be a JSON list of objects, got {type(rules).__name__}")
        return cls((_parse_rule(i, obj) for i, obj in enumerate(rules)), disabled_groups)

    @classmethod
    def from_file(cls, path: str | Path | None = None, disabled_groups: Iterable[str] = ()) -> "Masker":
        """Load a rules file; ``None`` means the packaged default ``data/rules.json``."""
        p = Path(path) if path is not None else DEFAULT_RULES
        try:
            text = read_regular(p, MAX_SETTINGS_BYTES).decode("utf-8")  # no FIFO, no device, bounded
        except OSError as exc:
            raise RulesError(f"cannot read rules file {p}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise RulesError(f"rules file {p} is not UTF-8 text") from None
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise RulesError(f"rules file {p} is not valid JSON: {exc}") from None
        try:
            return cls.from_list(data, disabled_groups)
        except RulesError as exc:
            raise RulesError(f"{p}: {exc}") from None

    def to_list(self) -> list[dict]:
        """The active rules as JSON-ready dicts (what a model bundle stores)."""
        return [asdict(r) for r in self.rules]

    # ---- masking --------------------------------------------------------------------------------
    def mask(self, s: str) -> str:
        """Mask one message (pure-Python reference of :meth:`mask_array`)."""
        for rx, repl in zip(self._compiled, self._py_masks):
            s = rx.sub(repl, s)
        return s

    def mask_array(self, arr: "pa.Array | pa.ChunkedArray") -> "pa.Array":
        """Mask a whole column of strings with RE2; nulls stay null.

        Each distinct message is masked once (logs repeat a lot), on several threads for big chunks.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks() if arr.num_chunks else pa.array([], arr.type)
        if not self.rules or len(arr) == 0:
            return arr
        skeleton = _skeleton(arr, self._zero_fold) if self._digit_blind else None
        if skeleton is None:
            encoded = pc.dictionary_encode(arr)
            return pc.take(self._apply_distinct(encoded.dictionary), encoded.indices)
        # Messages that differ only in which digits 1-9 they hold share a skeleton (without an x, in which
        # digits 0-9: _zero_foldable): mask each distinct skeleton once. Digit-blind rules decide
        # identically on a message and its skeleton, so the two results differ at most where a digit was
        # copied through unmasked (a folded digit is a "1" in the skeleton); a skeleton result holding
        # no 1-9 is therefore exactly the message's result, and the few others are masked for real.
        encoded = pc.dictionary_encode(skeleton)
        masked = self._apply_distinct(encoded.dictionary)
        leftover = pc.match_substring_regex(masked, "[1-9]")
        result = pc.take(masked, encoded.indices)
        if pc.any(leftover).as_py():
            redo = pc.fill_null(pc.take(leftover, encoded.indices), False)
            real = pc.dictionary_encode(arr.filter(redo))
            result = pc.replace_with_mask(result, redo, pc.take(self._apply_distinct(real.dictionary),
                                                                 real.indices))
        return result

    def _apply_distinct(self, distinct: "pa.Array") -> "pa.Array":
        """Mask an array of (distinct) messages, on several threads when it is big."""
        import pyarrow as pa

        n = len(distinct)
        if n < 2 * _SLICE or _THREADS == 1:
            return self._apply(distinct)
        step = -(-n // min(_THREADS, n // _SLICE))
        parts = list(_executor().map(self._apply, [distinct.slice(i, step) for i in range(0, n, step)]))
        return pa.concat_arrays(parts)

    def _apply(self, arr: "pa.Array") -> "pa.Array":
        import pyarrow.compute as pc

        for rule in self.rules:
            arr = pc.replace_substring_regex(arr, rule.pattern, rule.mask)
        return arr

    def __len__(self) -> int:
        return len(self.rules)

    def __repr__(self) -> str:
        return f"Masker({len(self.rules)} rules, disabled={sorted(self.disabled_groups)})"


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="alog-mask")
        return _pool
