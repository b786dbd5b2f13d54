"""Write a model bundle atomically and open one safely.

A bundle is a folder of component files plus `metadata.json` (see :mod:`.manifest`). The writer builds
it in a hidden temporary folder beside the target and renames it into place only after every file is
checksummed and fsynced, so a crash or kill never leaves a half bundle at the final path. The reader
refuses anything that does not match its manifest, naming the file, and never executes code.

One writer at a time per bundle: the writer holds an exclusive ``flock`` on ``.NAME.lock`` beside the
target from start to publish and a second one fails at once ("another training is writing ..."),
before it spends time training. Holding the lock, it removes what killed writers left beside the
target (``.NAME.tmp-PID-*``, ``.NAME.work-PID-*``, ``.NAME.old-PID-*``): only those names, only folders
of this user whose owner PID is dead or that are over a minute old.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any, Iterator

from anomaly_log_detector.bundle.manifest import (
    FORMAT, METADATA, RESERVED_KEYS, VERSION, check_name, environment_versions, hash_file, loads_strict,
    read_metadata, seal, utc_now_iso,
)
from anomaly_log_detector.errors import BundleError, output_error
from anomaly_log_detector.fileio.jsonio import open_regular, read_fd


def _fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory fsync makes its renames and new entries durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Leftovers younger than this, of an owner that may be alive, are left alone (a writer of an older
# version took no lock).
STALE_AGE_S = 60.0
# A failed write with less than this left on the device is taken as a full disk (torch reports one as
# a RuntimeError of its own).
_LOW_SPACE = 1 << 20


def scratch_folder(final_dir: Path, kind: str) -> Path:
    """A new hidden folder ``.NAME.KIND-PID-xxxxxxxx`` beside `final_dir` (`kind`: tmp, work, old).
    The PID tells a later writer whether its owner is still alive."""
    return Path(tempfile.mkdtemp(prefix=f".{final_dir.name}.{kind}-{os.getpid()}-", dir=final_dir.parent))


def _owner_dead(pid: int | None) -> bool:
    if pid is None:
        return False
    if pid == os.getpid():  # a reused PID: this writer has created nothing yet
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def _space_left(path: Path) -> int:
    try:
        st = os.statvfs(path)
    except OSError:
        return _LOW_SPACE
    return (st.f_bfree if os.geteuid() == 0 else st.f_bavail) * st.f_frsize


class BundleWriter:
    """Build a bundle at `final_dir`; use as a context manager.

    Components write their files at ``writer.path(name)``; ``commit(metadata)`` seals the bundle and
    renames it into place. Leaving the ``with`` block without a commit (an exception, an interrupt, a
    return) removes the temporary folder and releases the lock. A process killed mid-way leaves at most
    hidden ``.NAME.tmp-*`` / ``.NAME.old-*`` folders and ``.NAME.lock`` beside the target, never a
    partial bundle at it; the next writer cleans them up (and puts back an old bundle that a kill
    between the two renames of the publish left aside).
    """

    def __init__(self, final_dir: str | os.PathLike, overwrite: bool = False):
        self.final_dir = Path(final_dir).absolute()
        self.overwrite = overwrite
        self.committed = False
        self._lock_fd: int | None = None
        self._aside: Path | None = None
        self._check_target()  # before any file is made
        try:
            self.final_dir.parent.mkdir(parents=True, exist_ok=True)
            self._lock()
        except OSError as exc:
            raise self._cannot_create(exc) from None
        try:
            if self._lock_fd is not None:
                self._remove_stale()
            self._check_target()  # again: a put-back old bundle counts
            self.tmp_dir = scratch_folder(self.final_dir, "tmp")
        except OSError as exc:
            self._unlock()
            raise self._cannot_create(exc) from None
        except BaseException:
            self._unlock()
            raise

    def _cannot_create(self, exc: OSError) -> Exception:
        return output_error(exc, self.final_dir) or BundleError(
            f"{self.final_dir}: cannot create the bundle: {exc.strerror or exc}")

    @property
    def lock_path(self) -> Path:
        return self.final_dir.parent / f".{self.final_dir.name}.lock"

    def _lock(self) -> None:
        """Take the exclusive lock on ``.NAME.lock``, or fail at once naming the holder's PID. The file is
        removed on release; a lock taken on a file removed meanwhile is retaken on the new one."""
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise BundleError(f"{self.lock_path}: not a regular file; remove it to write {self.final_dir}")
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                    pid = f" (pid {holder})" if holder.isdigit() else ""
                    raise BundleError(f"another training is writing {self.final_dir}{pid}; wait for it to "
                                      f"finish or write to another folder") from None
                except OSError as exc:
                    if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                        raise
                    os.close(fd)  # a file system without locks: write unlocked, clean nothing
                    return
                try:
                    same = os.path.samestat(os.fstat(fd), os.stat(self.lock_path, follow_symlinks=False))
                except FileNotFoundError:
                    same = False
            except BaseException:
                os.close(fd)
                raise
            if same:
                break
            os.close(fd)  # the previous holder removed the file as we locked it: take the new one
        try:  # the holder's PID, for the message of a writer that finds it taken
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:  # a full disk: the lock holds without it
            pass
        self._lock_fd = fd

    def _unlock(self) -> None:
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        try:
            os.unlink(self.lock_path)  # while still holding it (see _lock)
        except OSError:
            pass
        os.close(fd)

    def _remove_stale(self) -> None:
        """Remove what killed writers left beside the target (called holding the lock, so no writer
        that takes it is alive): only our names, only this user's folders, only when the PID in the
        name is dead or the folder is older than STALE_AGE_S. The newest bundle a kill left aside
        during a publish goes back to the final path when nothing is there."""
        pattern = re.compile(rf"\.{re.escape(self.final_dir.name)}\.(tmp|work|old)-(?:([0-9]+)-)?[a-z0-9_]+")
        now = time.time()
        aside: list[tuple[float, Path]] = []
        with os.scandir(self.final_dir.parent) as entries:
            for entry in entries:
                m = pattern.fullmatch(entry.name)
                if not m:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                    continue
                if not (_owner_dead(int(m.group(2)) if m.group(2) else None) or now - st.st_mtime > STALE_AGE_S):
                    continue
                path = Path(entry.path)
                if m.group(1) == "old" and (path / "bundle" / METADATA).is_file():
                    aside.append((st.st_mtime, path))
                else:
                    shutil.rmtree(path, ignore_errors=True)
        aside.sort()
        if aside and not os.path.lexists(self.final_dir):
            os.rename(aside[-1][1] / "bundle", self.final_dir)
        for _, path in aside:
            shutil.rmtree(path, ignore_errors=True)

    @contextmanager
    def output_errors(self) -> Iterator[None]:
        """A full disk, a quota, a read-only or forbidden place met by any write in this block (the
        bundle's, a scratch folder's beside it) becomes one OutputError naming the bundle. Use it
        inside the ``with`` of any scratch folder: a failed torch.save is judged by the space left
        before those are removed."""
        try:
            yield
        except Exception as exc:
            error = output_error(exc, self.final_dir)
            if error is None and isinstance(exc, RuntimeError) and _space_left(self.final_dir.parent) < _LOW_SPACE:
                error = output_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), self.final_dir)
            if error is None:
                raise
            raise error from None

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
        """Discard everything written so far, put back an old bundle a failed publish had moved aside,
        and release the lock (after a commit: only the lock)."""
        try:
            if not self.committed:
                if self._aside is not None and not os.path.lexists(self.final_dir):
                    os.rename(self._aside / "bundle", self.final_dir)
                shutil.rmtree(self.tmp_dir, ignore_errors=True)
            if self._aside is not None:
                shutil.rmtree(self._aside, ignore_errors=True)
                self._aside = None
        finally:
            self._unlock()

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
            raise output_error(exc, self.final_dir) or BundleError(
                f"{src}: cannot copy into the bundle as {name}: {exc.strerror or exc}") from None
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
        self.abort()  # now only removes the replaced bundle and releases the lock
        return self.final_dir

    def _publish(self) -> None:
        # A directory cannot be replaced in one rename, so an old bundle is first moved aside. An
        # exception or interrupt between the two renames puts it back (`abort`); a kill leaves it intact
        # at `.NAME.old-*` with nothing at the final path, and the next writer puts it back. Never a
        # mix of old and new files.
        if os.path.lexists(self.final_dir):
            self._aside = scratch_folder(self.final_dir, "old")
            os.rename(self.final_dir, self._aside / "bundle")
        os.rename(self.tmp_dir, self.final_dir)
        self.committed = True
        _fsync_path(self.final_dir.parent)


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
        swapped after `open_bundle` is still refused, and never more than its recorded size is read)."""
        path, entry = self.path(name), self.files[name]
        fd, st = _open_component(path)
        try:
            _check_size(path, st.st_size, entry["size"])
            data = read_fd(fd, entry["size"])
        finally:
            os.close(fd)
        _check_size(path, len(data), entry["size"])
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise BundleError(_MODIFIED.format(path=path))
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


