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
from typing import Iterable

import numpy as np
from scipy import sparse

_MASK = re.compile(r"<[^<>\s]{0,32}>")
_WORD = re.compile(r"[a-z][a-z_\-]*[a-z]")


def words(text: str) -> frozenset[str]:
    """The word set of a message or template (see the module docstring)."""
    return frozenset(_WORD.findall(_MASK.sub(" ", str(text).lower())))


class TemplateIndex:
    """Nearest known template by word Jaccard: the words shared with every template at once, as a
    sparse product of texts x words and words x templates incidence matrices."""

    # Distinct texts compared at a time (the shared counts are texts x templates).
    BLOCK = 1024

    def __init__(self, templates: Iterable[str]):
        self.templates = list(templates)
        self._sets = [words(t) for t in self.templates]
        self._words: dict[str, int] = {}
        cols = [[self._words.setdefault(w, len(self._words)) for w in ws] for ws in self._sets]
        self._sizes = np.array([len(ws) for ws in self._sets], dtype=np.int64)
        self._incidence = _incidence(cols, len(self._words)).T.tocsr()  # words x templates

    def nearest(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """(similarity in [0, 1], index of the nearest template or -1) for each text; distinct texts
        are computed once."""
        texts = list(texts)
        distinct = list(dict.fromkeys(texts))
        sim, best = np.zeros(len(distinct)), np.full(len(distinct), -1, dtype=np.int64)
        for lo in range(0, len(distinct), self.BLOCK):
            sets = [words(t) for t in distinct[lo:lo + self.BLOCK]]
            sim[lo:lo + len(sets)], best[lo:lo + len(sets)] = self._best(sets)
        at = {t: i for i, t in enumerate(distinct)}
        order = np.fromiter((at[t] for t in texts), dtype=np.int64, count=len(texts))
        return sim[order], best[order]

    def _best(self, sets: list[frozenset[str]]) -> tuple[np.ndarray, np.ndarray]:
        """Per word set: the best Jaccard and the template giving it (the first one on a tie; -1 and 0
        when no template shares a word)."""
        cols = [[self._words[w] for w in ws if w in self._words] for ws in sets]
        shared = (_incidence(cols, len(self._words)) @ self._incidence).tocsr()  # texts x templates
        shared.sum_duplicates()
        text = np.repeat(np.arange(len(sets)), np.diff(shared.indptr))
        common, at = shared.data.astype(np.int64), shared.indices.astype(np.int64)
        sizes = np.array([len(ws) for ws in sets], dtype=np.int64)
        jaccard = common / (sizes[text] + self._sizes[at] - common)
        top = np.zeros(len(sets))
        np.maximum.at(top, text, jaccard)
        best = np.full(len(sets), len(self.templates), dtype=np.int64)
        tie = jaccard == top[text]
        np.minimum.at(best, text[tie], at[tie])
        best[best == len(self.templates)] = -1
        return top, best


def _incidence(cols: list[list[int]], width: int) -> sparse.csr_matrix:
    """Rows x `width` 0/1 matrix with ones at each row's `cols`."""
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in cols])]).astype(np.int64)
    indices = np.fromiter((c for row in cols for c in row), dtype=np.int64, count=int(indptr[-1]))
    return sparse.csr_matrix((np.ones(len(indices), dtype=np.int64), indices, indptr), shape=(len(cols), width))
