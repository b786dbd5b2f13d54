"""The template vocabulary shared by every sequence model and the C engine.

`vocab.json`::

    {"format": "alog-detect/vocab", "version": 1,
     "special": {"<PAD>": 0, "<UNK>": 1, "<EOS>": 2},
     "templates": {"<template string>": 3, ...}}

Indices 0-2 are reserved: ``<PAD>`` pads windows at the start of a short session, ``<UNK>`` stands for
any template not in the vocabulary (unseen in training, or ``<UNSEEN>`` in frozen parsing), ``<EOS>``
marks the end of a session. Templates get indices 3, 4, ... in sorted order of the template STRING
(Python ``sorted``, i.e. Unicode code-point order), so the same set of templates always gives the same
indices whatever ids the parser assigned. Growing a vocabulary (incremental training) appends new
templates after the old ones, keeping old indices stable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterable

from anomaly_log_detector.errors import DataError
from anomaly_log_detector.fileio.jsonio import check_format, read_json, write_json_atomic

FORMAT = "alog-detect/vocab"
VERSION = 1
PAD, UNK, EOS = 0, 1, 2
SPECIAL = {"<PAD>": PAD, "<UNK>": UNK, "<EOS>": EOS}
FIRST_TEMPLATE_INDEX = 3


@dataclass
class Vocab:
    """Template string -> index, with the reserved indices above."""

    templates: dict[str, int] = field(default_factory=dict)

    @classmethod
    def build(cls, template_strings: Iterable[str]) -> "Vocab":
        """A fresh vocabulary over the distinct strings, in sorted order."""
        names = sorted({t for t in template_strings if t is not None and t not in SPECIAL})
        return cls({t: FIRST_TEMPLATE_INDEX + i for i, t in enumerate(names)})

    def extend(self, template_strings: Iterable[str]) -> "Vocab":
        """A new vocabulary with unknown strings appended (sorted among themselves); old indices kept."""
        new = sorted({t for t in template_strings if t is not None and t not in SPECIAL} - self.templates.keys())
        start = self.size
        merged = dict(self.templates)
        merged.update({t: start + i for i, t in enumerate(new)})
        return Vocab(merged)

    @property
    def size(self) -> int:
        """Number of indices including the reserved ones (the model's input/output width)."""
        return FIRST_TEMPLATE_INDEX + len(self.templates)

    def index(self, template: str | None) -> int:
        return self.templates.get(template, UNK) if template is not None else UNK

    def encode(self, templates: Iterable[str | None]) -> list[int]:
        get = self.templates.get
        return [get(t, UNK) if t is not None else UNK for t in templates]

    def strings(self) -> list[str]:
        """Index -> string for every index (reserved names included)."""
        out = [""] * self.size
        for name, i in {**SPECIAL, **self.templates}.items():
            out[i] = name
        return out

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "special": dict(SPECIAL), "templates": self.templates}

    def save(self, path: str | os.PathLike) -> None:
        write_json_atomic(path, self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict, where: str = "vocab") -> "Vocab":
        check_format(d, FORMAT, VERSION, where, "vocab file", DataError)
        if d.get("special") != SPECIAL:
            raise DataError(f"{where}: reserved indices differ from {SPECIAL}")
        templates = d.get("templates")
        if not isinstance(templates, dict) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in templates.items()
        ):
            raise DataError(f"{where}: 'templates' must map strings to integers")
        if sorted(templates.values()) != list(range(FIRST_TEMPLATE_INDEX, FIRST_TEMPLATE_INDEX + len(templates))):
            raise DataError(f"{where}: template indices must be {FIRST_TEMPLATE_INDEX}..N without gaps")
        return cls(dict(templates))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Vocab":
        return cls.from_dict(read_json(path, "vocab file", DataError), str(path))
