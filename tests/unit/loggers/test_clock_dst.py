"""A naive device clock across a DST change of the site's zone (issue #18): read the way
the file proves the clock ran (coldchain/loggers/timebase.py).

The files are the real Q-tag run 2 / run 3 and Fridge-tag 2 L exports with every device
time moved (tests/unit/loggers/synthetic.py), re-signed under a test issuer:

- run 2 moved to 2022-10-29 18:49 .. 10-30 15:19, across Zurich's autumn change
  (2022-10-30 03:00 CEST → 02:00 CET, 01:00 UTC), once as a clock that kept CEST (its
  10-min step unbroken) and once as a clock that fell back with the zone (02:59 → 02:09);
  both record the same run, so their readings must land on the same instants;
- run 3 moved to 2023-03-24 .. 03-27, across the spring change, as a clock that kept CET;
- the Fridge-tag 2 L (37 days, 10,653 rows) moved by 161 days to 2022-10-10 .. 11-16, a
  clock that kept CEST.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from coldchain.loggers import LoggedReading, LoggerFile, LoggerFileError, parse_logger_text
from coldchain.loggers.timebase import DeviceClock, epoch_ms, read_clock
from coldchain.times import to_ms
from tests.support.real_loggers import INTACT, real_file, real_text
from tests.unit.loggers.synthetic import (
    falling_back,
    move_clock,
    resign,
    shifted,
    trust_test_issuer,
)

ZONE = "Europe/Zurich"
TO_AUTUMN = -timedelta(days=9, hours=10)  # run 2: 2022-11-08 04:49 -> 2022-10-29 18:49
AUTUMN_CHANGE = datetime(2022, 10, 30, 3, 0)  # what a CEST clock shows at 01:00 UTC
TO_SPRING = -timedelta(days=24)  # run 3: 2023-04-17 15:23 -> 2023-03-24 15:23
TEN_MIN_MS = 600_000


def _utc_ms(year: int, month: int, day: int, hour: int, minute: int) -> int:
    return to_ms(datetime(year, month, day, hour, minute, tzinfo=UTC))


@pytest.fixture
def autumn(monkeypatch: pytest.MonkeyPatch) -> dict[str, LoggerFile]:
    """Run 2 across the autumn change: "kept" CEST, and "followed" the zone."""
    issuer = trust_test_issuer(monkeypatch)
    text = real_text("qtag_run2")
    return {
        "kept": parse_logger_text(resign(move_clock(text, shifted(TO_AUTUMN)), issuer)),
        "followed": parse_logger_text(
            resign(move_clock(text, falling_back(TO_AUTUMN, AUTUMN_CHANGE)), issuer)
        ),
    }


def test_a_clock_that_kept_cest_across_the_autumn_change_is_read_at_utc_plus_2(
    autumn: dict[str, LoggerFile],
) -> None:
    kept = autumn["kept"]
    assert kept.notes == ()  # the moved file is as regular as the real one
    clock = read_clock(kept, ZONE)
    assert (clock.reading, clock.offset, clock.timezone) == (
        "fixed offset",
        timedelta(hours=2),
        "Etc/GMT-2",
    )
    ms = clock.epoch_ms(kept.readings)
    # Every reading 10 min after the one before: no hour skipped after 03:00, none twice.
    assert set(np.diff(ms).tolist()) == {TEN_MIN_MS}
    assert ms[0] == _utc_ms(2022, 10, 29, 16, 49)  # 18:49 CEST
    assert ms[-1] == _utc_ms(2022, 10, 30, 13, 19)  # 15:19 on the clock, still UTC+2
    assert clock.note is not None
    assert "keeps its 10-min step across Europe/Zurich's change from UTC+02:00 to UTC+01:00" in (
        clock.note
    )
    # What reading it in the zone (before #18) did: one step of 70 min, and every reading
    # after 03:00 an hour late.
    in_zone = epoch_ms(kept.readings, ZONE)
    assert sorted(set(np.diff(in_zone).tolist())) == [TEN_MIN_MS, 7 * TEN_MIN_MS]
    assert in_zone[-1] - ms[-1] == 3_600_000


def test_a_clock_that_fell_back_with_the_zone_is_read_in_the_zone(
    autumn: dict[str, LoggerFile],
) -> None:
    followed = autumn["followed"]
    times = [r.local_time for r in followed.readings]
    at = times.index(datetime(2022, 10, 30, 2, 59))
    assert times[at + 1] == datetime(2022, 10, 30, 2, 9)  # 03:09 CEST shown as 02:09 CET
    clock = read_clock(followed, ZONE)
    assert (clock.reading, clock.offset, clock.timezone) == ("zone", None, ZONE)
    assert clock.note is not None
    assert "jumps by the changed hour" in clock.note
    assert "so the clock followed the zone" in clock.note
    # The same run as the clock that kept CEST: the same instants.
    expected = read_clock(autumn["kept"], ZONE).epoch_ms(autumn["kept"].readings)
    assert clock.epoch_ms(followed.readings).tolist() == expected.tolist()


def test_a_clock_that_kept_cet_across_the_spring_change_is_no_longer_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    issuer = trust_test_issuer(monkeypatch)
    moved = move_clock(real_text("qtag_run3"), shifted(TO_SPRING))
    kept = parse_logger_text(resign(moved, issuer))
    assert any(r.local_time == datetime(2023, 3, 26, 2, 33) for r in kept.readings)  # no such
    with pytest.raises(LoggerFileError, match="would be one reading"):  # wall time in Zurich
        epoch_ms(kept.readings, ZONE)  # the zone's reading: 03:03 CEST lands before 02:53
    clock = read_clock(kept, ZONE)
    assert (clock.reading, clock.offset, clock.timezone) == (
        "fixed offset",
        timedelta(hours=1),
        "Etc/GMT-1",
    )
    ms = clock.epoch_ms(kept.readings)
    assert set(np.diff(ms).tolist()) == {TEN_MIN_MS}
    assert ms[0] == _utc_ms(2023, 3, 24, 14, 23)
    assert ms[-1] == _utc_ms(2023, 3, 27, 12, 53)  # 13:53 on the clock, still UTC+1


def test_a_fridge_tag_2l_that_kept_cest_for_37_days(monkeypatch: pytest.MonkeyPatch) -> None:
    issuer = trust_test_issuer(monkeypatch)
    moved = move_clock(real_text("fridgetag2l"), shifted(timedelta(days=161)))
    kept = parse_logger_text(resign(moved, issuer))
    assert kept.notes == ()
    assert (kept.daily[0].day.isoformat(), kept.daily[-1].day.isoformat()) == (
        "2022-10-10",
        "2022-11-16",
    )
    clock = read_clock(kept, ZONE)
    assert (clock.reading, clock.offset) == ("fixed offset", timedelta(hours=2))
    ms = clock.epoch_ms(kept.readings)
    steps = np.diff(ms).tolist()
    assert steps[0] == 352 * 60_000  # the activation row, then the wait the real file has
    assert set(steps[1:]) == {300_000}
    assert ms[-1] == _utc_ms(2022, 11, 16, 8, 11)  # 10:11 on the clock, still UTC+2


def _without_rows_near(file: LoggerFile, start: datetime, end: datetime) -> LoggerFile:
    kept = tuple(r for r in file.readings if not start <= r.local_time < end)
    return dataclasses.replace(file, readings=kept)


def test_a_gap_across_the_change_cannot_tell_so_the_zone_is_kept(
    autumn: dict[str, LoggerFile],
) -> None:
    kept = autumn["kept"]
    gappy = _without_rows_near(kept, datetime(2022, 10, 30, 1, 30), datetime(2022, 10, 30, 4, 0))
    clock = read_clock(gappy, ZONE)
    assert (clock.reading, clock.offset, clock.timezone) == ("zone", None, ZONE)
    assert clock.note is not None
    assert "cannot tell whether the clock followed it" in clock.note
    assert clock.epoch_ms(gappy.readings).tolist() == epoch_ms(gappy.readings, ZONE).tolist()


def test_an_offset_the_file_states_is_used(autumn: dict[str, LoggerFile]) -> None:
    stated = dataclasses.replace(autumn["kept"], clock_utc_offset_min=60)
    clock = read_clock(stated, ZONE)
    assert (clock.reading, clock.timezone) == ("stated offset", "Etc/GMT-1")
    first: LoggedReading = stated.readings[0]
    assert clock.epoch_ms(stated.readings)[0] == to_ms(
        first.local_time.replace(tzinfo=UTC) - timedelta(hours=1)
    )


@pytest.mark.parametrize("name", INTACT)
@pytest.mark.parametrize("zone", [ZONE, "Etc/GMT-1", "UTC"])
def test_the_real_files_read_exactly_as_before(name: str, zone: str) -> None:
    """No real export spans a change of offset: each is read in the zone, with no note."""
    parsed = real_file(name)
    clock = read_clock(parsed, zone)
    assert clock == DeviceClock("zone", zone)
    assert clock.note is None
    assert clock.timezone == zone
    assert clock.epoch_ms(parsed.readings).tolist() == epoch_ms(parsed.readings, zone).tolist()


@pytest.mark.parametrize(
    ("hours", "name"),
    [(2, "Etc/GMT-2"), (0, "UTC"), (-5, "Etc/GMT+5"), (14, "Etc/GMT-14"), (5.5, ZONE)],
)
def test_the_zone_a_fixed_offset_is_stored_as(hours: float, name: str) -> None:
    """POSIX signs; an offset that is not a whole hour has no Etc zone: the zone's name."""
    assert DeviceClock("fixed offset", ZONE, timedelta(hours=hours)).timezone == name
