"""The device's naive clock, read as true instants: in the site's zone, or at a fixed offset.

The exports carry no offset: the clock is whatever the user set, and whether it then
followed the zone's DST changes is a property of the device, not of the site. The file
itself shows which, whenever its log spans a change of the zone's UTC offset (`read_clock`):

1. a file that states its clock's UTC offset (`LoggerFile.clock_utc_offset_min`) is read at
   that offset. No Berlinger export states one that can be trusted: all carry an
   undocumented `Zone: 0.00`, with which the Q-tag's PDF ("Time (GMT)") agrees but the
   Fridge-tags' PDFs (stamped +01:00) do not (coldchain/loggers/README.md, "Time");
2. a log that keeps its regular step across the change (no hour missing in spring, none
   repeated in autumn) comes from a clock that did not follow it: every row is read at the
   offset in force at the log's first row. That end is the anchored one: the clock is set
   (`User Clock Config: 1`) and the logger started at the origin, whose site gives the zone;
   reading the file at the destination does not touch the clock. So the rows before the
   change read exactly as in the zone, and only the ones after it move;
3. a log that jumps by the change at the change (its regular step ± the hour) followed the
   zone: it is read in the zone, DST included. In the repeated autumn hour the first pass
   is taken first and the second once the log has moved past it (time order is the file's);
4. a log without a change inside it, or one whose rows cannot tell (a gap across the
   change, or changes that disagree), is read in the zone as well.

Two rows that would land on the same instant would overwrite each other in InfluxDB (same
tags and time), so that is refused rather than losing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import timezone as FixedOffset
from itertools import pairwise
from typing import Final, Literal
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from coldchain.loggers.errors import LoggerFileError
from coldchain.loggers.model import LoggedReading, LoggerFile
from coldchain.times import to_ms

__all__ = [
    "ClockReading",
    "DeviceClock",
    "OffsetChange",
    "epoch_ms",
    "local_instant",
    "offset_changes",
    "read_clock",
]

#: "zone": in the zone, DST included; "fixed offset": at one offset, because the log kept
#: its step across a change of the zone; "stated offset": at the offset the file states.
ClockReading = Literal["zone", "fixed offset", "stated offset"]

#: Offset changes are searched for at this step, then located to the second: no zone
#: changes its offset twice within it.
_SEARCH_STEP: Final = timedelta(hours=6)


def local_instant(moment: datetime, zone: ZoneInfo, *, after: datetime | None = None) -> datetime:
    """`moment` (naive, device clock) in `zone` as an aware UTC datetime.

    In an ambiguous hour, the earlier instant unless it is not after `after` (the previous
    row's instant), then the later one.
    """
    first = moment.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if after is not None and first <= after:
        second = moment.replace(tzinfo=zone, fold=1).astimezone(UTC)
        if second > first:
            return second
    return first


def epoch_ms(readings: Sequence[LoggedReading], timezone: str) -> npt.NDArray[np.int64]:
    """Epoch milliseconds of each reading, in order, the clock read in `timezone`.

    Raises:
        LoggerFileError: two rows map to the same instant, or time runs backwards, in
            this zone (a DST change the device did not make, or made differently).
    """
    return _epoch_ms(readings, ZoneInfo(timezone), timezone)


def _epoch_ms(
    readings: Sequence[LoggedReading], zone: ZoneInfo | FixedOffset, label: str
) -> npt.NDArray[np.int64]:
    out = np.empty(len(readings), dtype=np.int64)
    previous: datetime | None = None
    for index, reading in enumerate(readings):
        if isinstance(zone, ZoneInfo):
            instant = local_instant(reading.local_time, zone, after=previous)
        else:
            instant = reading.local_time.replace(tzinfo=zone).astimezone(UTC)
        if previous is not None and instant <= previous:
            hint = (
                "use --timezone with a fixed offset (e.g. Etc/GMT-1) if the device ignores DST"
                if isinstance(zone, ZoneInfo)
                else "the log runs backwards at this fixed offset"
            )
            raise LoggerFileError(
                f"{reading.local_time:%Y-%m-%d %H:%M} in {label} is not after the row "
                f"before ({previous:%Y-%m-%d %H:%M} UTC): the two would be one reading; {hint}",
                line=reading.line,
            )
        out[index] = to_ms(instant)
        previous = instant
    return out


def _offset_text(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True, slots=True)
class OffsetChange:
    """A change of a zone's UTC offset: at `at` (UTC), from `before` to `after`."""

    at: datetime
    before: timedelta
    after: timedelta

    def describe(self, zone: str) -> str:
        return (
            f"{zone}'s change from {_offset_text(self.before)} to {_offset_text(self.after)} "
            f"at {self.at:%Y-%m-%d %H:%M} UTC"
        )


@dataclass(frozen=True, slots=True)
class DeviceClock:
    """How a file's naive device times become instants, and why (for the record).

    Attributes:
        reading: see `ClockReading`.
        zone: the zone of reference: the site's, or `--timezone`.
        offset: the clock's fixed UTC offset; None when read in the zone.
        evidence: why, in words (empty when the log spans no change of the zone).
    """

    reading: ClockReading
    zone: str
    offset: timedelta | None = None
    evidence: str = ""

    @property
    def timezone(self) -> str:
        """The IANA zone the naive times are read in: `zone`, or for a fixed whole-hour
        offset its `Etc/GMT` zone (POSIX signs: `Etc/GMT-2` is UTC+02:00), so that whoever
        reads the times again later (the QA export's device days) reads them the same way.
        A fixed offset that is not a whole hour has no such zone: then `zone`."""
        if self.offset is None:
            return self.zone
        seconds = int(self.offset.total_seconds())
        if seconds == 0:
            return "UTC"
        if seconds % 3600 or not -12 <= seconds // 3600 <= 14:
            return self.zone
        return f"Etc/GMT{-seconds // 3600:+d}"

    @property
    def note(self) -> str | None:
        """The record's note on how the clock was read; None when there is nothing to say
        beyond the zone (no change of its offset inside the log)."""
        if not self.evidence:
            return None
        if self.offset is None:
            return f"device clock read in {self.zone}: {self.evidence}"
        named = f" ({self.timezone})" if self.timezone != self.zone else ""
        return f"device clock read at a fixed {_offset_text(self.offset)}{named}: {self.evidence}"

    def instant(self, moment: datetime, *, after: datetime | None = None) -> datetime:
        """`moment` (naive, device clock) as an aware UTC datetime (see `local_instant`)."""
        if self.offset is None:
            return local_instant(moment, ZoneInfo(self.zone), after=after)
        return moment.replace(tzinfo=FixedOffset(self.offset)).astimezone(UTC)

    def epoch_ms(self, readings: Sequence[LoggedReading]) -> npt.NDArray[np.int64]:
        """Epoch milliseconds of each reading, in order (refusals as `epoch_ms`)."""
        if self.offset is None:
            return epoch_ms(readings, self.zone)
        return _epoch_ms(readings, FixedOffset(self.offset), _offset_text(self.offset))


def _offset(zone: ZoneInfo, at: datetime) -> timedelta:
    offset = at.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[OffsetChange]:
    """Every change of `zone`'s UTC offset between `start` and `end` (aware), in order."""
    changes = []
    here, offset = start, _offset(zone, start)
    while here < end:
        there = min(here + _SEARCH_STEP, end)
        new = _offset(zone, there)
        if new != offset:  # locate it to the second
            low, high = int(here.timestamp()), int(there.timestamp())
            while high - low > 1:
                middle = (low + high) // 2
                if _offset(zone, datetime.fromtimestamp(middle, UTC)) == offset:
                    low = middle
                else:
                    high = middle
            changes.append(OffsetChange(datetime.fromtimestamp(high, UTC), offset, new))
        here, offset = there, new
    return changes


_Verdict = Literal["followed", "kept", "unclear"]


def _verdict(times: Sequence[datetime], step: timedelta, change: OffsetChange) -> _Verdict | None:
    """What the log shows at `change`: None when it does not span it."""
    seen = (
        (change.at + change.before).replace(tzinfo=None),
        (change.at + change.after).replace(tzinfo=None),
    )
    low, high = min(seen), max(seen)
    if not (times[0] < low and times[-1] >= high):
        return None
    # Every step whose clock span touches the change (± one step).
    near = [
        b - a for a, b in pairwise(times) if min(a, b) <= high + step and max(a, b) >= low - step
    ]
    jump = step + (change.after - change.before)
    if all(s == step for s in near):
        return "kept"
    if near.count(jump) == 1 and all(s in (step, jump) for s in near):
        return "followed"
    return "unclear"


def read_clock(file: LoggerFile, zone: str) -> DeviceClock:
    """How to read `file`'s clock, `zone` being the site's (or `--timezone`); see the
    module's docstring for the rule."""
    if file.clock_utc_offset_min is not None:
        offset = timedelta(minutes=file.clock_utc_offset_min)
        return DeviceClock("stated offset", zone, offset, "as the file states")
    rows = sorted(
        [(r.row, r.local_time) for r in file.readings]
        + [(m.row, m.local_time) for m in file.missing]
    )
    if file.log_interval_min is None or len(rows) < 2:
        return DeviceClock("zone", zone)
    times = [t for _, t in rows]
    step = timedelta(minutes=file.log_interval_min)
    info = ZoneInfo(zone)
    margin = timedelta(days=1)
    changes = offset_changes(
        info, times[0].replace(tzinfo=UTC) - margin, times[-1].replace(tzinfo=UTC) + margin
    )
    verdicts = [(c, v) for c in changes if (v := _verdict(times, step, c)) is not None]
    if not verdicts:
        return DeviceClock("zone", zone)
    kept = [c for c, v in verdicts if v == "kept"]
    followed = [c for c, v in verdicts if v == "followed"]
    interval = f"{file.log_interval_min}-min"
    if kept and not followed:
        return DeviceClock(
            "fixed offset",
            zone,
            _offset(info, local_instant(times[0], info)),
            f"the log keeps its {interval} step across {kept[0].describe(zone)} (no hour "
            f"missing or repeated), so the clock did not follow it; the offset in force at its "
            f"first row ({times[0]:%Y-%m-%d %H:%M}) applies to every row",
        )
    if followed and not kept:
        return DeviceClock(
            "zone",
            zone,
            evidence=f"the log jumps by the changed hour at {followed[0].describe(zone)} "
            "(its step plus or minus the change), so the clock followed the zone",
        )
    why = (
        "its changes disagree (kept across one, jumped at another)"
        if kept and followed
        else f"a gap or an irregular step at {verdicts[0][0].describe(zone)} "
        "cannot tell whether the clock followed it"
    )
    return DeviceClock("zone", zone, evidence=f"{why}; read in the zone")
