"""Reading ahead and showing progress for the parse pipeline.

:func:`ahead` produces items (decoded batches of lines) on a thread of its own, so that reading and
decoding (which release the GIL) overlap with template mining. :class:`InputProgress` is the parse's
progress bar, in bytes of the inputs as stored.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
import time
from typing import Iterator

from anomaly_log_detector.parsing.sources import STDIN
from anomaly_log_detector.progress import Progress

# Compressed sources advance the byte progress by their decompressed bytes over this (typical of gzip'd
# text logs); a file never counts past its size, and counts it all once it has been read.
COMPRESSION_GUESS = 8

_DONE = object()


class InputProgress:
    """The parse's bar, in bytes of the inputs as stored: the total (the regular files' sizes) is known
    before reading, so the bar shows a percentage and an ETA. An uncompressed file advances by the bytes
    of its lines, a compressed one by its decompressed bytes / COMPRESSION_GUESS; neither past its
    size, and a file read to its end counts whole. stdin (or a FIFO) in the inputs: no total."""

    def __init__(self, sources: list[str], quiet: bool):
        self.sizes = {path: _regular_size(path) for path in sources}
        known = [size for size in self.sizes.values() if size is not None]
        self.total = sum(known) if len(known) == len(self.sizes) else None
        self.bar = Progress("parse", total=self.total, unit="B", quiet=quiet)
        self.source_no, self.size, self.seen = -1, None, 0
        self.lines = 0

    def advance(self, source_no: int, path: str, nbytes: int, compression: str | None, lines: int,
                templates: int) -> None:
        if source_no != self.source_no:
            self._end_source()
            self.source_no, self.size, self.seen = source_no, self.sizes.get(path), 0
        step = nbytes // COMPRESSION_GUESS if compression not in (None, "none") else nbytes
        if self.size is not None:
            step = max(0, min(step, self.size - self.seen))
        self.seen += step
        self.lines += lines
        self.bar.update(step, lines=f"{self.lines:,}", templates=templates)

    def _end_source(self) -> None:
        if self.size is not None and self.size > self.seen:
            self.bar.update(self.size - self.seen)
        self.size = None

    def finish(self) -> None:
        """Every input read: the bar at its total (files skipped unread included)."""
        self._end_source()
        if self.total is not None and self.total > self.bar.done:
            self.bar.update(self.total - self.bar.done)

    def close(self) -> None:
        self.bar.close()


def _regular_size(path: str) -> int | None:
    """The size of a regular file; None for stdin, a FIFO or anything else without one."""
    if path == STDIN:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def ahead(items: Iterator, depth: int = 2) -> Iterator:
    """`items` produced on a thread of its own, up to `depth` ahead of the consumer (reading and
    decoding release the GIL, so they overlap with Drain and the writer). Exceptions are re-raised in
    the consumer; a consumer that stops early stops the producer."""
    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put((_DONE, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            box.put((_DONE, exc))

    worker = threading.Thread(target=produce, name="alog-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = box.get()
            if item is _DONE:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        # Let the producer see `stop`. It never blocks for long, except in a read of a pipe whose writer
        # is still there (an interrupted `parse --input -`): that daemon thread is left behind.
        deadline = time.monotonic() + 1.0
        while worker.is_alive() and time.monotonic() < deadline:
            try:
                box.get_nowait()
            except queue.Empty:
                worker.join(0.05)
