"""InfluxDB's MessagePack answers read into arrays: the same readings however the bytes are
cut, rows of any shape (the one-piece read is only a shortcut), errors raised."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from api.export.influx_msgpack import readings
from coldchain.errors import StoreRejected, StoreUnavailable
from tests.unit.export.msgpack_wire import answer, pack, pieces

T0 = 1_792_000_000_000  # 2026-10-14, an int64 in MessagePack


async def _feed(data: list[bytes]) -> AsyncIterator[bytes]:
    for piece in data:
        yield piece


async def _read(data: bytes | list[bytes]) -> list[tuple[list[int], list[float]]]:
    stream = readings(_feed([data] if isinstance(data, bytes) else data))
    return [(t.tolist(), v.tolist()) async for t, v in stream]


def _flat(chunks: list[tuple[list[int], list[float]]]) -> tuple[list[int], list[float]]:
    return [t for c in chunks for t in c[0]], [v for c in chunks for v in c[1]]


@pytest.mark.parametrize("size", [1, 7, 19, 2048, 1 << 20])
async def test_the_readings_do_not_depend_on_how_the_answer_is_cut(size: int) -> None:
    rows = [[T0 + i * 60_000, 5.0 + (i % 37) / 8] for i in range(2500)]
    data = answer([rows[:1000], [], rows[1000:]], chunk_size=600)
    chunks = await _read(pieces(data, size))
    assert [len(t) for t, _ in chunks] == [600, 400, 600, 600, 300]
    assert _flat(chunks) == ([r[0] for r in rows], [r[1] for r in rows])


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ([T0 + 60_000, None], None),  # a null: skipped, as JSON's was
        ([T0 + 60_000, 6], 6.0),  # an integer field
        ([T0 + 60_000, -0.0], 0.0),  # as InfluxDB's JSON said it: `-0`
        ([T0 + 60_000, 1e-300], 1e-300),
    ],
)
@pytest.mark.parametrize("size", [5, 2048])
async def test_rows_of_another_shape_are_read_value_by_value(
    row: list[Any], expected: float | None, size: int
) -> None:
    rows = [[T0, 5.5], row, [T0 + 120_000, 7.25]]
    times, temps = _flat(await _read(pieces(answer([rows]), size)))
    kept = [] if expected is None else [(T0 + 60_000, expected)]
    assert list(zip(times, temps, strict=True)) == [(T0, 5.5), *kept, (T0 + 120_000, 7.25)]
    assert all(str(v) != "-0.0" for v in temps)


async def test_a_chunk_of_nulls_is_no_chunk() -> None:
    data = answer([[[T0, None], [T0 + 1, None]], [[T0 + 2, 4.5]]])
    assert await _read(data) == [([T0 + 2], [4.5])]


async def test_a_row_that_only_looks_like_the_fast_paths_is_read_value_by_value() -> None:
    # An int32 time makes the row 15 bytes; its float's fourth byte sits where a 19-byte
    # row's float64 mark (0xcb) would be.
    value = struct.unpack(">d", bytes([0x40, 0x14, 0x00, 0xCB, 0, 0, 0, 0]))[0]
    data = answer([[[1_000_000, value]], [[T0, 1.0]]])  # bytes follow the short row
    assert _flat(await _read(data)) == ([1_000_000, T0], [value, 1.0])


async def test_times_before_late_january_1970_are_small_integers() -> None:
    rows = [[0, 1.5], [60_000, 2.5], [-60_000, 3.5]]
    assert _flat(await _read(answer([rows]))) == ([0, 60_000, -60_000], [1.5, 2.5, 3.5])


async def test_a_statement_error_is_raised_after_the_readings_before_it() -> None:
    first = answer([[[T0, 5.0]]])
    error = pack({"results": [{"statement_id": 1, "error": "database not found: " + "x" * 40}]})
    stream = readings(_feed([first + error]))
    assert (await anext(stream))[1].tolist() == [5.0]
    with pytest.raises(StoreRejected, match="database not found: x"):
        await anext(stream)


async def test_an_error_for_the_whole_request_is_raised() -> None:
    with pytest.raises(StoreRejected, match="error parsing query"):
        await _read(pack({"error": "error parsing query: found EOF"}))


@pytest.mark.parametrize(
    "data",
    [
        answer([[[T0, 5.0], [T0 + 1, 6.0]]])[:-3],  # cut inside the fast-path rows
        answer([[[T0, 5.0], [T0 + 1, None]]])[:-3],  # cut inside a row read one by one
        b"\xc1",  # never used in MessagePack
        pack([1, 2]),  # not a map
    ],
)
async def test_a_damaged_answer_is_refused(data: bytes) -> None:
    with pytest.raises(StoreUnavailable):
        await _read(pieces(data, 3))


async def test_values_come_back_as_stored() -> None:
    rows = [[T0, 5.0], [T0 + 1, -40.125], [T0 + 2, 0.1 + 0.2], [T0 + 3, 1e16]]
    [(times, temps)] = [(t, v) async for t, v in readings(_feed([answer([rows])]))]
    assert times.dtype == np.int64
    assert temps.dtype == np.float64
    assert temps.tolist() == [5.0, -40.125, 0.1 + 0.2, 1e16]
