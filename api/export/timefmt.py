"""Times as the record shows them: UTC (what is stored) and local time with its offset.

Formatting millions of timestamps one `datetime` at a time would dominate an export, so a
chunk is formatted with numpy; a chunk that spans a daylight-saving change (its first and
last reading have different offsets) is given each reading's own offset.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

__all__ = ["format_local", "format_utc", "iso_local", "iso_utc", "offset_ms"]


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def offset_ms(ms: int, zone: str) -> int:
    """The zone's UTC offset at instant `ms`, in milliseconds."""
    moment = datetime.fromtimestamp(ms / 1000, UTC).astimezone(_zone(zone))
    delta = moment.utcoffset() or timedelta(0)
    return int(delta.total_seconds() * 1000)


def _offset_text(offset: int) -> str:
    sign = "+" if offset >= 0 else "-"
    minutes = abs(offset) // 60_000
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _naive(ms: npt.NDArray[np.int64]) -> npt.NDArray[np.str_]:
    return np.datetime_as_string(ms.astype("datetime64[ms]"), unit="ms")


def format_utc(ms: npt.NDArray[np.int64]) -> list[str]:
    """RFC 3339 UTC with milliseconds and a Z, e.g. 2026-10-25T00:30:00.000Z."""
    return [text + "Z" for text in _naive(ms).tolist()]


def format_local(ms: npt.NDArray[np.int64], zone: str) -> list[str]:
    """RFC 3339 local time with its offset, e.g. 2026-10-25T02:30:00.000+02:00."""
    if ms.size == 0:
        return []
    first, last = offset_ms(int(ms[0]), zone), offset_ms(int(ms[-1]), zone)
    if first == last:
        suffix = _offset_text(first)
        return [text + suffix for text in _naive(ms + first).tolist()]
    offsets = np.array([offset_ms(int(t), zone) for t in ms.tolist()], dtype=np.int64)
    texts = _naive(ms + offsets).tolist()
    return [t + _offset_text(int(o)) for t, o in zip(texts, offsets.tolist(), strict=True)]


def iso_utc(ms: float) -> str:
    """One instant as RFC 3339 UTC with milliseconds."""
    return format_utc(np.array([round(ms)], dtype=np.int64))[0]


def iso_local(ms: float, zone: str) -> str:
    """One instant as RFC 3339 local time with its offset."""
    return format_local(np.array([round(ms)], dtype=np.int64), zone)[0]
