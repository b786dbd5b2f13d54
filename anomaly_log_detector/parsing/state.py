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

STATE_FORMAT = "alog-detect/drain-state"
STATE_VERSION = 1
_FIELDS = ("format", "version", "config", "clusters", "tree", "checksum")
# Drain3's FilePersistence writes jsonpickle (objects tagged "py/object") or, compressed, the base64 of a
# zlib stream (which always starts with "eJ"). Both are recognised from the raw bytes, never decoded.
_JSONPICKLE_MARKERS = (b'"py/object"', b'"py/state"', b'"py/reduce"', b'"py/type"', b'"py/function"')
_BASE64_ZLIB = re.compile(rb"\A\s*eJ[A-Za-z0-9+/=\s]*\Z")


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
    """Read and validate a state file; every problem is a :class:`StateError` naming the file."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise StateError(f"cannot read template state {p}: {exc.strerror or exc}") from None
    if any(m in raw for m in _JSONPICKLE_MARKERS):
        raise StateError(f"{p} is a Drain3 jsonpickle state; it is not loaded because jsonpickle can run "
                         "code. Re-create the templates with `alog-detect parse`.")
    if _BASE64_ZLIB.match(raw):
        raise StateError(f"{p} looks like a compressed Drain3 state (zlib+base64 jsonpickle); it is not "
                         "decoded because jsonpickle can run code. Re-create the templates with `alog-detect parse`.")
    try:
        state = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateError(f"{p} is not a template state (not JSON: {exc})") from None
    except RecursionError:
        raise StateError(f"{p} is not a template state (JSON nested too deeply)") from None
    try:
        validate_state(state)
    except StateError as exc:
        raise StateError(f"{p}: {exc}") from None
    except RecursionError:
        raise StateError(f"{p}: the tree is nested too deeply") from None
    return state


def validate_state(state: object) -> None:
    """Check format, version, checksum and the types of every field."""
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise StateError(f"not a template state (expected \"format\": \"{STATE_FORMAT}\")")
    if state.get("version") != STATE_VERSION:
        raise StateError(f"unsupported state version {state.get('version')!r} (this program reads {STATE_VERSION})")
    extra = sorted(set(state) - set(_FIELDS))
    missing = [k for k in _FIELDS if k not in state]
    if extra or missing:
        raise StateError(f"bad fields: missing {missing}, unknown {extra}")
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
    leaves = _check_node(state["tree"], "tree", len(clusters))
    if sorted(leaves) != list(range(1, len(clusters) + 1)):
        raise StateError("the tree does not hold every cluster exactly once")


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_node(node: object, where: str, n_clusters: int) -> list[int]:
    """Validate one tree node recursively; return the cluster ids held below it."""
    if not isinstance(node, dict) or set(node) != {"children", "clusters"}:
        raise StateError(f"{where}: a node must be {{\"children\": {{...}}, \"clusters\": [...]}}")
    children, ids = node["children"], node["clusters"]
    if not isinstance(children, dict) or not isinstance(ids, list):
        raise StateError(f"{where}: 'children' must be an object and 'clusters' a list")
    if not all(_is_int(i) and 1 <= i <= n_clusters for i in ids):
        raise StateError(f"{where}: cluster ids must be integers in 1..{n_clusters}")
    out = list(ids)
    for key, child in children.items():
        out += _check_node(child, f"{where}/{key}", n_clusters)
    return out
