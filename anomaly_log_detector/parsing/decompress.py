"""Streaming decompression of gzip, xz, bz2 and zstd sources in bounded memory.

Each decompressor hands out at most ``READ_BLOCK`` bytes per call (gzip, xz and bz2 through the
standard library's file objects, which also read concatenated members; zstd through ``zstandard``,
fed 64 KiB of input at a time, since its streaming reader cannot tell a truncated stream from a
complete one). Pieces are joined into blocks of about ``READ_BLOCK`` bytes so that later stages work on
large chunks. A stream that ends early or is corrupt yields everything decoded before the damage, then
reports the error through ``on_error``; reading goes on with the next source.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from typing import BinaryIO, Callable, Iterator

READ_BLOCK = 4 << 20   # bytes read from disk, and decoded bytes handed on, per block
ZSTD_PIECE = 64 << 10  # compressed bytes given to zstd per call (its output per call is not bounded)
_OPENERS = {"gzip": lambda f: gzip.GzipFile(fileobj=f), "xz": lzma.LZMAFile, "bz2": bz2.BZ2File}

try:
    import zstandard
except ImportError:  # optional: zstd sources are then skipped with this reason
    zstandard = None
ZSTD_MISSING = "zstd: install the zstandard package"


def decoded_blocks(kind: str, head: bytes, stream: BinaryIO, on_error: Callable[[str], None]) -> Iterator[bytes]:
    """The decoded content of a stream whose first bytes `head` were already read, in blocks of about
    ``READ_BLOCK`` bytes; `kind` is a name from :func:`sniff.compression_of`."""
    pieces: list[bytes] = []
    size = 0
    error = None
    try:
        for piece in _pieces(kind, head, stream):
            pieces.append(piece)
            size += len(piece)
            if size >= READ_BLOCK:
                yield b"".join(pieces)
                pieces, size = [], 0
    except EOFError:
        error = f"{kind} stream truncated (ended before its end marker)"
    except (OSError, zlib.error, lzma.LZMAError, *_zstd_errors()) as exc:
        error = f"{kind} data corrupt: {exc}" if kind != "none" else f"read failed: {exc}"
    if size:
        yield b"".join(pieces)  # the rest, or what decoded before the damage
    if error:
        on_error(error)


def _pieces(kind: str, head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    if kind == "none":
        yield head
        yield from iter(lambda: stream.read(READ_BLOCK), b"")
    elif kind == "zstd":
        yield from _unzstd(head, stream)
    else:
        decoded = _OPENERS[kind](_Prefixed(head, stream))
        yield from iter(lambda: decoded.read1(READ_BLOCK), b"")


def _unzstd(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    """zstd frames one after another; raises EOFError when the input ends inside a frame."""
    if zstandard is None:
        raise RuntimeError(ZSTD_MISSING)  # callers check `zstandard` first
    context = zstandard.ZstdDecompressor()
    frame = context.decompressobj()
    data = memoryview(head)
    leftover = b""  # input the last frame did not use: the start of the next one
    fed = False     # the current frame has been given input
    while True:
        if leftover:
            piece, leftover = leftover, b""
        else:
            if not data:
                data = memoryview(stream.read(READ_BLOCK))
                if not data:
                    break
            piece, data = data[:ZSTD_PIECE], data[ZSTD_PIECE:]
        out = frame.decompress(piece)
        fed = True
        if out:
            yield out
        if frame.eof:
            leftover = frame.unused_data
            frame, fed = context.decompressobj(), False
    if fed:
        raise EOFError("zstd frame incomplete")


def _zstd_errors() -> tuple[type[Exception], ...]:
    return (zstandard.ZstdError,) if zstandard is not None else ()


class _Prefixed(io.RawIOBase):
    """A stream whose first bytes were already read: `head`, then the rest of `stream`."""

    def __init__(self, head: bytes, stream: BinaryIO):
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)
