"""Template miner: Drain3's ``Drain`` prefix tree with our tokenization, frozen matching and JSON state.

Learning is Drain itself (``drain3.drain.Drain``; never ``drain3.TemplateMiner``, its jsonpickle
persistence or ``drain3.ini``). Frozen matching is our own, simple rule, independent of the tree, so a C
engine can re-implement it exactly: see ``docs/template-matching.md``.
"""

from __future__ import annotations

import os
import re
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
