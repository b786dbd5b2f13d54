"""Reading and writing our plain-JSON files (vocab, baseline stats, summaries) in one way, and the
bounded reader every file we load goes through (bundle files, --rules, --drain-state, models).

Reads turn every failure into one error of the caller's type naming the file; writes are atomic
(a temporary file beside the target, then ``os.replace``), so a reader never sees half a file.

Files we load may come from another machine or another user, so a read never trusts the name:
:func:`read_regular` opens without blocking (a FIFO does not hang it), checks on the open descriptor
that it is a regular file (``/dev/zero`` is not read until memory runs out), optionally refuses
symbolic links (bundle files), and reads at most a bound. Decoded JSON is refused when nested deeper
than :data:`MAX_JSON_DEPTH` (none of our files comes near it; a hostile one would otherwise end in a
RecursionError wherever it is walked).
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
from typing import Any

from anomaly_log_detector.errors import AlogError

#: A plain JSON file of ours (vocab, baseline statistics, a template state) is never larger.
MAX_JSON_BYTES = 1 << 30
#: A settings file (masking rules, a bundle's metadata.json) is never larger.
MAX_SETTINGS_BYTES = 16 * 1024 * 1024
#: Nesting deeper than this is refused: our files nest a few levels (a template tree: 2 per Drain depth).
MAX_JSON_DEPTH = 100
_CHUNK = 1 << 20


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "not a plain file"


def open_regular(path: str | os.PathLike, *, follow_links: bool = True) -> tuple[int, os.stat_result]:
    """Open ``path`` for reading: ``(descriptor, its fstat)``; the caller closes the descriptor.

    Never blocks (``O_NONBLOCK``: a FIFO without a writer opens at once) and accepts only a regular
    file, judged on the open descriptor (no race with a rename). ``follow_links=False`` also refuses
    a symbolic link as the last component (``O_NOFOLLOW``). Raises OSError (FileNotFoundError when
    absent) whose ``strerror`` says what is wrong."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | (0 if follow_links else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP and not follow_links:
            raise OSError(errno.ELOOP, "a symbolic link (links are refused here)", str(path)) from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"not a regular file: {_kind(st.st_mode)}", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def read_fd(fd: int, limit: int) -> bytes:
    """Up to ``limit + 1`` bytes from ``fd`` (more than ``limit`` bytes back: the file is larger)."""
    chunks, total = [], 0
    while total <= limit:
        chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def read_regular(path: str | os.PathLike, limit: int, *, follow_links: bool = True) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them (see :func:`open_regular`).
    Every refusal is an OSError whose ``strerror`` says why (not a regular file, a link, too large)."""
    fd, st = open_regular(path, follow_links=follow_links)
    try:
        if st.st_size > limit:
            raise OSError(errno.EFBIG, f"{st.st_size:,} bytes, more than the {limit:,} allowed", str(path))
        data = read_fd(fd, limit)
    finally:
        os.close(fd)
    if len(data) > limit:  # grew while read, or a file whose size stat does not tell (/proc)
        raise OSError(errno.EFBIG, f"more than the {limit:,} bytes allowed", str(path))
    return data


def json_depth_ok(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether decoded JSON ``value`` nests at most ``limit`` containers deep (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, (dict, list)):
            if depth > limit:
                return False
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node)
                         if isinstance(child, (dict, list)))
    return True


def loads_checked(data: bytes | str, *, strict: bool = False) -> Any:
    """``json.loads`` that turns every problem into ValueError: bad UTF-8 or JSON, NaN/Infinity when
    ``strict``, and nesting deeper than :data:`MAX_JSON_DEPTH` (never a RecursionError)."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, parse_constant=_reject_constant if strict else None)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep") from None
    if not json_depth_ok(value):
        raise ValueError(f"nested more than {MAX_JSON_DEPTH} levels deep")
    return value


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in strict JSON")


def finite(value: Any, name: str, low: float | None = None, high: float | None = None) -> float:
    """``value`` as a float when it is a JSON number (not a bool, not a string such as "nan"), finite
    and within [low, high]; ValueError naming ``name`` otherwise. ``float("nan")`` passes ``float()``
    and then disables every comparison it meets, so stored thresholds go through this."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, not {type(value).__name__} {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    if (low is not None and x < low) or (high is not None and x > high):
        raise ValueError(f"{name} must be within [{low if low is not None else '-inf'}, "
                         f"{high if high is not None else 'inf'}], not {value!r}")
    return x


def read_json(path: str | os.PathLike, what: str, error: type[AlogError]) -> Any:
    """The JSON value in ``path`` (a regular file, at most :data:`MAX_JSON_BYTES`);
    ``error("<path>: <what> not found" | "<path>: cannot read <what>: ...")``."""
    try:
        return loads_checked(read_regular(path, MAX_JSON_BYTES))
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise error(f"{path}: cannot read {what}: {exc}") from None


def write_json_atomic(path: str | os.PathLike, obj: Any, *, indent: int | None = None,
                      sort_keys: bool = False, default=None) -> None:
    """Write ``obj`` as UTF-8 JSON to ``path`` atomically; on any failure (a full disk, an interrupt)
    the temporary file is removed and ``path`` is left as it was."""
    tmp = f"{path}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=indent, sort_keys=sort_keys, default=default)
            if indent is not None:
                f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.remove(tmp)
        except OSError:
            pass
        raise


def check_format(d: Any, fmt: str, version: int, where: str, what: str, error: type[AlogError]) -> None:
    """Refuse a decoded file that is not ours (``format`` tag) or of another schema ``version``."""
    if not isinstance(d, dict) or d.get("format") != fmt:
        raise error(f"{where}: not an alog-detect {what} (missing format {fmt!r})")
    if type(d.get("version")) is not int or d["version"] != version:  # True and 1.0 equal 1: not versions
        raise error(f"{where}: unsupported {what} version {d.get('version')!r} (expected {version})")
