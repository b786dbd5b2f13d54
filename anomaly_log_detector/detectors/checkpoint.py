"""Torch checkpoint files: written atomically, read with ``weights_only=True`` only (never executes code).

A checkpoint is a dict of tensors and plain values (format tag, version, config, state dict); anything
else — a pickled object, a truncated or foreign file — is refused with one ModelError naming the file.
The refusal says what was refused and never repeats torch's advice to load with ``weights_only=False``
(that would run the file's code). The file must be a regular file of at most MAX_CHECKPOINT_BYTES.

:func:`check_state_dict` is the gate before a network is built from a checkpoint: every tensor must
have exactly the shape the stored arguments imply and be backed by real bytes of the file, so the
size of what gets allocated is bounded by the size of the file, whatever sizes the arguments claim.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from typing import Any

from anomaly_log_detector.errors import ModelError
from anomaly_log_detector.fileio.jsonio import read_regular

#: A model file larger than this is not one of ours (a DeepLog of 1M keys is about 0.5 GiB).
MAX_CHECKPOINT_BYTES = 4 << 30
_GLOBAL = re.compile(r"[Uu]nsupported (?:global: )?GLOBAL ([\w.]+)")


def save_checkpoint(obj: dict, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file beside ``path``, then rename (no half-written model)."""
    import torch

    tmp = f"{path}.tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike, what: str) -> Any:
    """The checkpoint in the file ``path`` (see :func:`load_checkpoint_bytes`); ModelError when absent,
    not a regular file (a FIFO, a device), too large or not loadable."""
    try:
        data = read_regular(path, MAX_CHECKPOINT_BYTES)
    except FileNotFoundError:
        raise ModelError(f"{path}: model file not found") from None
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    return load_checkpoint_bytes(data, str(path), what)


def load_checkpoint_bytes(data: bytes, where: str, what: str) -> Any:
    """``torch.load(weights_only=True)`` of checkpoint bytes on the CPU; ModelError naming ``where``."""
    import torch

    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols; we refuse them
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused, truncated or not a torch file
        raise ModelError(f"{where}: not a loadable {what} ({refusal_reason(exc)})") from None


def refusal_reason(exc: BaseException) -> str:
    """Why torch refused a file, in our words: the object it would have had to create when the safe
    unpickler stopped, else the exception's first line; torch's advice to retry with
    ``weights_only=False`` (which would run the file's code) is never passed on."""
    text = str(exc)
    found = _GLOBAL.search(text)
    if found:
        return (f"it refers to the Python object {found.group(1)}; only tensors and plain values are "
                f"loaded, because anything else could run code")
    if "Weights only load failed" in text or "weights_only" in text:
        return "it holds objects other than tensors and plain values; refused, because they could run code"
    first = re.sub(r"\x1b\[[0-9;]*m", "", text.splitlines()[0] if text else "").strip()
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def check_state_dict(state: Any, expected: dict[str, tuple[int, ...]], where: str) -> None:
    """Refuse a state dict that does not hold exactly ``expected`` (name -> shape), or whose tensors
    are not plain, dense and backed by their own bytes (a zero-stride view could claim any size)."""
    import torch

    bad = f"{where}: weights do not match the model's arguments"
    if not isinstance(state, dict) or set(state) != set(expected):
        held = set(state) if isinstance(state, dict) else set()
        missing, extra = sorted(set(expected) - held), len(held - set(expected))
        raise ModelError(f"{bad}: missing {missing or 'none'}, {extra} unknown weight(s)")
    for name, shape in expected.items():
        t = state[name]
        if (not isinstance(t, torch.Tensor) or t.layout != torch.strided or t.device.type != "cpu"
                or not t.is_floating_point()):
            raise ModelError(f"{bad}: {name} is not a dense tensor of real numbers")
        if tuple(t.shape) != shape:
            raise ModelError(f"{bad}: {name} has shape {tuple(t.shape)}, the arguments say {shape}")
        if not t.is_contiguous() or (t.storage_offset() + t.numel()) * t.element_size() > t.untyped_storage().nbytes():
            raise ModelError(f"{bad}: {name} is not backed by its own data (a view claiming more than the file holds)")
