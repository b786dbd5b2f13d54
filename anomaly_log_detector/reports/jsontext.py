"""Indented JSON text as ``json.dumps(value, ensure_ascii=False, indent=n)`` writes it, faster.

With an indent, the standard library encodes in Python through nested generators: every token of a
deep document passes up through one generator per level (0.1 s for the 5 MB of a million-line log's
samples). Here one recursive function appends each token once, strings escaped by the library's own
C function. Only what JSON documents of this project hold is taken: dicts (keys str, int, float,
bool or None), lists, tuples, str, int, float, bool, None; anything else raises TypeError, as the
library does without a `default`.
"""

from __future__ import annotations

import json.encoder
from typing import Any

_ESCAPE = json.encoder.encode_basestring  # the C function where available, as ensure_ascii=False uses
_FLOAT = float.__repr__
_INT = int.__repr__


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == -float("inf"):
        return "-Infinity"
    return _FLOAT(value)


def _key(key: Any) -> str:
    """A dict key as the library writes it (its text, escaped)."""
    if isinstance(key, str):
        return _ESCAPE(key)
    if key is True:
        return '"true"'
    if key is False:
        return '"false"'
    if key is None:
        return '"null"'
    if isinstance(key, int):
        return _ESCAPE(_INT(key))
    if isinstance(key, float):
        return _ESCAPE(_float(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _plain(o: Any) -> str | None:
    """The text of a plain value of exactly one of the common types (None for anything else)."""
    kind = type(o)
    if kind is str:
        return _ESCAPE(o)
    if kind is int:
        return _INT(o)
    if o is None:
        return "null"
    if o is True:
        return "true"
    if o is False:
        return "false"
    if kind is float:
        return _float(o)
    return None


def dumps(value: Any, indent: int = 1) -> str:
    """``json.dumps(value, ensure_ascii=False, indent=indent)``."""
    out: list[str] = []
    step = " " * indent

    def write(o: Any, newline: str) -> None:
        text = _plain(o)
        if text is not None:
            out.append(text)
        elif isinstance(o, (list, tuple)):
            if not o:
                out.append("[]")
                return
            inner = newline + step
            head = "[" + inner
            for item in o:
                text = _plain(item)  # inline: a call of write per leaf is most of the cost
                if text is not None:
                    out.append(head + text)
                else:
                    out.append(head)
                    write(item, inner)
                head = "," + inner
            out.append(newline + "]")
        elif isinstance(o, dict):
            if not o:
                out.append("{}")
                return
            inner = newline + step
            head = "{" + inner
            for k, v in o.items():
                text = _plain(v)
                if text is not None:
                    out.append(head + _key(k) + ": " + text)
                else:
                    out.append(head + _key(k) + ": ")
                    write(v, inner)
                head = "," + inner
            out.append(newline + "}")
        elif isinstance(o, str):
            out.append(_ESCAPE(o))
        elif isinstance(o, int):  # subclasses: bool is handled above
            out.append(_INT(o))
        elif isinstance(o, float):
            out.append(_float(o))
        else:
            raise TypeError(f"Object of type {o.__class__.__name__} is not JSON serializable")

    write(value, "\n")
    return "".join(out)
