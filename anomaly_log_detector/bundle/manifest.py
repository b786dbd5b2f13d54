"""The bundle's `metadata.json`: names, checksums, environment versions and the schema check.

`metadata.json` (strict JSON: no NaN/Infinity)::

    {"format": "alog-detect/bundle", "version": 1,
     "created_utc": "2026-11-27T22:14:29Z",
     "environment": {"alog_detect": "0.1.0", "python": "3.11.9", "torch": "2.13.0+cpu", ...},
     "files": {"deeplog.pth": {"sha256": "<64 hex>", "size": 123456}, ...},
     ... whatever the trainer passed to ``commit`` (inputs, params, log_format, vocab_size, losses,
     thresholds) ...,
     "metadata_sha256": "<sha256 of the canonical JSON of everything above>"}

The checksums detect corruption and accidental edits; they are not a signature (whoever can write the
folder can recompute them). Safety against hostile files comes from never executing code when loading:
JSON only here, and ``torch.load(weights_only=True)`` in the detectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import stat
from datetime import datetime, timezone
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Iterable

from anomaly_log_detector import __version__
from anomaly_log_detector.errors import BundleError
from anomaly_log_detector.fileio.jsonio import MAX_SETTINGS_BYTES, loads_checked, read_regular

FORMAT = "alog-detect/bundle"
VERSION = 1
METADATA = "metadata.json"

#: The components a training run writes (documented names; see docs/bundle.md).
KNOWN_FILES = {
    "deeplog.pth": "DeepLog weights + the arguments that built the model (torch state dict)",
    "mscred.pth": "MS-CRED weights + arguments (torch state dict)",
    "vocab.json": "template vocabulary shared by the sequence models (builders/vocab.py)",
    "baseline_stats.json": "statistical baseline state (detectors/baseline.py)",
    "drain3_state.json": "template-miner state, our plain-JSON schema (parsing/miner.py)",
    "rules.json": "the masking rules used at training time (parsing/masking.py)",
    "temporal_profile.json": "hour-of-day x weekday profile of the training lines (analyzers/temporal.py; optional)",
}
# Any other component must match this: a plain lower-case file name with a known safe extension, so a
# name from metadata.json can never address a path outside the bundle folder.
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]{0,95}\.(json|pth|onnx|npz)")
# Keys ``commit`` fills in itself; a trainer's metadata must not set them.
RESERVED_KEYS = ("format", "version", "created_utc", "environment", "files", "metadata_sha256")
# metadata.json is read whole; a larger one is not ours.
MAX_METADATA_BYTES = MAX_SETTINGS_BYTES
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20

# Distributions whose versions go into every bundle (importlib.metadata: no heavy import needed).
_DISTRIBUTIONS = ("torch", "onnxruntime", "onnx", "numpy", "pandas", "pyarrow", "drain3", "scikit-learn")


def check_name(name: str) -> str:
    """Return `name` if it is an allowed component file name, else raise BundleError."""
    if not isinstance(name, str) or name == METADATA or not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise BundleError(
            f"invalid bundle file name {name!r}: use one of {sorted(KNOWN_FILES)} or a plain lower-case "
            f"name ending in .json/.pth/.onnx/.npz (not {METADATA})"
        )
    return name


def hash_file(path: str | os.PathLike) -> str:
    """The sha256 hex digest of a file, read in 1 MiB chunks (memory stays flat for any size)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


# What an input that is not a regular file is recorded as (`kind`): read once by the parser, not again.
_INPUT_KINDS = ((stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "char-device"),
                (stat.S_ISBLK, "block-device"))


def input_fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """`{"path", "size", "lines", "sha256"}` of one training input file, in one streamed pass.

    `lines` counts newline-terminated lines plus a final unterminated one, as the parser numbers them
    (of the bytes on disk: for a .gz input it is the compressed file's, so the parser's own count is the
    one to compare). A FIFO, socket or device is `{"path", "kind"}` and never opened: its data was
    consumed by the parse, and opening a FIFO whose writer has gone blocks forever."""
    h = hashlib.sha256()
    size = lines = 0
    last = b"\n"
    try:
        kind = _input_kind(os.stat(path).st_mode)
        if kind:
            return {"path": str(Path(path).absolute()), "kind": kind}
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # swapped for a FIFO since the stat: no hang
        with open(fd, "rb") as f:
            kind = _input_kind(os.fstat(fd).st_mode)
            if kind:
                return {"path": str(Path(path).absolute()), "kind": kind}
            while chunk := f.read(_CHUNK):
                h.update(chunk)
                size += len(chunk)
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except OSError as exc:
        raise BundleError(f"{path}: cannot fingerprint training input: {exc.strerror or exc}") from None
    if last != b"\n":
        lines += 1
    return {"path": str(Path(path).resolve()), "size": size, "lines": lines, "sha256": h.hexdigest()}


