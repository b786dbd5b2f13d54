"""A generic reader and writer of Thrift's compact protocol: what a Parquet footer is written in.

Structs decode to lists of :class:`Field` (id, compact type, value) in their order, so that any
footer written by pyarrow re-encodes to the same bytes (``encode(decode(b)) == b``) and fields that
this module knows nothing of are carried through untouched. Used by :mod:`.parquet_assembly` to merge
the footers of Parquet files written separately (see there).

Values: bool, int (byte, i16, i32, i64), float (double), bytes (binary and strings), a list of
fields (struct), :class:`Seq` (list or set), :class:`Map`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

# Compact type codes.
TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(1, 13)


@dataclass
class Field:
    id: int
    type: int
    value: object


@dataclass
class Seq:
    type: int          # element type
    items: list
    kind: int = LIST   # LIST or SET


@dataclass
class Map:
    key_type: int
    value_type: int
    items: list        # [(key, value)]


class ThriftError(ValueError):
    pass


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ThriftError("truncated Thrift data")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 70:
                raise ThriftError("varint too long")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ThriftError("truncated Thrift data")
        out = bytes(self.data[self.pos:self.pos + n])
        self.pos += n
        return out

    def value(self, ctype: int):
        if ctype in (TRUE, FALSE):  # inside a container: one byte, 1 = true
            return self.byte() == TRUE
        if ctype == BYTE:
            b = self.byte()
            return b - 256 if b > 127 else b
        if ctype in (I16, I32, I64):
            return self.zigzag()
        if ctype == DOUBLE:
            return struct.unpack("<d", self.take(8))[0]
        if ctype == BINARY:
            return self.take(self.varint())
        if ctype in (LIST, SET):
            head = self.byte()
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            return Seq(etype, [self.value(etype) for _ in range(size)], ctype)
        if ctype == MAP:
            size = self.varint()
            if size == 0:
                return Map(0, 0, [])
            types = self.byte()
            kt, vt = types >> 4, types & 0x0F
            return Map(kt, vt, [(self.value(kt), self.value(vt)) for _ in range(size)])
        if ctype == STRUCT:
            return self.struct()
        raise ThriftError(f"unknown compact type {ctype}")

    def struct(self) -> list[Field]:
        fields: list[Field] = []
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            delta, ctype = head >> 4, head & 0x0F
            fid = last + delta if delta else self.zigzag()
            value = (ctype == TRUE) if ctype in (TRUE, FALSE) else self.value(ctype)
            fields.append(Field(fid, ctype, value))
            last = fid


def decode(data: bytes) -> tuple[list[Field], int]:
    """The struct at the start of `data` and the number of bytes it took."""
    reader = _Reader(data)
    return reader.struct(), reader.pos


class _Writer:
    def __init__(self):
        self.out = bytearray()

    def varint(self, n: int) -> None:
        if n < 0:
            raise ThriftError("negative varint")
        while True:
            b = n & 0x7F
            n >>= 7
            if n:
                self.out.append(b | 0x80)
            else:
                self.out.append(b)
                return

    def zigzag(self, n: int) -> None:
        self.varint((n << 1) ^ (n >> 63) if n < 0 else n << 1)

    def value(self, ctype: int, value) -> None:
        if ctype in (TRUE, FALSE):
            self.out.append(TRUE if value else FALSE)
        elif ctype == BYTE:
            self.out.append(value & 0xFF)
        elif ctype in (I16, I32, I64):
            self.zigzag(value)
        elif ctype == DOUBLE:
            self.out += struct.pack("<d", value)
        elif ctype == BINARY:
            self.varint(len(value))
            self.out += value
        elif ctype in (LIST, SET):
            size = len(value.items)
            if size < 15:
                self.out.append(size << 4 | value.type)
            else:
                self.out.append(0xF0 | value.type)
                self.varint(size)
            for item in value.items:
                self.value(value.type, item)
        elif ctype == MAP:
            self.varint(len(value.items))
            if value.items:
                self.out.append(value.key_type << 4 | value.value_type)
                for k, v in value.items:
                    self.value(value.key_type, k)
                    self.value(value.value_type, v)
        elif ctype == STRUCT:
            self.struct(value)
        else:
            raise ThriftError(f"unknown compact type {ctype}")

    def struct(self, fields: list[Field]) -> None:
        last = 0
        for f in fields:
            ctype = (TRUE if f.value else FALSE) if f.type in (TRUE, FALSE) else f.type
            delta = f.id - last
            if 0 < delta <= 15:
                self.out.append(delta << 4 | ctype)
            else:
                self.out.append(ctype)
                self.zigzag(f.id)
            if ctype not in (TRUE, FALSE):
                self.value(ctype, f.value)
            last = f.id
        self.out.append(0)


def encode(fields: list[Field]) -> bytes:
    writer = _Writer()
    writer.struct(fields)
    return bytes(writer.out)


def get(fields: list[Field], fid: int, default=None):
    """The value of field `fid` of a struct (`default` when absent)."""
    for f in fields:
        if f.id == fid:
            return f.value
    return default


def put(fields: list[Field], fid: int, ctype: int, value) -> None:
    """Set field `fid` (added in id order when absent)."""
    for f in fields:
        if f.id == fid:
            f.type, f.value = ctype, value
            return
    fields.append(Field(fid, ctype, value))
    fields.sort(key=lambda f: f.id)


def drop(fields: list[Field], fid: int) -> None:
    fields[:] = [f for f in fields if f.id != fid]
