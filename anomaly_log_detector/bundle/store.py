"""Write a model bundle atomically and open one safely.

A bundle is a folder of component files plus `metadata.json` (see :mod:`.manifest`). The writer builds
it in a hidden temporary folder beside the target and renames it into place only after every file is
checksummed and fsynced, so a crash or kill never leaves a half bundle at the final path. The reader
refuses anything that does not match its manifest, naming the file, and never executes code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from anomaly_log_detector.bundle.manifest import (
    FORMAT, METADATA, RESERVED_KEYS, VERSION, check_name, environment_versions, hash_file, loads_strict,
    read_metadata, seal, utc_now_iso,
)
from anomaly_log_detector.errors import BundleError


def _fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory fsync makes its renames and new entries durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BundleWriter:
    """Build a bundle at `final_dir`; use as a context manager.

    Components write their files at ``writer.path(name)``; ``commit(metadata)`` seals the bundle and
    renames it into place. Leaving the ``with`` block without a commit (an exception, a return) removes
    the temporary folder. A process killed mid-way leaves at most a hidden ``.NAME.tmp-*`` folder beside
    the target, never a partial bundle at it.
    """

    def __init__(self, final_dir: str | os.PathLike, overwrite: bool = False):
        self.final_dir = Path(final_dir).absolute()
        self.overwrite = overwrite
        self._check_target()
        try:
            self.final_dir.parent.mkdir(parents=True, exist_ok=True)
            self.tmp_dir = Path(tempfile.mkdtemp(prefix=f".{self.final_dir.name}.tmp-", dir=self.final_dir.parent))
        except OSError as exc:
            raise BundleError(f"{self.final_dir}: cannot create the bundle: {exc.strerror or exc}") from None
        self.committed = False

    def _check_target(self) -> None:
        # Checked up front so a training run fails before it spends time, and again at commit.
        if self.final_dir.exists() and not self.overwrite:
            raise BundleError(f"{self.final_dir} already exists (pass overwrite to replace it)")
        if self.final_dir.exists() and not (self.final_dir / METADATA).is_file():
            # Never delete a folder that is not a bundle (a typo could name the user's home).
            raise BundleError(f"{self.final_dir} exists and is not a model bundle; refusing to replace it")

    def __enter__(self) -> "BundleWriter":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.abort()

    def abort(self) -> None:
        """Discard everything written so far (no-op after a commit)."""
        if not self.committed:
            shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def path(self, name: str) -> Path:
        """Where the component `name` is to be written (the name is validated)."""
        if self.committed:
            raise BundleError(f"{self.final_dir}: bundle already committed")
        return self.tmp_dir / check_name(name)

    def write_json(self, name: str, obj: Any) -> Path:
        """Write `obj` as strict UTF-8 JSON into component `name`."""
        path = self.path(name)
        try:
            text = json.dumps(obj, ensure_ascii=False, indent=1, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise BundleError(f"bundle component {name} is not strict JSON: {exc}") from None
        path.write_text(text, encoding="utf-8")
        return path

    def copy(self, name: str, src: str | os.PathLike) -> Path:
        """Copy an existing file (e.g. the parser's template state) in as component `name`."""
        path = self.path(name)
        try:
            shutil.copyfile(src, path)
        except OSError as exc:
            raise BundleError(f"{src}: cannot copy into the bundle as {name}: {exc.strerror or exc}") from None
        return path

    def commit(self, metadata: dict[str, Any]) -> Path:
        """Checksum every component, write `metadata.json`, fsync, and rename into place.

        `metadata` is the trainer's part (inputs, params, log_format, vocab_size, losses, thresholds...);
        it must be strict JSON and must not use the keys this method fills in. Returns the final path.
        """
        if self.committed:
            raise BundleError(f"{self.final_dir}: bundle already committed")
        clash = sorted(set(metadata) & set(RESERVED_KEYS))
        if clash:
            raise BundleError(f"bundle metadata must not set {clash}: commit fills them in")
        files: dict[str, dict[str, Any]] = {}
        for entry in sorted(self.tmp_dir.iterdir()):
            name = check_name(entry.name)
            if entry.is_symlink() or not entry.is_file():
                raise BundleError(f"bundle component {name} must be a regular file")
            _fsync_path(entry)
            files[name] = {"sha256": hash_file(entry), "size": entry.stat().st_size}
        if not files:
            raise BundleError(f"{self.final_dir}: nothing to commit (no component was written)")
        meta = seal({"format": FORMAT, "version": VERSION, "created_utc": utc_now_iso(),
                     "environment": environment_versions(), **metadata, "files": files})
        meta_path = self.tmp_dir / METADATA
        with open(meta_path, "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False, indent=1, sort_keys=True, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        _fsync_path(self.tmp_dir)
        self._check_target()
        self._publish()
        self.committed = True
        return self.final_dir

    def _publish(self) -> None:
        # A directory cannot be replaced in one rename, so an old bundle is first moved aside. A kill
        # between the two renames leaves the old bundle intact at `.NAME.old-*` and nothing at the final
        # path: never a mix of old and new files.
        old: Path | None = None
        if self.final_dir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{self.final_dir.name}.old-", dir=self.final_dir.parent))
            os.rename(self.final_dir, old / "bundle")
        os.rename(self.tmp_dir, self.final_dir)
        _fsync_path(self.final_dir.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


class Bundle:
    """A verified bundle: its folder, its metadata, and paths to its components."""

    def __init__(self, dir: Path, metadata: dict[str, Any]):
        self.dir = dir
        self.metadata = metadata

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return self.metadata["files"]

    def has(self, name: str) -> bool:
        return name in self.files

    def path(self, name: str) -> Path:
        """The path of component `name`; BundleError when the bundle has no such component."""
        if name not in self.files:
            raise BundleError(f"{self.dir}: bundle has no {name} (it has {', '.join(sorted(self.files))})")
        return self.dir / name

    def read_bytes(self, name: str) -> bytes:
        """The component's bytes, checked again against the manifest as they are read (so a file
        swapped after `open_bundle` is still refused)."""
        data = self.path(name).read_bytes()
        entry = self.files[name]
        _check_size(self.dir / name, len(data), entry["size"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise BundleError(_MODIFIED.format(path=self.dir / name))
        return data

    def read_json(self, name: str) -> Any:
        """The component parsed as strict JSON (verified bytes, see `read_bytes`)."""
        try:
            return loads_strict(self.read_bytes(name))
        except ValueError as exc:
            raise BundleError(f"{self.dir / name}: not valid JSON: {exc}") from None


_MODIFIED = "{path}: sha256 mismatch, the file was modified after the bundle was written"


def _check_size(path: Path, size: int, expected: int) -> None:
    # Size first: a truncated file gets a clearer message, and costs no hashing.
    if size != expected:
        change = "truncated" if size < expected else "grown"
        raise BundleError(f"{path}: size {size:,} bytes, expected {expected:,} ({change} since the bundle was written)")


def open_bundle(dir: str | os.PathLike) -> Bundle:
    """Open and verify a bundle: metadata schema and version, no missing or extra files, and every
    file's size and sha256. Reads JSON only; never executes code."""
    root = Path(dir)
    if not root.is_dir():
        raise BundleError(f"{root}: model bundle folder not found")
    meta = read_metadata(root / METADATA)
    files = meta["files"]
    present = {p.name: p for p in root.iterdir() if p.name != METADATA}
    extra = sorted(set(present) - set(files))
    if extra:
        raise BundleError(f"{root}: unexpected file(s) not in the manifest: {', '.join(extra)}")
    missing = sorted(set(files) - set(present))
    if missing:
        raise BundleError(f"{root}: missing file(s) listed in the manifest: {', '.join(missing)}")
    for name, entry in sorted(files.items()):
        p = present[name]
        if p.is_symlink() or not p.is_file():
            raise BundleError(f"{p}: must be a regular file (links and folders are refused)")
        _check_size(p, p.stat().st_size, entry["size"])
        if hash_file(p) != entry["sha256"]:
            raise BundleError(_MODIFIED.format(path=p))
    return Bundle(root, meta)
