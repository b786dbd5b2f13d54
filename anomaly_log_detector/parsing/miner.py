"""Template miner: Drain3's ``Drain`` prefix tree with our tokenization, frozen matching and JSON state.

Learning is Drain itself (``drain3.drain.Drain``; never ``drain3.TemplateMiner``, its jsonpickle
persistence or ``drain3.ini``). Frozen matching is our own, simple rule, independent of the tree, so a C
engine can re-implement it exactly: see ``docs/template-matching.md``.

Departures from Drain's cost, not its result: a leaf's template list is appended to instead of copied,
crowded leaves are searched through postings (:class:`_LeafIndex`) and frozen matching through an index
(:class:`_FrozenIndex`). One departure in result, only on noisy or hostile logs: the cap
(``DrainConfig.max_clusters_per_leaf``) folds new messages of a full leaf into its catch-all template and
counts them (``TemplateMiner.folded``, the "template explosion" warning of parse and train).
"""

from __future__ import annotations

import math
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
from anomaly_log_detector.fileio.schema import UNSEEN_ID

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
    """Drain with our tokenization, masks of different kinds counted as similar while learning, a
    candidate index for crowded leaves and an optional cap on templates per leaf.

    Without a cap (``max_clusters_per_leaf=0``) it gives exactly Drain's clusters, ids and tree; the
    changes below only remove work that grows with the number of templates (tests/test_miner_fast_match.py,
    tests/robustness/test_miner_scale.py compare it with Drain's own loops).
    """

    # Leaves holding at least this many templates are searched through a candidate index.
    INDEX_MIN = 48
    # Candidates scored with numpy (one matrix operation) when at least this many.
    VECTOR_MIN = 16

    def __init__(self, *, max_clusters_per_leaf: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.max_clusters_per_leaf = max_clusters_per_leaf
        self._shape_cache: dict[int, tuple] = {}            # cluster id -> (template tokens, their shapes)
        self._leaves: dict[int, _LeafIndex] = {}            # a leaf's first cluster id -> its index
        self._leaf_of: dict[int, _LeafIndex] = {}           # cluster id -> index of the leaf holding it
        self.catch_alls: set[int] = set()                   # ids of the catch-all templates (the cap)
        self._catch_of: dict[int, int] = {}                 # a full leaf's first cluster id -> its catch-all

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

    # ---- learning ---------------------------------------------------------------------------------
    def add_log_message(self, content: str):
        """Drain's add_log_message (same result without a cap), plus folding: a message that matches no
        template and whose leaf already holds ``max_clusters_per_leaf`` templates joins the leaf's
        catch-all template instead of starting a new one (update type ``"folded"``)."""
        tokens = self.get_content_as_tokens(content)
        cluster = self.tree_search(self.root_node, tokens, self.sim_th, False)
        if cluster is None:
            full = self._full_leaf(tokens)
            if full is not None:
                return self._fold(full, len(tokens)), "folded"
            self.clusters_counter += 1
            cluster = LogCluster(tokens, self.clusters_counter)
            self.id_to_cluster[cluster.cluster_id] = cluster
            self.add_seq_to_prefix_tree(self.root_node, cluster)
            return cluster, "cluster_created"
        cluster.size += 1
        template = tuple(self.create_template(tokens, cluster.log_template_tokens))
        if template == cluster.log_template_tokens:
            return cluster, "none"
        cluster.log_template_tokens = template
        leaf = self._leaf_of.get(cluster.cluster_id)
        if leaf is not None:
            leaf.widen(cluster.cluster_id, template)
        return cluster, "cluster_template_changed"

    def add_seq_to_prefix_tree(self, root_node: Node, cluster: LogCluster) -> None:
        # Drain's, which copies the whole leaf list on every new template to drop clusters its LRU
        # cache evicted (O(leaf) per template: quadratic on a crowded leaf). Our clusters are never
        # evicted, so appending gives the same list.
        assert root_node is self.root_node
        leaf = self._place(cluster.log_template_tokens, create=True)
        if cluster.log_template_tokens:
            leaf.cluster_ids.append(cluster.cluster_id)
        else:
            leaf.cluster_ids = [cluster.cluster_id]  # Drain keeps one template of zero tokens

    def _place(self, tokens: Sequence[str], create: bool) -> Node | None:
        """The leaf where Drain's add_seq_to_prefix_tree puts a new template of these tokens, nodes
        created on the way; with ``create=False``, None where that leaf does not exist yet."""
        children = self.root_node.key_to_child_node
        node = children.get(str(len(tokens)))
        if node is None:
            if not create:
                return None
            node = children[str(len(tokens))] = Node()
        param, depth = self.param_str, 1
        for token in tokens:
            if depth >= self.max_node_depth or depth >= len(tokens):
                break
            children = node.key_to_child_node
            nxt = children.get(token)
            if nxt is None:
                if self.parametrize_numeric_tokens and self.has_numbers(token):
                    key = param
                elif param in children:
                    key = token if len(children) < self.max_children else param
                else:  # one place left: it becomes the wildcard branch
                    key = token if len(children) + 1 < self.max_children else param
                nxt = children.get(key)
                if nxt is None:
                    if not create:
                        return None
                    nxt = children[key] = Node()
            node = nxt
            depth += 1
        return node

    def _full_leaf(self, tokens: list[str]) -> Node | None:
        """The leaf a new template of ``tokens`` would join, when it has reached the cap."""
        cap = self.max_clusters_per_leaf
        if cap <= 0 or not tokens:
            return None
        leaf = self._place(tokens, create=False)
        return leaf if leaf is not None and len(leaf.cluster_ids) >= cap else None

    def _fold(self, leaf: Node, n: int) -> LogCluster:
        """Count one more message in the leaf's catch-all (``<*>`` n times), created on first use."""
        cid = self._catch_of.get(leaf.cluster_ids[0])
        if cid is None:  # not cached: none yet, or a loaded one (found once)
            cid = next((c for c in reversed(leaf.cluster_ids) if c in self.catch_alls), None)
        if cid is not None:
            self._catch_of[leaf.cluster_ids[0]] = cid
            cluster = self.id_to_cluster[cid]
            cluster.size += 1
            return cluster
        self.clusters_counter += 1
        cluster = LogCluster([self.param_str] * n, self.clusters_counter)
        self.id_to_cluster[cluster.cluster_id] = cluster
        leaf.cluster_ids.append(cluster.cluster_id)
        self.catch_alls.add(cluster.cluster_id)
        self._catch_of[leaf.cluster_ids[0]] = cluster.cluster_id
        return cluster

    def find_catch_alls(self) -> None:
        """Recognise the catch-alls of a loaded tree: all-``<*>`` templates in leaves at the cap."""
        cap = self.max_clusters_per_leaf
        if cap <= 0:
            return
        stack = [self.root_node]
        while stack:
            node = stack.pop()
            stack.extend(node.key_to_child_node.values())
            if len(node.cluster_ids) > cap:
                for cid in node.cluster_ids:
                    tmpl = self.id_to_cluster[cid].log_template_tokens
                    if tmpl and all(t == self.param_str for t in tmpl):
                        self.catch_alls.add(cid)

    # ---- matching while learning ------------------------------------------------------------------
    def fast_match(self, cluster_ids, tokens, sim_th: float, include_params: bool):
        # Drain's fast_match with get_seq_distance inlined: the message's token shapes are computed
        # once, each template's once per template version (cached), instead of once per comparison.
        # In crowded leaves only the templates that can reach `sim_th` are compared (_LeafIndex), with
        # numpy when they are many. Same result as Drain's loop over get_seq_distance: the best
        # similarity, ties to more parameters, then to the first in the leaf.
        if not tokens:
            return super().fast_match(cluster_ids, tokens, sim_th, include_params)
        n = len(tokens)
        loose = [include_params or _has_mask(t) for t in tokens]
        shapes = [shape(t) for t in tokens]
        if len(cluster_ids) >= self.INDEX_MIN:
            leaf = self._leaf(cluster_ids)
            rows = leaf.candidates(shapes, loose, sim_th)
            if len(rows) >= self.VECTOR_MIN:
                row, sim = leaf.best(rows, shapes, loose)
                return self.id_to_cluster[leaf.ids[row]] if sim / n >= sim_th else None
            cluster_ids = [leaf.ids[r] for r in rows]
        param = self.param_str
        cache = self._shape_cache
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

    def _leaf(self, cluster_ids) -> "_LeafIndex":
        # A leaf's first cluster id never changes (ids are only appended), so it names the leaf.
        leaf = self._leaves.get(cluster_ids[0])
        if leaf is None:
            leaf = self._leaves[cluster_ids[0]] = _LeafIndex(self.param_str)
        for cid in cluster_ids[leaf.indexed:]:
            cluster = self.id_to_cluster.get(cid)
            if cluster is not None:
                leaf.add(cid, [shape(t) for t in cluster.log_template_tokens])
                self._leaf_of[cid] = leaf
        leaf.indexed = len(cluster_ids)
        return leaf


class _LeafIndex:
    """Which templates of one Drain leaf can reach a similarity threshold with a message, and the best.

    Templates are rows, in the leaf's order. A template scores one point per position where its token
    has the message token's shape, or is ``<*>`` facing a masked token; it needs ``k = ceil(sim_th *
    n)`` points, so it misses at most ``n - k`` positions and scores in any ``n - k + 1`` of them.
    Postings map (position, shape) and ``<*>`` positions to rows; the candidates are the rows in the
    postings of the message's ``n - k + 1`` positions with the shortest postings (a word common to
    every template costs nothing). Templates only ever turn tokens into ``<*>``; old postings are kept,
    which can only add candidates, never lose one: every candidate is then scored exactly, by
    :meth:`best` over a matrix of shape codes (``-1`` = ``<*>``) when they are many.
    """

    def __init__(self, param: str):
        self.param = param
        self.indexed = 0                                   # entries of the leaf's cluster_ids seen
        self.ids: list[int] = []                           # row -> cluster id
        self.row_of: dict[int, int] = {}
        self.by_shape: dict[tuple[int, str], list[int]] = {}
        self.by_param: dict[int, list[int]] = {}
        self.params_of: dict[int, set[int]] = {}           # row -> positions holding <*>
        self.code_of: dict[str, int] = {}                  # shape -> code (>= 0)
        self.codes: np.ndarray | None = None               # rows x tokens, int32

    def add(self, cid: int, shapes: list[str]) -> None:
        row = len(self.ids)
        self.ids.append(cid)
        self.row_of[cid] = row
        self.params_of[row] = set()
        if self.codes is None:
            self.codes = np.empty((64, len(shapes)), dtype=np.int32)  # a leaf holds one token count
        elif row == len(self.codes):
            self.codes = np.concatenate([self.codes, np.empty_like(self.codes)])
        line = []
        for pos, sh in enumerate(shapes):
            if sh == self.param:
                self.params_of[row].add(pos)
                self.by_param.setdefault(pos, []).append(row)
                line.append(-1)
            else:
                self.by_shape.setdefault((pos, sh), []).append(row)
                line.append(self.code_of.setdefault(sh, len(self.code_of)))
        self.codes[row] = line

    def widen(self, cid: int, tokens) -> None:
        row = self.row_of[cid]
        for pos, tok in enumerate(tokens):
            if tok == self.param and pos not in self.params_of[row]:
                self._param(row, pos)

    def _param(self, row: int, pos: int) -> None:
        self.params_of[row].add(pos)
        self.by_param.setdefault(pos, []).append(row)
        self.codes[row, pos] = -1

    def candidates(self, shapes: list[str], loose: list[bool], sim_th: float) -> list[int]:
        """Rows that may reach ``sim_th``, in the leaf's order."""
        n = len(shapes)
        need = math.ceil(sim_th * n - 1e-9)  # points a template needs (the epsilon only widens)
        if need <= 0:
            return list(range(len(self.ids)))
        postings = []
        for pos, sh in enumerate(shapes):
            same = self.by_shape.get((pos, sh), ())
            wild = self.by_param.get(pos, ()) if loose[pos] else ()
            postings.append((len(same) + len(wild), same, wild))
        postings.sort(key=lambda p: p[0])
        found: set[int] = set()
        for _, same, wild in postings[:n - need + 1]:
            found.update(same)
            found.update(wild)
        return sorted(found)

    def best(self, rows: list[int], shapes: list[str], loose: list[bool]) -> tuple[int, int]:
        """(row, points) of the best of ``rows``: most points, then most ``<*>``, then first."""
        sub = self.codes[rows]
        wild = sub == -1
        message = np.array([self.code_of.get(sh, -2) for sh in shapes], dtype=np.int32)
        points = ((sub == message) | (wild & np.array(loose))).sum(axis=1)
        key = points * (len(shapes) + 1) + wild.sum(axis=1)
        i = int(key.argmax())
        return rows[i], int(points[i])


class _FrozenIndex:
    """Frozen matching (docs/template-matching.md) without scanning every template of a length.

    Each template is filed once, under one of its literal tokens (position, shape) - the one fewest
    templates share - or among the all-``<*>`` templates. A matching template agrees with the message
    on every literal, so it is found in the bucket of some (position, message shape): looking up the
    message's n positions finds every match. Templates of identical pattern (same length, same literal
    shapes at the same places) keep only the lowest id, the only one the rule can choose.
    """

    def __init__(self, clusters: Sequence[LogCluster]):
        patterns: dict[tuple, int] = {}
        for c in sorted(clusters, key=lambda c: c.cluster_id):
            toks = c.log_template_tokens
            key = (len(toks), tuple((p, shape(t)) for p, t in enumerate(toks) if t != WILDCARD))
            patterns.setdefault(key, c.cluster_id)
        freq = Counter((n, lit) for (n, literals) in patterns for lit in literals)
        self.wild: dict[int, int] = {}                                   # length -> all-<*> template
        self.buckets: dict[tuple[int, int, str], list[tuple[int, tuple]]] = {}
        for (n, literals), cid in patterns.items():
            if not literals:
                self.wild[n] = cid
                continue
            p, sh = min(literals, key=lambda lit: freq[(n, lit)])
            self.buckets.setdefault((n, p, sh), []).append((cid, literals))

    def match(self, shapes: list[str]) -> int:
        n = len(shapes)
        best_id = self.wild.get(n, UNSEEN_ID)
        best_lit = 0 if best_id != UNSEEN_ID else -1
        buckets = self.buckets
        for p, sh in enumerate(shapes):
            for cid, literals in buckets.get((n, p, sh), ()):
                k = len(literals)
                if k < best_lit or (k == best_lit and cid > best_id):
                    continue
                if all(shapes[q] == t for q, t in literals):
                    best_id, best_lit = cid, k
        return best_id


def explosion_note(summary: dict) -> str | None:
    """The one-line warning for a parse summary whose messages were folded by the cap; None if none."""
    folded = summary.get("templates_folded") or {}
    if not folded.get("messages"):
        return None
    cap = summary["drain_config"]["max_clusters_per_leaf"]
    return (f"Warning: template explosion: {folded['lines']:,} lines ({folded['messages']:,} distinct "
            f"messages) were folded into catch-all templates: prefix-tree leaves reached the cap of "
            f"{cap:,} templates. A noisy or hostile log? Consider --rules (mask its variables) or a "
            f"better --log-format")


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
    cap = cfg.max_clusters_per_leaf
    if not (isinstance(cap, int) and not isinstance(cap, bool) and cap >= 0):
        raise AlogError(f"Drain max_clusters_per_leaf must be an integer >= 0 (0: no cap), got {cap!r}")


class TemplateMiner:
    """Learn templates from masked messages (Drain), match messages against frozen templates."""

    def __init__(self, config: DrainConfig = DrainConfig()):
        _check_config(config)
        self.config = config
        self._drain = _Drain(depth=config.depth, sim_th=config.sim_th, max_children=config.max_children,
                             extra_delimiters=tuple(config.extra_delimiters), param_str=WILDCARD,
                             parametrize_numeric_tokens=config.parametrize_numeric_tokens,
                             max_clusters_per_leaf=config.max_clusters_per_leaf)
        self._index: _FrozenIndex | None = None
        # Messages (distinct, as learned) and lines that ended in a catch-all template in this run
        # (the cap, DrainConfig.max_clusters_per_leaf): a "template explosion".
        self.folded = {"messages": 0, "lines": 0}

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
        catch_alls = self._drain.catch_alls
        for i, message in enumerate(masked):
            cluster, _ = add(message)
            ids[i] = cluster.cluster_id
            count = 1 if counts is None else int(c[i])
            cluster.size += count - 1
            if cluster.cluster_id in catch_alls:
                self.folded["messages"] += 1
                self.folded["lines"] += count
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
            if cid in self._drain.catch_alls:
                self.folded["lines"] += n

    # ---- frozen matching ------------------------------------------------------------------------
    def match(self, masked: Sequence[str]) -> np.ndarray:
        """Ids of the best matching existing template (UNSEEN_ID when none); never changes state.

        A template matches iff it has the message's token count and each template token is ``<*>`` or
        has the message token's :func:`shape`; the match with the most non-``<*>`` tokens wins, ties go
        to the lowest id (docs/template-matching.md).
        """
        if self._index is None:
            self._index = _FrozenIndex(list(self._drain.id_to_cluster.values()))
        find = self._index.match
        delims = self.config.extra_delimiters
        out = np.empty(len(masked), dtype=np.int64)
        seen: dict[str, int] = {}
        for i, message in enumerate(masked):
            cid = seen.get(message)
            if cid is None:
                cid = seen[message] = find([shape(t) for t in tokenize(message, delims)])
            out[i] = cid
        return out

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
        drain.find_catch_alls()
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
