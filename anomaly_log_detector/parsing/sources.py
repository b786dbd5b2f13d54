"""Reading log sources: files, folders (recursive), gzip files and stdin, in bounded-memory batches.

Every physical line is accounted for. A line is either handed on (in a :class:`LineBatch`) or counted in
:class:`ReadStats` ``skipped`` with a reason. Lines are split on ``\\n``; one trailing ``\\r`` is removed
(CRLF and mixed endings work). Invalid UTF-8 and NUL bytes are replaced by U+FFFD and counted; lines
longer than ``max_line_bytes`` are cut to that length (on a character boundary) and counted. A gzip
stream that ends early or is corrupt yields everything decoded before the damage and records the error.
"""

from __future__ import annotations

import os
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anomaly_log_detector.errors import InputError

READ_BLOCK = 4 << 20   # bytes read from disk per call
GZIP_MAGIC = b"\x1f\x8b"
STDIN = "-"


@dataclass
class LineBatch:
    """Non-blank lines of one source, decoded, in order."""

    source: str
    line_nos: np.ndarray     # int64, 1-based line numbers within the source
    raw: pa.Array            # string, one element per line, without the line ending


@dataclass
class ReadStats:
    """Counters over everything read; every line read is handed on or counted in ``skipped``."""

    lines_read: int = 0
    skipped: Counter = field(default_factory=Counter)
    invalid_utf8: int = 0
    nul_bytes: int = 0
    truncated: int = 0
    source_errors: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)


def list_sources(path: str) -> list[str]:
    """The files a path stands for: itself, every regular file below a folder (sorted, recursive;
    hidden files and folders skipped), or ``-`` for stdin. Raises InputError for a missing path."""
    if path == STDIN:
        return [STDIN]
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file or directory")
    if os.path.isdir(path):
        found: list[str] = []
        for root, dirs, files in os.walk(path, onerror=_raise_walk_error):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            found.extend(os.path.join(root, f) for f in sorted(files) if not f.startswith("."))
        return [f for f in found if os.path.isfile(f)]
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")
    return [path]


def _raise_walk_error(exc: OSError) -> None:
    raise InputError(f"{exc.filename}: cannot list folder: {exc.strerror}")


def read_batches(sources: list[str], stats: ReadStats, chunk_lines: int,
                 max_line_bytes: int) -> Iterator[LineBatch]:
    """Yield batches of at most ``chunk_lines`` lines, source after source, updating ``stats``."""
    for source in sources:
        entry = {"source": source, "lines_read": 0, "error": None}
        stats.sources.append(entry)
        before = stats.lines_read
        try:
            stream = sys.stdin.buffer if source == STDIN else open(source, "rb")
        except OSError as exc:
            raise InputError(f"{source}: cannot open: {exc.strerror}") from None
        try:
            bodies = _split_lines(_blocks(stream, source, stats, entry), max_line_bytes)
            yield from _decode_batches(source, bodies, stats, chunk_lines, max_line_bytes)
        finally:
            if source != STDIN:
                stream.close()
            entry["lines_read"] = stats.lines_read - before


def _blocks(stream: BinaryIO, source: str, stats: ReadStats, entry: dict) -> Iterator[bytes]:
    """Raw byte blocks of a stream, transparently gunzipped (detected by magic bytes, not by name)."""
    try:
        first = stream.read(READ_BLOCK)
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror}") from None
    if not first.startswith(GZIP_MAGIC):
        while first:
            yield first
            first = stream.read(READ_BLOCK)
        return
    yield from _gunzip(first, stream, source, stats, entry)


def _gunzip(first: bytes, stream: BinaryIO, source: str, stats: ReadStats, entry: dict) -> Iterator[bytes]:
    """Decompress gzip members one after another; keep what decoded before an error, then record it."""
    decomp = zlib.decompressobj(wbits=31)
    data = first
    try:
        while True:
            if not data:
                data = stream.read(READ_BLOCK)
                if not data:
                    break
            out = decomp.decompress(data)
            if out:
                yield out
            data = b""
            if decomp.eof:
                data = decomp.unused_data
                if not data:
                    data = stream.read(READ_BLOCK)
                    if not data:
                        return
                decomp = zlib.decompressobj(wbits=31)
        tail = decomp.flush()
        if tail:
            yield tail
        if not decomp.eof:
            _record_error(source, "gzip stream truncated (ended before its end marker)", stats, entry)
    except zlib.error as exc:
        _record_error(source, f"gzip data corrupt: {exc}", stats, entry)


def _record_error(source: str, message: str, stats: ReadStats, entry: dict) -> None:
    entry["error"] = message
    stats.source_errors.append({"source": source, "error": message})


