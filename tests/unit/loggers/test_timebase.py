"""The device's naive clock, read in a zone: DST's repeated hour and impossible orders."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from coldchain.loggers import LoggedReading, LoggerFileError
from coldchain.loggers.timebase import epoch_ms
from coldchain.times import parse_rfc3339_ms


def _rows(*times: datetime) -> list[LoggedReading]:
    return [LoggedReading(t, 5.0, i, i + 10) for i, t in enumerate(times)]


def test_a_device_following_dst_logs_the_repeated_hour_twice() -> None:
    # Europe/Zurich, 2022-10-30: 03:00 CEST becomes 02:00 CET.
    clock = [datetime(2022, 10, 30, 1, 50) + timedelta(minutes=10 * i) for i in range(7)]
    repeated = [datetime(2022, 10, 30, 2, 0) + timedelta(minutes=10 * i) for i in range(7)]
    ms = epoch_ms(_rows(*clock, *repeated), "Europe/Zurich")
    assert list(ms[1:] - ms[:-1]) == [600_000] * 13


def test_two_rows_on_one_instant_are_refused() -> None:
    same = datetime(2022, 5, 2, 10, 0)
    with pytest.raises(LoggerFileError, match="would be one reading") as caught:
        epoch_ms(_rows(same, same), "UTC")
    assert caught.value.line == 11


def test_a_fixed_offset_zone_for_a_device_that_ignores_dst() -> None:
    ms = epoch_ms(_rows(datetime(2022, 7, 1, 12, 0)), "Etc/GMT-1")
    assert ms[0] == parse_rfc3339_ms("2022-07-01T11:00:00+00:00")
