"""Handing freed heap pages back to the OS between the stages of a large run."""

from __future__ import annotations

import gc
import sys
from typing import Any

_trim: Any = None


def release_memory() -> None:
    """Free what only reference cycles still hold (``gc.collect``: pandas frames and their arrays
    sit in cycles, ~400 MB after the detectors of a million-line run), then hand the heap's free
    pages back to the OS (glibc ``malloc_trim``; nothing elsewhere). Between stages a million-line
    run has freed hundreds of MB that glibc keeps in its arenas (the freed blocks are scattered among
    live ones); without this the next stage's peak adds to them."""
    gc.collect()
    trim_heap()


def trim_heap() -> None:
    """glibc ``malloc_trim`` alone: free heap pages back to the OS (no-op elsewhere)."""
    global _trim
    if _trim is None:
        try:
            import ctypes

            _trim = ctypes.CDLL("libc.so.6").malloc_trim if sys.platform.startswith("linux") else False
        except (OSError, AttributeError):
            _trim = False
    if _trim:
        _trim(0)