def _split_lines(blocks: Iterator[bytes], max_line_bytes: int) -> Iterator[bytes]:
    """Byte bodies that each end with ``\n`` and hold whole lines; a line longer than the limit is cut
    to ``max_line_bytes + 1`` bytes here (the surplus is dropped unread), so memory stays bounded."""
    carry = b""
    dropping = False  # inside a line already cut: discard bytes until its end
    for block in blocks:
        if dropping:
            nl = block.find(b"\n")
            if nl < 0:
                continue
            block, dropping = block[nl:], False  # keep the "\n" that ends the cut line
        data = carry + block if carry else block
        cut = data.rfind(b"\n") + 1
        if cut:
            yield data[:cut]
        carry = data[cut:]
        if len(carry) > max_line_bytes:
            carry, dropping = carry[: max_line_bytes + 1], True
    if carry:
        yield carry + b"\n"


def _decode_batches(source: str, bodies: Iterator[bytes], stats: ReadStats,
                    chunk_lines: int, max_line_bytes: int) -> Iterator[LineBatch]:
    """Turn byte bodies into Arrow string arrays of at most ``chunk_lines`` non-blank lines.

    The fast path never creates a Python string per line: line boundaries come from numpy, the bytes
    (without line endings) become an Arrow array directly and Arrow validates the UTF-8. Pieces with NUL
    bytes, invalid UTF-8 or over-long lines are repaired line by line.
    """
    line_no = 0
    for body in bodies:
        buf = np.frombuffer(body, dtype=np.uint8)
        ends = np.flatnonzero(buf == 10)
        starts = np.empty_like(ends)
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
        crlf = (ends > starts) & (buf[np.maximum(ends - 1, 0)] == 13)
        ends = ends - crlf
        for lo in range(0, len(ends), chunk_lines):
            s, e = starts[lo:lo + chunk_lines], ends[lo:lo + chunk_lines]
            raw = _to_arrow(body, buf, s, e, max_line_bytes, stats)
            nos = np.arange(line_no + 1, line_no + 1 + len(s), dtype=np.int64)
            line_no += len(s)
            stats.lines_read += len(s)
            blank = pc.or_(pc.equal(pc.binary_length(raw), 0), pc.utf8_is_space(raw))
            n_blank = pc.sum(blank).as_py() or 0
            if n_blank:
                stats.skipped["blank"] += n_blank
                keep = pc.invert(blank)
                raw, nos = raw.filter(keep), nos[keep.to_numpy(zero_copy_only=False)]
            if len(raw):
                yield LineBatch(source, nos, raw)


def _to_arrow(body: bytes, buf: np.ndarray, starts: np.ndarray, ends: np.ndarray, limit: int,
              stats: ReadStats) -> pa.Array:
    lengths = ends - starts
    lo, hi = int(starts[0]), int(ends[-1])
    if lengths.max(initial=0) <= limit and body.find(b"\x00", lo, hi) < 0:
        # Keep every byte of [lo, hi) except the "\n" (and "\r" of CRLF) between lines: one vectorized copy.
        gap_start = ends[:-1] - lo
        two = np.flatnonzero(starts[1:] - ends[:-1] == 2)
        data = np.delete(buf[lo:hi], np.concatenate((gap_start, gap_start[two] + 1)))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        arr = pa.Array.from_buffers(pa.string(), len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
        try:
            arr.validate(full=True)
            return arr
        except pa.ArrowInvalid:
            pass  # invalid UTF-8 somewhere in this piece: repair line by line below
    texts = [_decode_one(body[a:b], limit, stats) for a, b in zip(starts.tolist(), ends.tolist())]
    return pa.array(texts, type=pa.string())


def _decode_one(raw: bytes, limit: int, stats: ReadStats) -> str:
    if len(raw) > limit:
        stats.truncated += 1
        raw = _cut(raw, limit)
    if b"\x00" in raw:
        stats.nul_bytes += 1
        raw = raw.replace(b"\x00", "\ufffd".encode())
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        stats.invalid_utf8 += 1
        return raw.decode("utf-8", errors="replace")


def _cut(raw: bytes, limit: int) -> bytes:
    """The first ``limit`` bytes, minus a multi-byte character the cut split (so cutting alone never
    makes invalid UTF-8)."""
    raw = raw[:limit]
    for back in range(1, min(4, len(raw)) + 1):
        byte = raw[-back]
        if byte & 0xC0 != 0x80:  # found the last lead (or ASCII) byte
            need = 1 if byte < 0xC0 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return raw[:-back] if back < need else raw
    return raw
