"""Template miner: Drain3's ``Drain`` prefix tree with our tokenization, frozen matching and JSON state.

Learning is Drain itself (``drain3.drain.Drain``; never ``drain3.TemplateMiner``, its jsonpickle
persistence or ``drain3.ini``). Frozen matching is our own, simple rule, independent of the tree, so a C
engine can re-implement it exactly: see ``docs/template-matching.md``.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Sequence

import numpy as np
from drain3.drain import Drain, LogCluster, Node

from anomaly_log_detector.config import DrainConfig
from anomaly_log_detector.errors import AlogError, StateError
from anomaly_log_detector.parsing.state import (
    STATE_FORMAT, STATE_VERSION, checksum, read_state, validate_state, write_state,
)
from anomaly_log_detector.schema import UNSEEN_ID

WILDCARD = "<*>"
# A mask inserted by the masking rules: "<" + capitals + ">" (e.g. <NUM>, <IP>).
_MASK = re.compile(r"<[A-Z]+>")
# ASCII whitespace only (str.split() would also split on U+00A0, U+2028...; a C engine would not).
_TO_SPACE = str.maketrans({c: " " for c in "\t\n\v\f\r"})


def tokenize(message: str, extra_delimiters: Sequence[str] = ()) -> list[str]:
    """Split on ASCII whitespace after turning each extra delimiter into a space."""
    for d in extra_delimiters:
        message = message.replace(d, " ")
    return [t for t in message.translate(_TO_SPACE).split(" ") if t]


def _has_mask(token: str) -> bool:
    return "<" in token and _MASK.search(token) is not None


def shape(token: str) -> str:
    """The token with every mask replaced by one NUL character: ``<HEX>`` and ``<NUM>`` look alike, and
    so do ``rhost=<IP>`` and ``rhost=<HOST>``. Tokens of the same shape are interchangeable."""
    return _MASK.sub("\x00", token) if "<" in token else token


class _Drain(Drain):
    """Drain with our tokenization, and masks of different kinds counted as similar while learning."""

    def get_content_as_tokens(self, content: str) -> list[str]:
        return tokenize(content, self.extra_delimiters)

    @staticmethod
    def has_numbers(s: str) -> bool:
        # Tokens holding a digit or a mask go down the tree's wildcard branch: a variable slot must not
        # send <NUM> and <HEX> lines to different leaves, where they would never be compared.
        return any(c.isdigit() for c in s) or _has_mask(s)

    def get_seq_distance(self, seq1, seq2, include_params: bool):
        # Drain's measure, except that masks count as one kind of token: a template token and a message
        # token holding masks at the same places are similar (one slot gets <NUM> on one line and <HEX>
        # on another), and so is a wildcard facing a masked token. A wildcard facing a plain word still
        # counts against the match, Drain's guard against over-general templates.
        if not seq1:
            return 1.0, 0
        sim = params = 0
        for t1, t2 in zip(seq1, seq2):
            if t1 == self.param_str:
                params += 1
                if include_params or _has_mask(t2):
                    sim += 1
            elif t1 == t2 or shape(t1) == shape(t2):
                sim += 1
        return sim / len(seq1), params

    # Leaves holding at least this many templates are searched through a candidate index.
    INDEX_MIN = 48

    def fast_match(self, cluster_ids, tokens, sim_th: float, include_params: bool):
        # Drain's fast_match with get_seq_distance inlined: the message's token shapes are computed
        # once, each template's once per template version (cached), instead of once per comparison.
        # In crowded leaves only the templates that can reach `sim_th` are compared (_LeafIndex).
        # Same result as Drain's loop over get_seq_distance: the best similarity, ties to more
        # parameters, then to the first in the leaf.
        if not tokens:
            return super().fast_match(cluster_ids, tokens, sim_th, include_params)
        n = len(tokens)
        loose = [include_params or _has_mask(t) for t in tokens]
        shapes = [shape(t) for t in tokens]
        if len(cluster_ids) >= self.INDEX_MIN:
            cluster_ids = self._leaf(cluster_ids).candidates(shapes, loose, sim_th)
        param = self.param_str
        cache = self._shapes_of
        clusters = self.id_to_cluster
        best, best_sim, best_params = None, -1.0, -1
        for cid in cluster_ids:
            cluster = clusters.get(cid)
            if cluster is None:
                continue
            tmpl = cluster.log_template_tokens
            hit = cache.get(cid)
            if hit is None or hit[0] is not tmpl:
                hit = (tmpl, [shape(t) for t in tmpl])
                cache[cid] = hit
            tshapes = hit[1]
            sim = params = 0
            for i in range(n):
                if tmpl[i] == param:
                    params += 1
                    if loose[i]:
                        sim += 1
                elif tshapes[i] == shapes[i]:  # equal tokens have equal shapes
                    sim += 1
            ratio = sim / n
            if ratio > best_sim or (ratio == best_sim and params > best_params):
                best, best_sim, best_params = cluster, ratio, params
        return best if best_sim >= sim_th else None

    @property
    def _shapes_of(self) -> dict:
        return self.__dict__.setdefault("_shape_cache", {})

    def _leaf(self, cluster_ids) -> "_LeafIndex":
        # A leaf's first cluster id never changes (ids are only appended), so it names the leaf.
        leaves = self.__dict__.setdefault("_leaves", {})
        leaf = leaves.get(cluster_ids[0])
        if leaf is None:
            leaf = leaves[cluster_ids[0]] = _LeafIndex(self.param_str)
        for cid in cluster_ids[leaf.indexed:]:
            cluster = self.id_to_cluster.get(cid)
            if cluster is not None:
                leaf.add(cid, [shape(t) for t in cluster.log_template_tokens])
        leaf.indexed = len(cluster_ids)
        return leaf

    def add_log_message(self, content: str):
        cluster, update = super().add_log_message(content)
        if update == "cluster_template_changed":
            for leaf in self.__dict__.get("_leaves", {}).values():
                if cluster.cluster_id in leaf.params_of:
                    leaf.widen(cluster.cluster_id, cluster.log_template_tokens)
                    break
        return cluster, update


class _LeafIndex:
    """Which templates of one Drain leaf can reach a similarity threshold with a message.

    A template scores one point per position where its token has the message token's shape, or is
    ``<*>`` facing a masked token; it needs ``sim_th * n`` points. Postings map (position, shape) and
    ``<*>`` positions to templates, so counting points touches only templates sharing something with
    the message instead of every template of the leaf (Drain's loop is quadratic in distinct messages
    on noisy logs). Templates only ever turn tokens into ``<*>``; old postings are kept, which can only
    add candidates, never lose one: every candidate is then scored exactly.
    """

    def __init__(self, param: str):
        self.param = param
        self.indexed = 0
        self.order: dict[int, int] = {}
        self.by_shape: dict[tuple[int, str], list[int]] = {}
        self.by_param: dict[int, list[int]] = {}
        self.params_of: dict[int, set[int]] = {}

    def add(self, cid: int, shapes: list[str]) -> None:
        self.order[cid] = len(self.order)
        self.params_of[cid] = set()
        for pos, sh in enumerate(shapes):
            if sh == self.param:
                self._param(cid, pos)
            else:
                self.by_shape.setdefault((pos, sh), []).append(cid)

    def widen(self, cid: int, tokens) -> None:
        for pos, tok in enumerate(tokens):
            if tok == self.param and pos not in self.params_of[cid]:
                self._param(cid, pos)

    def _param(self, cid: int, pos: int) -> None:
        self.params_of[cid].add(pos)
        self.by_param.setdefault(pos, []).append(cid)

    def candidates(self, shapes: list[str], loose: list[bool], sim_th: float) -> list[int]:
        points: Counter = Counter()
        for pos, sh in enumerate(shapes):
            points.update(self.by_shape.get((pos, sh), ()))
            if loose[pos]:
                points.update(self.by_param.get(pos, ()))
        need = sim_th * len(shapes) - 1e-9
        return sorted((cid for cid, k in points.items() if k >= need), key=self.order.__getitem__)


def _check_config(cfg: DrainConfig) -> None:
    if not (isinstance(cfg.depth, int) and cfg.depth >= 3):
        raise AlogError(f"Drain depth must be an integer >= 3, got {cfg.depth!r}")
    if not (isinstance(cfg.sim_th, (int, float)) and 0.0 <= cfg.sim_th <= 1.0):
        raise AlogError(f"Drain sim_th must be a number in [0, 1], got {cfg.sim_th!r}")
    if not (isinstance(cfg.max_children, int) and cfg.max_children >= 2):
        raise AlogError(f"Drain max_children must be an integer >= 2, got {cfg.max_children!r}")
    if not all(isinstance(d, str) and d for d in cfg.extra_delimiters):
        raise AlogError("Drain extra_delimiters must be non-empty strings")
    if not isinstance(cfg.parametrize_numeric_tokens, bool):
        raise AlogError("Drain parametrize_numeric_tokens must be true or false")


class TemplateMiner:
    """Learn templates from masked messages (Drain), match messages against frozen templates."""

    def __init__(self, config: DrainConfig = DrainConfig()):
        _check_config(config)
        self.config = config
        self._drain = _Drain(depth=config.depth, sim_th=config.sim_th, max_children=config.max_children,
                             extra_delimiters=tuple(config.extra_delimiters), param_str=WILDCARD,
                             parametrize_numeric_tokens=config.parametrize_numeric_tokens)
        self._index: dict[int, list[tuple[int, tuple[tuple[int, str], ...]]]] | None = None

    # ---- learning -------------------------------------------------------------------------------
    def learn(self, masked: Sequence[str], counts: Sequence[int] | None = None) -> np.ndarray:
        """Add messages in order; return their cluster ids (int64, >= 1).

        ``counts[i]`` is how often ``masked[i]`` occurred (callers pass unique messages): it only adds
        to the cluster size, since Drain's clustering does not depend on sizes.
        """
        n = len(masked)
        if counts is not None:
            c = np.asarray(counts, dtype=np.int64)
            if c.shape != (n,) or (n and int(c.min()) < 1):
                raise ValueError("counts must hold one integer >= 1 per message")
        ids = np.empty(n, dtype=np.int64)
        add = self._drain.add_log_message
        for i, message in enumerate(masked):
            cluster, _ = add(message)
            ids[i] = cluster.cluster_id
            if counts is not None:
                cluster.size += int(c[i]) - 1
        if n:
            self._index = None  # templates may have changed
        return ids

    def add_counts(self, ids: Sequence[int], counts: Sequence[int]) -> None:
        """Add ``counts[i]`` occurrences to cluster ``ids[i]`` (messages seen again, not re-learned)."""
        clusters = self._drain.id_to_cluster
        for cid, n in zip(np.asarray(ids, dtype=np.int64).tolist(), np.asarray(counts, dtype=np.int64).tolist()):
            if cid not in clusters or n < 0:
                raise ValueError(f"add_counts: unknown cluster id {cid} or negative count {n}")
            clusters[cid].size += n

    # ---- frozen matching ------------------------------------------------------------------------
    def match(self, masked: Sequence[str]) -> np.ndarray:
        """Ids of the best matching existing template (UNSEEN_ID when none); never changes state.

        A template matches iff it has the message's token count and each template token is ``<*>`` or
        has the message token's :func:`shape`; the match with the most non-``<*>`` tokens wins, ties go
        to the lowest id (docs/template-matching.md).
        """
        index = self._match_index()
        delims = self.config.extra_delimiters
        out = np.empty(len(masked), dtype=np.int64)
        seen: dict[str, int] = {}
        for i, message in enumerate(masked):
            cid = seen.get(message)
            if cid is None:
                shapes = [shape(t) for t in tokenize(message, delims)]
                cid = UNSEEN_ID
                # Candidates are sorted best-first, so the first full match is the answer.
                for candidate, literals in index.get(len(shapes), ()):
                    if all(shapes[p] == t for p, t in literals):
                        cid = candidate
                        break
                seen[message] = cid
            out[i] = cid
        return out

    def _match_index(self) -> dict[int, list[tuple[int, tuple[tuple[int, str], ...]]]]:
        if self._index is None:
            index: dict[int, list[tuple[int, tuple[tuple[int, str], ...]]]] = {}
            for c in self._drain.id_to_cluster.values():
                toks = c.log_template_tokens
                literals = tuple((p, shape(t)) for p, t in enumerate(toks) if t != WILDCARD)
                index.setdefault(len(toks), []).append((c.cluster_id, literals))
            for entries in index.values():
                entries.sort(key=lambda e: (-len(e[1]), e[0]))
            self._index = index
        return self._index

    # ---- inspection -----------------------------------------------------------------------------
    def templates(self) -> dict[int, str]:
        """Cluster id -> current template text (tokens joined by single spaces)."""
        return {cid: c.get_template() for cid, c in sorted(self._drain.id_to_cluster.items())}

    def sizes(self) -> dict[int, int]:
        """Cluster id -> number of messages learned into it (with their counts)."""
        return {cid: c.size for cid, c in sorted(self._drain.id_to_cluster.items())}

    def __len__(self) -> int:
        return len(self._drain.id_to_cluster)

    def __repr__(self) -> str:
        return f"TemplateMiner({len(self)} templates, {self.config})"

    # ---- state ----------------------------------------------------------------------------------
    def to_state(self) -> dict:
        """The full state as JSON-ready data (see :mod:`anomaly_log_detector.parsing.state`)."""
        state = {
            "format": STATE_FORMAT,
            "version": STATE_VERSION,
            "config": self.config.to_dict(),
            "clusters": [{"id": cid, "template": c.get_template(), "size": c.size}
                         for cid, c in sorted(self._drain.id_to_cluster.items())],
            "tree": _encode(self._drain.root_node),
        }
        state["checksum"] = checksum(state)
        return state

    @classmethod
    def from_state(cls, d: dict) -> "TemplateMiner":
        """Rebuild a miner that behaves exactly like the one whose ``to_state()`` gave ``d``."""
        validate_state(d)
        try:
            config = DrainConfig.from_dict(d["config"])
            miner = cls(config)
        except (TypeError, AlogError) as exc:
            raise StateError(f"invalid 'config': {exc}") from None
        drain = miner._drain
        for c in d["clusters"]:
            # Tokens never contain spaces (they are split on them), so the text splits back exactly.
            cluster = LogCluster(c["template"].split(" ") if c["template"] else [], c["id"])
            cluster.size = c["size"]
            drain.id_to_cluster[c["id"]] = cluster
        drain.clusters_counter = len(d["clusters"])
        drain.root_node = _decode(d["tree"])
        return miner

    def save(self, path: str | os.PathLike) -> None:
        """Write the state as JSON, atomically."""
        write_state(path, self.to_state())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "TemplateMiner":
        """Read a state written by :meth:`save`; refuses foreign (e.g. Drain3 jsonpickle) files."""
        state = read_state(path)
        try:
            return cls.from_state(state)
        except StateError as exc:
            raise StateError(f"{path}: {exc}") from None


def _encode(node: Node) -> dict:
    return {"children": {k: _encode(c) for k, c in node.key_to_child_node.items()},
            "clusters": list(node.cluster_ids)}


def _decode(d: dict) -> Node:
    node = Node()
    node.key_to_child_node = {k: _decode(c) for k, c in d["children"].items()}
    node.cluster_ids = list(d["clusters"])
    return node
