"""How new is a new message? The word overlap of a line with the nearest training template.

A line that matches no training template may still be a close variant of one (``ciod: Error loading
X: invalid or missing program image, Exec format error`` next to a known ``..., No such file or
directory``) or something never written before (``Lustre mount FAILED``). Novelty alone cannot tell
them apart; the Jaccard overlap of their *words* with the nearest known template can. Words are runs
of two or more letters, lower-cased, after removing mask tokens (``<NUM>``, ``<*>``...): numbers,
identifiers and masks say nothing about which message it is.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Iterable

import numpy as np

_MASK = re.compile(r"<[^<>\s]{0,32}>")
_WORD = re.compile(r"[a-z][a-z_\-]*[a-z]")


def words(text: str) -> frozenset[str]:
    """The word set of a message or template (see the module docstring)."""
    return frozenset(_WORD.findall(_MASK.sub(" ", str(text).lower())))


class TemplateIndex:
    """Nearest known template by word Jaccard, through an inverted index (word -> templates)."""

    def __init__(self, templates: Iterable[str]):
        self.templates = list(templates)
        self._sets = [words(t) for t in self.templates]
        self._index: dict[str, list[int]] = defaultdict(list)
        for i, ws in enumerate(self._sets):
            for w in ws:
                self._index[w].append(i)

    def nearest(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """(similarity in [0, 1], index of the nearest template or -1) for each text; distinct texts
        are computed once."""
        texts = list(texts)
        cache: dict[str, tuple[float, int]] = {}
        sim = np.zeros(len(texts))
        best = np.full(len(texts), -1, dtype=np.int64)
        for n, text in enumerate(texts):
            if text not in cache:
                cache[text] = self._one(words(text))
            sim[n], best[n] = cache[text]
        return sim, best

    def _one(self, ws: frozenset[str]) -> tuple[float, int]:
        shared: dict[int, int] = defaultdict(int)
        for w in ws:
            for i in self._index.get(w, ()):
                shared[i] += 1
        top, at = 0.0, -1
        for i, common in shared.items():
            j = common / (len(ws) + len(self._sets[i]) - common)
            if j > top or (j == top and at >= 0 and i < at):
                top, at = j, i
        return top, at
