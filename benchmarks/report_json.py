"""How every benchmark hands over its result: one JSON object on stdout, and in a file with ``--out``."""

from __future__ import annotations

import json
from pathlib import Path


def emit(report: dict, out: str | None = None) -> None:
    """Print ``report`` as indented JSON; also write it to ``out`` when given."""
    text = json.dumps(report, indent=1)
    if out:
        Path(out).write_text(text + "\n")
    print(text)