def _open_component(path: Path) -> tuple[int, os.stat_result]:
    """Open a bundle file as the rules say: a regular file, not a link (O_NOFOLLOW), never blocking."""
    try:
        return open_regular(path, follow_links=False)
    except OSError as exc:
        raise BundleError(f"{path}: must be a regular file (links and folders are refused): "
                          f"{exc.strerror or exc}") from None


def _hash_component(path: Path, expected_size: int) -> str:
    """sha256 of a bundle file read through `_open_component`, no more than its recorded size."""
    fd, st = _open_component(path)
    h, size = hashlib.sha256(), 0
    try:
        _check_size(path, st.st_size, expected_size)
        while size <= expected_size and (chunk := os.read(fd, 1 << 20)):
            h.update(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    _check_size(path, size, expected_size)
    return h.hexdigest()


def open_bundle(dir: str | os.PathLike) -> Bundle:
    """Open and verify a bundle: metadata schema and version, no missing or extra files, and every
    file's size and sha256. Every file, metadata.json included, must be a regular file (no links,
    FIFOs or devices) and is read no further than its bound. Reads JSON only; never executes code."""
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
        if _hash_component(p, entry["size"]) != entry["sha256"]:
            raise BundleError(_MODIFIED.format(path=p))
    return Bundle(root, meta)
