"""Torch checkpoint files: written atomically, read with ``weights_only=True`` only (never executes code).

A checkpoint is a dict of tensors and plain values (format tag, version, config, state dict); anything
else — a pickled object, a truncated or foreign file — is refused with one ModelError naming the file.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from anomaly_log_detector.errors import ModelError


def save_checkpoint(obj: dict, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename (no half-written model)."""
    import torch

    tmp = f"{path}.tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, what: str) -> Any:
    """``torch.load(path, weights_only=True)`` on the CPU; ModelError when absent or not loadable."""
    import torch

    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols; we refuse them
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"{path}: model file not found") from None
    except Exception as exc:  # unpickling refused, truncated or not a torch file
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ModelError(f"{path}: not a loadable {what} ({type(exc).__name__}: {first})") from None
