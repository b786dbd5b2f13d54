"""Template-miner state as plain JSON of our own schema (never jsonpickle, never pickle).

File layout (one JSON object)::

    {"format": "alog-detect/drain-state", "version": 1,
     "config": {...DrainConfig...},
     "clusters": [{"id": 1, "template": "...", "size": 3}, ...],
     "tree": {"children": {"<token count>": {"children": {...}, "clusters": [ids]}}, "clusters": []},
     "checksum": "<sha256 hex>"}

``checksum`` is the SHA-256 of the canonical JSON (sorted keys, no spaces, UTF-8) of every other field,
so a truncated or hand-edited file is refused instead of silently changing the templates.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from anomaly_log_detector.errors import StateError
from anomaly_log_detector.fileio.jsonio import MAX_JSON_BYTES, json_depth_ok, loads_checked, read_regular

STATE_FORMAT = "alog-detect/drain-state"
STATE_VERSION = 1
_FIELDS = ("format", "version", "config", "clusters", "tree", "checksum")
# Drain3's FilePersistence writes jsonpickle: a JSON document whose objects carry "py/object" (etc.)
# KEYS, or, compressed, the base64 of a zlib stream (which always starts with "eJ"). Both are recognised
# by structure, never decoded by jsonpickle: a document that is not our schema and has such a key
# (anywhere: objects nest) is jsonpickle. Inside our schema the same strings are ordinary template
# tokens (a log line "logger: py/object x" puts "py/object" into the tree's keys and a template).
_JSONPICKLE_KEYS = frozenset({"py/object", "py/state", "py/reduce", "py/type", "py/function", "py/newargs",
                              "py/tuple", "py/set", "py/id", "py/ref", "py/seq", "py/newobj"})
_BASE64_ZLIB = re.compile(rb"\A\s*eJ[A-Za-z0-9+/=\s]*\Z")
# The most of a template-state file that is read (the bound of all our JSON files).
MAX_STATE_BYTES = MAX_JSON_BYTES
# The Drain tree is at most as deep as the miner's `depth` setting (5 by default); far deeper is not a
# state (and 2 JSON levels per tree level stay within jsonio.MAX_JSON_DEPTH).
MAX_TREE_DEPTH = 40
_RECREATE = "Re-create the templates with `alog-detect parse`."


def canonical_json(obj: Any) -> bytes:
    """The bytes the checksum covers: sorted keys, no whitespace, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def checksum(state: dict) -> str:
    """SHA-256 hex digest of every field but ``checksum`` itself."""
    return hashlib.sha256(canonical_json({k: v for k, v in state.items() if k != "checksum"})).hexdigest()


def write_state(path: str | os.PathLike, state: dict) -> None:
    """Write ``state`` (checksum added) atomically: a temp file in the same folder, then ``os.replace``."""
    target = Path(path)
    body = dict(state, checksum=checksum(state))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(canonical_json(body))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_state(path: str | os.PathLike) -> dict:
    """Read and validate a state file; every problem is a :class:`StateError` naming the file.

    The file must be a regular file (a FIFO or ``/dev/zero`` is refused, never read) of at most
    MAX_STATE_BYTES."""
    p = Path(path)
    try:
        raw = read_regular(p, MAX_STATE_BYTES)
    except OSError as exc:
        raise StateError(f"cannot read template state {p}: {exc.strerror or exc}") from None
    try:
        state = loads_checked(raw)
    except ValueError as exc:
        if _BASE64_ZLIB.match(raw):
            raise StateError(f"{p} looks like a compressed Drain3 state (zlib+base64 jsonpickle); it is not "
                             f"decoded because jsonpickle can run code. {_RECREATE}") from None
        raise StateError(f"{p} is not a template state (not JSON: {exc})") from None
    if is_jsonpickle(state):
        raise StateError(f"{p} is a Drain3 jsonpickle state; it is not loaded because jsonpickle can run "
                         f"code. {_RECREATE}")
    try:
        validate_state(state)
    except StateError as exc:
        raise StateError(f"{p}: {exc}") from None
    return state


def is_jsonpickle(doc: object) -> bool:
    """Whether decoded JSON ``doc`` is a jsonpickle document: not our schema (no ``"format":
    STATE_FORMAT`` at the top), and a jsonpickle tag such as ``"py/object"`` as an object key somewhere.
    Decided by structure only; template text never counts."""
    if isinstance(doc, dict) and doc.get("format") == STATE_FORMAT:
        return False
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if any(key in _JSONPICKLE_KEYS for key in node):
                return True
            stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, (dict, list)))
    return False


def validate_state(state: object) -> None:
    """Check format, version, checksum and the types of every field."""
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise StateError(f"not a template state (expected \"format\": \"{STATE_FORMAT}\")")
    if not _is_int(state.get("version")) or state["version"] != STATE_VERSION:
        raise StateError(f"unsupported state version {state.get('version')!r} (this program reads {STATE_VERSION})")
    extra = sorted(set(state) - set(_FIELDS))
    missing = [k for k in _FIELDS if k not in state]
    if extra or missing:
        raise StateError(f"bad fields: missing {missing}, unknown {extra}")
    if not json_depth_ok(state, 2 * MAX_TREE_DEPTH + 8):
        raise StateError(f"nested too deeply (the template tree is never deeper than {MAX_TREE_DEPTH} levels)")
    if state["checksum"] != checksum(state):
        raise StateError("checksum mismatch: the file was modified or truncated")
    if not isinstance(state["config"], dict):
        raise StateError("'config' must be an object")
    clusters = state["clusters"]
    if not isinstance(clusters, list):
        raise StateError("'clusters' must be a list")
    for i, c in enumerate(clusters):
        ok = (isinstance(c, dict) and set(c) == {"id", "template", "size"} and _is_int(c["id"])
              and isinstance(c["template"], str) and _is_int(c["size"]) and c["size"] >= 1)
        if not ok:
            raise StateError(f"cluster #{i} must be {{\"id\": int, \"template\": str, \"size\": int >= 1}}")
        if c["id"] != i + 1:
            raise StateError(f"cluster #{i} has id {c['id']}, expected {i + 1} (ids are 1..n in order)")
    leaves = _tree_clusters(state["tree"], len(clusters))
    if sorted(leaves) != list(range(1, len(clusters) + 1)):
        raise StateError("the tree does not hold every cluster exactly once")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _tree_clusters(tree: object, n_clusters: int) -> list[int]:
    """Validate every node of the tree (iteratively: a hostile tree cannot exhaust the stack, and
    it is refused past MAX_TREE_DEPTH); return the cluster ids held in it."""
    out: list[int] = []
    stack: list[tuple[object, str, int]] = [(tree, "tree", 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise StateError(f"{where}: the tree is deeper than {MAX_TREE_DEPTH} levels")
        if not isinstance(node, dict) or set(node) != {"children", "clusters"}:
            raise StateError(f"{where}: a node must be {{\"children\": {{...}}, \"clusters\": [...]}}")
        children, ids = node["children"], node["clusters"]
        if not isinstance(children, dict) or not isinstance(ids, list):
            raise StateError(f"{where}: 'children' must be an object and 'clusters' a list")
        if not all(_is_int(i) and 1 <= i <= n_clusters for i in ids):
            raise StateError(f"{where}: cluster ids must be integers in 1..{n_clusters}")
        out += ids
        stack.extend((child, f"{where}/{key}", depth + 1) for key, child in reversed(children.items()))
    return out
