"""A tiny progress reporter: writes to stderr, only when stderr is a TTY and not quiet."""

from __future__ import annotations

import sys
import time


class Progress:
    """Report `done/total unit` with a rate, at most a few times per second.

    Disabled (does nothing) when `quiet` is true or stderr is not a terminal, so logs and pipes
    stay clean.
    """

    def __init__(self, label: str, total: int | None = None, unit: str = "lines", quiet: bool = False):
        self.label, self.total, self.unit = label, total, unit
        self.enabled = (not quiet) and sys.stderr.isatty()
        self.done = 0
        self._start = time.perf_counter()
        self._last = 0.0

    def update(self, n: int = 1, **extra: object) -> None:
        self.done += n
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.25 and (self.total is None or self.done < self.total):
            return
        self._last = now
        rate = self.done / max(now - self._start, 1e-9)
        of = f"/{self.total:,}" if self.total else ""
        tail = "".join(f" {k}={v}" for k, v in extra.items())
        sys.stderr.write(f"\r{self.label}: {self.done:,}{of} {self.unit} ({rate:,.0f}/s){tail}\x1b[K")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
