"""Listing the files an input path stands for, without ever leaving a folder through a link.

A folder is walked in sorted order (a folder's files, then its subfolders, as ``os.walk`` top-down).
What is not listed is recorded in :class:`Skips` with its reason: hidden entries, FIFOs, sockets and
devices (never opened: opening a FIFO blocks), unreadable files and folders, and symbolic links that
point outside the folder, dangle, loop or lead somewhere already listed. A link whose target lies inside
the folder is followed once, after the plain walk, so a file is always listed under its own name
rather than a link's; files and folders are de-duplicated by ``(st_dev, st_ino)``, which makes loops and
double visits impossible. A path named on the command line is read even when it is a link or a FIFO
(``<(zcat x.gz)`` is one): the user chose it.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from anomaly_log_detector.errors import InputError

STDIN = "-"
_KINDS = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
          (stat.S_ISBLK, "block device"))


@dataclass
class Skips:
    """Everything an input stood for that was not read, each with its reason."""

    files: list[dict] = field(default_factory=list)   # {"source", "reason"}
    links: list[dict] = field(default_factory=list)   # {"path", "target", "reason"}

    def file(self, source: str, reason: str) -> None:
        self.files.append({"source": source, "reason": reason})


def list_sources(path: str, skips: Skips | None = None) -> list[str]:
    """The files a path stands for: itself, the files of a folder (see the module doc), or ``-`` for
    stdin. Raises InputError for a missing or unreadable path named by the user."""
    if path == STDIN:
        return [STDIN]
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        return _FolderWalk(path, skips if skips is not None else Skips()).run()
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")
    return [path]


def special_kind(mode: int) -> str | None:
    """"FIFO", "socket", ... for what is neither a regular file nor a folder."""
    return next((name for test, name in _KINDS if test(mode)), None)


class _FolderWalk:
    def __init__(self, top: str, skips: Skips):
        self.top = top
        self.root = os.path.realpath(top)
        self.skips = skips
        self.seen: dict[tuple[int, int], str] = {}   # identity -> the path it was listed (walked) as
        self.files: list[str] = []
        self.links: list[str] = []

    def run(self) -> list[str]:
        try:
            self._scan(self.top, os.stat(self.top))
        except OSError as exc:  # the folder the user named
            raise InputError(f"{self.top}: cannot list folder: {exc.strerror}") from None
        # Links last: whatever is reachable without them keeps its own name. Following a folder link
        # may find more links, hence the index loop.
        i = 0
        while i < len(self.links):
            self._follow(self.links[i])
            i += 1
        return self.files

    def _scan(self, folder: str, st: os.stat_result) -> None:
        self.seen[(st.st_dev, st.st_ino)] = folder
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                self.skips.file(entry.path, "hidden")
            elif entry.is_symlink():
                self.links.append(entry.path)
            else:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as exc:
                    self.skips.file(entry.path, f"cannot stat: {exc.strerror}")
                    continue
                if stat.S_ISDIR(st.st_mode):
                    subfolders.append((entry.path, st))
                else:
                    self._add_file(entry.path, st)
        for path, st in subfolders:
            self._enter(path, st)

    def _enter(self, folder: str, st: os.stat_result) -> None:
        if (st.st_dev, st.st_ino) in self.seen:  # a bind mount of an ancestor, or a folder walked already
            self.skips.file(folder, f"already listed as {self.seen[(st.st_dev, st.st_ino)]}")
            return
        try:
            self._scan(folder, st)
        except OSError as exc:
            self.skips.file(folder, f"cannot list folder: {exc.strerror}")

    def _add_file(self, path: str, st: os.stat_result) -> None:
        kind = special_kind(st.st_mode)
        if kind:
            self.skips.file(path, f"not a regular file: {kind}")
        elif (st.st_dev, st.st_ino) in self.seen:
            self.skips.file(path, f"already listed as {self.seen[(st.st_dev, st.st_ino)]}")
        elif not os.access(path, os.R_OK):
            self.skips.file(path, "permission denied")
        else:
            self.seen[(st.st_dev, st.st_ino)] = path
            self.files.append(path)

    def _follow(self, link: str) -> None:
        try:
            real = os.path.realpath(link, strict=True)
            st = os.stat(real)
        except FileNotFoundError:
            self._skip_link(link, "dangling")
            return
        except OSError as exc:  # ELOOP: a cycle of links
            self._skip_link(link, "loop" if exc.errno == errno.ELOOP else f"cannot follow: {exc.strerror}")
            return
        reason = self._link_problem(link, real, st)
        if reason:
            self._skip_link(link, reason)
        elif stat.S_ISDIR(st.st_mode):
            self._enter(link, st)
        else:
            self._add_file(link, st)

    def _link_problem(self, link: str, real: str, st: os.stat_result) -> str | None:
        if not _within(real, self.root):
            return "outside the folder"
        rel = os.path.relpath(real, self.root)
        if rel != os.curdir and any(part.startswith(".") for part in rel.split(os.sep)):
            return "points into a hidden entry"
        walked = self.seen.get((st.st_dev, st.st_ino))
        if walked is None:
            return None
        if stat.S_ISDIR(st.st_mode) and _within(os.path.realpath(os.path.dirname(link)), real):
            return "loop"  # a folder link to itself or an ancestor
        return f"already listed as {walked}"

    def _skip_link(self, path: str, reason: str) -> None:
        try:
            target = os.readlink(path)
        except OSError:
            target = None
        self.skips.links.append({"path": path, "target": target, "reason": reason})


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
