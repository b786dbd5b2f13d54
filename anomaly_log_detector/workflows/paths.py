"""Where a workflow may write its results, and how they replace an earlier run's.

* :func:`check_out_dir` refuses an output folder that would damage something: one equal to, inside or
  holding the bundle folder (an extra file makes the bundle fail verification for good), or one that
  is an input folder, lies inside one, or holds an input (the next run over that folder would read
  its own results). Paths are compared after resolving links.
* :class:`StagedOutputs` writes a run's results into a hidden staging folder inside the output folder
  and moves them into place only once the run has succeeded: a failed run leaves the previous
  results as they were and no partial file. The staging folder sits *inside* the output folder, not
  beside it, so that it is always on the same filesystem (an output folder that is a mount point or
  a link to another disk) and every result is moved by a rename.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Iterable

from anomaly_log_detector.errors import InputError, OutputError

STDIN = "-"
STAGING_PREFIX = ".alog-staging-"
# Held (flock) by the process writing a staging folder: a folder whose lock can be taken is stale.
LOCK = ".lock"
TRASH = ".previous"
# A staging folder without its lock (killed between creating the folder and the lock) this old is stale.
UNLOCKED_STALE_S = 600


def _real(path: str | os.PathLike) -> Path:
    return Path(os.path.realpath(os.fspath(path)))


def _within(inner: Path, outer: Path) -> bool:
    """`inner` is `outer` or lies under it."""
    return inner == outer or outer in inner.parents


def check_out_dir(out_dir: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (),
                  model_dir: str | os.PathLike | None = None, option: str = "--out-dir") -> None:
    """InputError (one line) when `out_dir` would overwrite or feed back into what the run reads: see
    the module docstring. `option` names the folder in the message (`--model-dir` for `train`)."""
    out = _real(out_dir)
    if model_dir is not None:
        model = _real(model_dir)
        if _within(out, model) or _within(model, out):
            where = "is" if out == model else "is inside" if _within(out, model) else "contains"
            raise InputError(f"{option} {out_dir} {where} the bundle folder {model_dir}: results there would make "
                             f"the bundle fail verification; choose a folder outside it")
    for given in inputs:
        if os.fspath(given) == STDIN:
            continue
        source = _real(given)
        if _within(out, source):
            where = "is the input" if out == source else "is inside the input folder"
            raise InputError(f"{option} {out_dir} {where} {given}: a later run over it would read its own "
                             f"results; choose a folder outside the inputs")
        if _within(source, out):
            raise InputError(f"input {given} is inside {option} {out_dir}: results written there could replace it, "
                             f"and a run over that folder would read them as logs; choose a folder outside the inputs")


class StagedOutputs:
    """A run's results written into `out_dir/.alog-staging-XXXX` and moved into `out_dir` by
    :meth:`commit`; leaving the ``with`` block without a commit (an exception) removes them.

    `names` are every entry an earlier run of the same workflow may have left in `out_dir`: those the
    new run does not write are removed at commit (a result of the previous target never sits beside
    the new ones). `marker` is moved last, after the previous one is removed first: a reader that
    finds it finds a complete run. Staging folders left by a killed process are removed on the next
    run into the same folder (each live one holds a lock on its `.lock` file)."""

    def __init__(self, out_dir: str | os.PathLike, names: Iterable[str], marker: str):
        self.out = Path(out_dir)
        self.names, self.marker = set(names) | {marker}, marker
        self.path: Path | None = None
        self._created = False
        self._lock: int | None = None

    def __enter__(self) -> Path:
        if self.out.exists() and not self.out.is_dir():
            raise OutputError(f"{self.out}: exists and is not a folder")
        self._created = not self.out.exists()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            _remove_stale(self.out)
            while self.path is None:
                path = self.out / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
                try:
                    path.mkdir()
                except FileExistsError:
                    continue
                self.path = path
            self._lock = os.open(self.path / LOCK, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self.discard()
            raise OutputError(f"{self.out}: cannot write results there: {exc.strerror}") from None
        return self.path

    def __exit__(self, kind, value, tb) -> None:
        self.discard()  # after commit() only the lock is left to release

    def commit(self) -> None:
        """Move the staged results into the output folder (previous ones of `names` replaced or removed)."""
        assert self.path is not None
        trash = self.path / TRASH
        trash.mkdir()
        new = [p.name for p in self.path.iterdir() if p.name not in (TRASH, LOCK)]
        _move_aside(self.out / self.marker, trash)
        for name in sorted(self.names - set(new)):
            _move_aside(self.out / name, trash)
        for name in sorted(n for n in new if n != self.marker):
            _move_aside(self.out / name, trash)  # a folder (log samples) cannot be replaced by a rename
            os.replace(self.path / name, self.out / name)
        if self.marker in new:
            os.replace(self.path / self.marker, self.out / self.marker)
        self._created = False
        self._remove()

    def discard(self) -> None:
        """Remove the staged results; the output folder too when this run created it and it is empty."""
        self._remove()
        if self._created:
            try:
                self.out.rmdir()
            except OSError:
                pass

    def _remove(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


def _move_aside(path: Path, trash: Path) -> None:
    """Rename `path` (a file, folder or link: never followed) into `trash`, when it exists."""
    if os.path.lexists(path):
        os.replace(path, trash / path.name)


def _remove_stale(out: Path) -> None:
    """Remove staging folders whose process is gone (killed before it could clean up): those whose
    lock can be taken, or that have no lock and are older than UNLOCKED_STALE_S."""
    for entry in out.glob(f"{STAGING_PREFIX}*"):
        if entry.is_symlink() or not entry.is_dir():
            continue
        try:
            fd = os.open(entry / LOCK, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            if time.time() - entry.stat().st_mtime > UNLOCKED_STALE_S:
                shutil.rmtree(entry, ignore_errors=True)
            continue
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held: a live run
            continue
        else:
            shutil.rmtree(entry, ignore_errors=True)
        finally:
            os.close(fd)
