"""What a source holds, told by its first bytes and never by its name: a compression, or binary data.

Binary data is decided on the first 64 KiB after decompression: a known magic number (Parquet, a
systemd journal, images, executables, archives, databases), utmp records (wtmp, btmp), or NUL and
control bytes. Runs of 32 or more NUL bytes are set aside before counting: a text log that was being
written when the machine lost power often holds such a zero-filled stretch, and its lines must still be
read; a stray NUL in a text line is read too (replaced and counted by the reader).
"""

from __future__ import annotations

import re
import struct

SAMPLE = 64 << 10        # bytes of decoded content looked at
COMPRESSIONS = ((b"\x1f\x8b", "gzip"), (b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))
# (offset, magic, what it is), looked for after decompression.
BINARY_MAGIC = (
    (0, b"PAR1", "Parquet"), (0, b"ARROW1", "Arrow IPC"), (0, b"FEA1", "Feather"),
    (0, b"LPKSHHRH", "systemd journal"), (0, b"\x89PNG\r\n\x1a\n", "PNG image"),
    (0, b"\xff\xd8\xff", "JPEG image"), (0, b"GIF87a", "GIF image"), (0, b"GIF89a", "GIF image"),
    (0, b"\x7fELF", "ELF executable"), (0, b"PK\x03\x04", "zip archive"), (0, b"PK\x05\x06", "zip archive"),
    (0, b"SQLite format 3\x00", "SQLite database"), (0, b"%PDF-", "PDF document"), (257, b"ustar", "tar archive"),
    (0, b"\xff\xfe", "UTF-16 text, convert it to UTF-8"), (0, b"\xfe\xff", "UTF-16 text, convert it to UTF-8"),
)
UTMP_RECORD = 384        # struct utmp on Linux (glibc, 64-bit and 32-bit alike)
_NUL_RUN = re.compile(rb"\x00{32,}")
# Control bytes that text does not hold (tab, newlines, form feed and ESC of ANSI colours are text).
_CONTROL = bytes([*range(0, 9), *range(14, 27), *range(28, 32), 127])


def compression_of(head: bytes) -> str:
    """"gzip", "xz", "bz2", "zstd" or "none" for a stream starting with `head`."""
    for magic, name in COMPRESSIONS:
        if head.startswith(magic):
            return name
    # "BZh" + block size 1-9 + the magic of a first block (pi) or of the end of an empty stream (sqrt pi)
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return "bz2"
    return "none"


def binary_reason(block: bytes) -> str | None:
    """Why decoded content starting with `block` is not a text log ("Parquet", "utmp records",
    "12% control bytes", ...), or None when it is text."""
    sample = block[:SAMPLE]
    for offset, magic, name in BINARY_MAGIC:
        if sample.startswith(magic, offset):
            return name
    if _looks_like_utmp(sample):
        return "utmp records"
    rest = _NUL_RUN.sub(b"", sample)
    if not rest.strip():  # empty, blank, or nothing but zero-filled stretches
        return "only NUL bytes" if rest != sample else None
    odd = len(rest) - len(rest.translate(None, _CONTROL))
    if odd > max(4, len(rest) // 100):
        return f"{odd / len(rest):.0%} NUL or control bytes"
    return None


def _looks_like_utmp(sample: bytes) -> bool:
    """Whole 384-byte records, mostly NUL, whose type fields (int32) are utmp types 0-9, not all EMPTY."""
    n = min(len(sample), 8 * UTMP_RECORD) // UTMP_RECORD
    if n == 0 or b"\n" in sample[:UTMP_RECORD]:
        return False
    types = [struct.unpack_from("<i", sample, i * UTMP_RECORD)[0] for i in range(n)]
    return (all(0 <= t <= 9 for t in types) and any(types)
            and sample.count(0, 0, n * UTMP_RECORD) > n * UTMP_RECORD // 2)