def _input_kind(mode: int) -> str | None:
    return next((name for test, name in _INPUT_KINDS if test(mode)), None)


def input_fingerprints(paths: Iterable[str | os.PathLike]) -> list[dict[str, Any]]:
    """Fingerprints of every file in `paths`; a folder stands for its non-hidden files, recursively,
    in sorted order; stdin (``-``) is `{"path": "-", "kind": "stdin"}` (see `input_fingerprint`)."""
    out: list[dict[str, Any]] = []
    for p in paths:
        if str(p) == "-":
            out.append({"path": "-", "kind": "stdin"})
            continue
        p = Path(p)
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and not any(
                part.startswith(".") for part in f.relative_to(p).parts))
            out.extend(input_fingerprint(f) for f in files)
        else:
            out.append(input_fingerprint(p))
    return out


def environment_versions() -> dict[str, str | None]:
    """Versions of this package, Python and the libraries a bundle depends on (None = not installed)."""
    env: dict[str, str | None] = {"alog_detect": __version__, "python": platform.python_version()}
    for dist in _DISTRIBUTIONS:
        try:
            env[dist] = importlib_metadata.version(dist)
        except importlib_metadata.PackageNotFoundError:
            env[dist] = None
    return env


def utc_now_iso() -> str:
    """The current UTC time, ISO 8601 with a `Z`, to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def canonical_json(obj: Any) -> bytes:
    """The byte form that `metadata_sha256` covers: sorted keys, no spaces, strict (no NaN)."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise BundleError(f"bundle metadata is not strict JSON: {exc}") from None


def seal(meta: dict[str, Any]) -> dict[str, Any]:
    """`meta` plus its own checksum (`metadata_sha256`, over the canonical JSON of the rest)."""
    body = {k: v for k, v in meta.items() if k != "metadata_sha256"}
    return {**body, "metadata_sha256": hashlib.sha256(canonical_json(body)).hexdigest()}


def loads_strict(data: bytes) -> Any:
    """Parse UTF-8 JSON bytes, refusing NaN/Infinity and deep nesting (ValueError on any problem)."""
    return loads_checked(data, strict=True)


def read_metadata(path: Path) -> dict[str, Any]:
    """Read and validate `metadata.json` (format, version, file table, own checksum).

    Checked before it is trusted, like every other bundle file: a regular file (not a link, a FIFO or
    a device), at most MAX_METADATA_BYTES, strict JSON of bounded nesting."""
    where = f"{path.parent}: {METADATA}"
    try:
        meta = loads_strict(read_regular(path, MAX_METADATA_BYTES, follow_links=False))
    except FileNotFoundError:
        raise BundleError(f"{path.parent}: not a model bundle ({METADATA} is missing)") from None
    except OSError as exc:
        raise BundleError(f"{where} is unreadable: {exc.strerror or exc}") from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise BundleError(f"{where} is unreadable or not JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BundleError(f"{where}: not an alog-detect bundle (format is not {FORMAT!r})")
    if type(meta.get("version")) is not int or meta["version"] != VERSION:  # not true, not 1.0
        raise BundleError(
            f"{where}: bundle version {meta.get('version')!r} is not supported (this alog-detect "
            f"{__version__} reads version {VERSION}); retrain the bundle with this version"
        )
    if meta.get("metadata_sha256") != seal(meta)["metadata_sha256"]:
        raise BundleError(f"{where} was modified after the bundle was written (metadata_sha256 mismatch)")
    files = meta.get("files")
    if not isinstance(files, dict) or not files:
        raise BundleError(f"{where}: 'files' must list at least one component")
    for name, entry in files.items():
        check_name(name)
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str)
                and _HEX64.fullmatch(entry["sha256"]) and type(entry.get("size")) is int and entry["size"] >= 0):
            raise BundleError(f"{where}: entry for {name} needs a sha256 (64 hex) and a size")
    if not isinstance(meta.get("created_utc"), str) or not isinstance(meta.get("environment"), dict):
        raise BundleError(f"{where}: 'created_utc' and 'environment' are required")
    return meta
