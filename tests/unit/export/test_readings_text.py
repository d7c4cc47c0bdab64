"""Readings as text, a chunk at a time: the same characters as formatting each reading on its
own (datetime, zoneinfo, repr), in any zone, across offset changes, in any order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from api.export.rows import reading_rows
from api.export.timefmt import format_local, format_utc
from coldchain.times import rfc3339_local

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ZONES = ["UTC", "Europe/Zurich", "America/St_Johns", "Australia/Lord_Howe", "Asia/Kathmandu"]
# Offset changes (UTC): Zurich's autumn and spring, St John's (-03:30), Lord Howe (30 min).
CHANGES = ["2026-10-25T01:00", "2026-03-29T01:00", "2026-11-01T04:30", "2026-04-04T15:00"]


def _ms(text: str) -> int:
    return round(datetime.fromisoformat(text + "+00:00").timestamp() * 1000)


def _clock(moment: datetime, ms: int) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}"


def _utc(ms: int) -> str:
    return _clock(EPOCH + timedelta(milliseconds=ms), ms) + "Z"


def _local(ms: int, zone: str) -> str:
    moment = EPOCH + timedelta(milliseconds=ms)
    offset = moment.astimezone(ZoneInfo(zone)).utcoffset()
    assert offset is not None
    minutes = abs(offset) // timedelta(minutes=1)
    sign = "-" if offset < timedelta(0) else "+"
    return _clock(moment + offset, ms) + f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _instants() -> np.ndarray:
    rng = np.random.default_rng(16)
    near = [_ms(c) + d for c in CHANGES for d in (-60_001, -1, 0, 1, 59_999)]
    minutes = _ms("2026-10-24T22:00") + 60_000 * np.arange(600)  # a chunk across a change
    spread = rng.integers(_ms("1850-01-01T00:00"), _ms("2100-01-01T00:00"), 300)  # LMT too
    early = rng.integers(-(10**11), 10**11, 50)  # around 1970, before it too
    return np.concatenate([near, minutes, spread, early]).astype(np.int64)


def test_utc_is_each_instants_own_text() -> None:
    ms = _instants()
    assert format_utc(ms) == [_utc(t) for t in ms.tolist()]
    edges = np.array([_ms("0001-01-01T00:00"), _ms("9999-12-31T23:59") + 59_999], dtype=np.int64)
    assert format_utc(edges) == ["0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"]
    with pytest.raises(ValueError, match="years 0001 to 9999"):
        format_utc(np.array([_ms("9999-12-31T23:59") + 60_000], dtype=np.int64))


@pytest.mark.parametrize("zone", ZONES)
def test_local_time_is_each_instants_own_text_in_any_order(zone: str) -> None:
    ms = _instants()
    expected = [_local(t, zone) for t in ms.tolist()]
    assert format_local(ms, zone) == expected
    order = np.random.default_rng(1).permutation(ms.size)
    assert format_local(ms[order], zone) == [expected[i] for i in order]
    # the one-instant rule of coldchain.times, which the rest of the record uses, agrees
    assert [rfc3339_local(t, zone) for t in ms[:20].tolist()] == expected[:20]


@pytest.mark.parametrize("zone", ["Europe/Zurich", "Australia/Lord_Howe"])
def test_rows_are_the_readings_formatted_one_by_one(zone: str) -> None:
    ms = _instants()[:600]
    temps = np.array([5.0, -0.0, 0.0, -40.125, 1e-05, 1e16, 0.1 + 0.2, 123456.789, 6.0, 5.01] * 60)
    prefix = "1,BSL/FR-1,BSL,unit,FR-1,p1,"

    def note(value: float) -> bytes:  # each distinct value's note, e.g. why it is invalid
        return b",big" if value > 1000 else b","

    def silent(value: float) -> bytes:
        return b""

    csv = reading_rows(
        ms, temps, zone, head=prefix.encode(), mid=b",", sep=b",", tail=b"\n", note=note
    ).decode()
    expected = [
        f"{prefix}{_utc(t)},{_local(t, zone)},{v!r},{'big' if v > 1000 else ''}\n"
        for t, v in zip(ms.tolist(), temps.tolist(), strict=True)
    ]
    assert csv == "".join(expected)
    json = reading_rows(
        ms[:3], temps[:3], zone, head=b',["', mid=b'","', sep=b'",', tail=b"]", note=silent
    )
    assert json.decode() == "".join(
        f',["{_utc(t)}","{_local(t, zone)}",{v!r}]'
        for t, v in zip(ms[:3].tolist(), temps[:3].tolist(), strict=True)
    )
    empty = np.empty(0, dtype=np.int64)
    nothing = reading_rows(
        empty, np.empty(0), zone, head=b"", mid=b"", sep=b"", tail=b"]", note=note
    )
    assert nothing == b""
