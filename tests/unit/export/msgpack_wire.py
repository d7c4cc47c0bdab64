"""MessagePack as InfluxDB 1.x writes it (tinylib/msgp: the smallest integer encoding, every
float as float64; chunked answers arrive in 2 KiB pieces), for fakes of its `/query`."""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["answer", "pack", "pieces"]

_INTS = [(8, b"\xd0", ">b"), (16, b"\xd1", ">h"), (32, b"\xd2", ">i"), (64, b"\xd3", ">q")]


def _sized(size: int, fix: int, fix_limit: int, code16: int) -> bytes:
    if size < fix_limit:
        return bytes([fix | size])
    if size < 1 << 16:
        return bytes([code16]) + struct.pack(">H", size)
    return bytes([code16 + 1]) + struct.pack(">I", size)


def pack(value: Any) -> bytes:
    if value is None:
        return b"\xc0"
    if isinstance(value, bool):
        return b"\xc3" if value else b"\xc2"
    if isinstance(value, int):
        if -32 <= value <= 0x7F:
            return struct.pack(">b" if value < 0 else ">B", value)
        code, fmt = next(
            (c, f) for bits, c, f in _INTS if -(1 << bits - 1) <= value < 1 << bits - 1
        )
        return code + struct.pack(fmt, value)
    if isinstance(value, float):
        return b"\xcb" + struct.pack(">d", value)
    if isinstance(value, str):
        data = value.encode()
        if 32 <= len(data) < 256:
            return b"\xd9" + bytes([len(data)]) + data
        return _sized(len(data), 0xA0, 32, 0xDA) + data
    if isinstance(value, list):
        return _sized(len(value), 0x90, 16, 0xDC) + b"".join(map(pack, value))
    if isinstance(value, dict):
        items = b"".join(pack(k) + pack(v) for k, v in value.items())
        return _sized(len(value), 0x80, 16, 0xDE) + items
    raise TypeError(f"cannot pack {value!r}")


def answer(statements: list[list[list[Any]]], chunk_size: int = 10_000) -> bytes:
    """A chunked answer to one request: per statement, its rows [time, value] in chunks."""
    messages: list[dict[str, Any]] = []
    for statement_id, rows in enumerate(statements):
        if not rows:
            messages.append({"results": [{"statement_id": statement_id}]})
        for start in range(0, len(rows), chunk_size):
            part = rows[start : start + chunk_size]
            series = {"name": "reading", "columns": ["time", "temp_c"], "values": part}
            messages.append({"results": [{"statement_id": statement_id, "series": [series]}]})
    return b"".join(map(pack, messages))


def pieces(data: bytes, size: int = 2048) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]
