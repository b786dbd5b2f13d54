"""Reading log sources: files, folders (recursive), compressed files and stdin, in bounded-memory batches.

Every file is accounted for: it is read (an entry in :class:`ReadStats` ``sources``) or skipped with
its reason (``skips``: see :mod:`.walk` for folders and links; binary content and missing decompressors
here). Every physical line is accounted for too: it is handed on (in a :class:`LineBatch`) or counted
in ``skipped`` with a reason. Sources are sniffed by content, never by name (:mod:`.sniff`) and
decompressed as they stream (:mod:`.decompress`). Lines are split on ``\\n``; one trailing ``\\r`` is
removed (CRLF and mixed endings work). Invalid UTF-8 and NUL bytes are replaced by U+FFFD and counted;
lines longer than ``max_line_bytes`` are cut to that length (on a character boundary) and counted.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain
from typing import BinaryIO, Container, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from anomaly_log_detector.errors import InputError
from anomaly_log_detector.parsing import decompress
from anomaly_log_detector.parsing.decompress import READ_BLOCK, decoded_blocks
from anomaly_log_detector.parsing.sniff import binary_reason, compression_of
from anomaly_log_detector.parsing.walk import STDIN, Skips, list_sources, special_kind

__all__ = ["LineBatch", "ReadStats", "Skips", "list_sources", "read_batches", "skipped_note", "STDIN"]


@dataclass
class LineBatch:
    """Non-blank lines of one source, decoded, in order."""

    source: str
    line_nos: np.ndarray     # int64, 1-based line numbers within the source
    raw: pa.Array            # string, one element per line, without the line ending
    source_no: int = 0       # position of the source's entry in ReadStats.sources


@dataclass
class ReadStats:
    """Counters over everything read; every line read is handed on or counted in ``skipped``."""

    lines_read: int = 0
    skipped: Counter = field(default_factory=Counter)
    invalid_utf8: int = 0
    nul_bytes: int = 0
    truncated: int = 0
    source_errors: list[dict] = field(default_factory=list)
    sources: list[dict] = field(default_factory=list)   # one entry per source read
    skips: Skips = field(default_factory=Skips)         # files and links not read, with reasons


def read_batches(sources: list[str], stats: ReadStats, chunk_lines: int, max_line_bytes: int,
                 found_in_folder: Container[str] = ()) -> Iterator[LineBatch]:
    """Yield batches of at most ``chunk_lines`` lines, source after source, updating ``stats``.

    A source named by the user that cannot be opened raises InputError; one found in a folder
    (`found_in_folder`) is skipped with its reason instead, and never opened unless it is a regular
    file (opening a FIFO would block)."""
    for source in sources:
        in_folder = source in found_in_folder
        stream = _open(source, in_folder, stats.skips)
        if stream is None:
            continue
        try:
            yield from _read_source(source, stream, in_folder, stats, chunk_lines, max_line_bytes)
        finally:
            if source != STDIN:
                stream.close()


def _open(source: str, in_folder: bool, skips: Skips) -> BinaryIO | None:
    if source == STDIN:
        return sys.stdin.buffer
    if not in_folder:
        try:
            return open(source, "rb")
        except OSError as exc:
            raise InputError(f"{source}: cannot open: {exc.strerror}") from None
    try:  # non-blocking, so that a file swapped for a FIFO since the walk cannot hang the run
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        skips.file(source, f"cannot open: {exc.strerror}")
        return None
    kind = special_kind(os.fstat(fd).st_mode)
    if kind:
        os.close(fd)
        skips.file(source, f"not a regular file: {kind}")
        return None
    return os.fdopen(fd, "rb")


def _read_source(source: str, stream: BinaryIO, in_folder: bool, stats: ReadStats, chunk_lines: int,
                 max_line_bytes: int) -> Iterator[LineBatch]:
    """The batches of one open source, or nothing when it is skipped (binary, no decompressor)."""
    try:
        head = stream.read(READ_BLOCK)
    except OSError as exc:
        if not in_folder:
            raise InputError(f"{source}: cannot read: {exc.strerror}") from None
        stats.skips.file(source, f"cannot read: {exc.strerror}")
        return
    kind = compression_of(head)
    if kind == "zstd" and decompress.zstandard is None:
        stats.skips.file(source, decompress.ZSTD_MISSING)
        return
    entry = {"source": source, "lines_read": 0, "error": None, "compression": kind}

    def on_error(message: str) -> None:
        entry["error"] = message
        stats.source_errors.append({"source": source, "error": message})

    blocks = decoded_blocks(kind, head, stream, on_error)
    first = next(blocks, b"")
    reason = binary_reason(first)
    if reason:
        inside = f" inside {kind}" if kind != "none" else ""
        stats.skips.file(source, f"binary: {reason}{inside}")
        return
    stats.sources.append(entry)
    before = stats.lines_read
    try:
        bodies = _split_lines(chain([first], blocks), max_line_bytes)
        for batch in _decode_batches(source, bodies, stats, chunk_lines, max_line_bytes):
            batch.source_no = len(stats.sources) - 1
            yield batch
    finally:
        entry["lines_read"] = stats.lines_read - before


def skipped_note(summary: dict, limit: int = 3) -> str | None:
    """One line naming what a parse skipped (files, then links), with the first few reasons; None
    when nothing was."""
    files, links = summary.get("files_skipped") or [], summary.get("links_skipped") or []
    if not files and not links:
        return None
    hidden_last = sorted(files, key=lambda f: f["reason"] == "hidden")
    shown = [f"{os.path.basename(f['source'])} ({f['reason']})" for f in hidden_last]
    shown += [f"link {os.path.basename(x['path'])} -> {x['target']} ({x['reason']})" for x in links]
    counts = [f"{len(files)} file{'s' * (len(files) != 1)}"] if files else []
    counts += [f"{len(links)} link{'s' * (len(links) != 1)}"] if links else []
    more = f", ... ({len(shown) - limit} more in parse_summary.json)" if len(shown) > limit else ""
    return f"skipped {' and '.join(counts)}: {', '.join(shown[:limit])}{more}"


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
    cut = len(raw) > limit
    if cut:
        raw = _cut(raw, limit)
    if b"\x00" in raw:
        stats.nul_bytes += 1
        raw = raw.replace(b"\x00", "\ufffd".encode())
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        stats.invalid_utf8 += 1
        raw = raw.decode("utf-8", errors="replace").encode()
    if len(raw) > limit:  # U+FFFD (3 bytes) for a NUL or an invalid byte made it longer again
        cut, raw = True, _cut(raw, limit)
    stats.truncated += cut
    return raw.decode("utf-8")


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
