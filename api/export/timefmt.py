"""Times as the record shows them: UTC (what is stored) and local time with its offset.

An export formats two timestamps for each of millions of readings, so a chunk is written as
ASCII straight into a byte matrix, one row per reading, a few columns at a time: the date
from a table of the chunk's days (numpy's own RFC 3339 text for each), the time of day from
a table of the day's seconds, the milliseconds from a table of a thousand. Each table row is
gathered as one wide value. Local time adds the zone's UTC offset, found once per span where
it is constant rather than per reading.
"""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from coldchain.times import local, rfc3339_local, rfc3339_ms

__all__ = [
    "LOCAL_WIDTH",
    "UTC_WIDTH",
    "format_local",
    "format_utc",
    "offset_ms",
    "when_ms",
    "write_local",
    "write_utc",
]

UTC_WIDTH = 24  # 2026-10-25T00:30:00.000Z
LOCAL_WIDTH = 29  # 2026-10-25T02:30:00.000+02:00
_CLOCK = 23  # 2026-10-25T00:30:00.000
_DAY_MS = 86_400_000
# RFC 3339 has four-digit years.
_FIRST_DAY = int(np.datetime64("0001-01-01", "D").astype(np.int64))
_END_DAY = int(np.datetime64("10000-01-01", "D").astype(np.int64))


def _table(rows: npt.NDArray[np.uint8]) -> npt.NDArray[np.void]:
    """The rows of an ASCII matrix as single values, padded to a power-of-two size, so that
    looking up one for each reading copies one value, not a row of bytes."""
    size = 1 << (rows.shape[1] - 1).bit_length()
    padded = np.zeros((rows.shape[0], size), dtype=np.uint8)
    padded[:, : rows.shape[1]] = rows
    return padded.view(f"V{size}").ravel()


def _put(
    out: npt.NDArray[np.uint8], table: npt.NDArray[np.void], index: npt.NDArray[np.int64]
) -> None:
    """out[i] = the row of `table` at index[i], cut to out's width."""
    out[:] = table[index].view(np.uint8).reshape(index.size, -1)[:, : out.shape[1]]


def _digits(values: npt.NDArray[np.int64], width: int) -> npt.NDArray[np.uint8]:
    """Zero-padded decimal digits of non-negative `values`, one row each."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers % 10 + ord("0")).astype(np.uint8)


def _times_of_day() -> npt.NDArray[np.void]:
    """Row s: "THH:MM:SS." for second s of the day."""
    seconds = np.arange(86_400, dtype=np.int64)
    rows = np.frombuffer(b"T00:00:00." * seconds.size, dtype=np.uint8).reshape(-1, 10).copy()
    rows[:, 1:3] = _digits(seconds // 3600, 2)
    rows[:, 4:6] = _digits(seconds // 60 % 60, 2)
    rows[:, 7:9] = _digits(seconds % 60, 2)
    return _table(rows)


_TIMES_OF_DAY = _times_of_day()
_MILLISECONDS = _table(_digits(np.arange(1000, dtype=np.int64), 3))


def _write_clock(ms: npt.NDArray[np.int64], out: npt.NDArray[np.uint8]) -> None:
    """`out[i]` = ms[i] as YYYY-MM-DDTHH:MM:SS.mmm (23 columns)."""
    if ms.size == 0:
        return
    days = ms // _DAY_MS
    first, last = int(days.min()), int(days.max())
    if first < _FIRST_DAY or last >= _END_DAY:
        raise ValueError("only times in the years 0001 to 9999 have an RFC 3339 form")
    # Every day from the first to the last: a chunk spans days, not years.
    texts = np.datetime_as_string(np.arange(first, last + 1).astype("datetime64[D]"))
    dates = _table(texts.astype("S10").view(np.uint8).reshape(-1, 10))
    within = ms - days * _DAY_MS
    seconds = within // 1000
    _put(out[:, :10], dates, days - first)
    _put(out[:, 10:20], _TIMES_OF_DAY, seconds)
    _put(out[:, 20:_CLOCK], _MILLISECONDS, within - seconds * 1000)


def write_utc(ms: npt.NDArray[np.int64], out: npt.NDArray[np.uint8]) -> None:
    """`out[i]` = ms[i] as RFC 3339 UTC with milliseconds and a Z (UTC_WIDTH columns)."""
    _write_clock(ms, out)
    out[:, _CLOCK] = ord("Z")


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def offset_ms(ms: int, zone: str) -> int:
    """The zone's UTC offset at instant `ms`, in milliseconds."""
    moment = local(ms, _zone(zone))
    delta = moment.utcoffset() or timedelta(0)
    return int(delta.total_seconds() * 1000)


def _spans(zone: str, first: int, last: int) -> tuple[list[int], list[int]]:
    """Where the zone's offset changes in [first, last] and the offset from there on (the
    first entry is `first`). Offsets are compared a day apart and a change is found to the
    millisecond by bisection; no zone has changed its offset and back within a day."""
    starts, offsets = [first], [offset_ms(first, zone)]
    low = first
    while low < last:
        high = min(low + _DAY_MS, last)
        while offset_ms(high, zone) != offsets[-1]:
            same, other = low, high  # offset at `same` is offsets[-1], at `other` it is not
            while other - same > 1:
                middle = (same + other) // 2
                if offset_ms(middle, zone) == offsets[-1]:
                    same = middle
                else:
                    other = middle
            starts.append(other)
            offsets.append(offset_ms(other, zone))
            low = other
        low = high
    return starts, offsets


def _offset_text(offset: int) -> str:
    sign = "+" if offset >= 0 else "-"
    minutes = abs(offset) // 60_000
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def write_local(ms: npt.NDArray[np.int64], zone: str, out: npt.NDArray[np.uint8]) -> None:
    """`out[i]` = ms[i] as RFC 3339 local time in `zone` with its offset (LOCAL_WIDTH
    columns); the offset tells the repeated hour of a daylight-saving change apart."""
    if ms.size == 0:
        return
    starts, offsets = _spans(zone, int(ms.min()), int(ms.max()))
    texts = np.frombuffer("".join(map(_offset_text, offsets)).encode(), np.uint8).reshape(-1, 6)
    if len(offsets) == 1:
        _write_clock(ms + offsets[0], out)
        out[:, _CLOCK:] = texts[0]
        return
    span = np.searchsorted(np.array(starts, dtype=np.int64), ms, side="right") - 1
    _write_clock(ms + np.array(offsets, dtype=np.int64)[span], out)
    out[:, _CLOCK:] = texts[span]


def _texts(matrix: npt.NDArray[np.uint8]) -> list[str]:
    texts: list[str] = matrix.view(f"S{matrix.shape[1]}").ravel().astype(str).tolist()
    return texts


def format_utc(ms: npt.NDArray[np.int64]) -> list[str]:
    """RFC 3339 UTC with milliseconds and a Z, e.g. 2026-10-25T00:30:00.000Z."""
    out = np.empty((ms.size, UTC_WIDTH), dtype=np.uint8)
    write_utc(ms, out)
    return _texts(out)


def format_local(ms: npt.NDArray[np.int64], zone: str) -> list[str]:
    """RFC 3339 local time with its offset, e.g. 2026-10-25T02:30:00.000+02:00."""
    out = np.empty((ms.size, LOCAL_WIDTH), dtype=np.uint8)
    write_local(ms, zone, out)
    return _texts(out)


def when_ms(ms: float, zone: str) -> dict[str, str]:
    """One instant as the record writes it everywhere: UTC and the place's local time."""
    whole = round(ms)
    return {"utc": rfc3339_ms(whole), "local": rfc3339_local(whole, zone)}
