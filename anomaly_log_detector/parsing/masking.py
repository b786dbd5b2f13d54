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
from typing import TYPE_CHECKING, Iterable

from anomaly_log_detector.errors import RulesError

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
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise RulesError(f"cannot read rules file {p}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise RulesError(f"rules file {p} is not UTF-8 text") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
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
        encoded = pc.dictionary_encode(arr)
        distinct = encoded.dictionary
        n = len(distinct)
        if n < 2 * _SLICE or _THREADS == 1:
            masked = self._apply(distinct)
        else:
            step = -(-n // min(_THREADS, n // _SLICE))
            parts = list(_executor().map(self._apply, [distinct.slice(i, step) for i in range(0, n, step)]))
            masked = pa.concat_arrays(parts)
        return pc.take(masked, encoded.indices)

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
