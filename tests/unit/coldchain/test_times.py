from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coldchain.times import (
    EPOCH,
    NaiveTimeError,
    from_ms,
    local,
    now_ms,
    parse_rfc3339,
    parse_rfc3339_ms,
    rfc3339,
    rfc3339_local,
    rfc3339_ms,
    to_ms,
    utc,
)

# Years 0001..9999 in ms: everything RFC 3339 can write.
MIN_MS = to_ms(datetime(1, 1, 1, tzinfo=UTC))
MAX_MS = to_ms(datetime(9999, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC))
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]

ms_values = st.integers(MIN_MS, MAX_MS)
aware = st.datetimes(
    min_value=datetime(2, 1, 1),
    max_value=datetime(9998, 12, 31),
    timezones=st.sampled_from([UTC, ZoneInfo("Europe/Berlin"), timezone(timedelta(hours=-3))]),
)


def test_known_instant() -> None:
    moment = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert to_ms(moment) == 1_795_341_600_000
    assert from_ms(1_795_341_600_000) == moment
    assert rfc3339_ms(1_795_341_600_000) == "2026-11-22T10:00:00.000Z"
    assert rfc3339(moment) == "2026-11-22T10:00:00.000Z"


def test_epoch_is_zero() -> None:
    assert to_ms(EPOCH) == 0
    assert from_ms(0) == EPOCH
    assert rfc3339_ms(0) == "1970-01-01T00:00:00.000Z"


@given(ms_values)
def test_ms_round_trips_through_datetime_and_text(ms: int) -> None:
    assert to_ms(from_ms(ms)) == ms
    assert parse_rfc3339_ms(rfc3339_ms(ms)) == ms
    assert from_ms(ms).tzinfo is UTC


@given(aware)
def test_datetime_floors_to_its_millisecond(moment: datetime) -> None:
    ms = to_ms(moment)
    assert from_ms(ms) <= moment < from_ms(ms + 1)
    assert parse_rfc3339_ms(rfc3339(moment)) == ms  # the text cuts as the rule floors


@given(aware, aware)
def test_flooring_keeps_order(a: datetime, b: datetime) -> None:
    if a <= b:
        assert to_ms(a) <= to_ms(b)


@pytest.mark.parametrize(
    ("micros", "ms"),
    [(0, 0), (1, 0), (499, 0), (500, 0), (999, 0), (1000, 1), (999_999, 999)],
)
def test_microseconds_floor_never_round(micros: int, ms: int) -> None:
    moment = datetime(2026, 3, 29, 1, 0, 0, micros, tzinfo=UTC)
    assert to_ms(moment) - to_ms(moment.replace(microsecond=0)) == ms


def test_floor_before_the_epoch_goes_down() -> None:
    assert to_ms(EPOCH - timedelta(microseconds=1)) == -1
    assert from_ms(-1) == EPOCH - timedelta(milliseconds=1)


def test_exact_where_float_seconds_are_not() -> None:
    # 0.001 s steps are not binary fractions: timestamp() * 1000 misses some of them.
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for step in range(2000):
        moment = start + timedelta(milliseconds=step * 7)
        assert to_ms(moment) == to_ms(start) + step * 7


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 11, 22, 10, 0)
    for convert in (to_ms, utc, rfc3339):
        with pytest.raises(NaiveTimeError, match="naive datetime"):
            convert(naive)


def test_utc_keeps_the_instant() -> None:
    berlin = datetime(2026, 7, 1, 12, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    assert utc(berlin) == berlin
    assert utc(berlin).tzinfo is UTC
    assert utc(berlin).hour == 10


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2026-11-22T10:00:00Z", 1_795_341_600_000),
        ("2026-11-22T10:00:00.000Z", 1_795_341_600_000),
        ("2026-11-22T11:00:00+01:00", 1_795_341_600_000),
        ("2026-11-22T10:00:00.0019Z", 1_795_341_600_001),
        ("2026-11-22T10:00:00.999999Z", 1_795_341_600_999),
    ],
)
def test_parse(text: str, ms: int) -> None:
    assert parse_rfc3339_ms(text) == ms


def test_parse_keeps_the_offset_of_the_text() -> None:
    assert parse_rfc3339("2026-11-22T11:00:00+01:00").utcoffset() == timedelta(hours=1)


def test_parse_refuses_a_time_without_offset() -> None:
    with pytest.raises(NaiveTimeError, match="needs an offset or Z"):
        parse_rfc3339("2026-11-22T10:00:00")


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "1795341600000"])
def test_parse_refuses_what_is_not_a_time(text: str) -> None:
    with pytest.raises(ValueError, match=r"isoformat|must be in") as caught:
        parse_rfc3339(text)
    assert not isinstance(caught.value, NaiveTimeError)


def test_local_across_a_spring_gap() -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST.
    before = to_ms(datetime(2026, 3, 29, 0, 59, 59, 999_000, tzinfo=UTC))
    assert rfc3339_local(before, "Europe/Berlin") == "2026-03-29T01:59:59.999+01:00"
    assert rfc3339_local(before + 1, "Europe/Berlin") == "2026-03-29T03:00:00.000+02:00"


def test_local_across_an_autumn_fold() -> None:
    # Europe/Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    first = to_ms(datetime(2026, 10, 25, 0, 30, tzinfo=UTC))
    second = first + 3_600_000
    assert rfc3339_local(first, "Europe/Berlin") == "2026-10-25T02:30:00.000+02:00"
    assert rfc3339_local(second, "Europe/Berlin") == "2026-10-25T02:30:00.000+01:00"
    # The wall clock repeats, the instants do not: each text parses back to its own.
    assert parse_rfc3339_ms(rfc3339_local(first, "Europe/Berlin")) == first
    assert parse_rfc3339_ms(rfc3339_local(second, "Europe/Berlin")) == second
    assert local(first, "Europe/Berlin").fold == 0
    assert local(second, "Europe/Berlin").fold == 1


def test_local_half_hour_dst() -> None:
    # Lord Howe Island moves its clocks by 30 minutes.
    summer = to_ms(datetime(2026, 1, 1, tzinfo=UTC))
    winter = to_ms(datetime(2026, 7, 1, tzinfo=UTC))
    assert rfc3339_local(summer, "Australia/Lord_Howe").endswith("+11:00")
    assert rfc3339_local(winter, "Australia/Lord_Howe").endswith("+10:30")


@given(
    ms_values.filter(lambda ms: MIN_MS + 86_400_000 < ms < MAX_MS - 86_400_000),
    st.sampled_from(ZONES),
)
def test_local_round_trips(ms: int, zone: str) -> None:
    assert to_ms(local(ms, zone)) == ms
    assert local(ms, ZoneInfo(zone)) == local(ms, zone)
    assert parse_rfc3339_ms(rfc3339_local(ms, zone)) == ms


def test_now_ms_is_the_wall_clock() -> None:
    before = time.time_ns() // 1_000_000
    now = now_ms()
    assert before <= now <= time.time_ns() // 1_000_000
