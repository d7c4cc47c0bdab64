"""The device's naive local clock, read in the site's time zone, as true instants.

The exports carry no offset: the clock is whatever the user set. Each time is read with
the zone's rules (`--timezone` overrides the site's); in the repeated hour of a DST
change the first pass is taken first and the second once the log has moved past it
(time order is the file's). Two rows that would land on the same instant would overwrite
each other in InfluxDB (same tags and time), so that is refused rather than losing one:
a device that ignores DST needs a fixed-offset zone such as `Etc/GMT-1`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from coldchain.loggers.errors import LoggerFileError
from coldchain.loggers.model import LoggedReading
from coldchain.times import to_ms

__all__ = ["epoch_ms", "local_instant"]


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
    """Epoch milliseconds of each reading, in order.

    Raises:
        LoggerFileError: two rows map to the same instant, or time runs backwards, in
            this zone (a DST change the device did not make, or made differently).
    """
    zone = ZoneInfo(timezone)
    out = np.empty(len(readings), dtype=np.int64)
    previous: datetime | None = None
    for index, reading in enumerate(readings):
        instant = local_instant(reading.local_time, zone, after=previous)
        if previous is not None and instant <= previous:
            raise LoggerFileError(
                f"{reading.local_time:%Y-%m-%d %H:%M} in {timezone} is not after the row "
                f"before ({previous:%Y-%m-%d %H:%M} UTC): the two would be one reading; "
                "use --timezone with a fixed offset (e.g. Etc/GMT-1) if the device ignores DST",
                line=reading.line,
            )
        out[index] = to_ms(instant)
        previous = instant
    return out
