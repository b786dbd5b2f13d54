"""Progress bars on stderr (tqdm): a rate always, a percentage and an ETA whenever the total is known.

A bar shows only where a person watches: it is off when ``quiet`` is true or its stream (stderr) is
not a terminal, so logs, pipes, cron mails and test captures stay clean. tqdm is imported only when a
bar is actually shown (``alog-detect --help`` and non-interactive runs never import it).
"""

from __future__ import annotations

import sys
from typing import IO

# Seconds between two redraws: enough to look alive, little enough to cost nothing.
MIN_INTERVAL = 0.25
# Totals from which counts are shown scaled (12.3k/45.0k); smaller ones as they are (3/10).
SCALE_FROM = 10_000


class Progress:
    """Count work done toward an optional ``total`` in ``unit`` (``"B"`` shows bytes scaled: KB, MB).

    ``update(n, **extra)`` adds ``n`` and shows ``extra`` after the bar (``loss=0.123``);
    ``close()`` ends the line (or clears it: ``leave=False``, for short inner stages). Disabled (does
    nothing but count) when ``quiet`` or when ``file`` (default: stderr) is not a terminal."""

    def __init__(self, label: str, total: int | float | None = None, unit: str = "lines", quiet: bool = False,
                 file: IO[str] | None = None, leave: bool = True):
        self.label, self.total, self.unit = label, total, unit
        self.done = 0
        stream = sys.stderr if file is None else file
        self.enabled = not quiet and _isatty(stream)
        self._bar = None
        if self.enabled:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit=unit, file=stream, mininterval=MIN_INTERVAL,
                             unit_scale=unit == "B" or total is None or total >= SCALE_FROM,
                             unit_divisor=1024 if unit == "B" else 1000,
                             dynamic_ncols=True, leave=leave)

    def update(self, n: int | float = 1, **extra: object) -> None:
        """Add `n` done; `extra` (name=value) is shown as the bar's postfix."""
        self.done += n
        if self._bar is None:
            return
        if extra:
            self._bar.set_postfix({k: _short(v) for k, v in extra.items()}, refresh=False)
        self._bar.update(n)

    def close(self) -> None:
        bar, self._bar = self._bar, None
        if bar is not None:
            bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _isatty(stream: object) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream
        return False


def _short(value: object) -> object:
    """Floats with four significant digits (a loss), the rest as it is."""
    return f"{value:.4g}" if isinstance(value, float) else value
