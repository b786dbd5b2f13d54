"""Reading and writing our plain-JSON files (vocab, baseline stats, summaries) in one way.

Reads turn every failure into one error of the caller's type naming the file; writes are atomic
(a temporary file beside the target, then ``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
from typing import Any

from anomaly_log_detector.errors import AlogError


def read_json(path: str | os.PathLike, what: str, error: type[AlogError]) -> Any:
    """The JSON value in ``path``; ``error("<path>: <what> not found" | "cannot read <what>: ...")``."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from None


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = None,
                      sort_keys: bool = False, default=None) -> None:
    """Write ``obj`` as UTF-8 JSON to ``path`` atomically."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent, sort_keys=sort_keys, default=default)
        if indent is not None:
            f.write("\n")
    os.replace(tmp, path)


def check_format(d: Any, fmt: str, version: int, where: str, what: str, error: type[AlogError]) -> None:
    """Refuse a decoded file that is not ours (``format`` tag) or of another schema ``version``."""
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise error(f"{where}: not an alog-detect {what} (missing format {fmt!r})")
    if d.get("version") != version:
        raise error(f"{where}: unsupported {what} version {d.get('version')!r} (expected {version})")
