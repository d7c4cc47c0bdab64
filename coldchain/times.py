"""Times, one rule for the whole project: epoch milliseconds ⇄ aware datetimes ⇄ RFC 3339.

The pipeline stores and compares event times as integer epoch milliseconds (the wire and
InfluxDB precision). Everything else is derived from them by the rules here:

- A datetime becomes milliseconds by *flooring*: the instant 10:00:00.000999 is in the
  millisecond 10:00:00.000. Floor keeps `to_ms(from_ms(ms)) == ms` and
  `from_ms(to_ms(t)) <= t`, agrees with the RFC 3339 text (which cuts microseconds rather
  than rounding them, so `parse_rfc3339_ms(rfc3339(t)) == to_ms(t)`), with `now_ms()` and
  with `ts_ms_from_wire`, and never moves an instant into a later millisecond (past the
  end of a half-open range, or after an event that happened later). The arithmetic is on
  integers (timedeltas), not on float seconds, so it is exact at any date: `int(t.timestamp()
  * 1000)` can land one millisecond low, `round(...)` one millisecond high.
- A datetime is aware. A naive one has no instant (it would be read in the server's zone),
  so it is refused, never guessed.
- Text is RFC 3339 in UTC with milliseconds and `Z`, e.g. `2026-11-22T10:00:00.000Z`: what
  alert events, the API and the ground truth already write. Local text carries its offset,
  e.g. `2026-10-25T02:30:00.000+02:00`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

__all__ = [
    "EPOCH",
    "NaiveTimeError",
    "from_ms",
    "local",
    "now_ms",
    "parse_rfc3339",
    "parse_rfc3339_ms",
    "rfc3339",
    "rfc3339_local",
    "rfc3339_ms",
    "to_ms",
    "utc",
]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)
_NS_PER_MS: Final = 1_000_000


class NaiveTimeError(ValueError):
    """A datetime or a text without an offset: which instant it means is unknown."""


def now_ms() -> int:
    """The wall clock as epoch ms (floored, from integer nanoseconds: no float rounding)."""
    return time.time_ns() // _NS_PER_MS


def _naive(moment: datetime) -> NaiveTimeError:
    return NaiveTimeError(f"{moment.isoformat()}: naive datetime; pass an aware one")


def utc(moment: datetime) -> datetime:
    """The same instant in UTC.

    Raises:
        NaiveTimeError: `moment` has no offset.
    """
    if moment.utcoffset() is None:
        raise _naive(moment)
    return moment.astimezone(UTC)


def to_ms(moment: datetime) -> int:
    """Epoch ms of an aware datetime, floored (see the module docstring for why).

    Raises:
        NaiveTimeError: `moment` has no offset.
    """
    try:
        return (moment - EPOCH) // _MS
    except TypeError:  # only a naive datetime cannot be subtracted from an aware one
        raise _naive(moment) from None


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of epoch ms (exact: integer arithmetic, no float seconds)."""
    return EPOCH + ms * _MS


def local(ms: int, zone: str | ZoneInfo) -> datetime:
    """The instant `ms` as an aware datetime on the wall clock of an IANA zone."""
    return from_ms(ms).astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone))


def rfc3339(moment: datetime) -> str:
    """RFC 3339 UTC text with milliseconds (cut, not rounded), e.g. 2026-11-22T10:00:00.000Z.

    Raises:
        NaiveTimeError: `moment` has no offset.
    """
    return utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rfc3339_ms(ms: int) -> str:
    """RFC 3339 UTC text of epoch ms, e.g. 2026-11-22T10:00:00.000Z."""
    return from_ms(ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rfc3339_local(ms: int, zone: str | ZoneInfo) -> str:
    """RFC 3339 text of epoch ms on a zone's wall clock with its offset, e.g.
    2026-10-25T02:30:00.000+02:00 (a reader sees the local time and the instant)."""
    return local(ms, zone).isoformat(timespec="milliseconds")


def parse_rfc3339(text: str) -> datetime:
    """An RFC 3339 (ISO 8601) time that carries an offset or Z, as an aware datetime in
    its own offset.

    Raises:
        NaiveTimeError: the text has no offset.
        ValueError: the text is not such a time.
    """
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise NaiveTimeError(f"an RFC 3339 time needs an offset or Z: {text!r}")
    return moment


def parse_rfc3339_ms(text: str) -> int:
    """Epoch ms (floored) of an RFC 3339 time that carries an offset or Z.

    Raises:
        NaiveTimeError: the text has no offset.
        ValueError: the text is not such a time.
    """
    return to_ms(parse_rfc3339(text))
