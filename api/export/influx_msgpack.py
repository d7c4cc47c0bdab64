"""Readings from an InfluxDB 1.x answer in MessagePack (`Accept: application/x-msgpack`),
straight into numpy arrays.

A year of readings is millions of rows. As JSON, InfluxDB turns every float into text and we
turn it back, building Python lists per row; as CSV, InfluxDB 1.x drops statement errors (an
unknown database answers an empty 200). MessagePack carries the int64 time and the float64
as stored, and errors as `{"error": …}`. A chunked answer is a sequence of maps:

    {"results": [{"statement_id": 0, "series": [{"name": "reading",
      "columns": ["time", "temp_c"], "values": [[t, v], …], "partial": true}]}]}

Rows as InfluxDB 1.x writes a float field with millisecond times from 2^31 ms (late January
1970) on — an array of two (0x92), an int64 (0xd3 + 8 bytes), a float64 (0xcb + 8 bytes) —
are read as one numpy record array: when every row carries these marks at its place, each
row is exactly that. Any other row (a null, an integer field, an earlier time) sends the
array to the value-by-value reader, so the fast path is an optimisation, never an assumption.
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from coldchain.errors import StoreRejected, StoreUnavailable

__all__ = ["MSGPACK", "readings"]

MSGPACK = "application/x-msgpack"

_ROW = np.dtype([("array", "u1"), ("int64", "u1"), ("t", ">i8"), ("float64", "u1"), ("v", ">f8")])
_ROW_MARKS = {"array": 0x92, "int64": 0xD3, "float64": 0xCB}
_CONSTANTS = {0xC0: None, 0xC2: False, 0xC3: True}
_SCALARS = {0xCA: ">f", 0xCB: ">d", 0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q"}
_SCALARS |= {0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
_STR_SIZES = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I"}
_ARRAY_SIZES = {0xDC: ">H", 0xDD: ">I"}
_MAP_SIZES = {0xDE: ">H", 0xDF: ">I"}

Chunk = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]


class _Short(Exception):
    """The buffer ends inside an object; it needs at least `needed` bytes."""

    def __init__(self, needed: int) -> None:
        self.needed = needed


@dataclass(frozen=True, slots=True)
class _Rows:
    """A `values` array read in one piece."""

    records: npt.NDArray[np.void]


class _Reader:
    """One MessagePack object from `data` at `pos`. `final`: no more bytes will come, so a
    short buffer is read value by value to say exactly where it is cut."""

    def __init__(self, data: bytes, pos: int, *, final: bool) -> None:
        self.data = data
        self.pos = pos
        self.final = final

    def take(self, size: int) -> int:
        """Advance over `size` bytes; where they began."""
        start = self.pos
        if start + size > len(self.data):
            raise _Short(start + size)
        self.pos = start + size
        return start

    def unpack(self, fmt: str) -> Any:
        return struct.unpack_from(fmt, self.data, self.take(struct.calcsize(fmt)))[0]

    def text(self, size: int) -> str:
        start = self.take(size)
        return self.data[start : start + size].decode()

    def value(self) -> Any:
        code = self.data[self.take(1)]
        if code <= 0x7F or code >= 0xE0:  # positive and negative fixint
            return code if code <= 0x7F else code - 0x100
        if code <= 0x8F:
            return self.mapping(code & 0x0F)
        if code <= 0x9F:
            return self.array(code & 0x0F)
        if code <= 0xBF:
            return self.text(code & 0x1F)
        if code in _CONSTANTS:
            return _CONSTANTS[code]
        if code in _SCALARS:
            return self.unpack(_SCALARS[code])
        if code in _STR_SIZES:
            return self.text(self.unpack(_STR_SIZES[code]))
        if code in _ARRAY_SIZES:
            return self.array(self.unpack(_ARRAY_SIZES[code]))
        if code in _MAP_SIZES:
            return self.mapping(self.unpack(_MAP_SIZES[code]))
        raise StoreUnavailable(f"InfluxDB answer: unexpected MessagePack type 0x{code:02x}")

    def mapping(self, size: int) -> dict[Any, Any]:
        return {self.value(): self.value() for _ in range(size)}

    def array(self, size: int) -> list[Any] | _Rows:
        whole = min(size, (len(self.data) - self.pos) // _ROW.itemsize)
        records = np.frombuffer(self.data, _ROW, count=whole, offset=self.pos)
        # Row k is checked where it starts if rows 0..k-1 are 19 bytes each: all marks
        # right means every row is.
        if size and all((records[name] == mark).all() for name, mark in _ROW_MARKS.items()):
            if whole == size:
                self.pos += size * _ROW.itemsize
                return _Rows(records)
            if not self.final:  # so far so good: wait for the rest instead of reading it twice
                raise _Short(self.pos + size * _ROW.itemsize)
        return [self.value() for _ in range(size)]


def _chunks(message: Any) -> Iterator[Chunk]:
    """The (times, values) of one answer map; a statement error raises `StoreRejected`."""
    if not isinstance(message, dict):
        raise StoreUnavailable("InfluxDB answer: not a MessagePack map")
    results = message.get("results", [])
    for error in [message.get("error")] + [result.get("error") for result in results]:
        if error is not None:
            raise StoreRejected(
                f"InfluxDB query: {error}", status_code=200, server_message=str(error)
            )
    for result in results:
        for series in result.get("series", []):
            values = series.get("values", [])
            if isinstance(values, _Rows):
                times = values.records["t"].astype(np.int64)
                temps = values.records["v"].astype(np.float64)
            elif values:
                pairs = np.asarray(values, dtype=np.float64)
                times, temps = pairs[:, 0].astype(np.int64), pairs[:, 1]
            else:
                continue
            keep = np.isfinite(temps)
            if keep.any():  # a chunk of nulls is no chunk
                # + 0.0 turns -0.0 into 0.0, as InfluxDB's JSON (`-0`) had it.
                yield times[keep], temps[keep] + 0.0


def _split(data: bytes, *, final: bool) -> tuple[list[Any], bytes, int]:
    """The whole objects at the start of `data`, the bytes after them, and how many bytes
    those must grow to before the next object can be whole."""
    messages: list[Any] = []
    pos = 0
    while pos < len(data):
        reader = _Reader(data, pos, final=final)
        try:
            messages.append(reader.value())
        except _Short as short:
            return messages, data[pos:], short.needed - pos
        pos = reader.pos
    return messages, b"", 1


async def readings(pieces: AsyncIterator[bytes]) -> AsyncIterator[Chunk]:
    """Each chunk of a one-field query's answer as (epoch ms, values), in the server's order.

    Raises:
        StoreRejected: InfluxDB reported an error for the statement.
        StoreUnavailable: the answer is not MessagePack or ends inside an object.
    """
    # InfluxDB writes MessagePack in pieces of 2 KiB: collect them until the next object
    # can be whole, then join once (adding each to a growing buffer would copy it ~100 times).
    parts: list[bytes] = []
    size, needed = 0, 1
    async for piece in pieces:
        parts.append(piece)
        size += len(piece)
        if size >= needed:
            messages, rest, needed = _split(b"".join(parts), final=False)
            parts, size = [rest], len(rest)
            for message in messages:
                for chunk in _chunks(message):
                    yield chunk
    messages, pending, _ = _split(b"".join(parts), final=True)
    if pending:
        raise StoreUnavailable("InfluxDB answer: MessagePack cut short")
    for message in messages:
        for chunk in _chunks(message):
            yield chunk
