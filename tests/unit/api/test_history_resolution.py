"""Which series a history answer reads and how wide its buckets are: `pick_resolution`
(coldchain.downsampling, shared with the dashboards) and the API's `choose_resolution`
(api.readings.history), which refines it by the number of buckets asked and by what each
retention policy still holds.

What must hold, whatever the range: never more buckets than asked; an output bucket is a
whole number of source buckets (so a downsampled point falls in exactly one); the source
is never coarser than the range calls for; a series is read only for times it still
keeps (ds_1m 90 days, ds_15m 730 days, raw and ds_1h forever)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.access.model import Device
from api.readings.history import _Part, _statement, choose_resolution
from coldchain.downsampling import DEFAULT_VALIDITY, RAW, RESOLUTIONS, Resolution, pick_resolution
from coldchain.influx import valid_readings_condition
from coldchain.judgement.validity import ReadingValidity

SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
YEAR = 365 * DAY
NOW = 1_800_000_000_000  # 2027-01-15, a fixed "now" for the retention checks

BY_NAME: dict[str, Resolution] = {r.name: r for r in (RAW, *RESOLUTIONS)}


def _ending_now(span_ms: int, buckets: int) -> tuple[str, int]:
    resolution, bucket_ms = choose_resolution(NOW - span_ms, NOW, buckets, NOW)
    return resolution.name, bucket_ms


# ---- pick_resolution: the series by the length of the range -------------------------


@pytest.mark.parametrize(
    ("span_ms", "expected"),
    [
        (1, "raw"),
        (6 * HOUR, "raw"),
        (12 * HOUR, "raw"),
        (12 * HOUR + 1, "1m"),
        (2 * DAY, "1m"),
        (2 * DAY + 1, "15m"),
        (31 * DAY, "15m"),
        (31 * DAY + 1, "1h"),
        (10 * YEAR, "1h"),
    ],
)
def test_pick_resolution_by_span(span_ms: int, expected: str) -> None:
    assert pick_resolution(NOW - span_ms, NOW).name == expected


def test_raw_readings_live_in_the_default_retention_policy() -> None:
    raw = pick_resolution(NOW - HOUR, NOW)
    assert raw is RAW
    assert raw.retention_policy is None  # the database's default RP, never shortened
    assert raw.fields == ("temp_c", "temp_c", "temp_c")


def test_downsampled_series_are_in_their_own_retention_policies() -> None:
    assert [(r.name, r.retention_policy, r.bucket_ms) for r in RESOLUTIONS] == [
        ("1m", "ds_1m", MINUTE),
        ("15m", "ds_15m", 15 * MINUTE),
        ("1h", "ds_1h", HOUR),
    ]
    assert all(r.fields == ("temp_c_min", "temp_c_max", "temp_c_mean") for r in RESOLUTIONS)


@pytest.mark.parametrize("end_offset", [0, -1, -HOUR])
def test_pick_resolution_refuses_an_empty_or_reversed_range(end_offset: int) -> None:
    with pytest.raises(ValueError, match="must be after start"):
        pick_resolution(NOW, NOW + end_offset)


# ---- choose_resolution: series and bucket width for N buckets -----------------------


@pytest.mark.parametrize(
    ("span_ms", "buckets", "resolution", "bucket_ms"),
    [
        # Short ranges read the raw readings, in whole seconds.
        (6 * HOUR, 300, "raw", 72 * SECOND),
        (HOUR, 2000, "raw", 2 * SECOND),
        (HOUR, 7, "raw", 515 * SECOND),  # 514.28 s rounded up: never an 8th bucket
        (10 * MINUTE, 2000, "raw", SECOND),  # not finer than a second
        # A day: ds_1m, 5-minute buckets (288 of the 300 asked).
        (DAY, 300, "1m", 5 * MINUTE),
        # ... unless more buckets are asked than whole minutes allow: raw, 44 s.
        (DAY, 2000, "raw", 44 * SECOND),
        # A week: ds_15m in 45-minute buckets, or ds_1m when 2000 are asked.
        (7 * DAY, 300, "15m", 45 * MINUTE),
        (7 * DAY, 2000, "1m", 6 * MINUTE),
        # A month: ds_15m, 2.5 h buckets.
        (30 * DAY, 300, "15m", 150 * MINUTE),
        # A year: ds_1h, 30 h buckets; or 5 h when 2000 are asked.
        (YEAR, 300, "1h", 30 * HOUR),
        (YEAR, 2000, "1h", 5 * HOUR),
        # Ten years in one bucket.
        (10 * YEAR, 1, "1h", 10 * YEAR),
    ],
)
def test_series_and_bucket_width(
    span_ms: int, buckets: int, resolution: str, bucket_ms: int
) -> None:
    assert _ending_now(span_ms, buckets) == (resolution, bucket_ms)


def test_one_bucket_over_a_short_range_is_the_whole_range() -> None:
    assert _ending_now(3 * HOUR, 1) == ("raw", 3 * HOUR)


# ---- retention limits ---------------------------------------------------------------
# A series is read only if it still holds the range's start; InfluxDB drops whole shard
# groups, so an hour of margin is kept.


def _starting_at(start_ms: int, span_ms: int, buckets: int) -> str:
    return choose_resolution(start_ms, start_ms + span_ms, buckets, NOW)[0].name


@pytest.mark.parametrize(
    ("kept_days", "span_ms", "buckets", "inside", "outside"),
    [
        (90, 2 * DAY, 300, "1m", "raw"),  # nothing coarser is fine enough: raw
        (730, 7 * DAY, 300, "15m", "raw"),
        (90, 7 * DAY, 2000, "1m", "raw"),
    ],
)
def test_a_series_is_read_only_while_its_retention_holds_the_start(
    kept_days: int, span_ms: int, buckets: int, inside: str, outside: str
) -> None:
    oldest_kept = NOW - kept_days * DAY + HOUR
    assert _starting_at(oldest_kept, span_ms, buckets) == inside
    assert _starting_at(oldest_kept - 1, span_ms, buckets) == outside


def test_hourly_series_is_kept_forever() -> None:
    ten_years_ago = NOW - 10 * YEAR
    assert _starting_at(ten_years_ago, YEAR, 300) == "1h"
    assert _starting_at(ten_years_ago, 40 * DAY, 100) == "1h"


def test_an_expired_fine_series_falls_back_to_raw_not_to_coarser_buckets() -> None:
    """ds_1m keeps 90 days: a week 100 days ago in 2000 buckets needs ~5-minute buckets,
    finer than ds_15m, so it is read from the raw readings (slower, but as asked) rather
    than answered in coarser buckets. Pinned so that changing it is a decision."""
    start = NOW - 100 * DAY
    resolution, bucket_ms = choose_resolution(start, start + 7 * DAY, 2000, NOW)
    assert (resolution.name, bucket_ms) == ("raw", 303 * SECOND)


def test_a_range_in_the_future_is_planned_like_any_other() -> None:
    assert choose_resolution(NOW + DAY, NOW + 2 * DAY, 300, NOW)[0].name == "1m"


# ---- properties over any range ------------------------------------------------------

spans = st.integers(min_value=1, max_value=20 * YEAR)
bucket_counts = st.integers(min_value=1, max_value=2000)
start_ages = st.integers(min_value=-DAY, max_value=20 * YEAR)  # how long before NOW


@given(span_ms=spans, buckets=bucket_counts, age_ms=start_ages)
def test_never_more_buckets_than_asked(span_ms: int, buckets: int, age_ms: int) -> None:
    start = NOW - age_ms
    _, bucket_ms = choose_resolution(start, start + span_ms, buckets, NOW)
    assert math.ceil(span_ms / bucket_ms) <= buckets


@given(span_ms=spans, buckets=bucket_counts, age_ms=start_ages)
def test_buckets_are_whole_source_buckets_and_not_needlessly_wide(
    span_ms: int, buckets: int, age_ms: int
) -> None:
    start = NOW - age_ms
    resolution, bucket_ms = choose_resolution(start, start + span_ms, buckets, NOW)
    unit = resolution.bucket_ms or SECOND
    assert bucket_ms % unit == 0
    # One source bucket narrower would not fit in the buckets asked (counted from `from`
    # rounded down to the source, as read_history groups): no fewer buckets than needed.
    aligned_start = start - start % (resolution.bucket_ms or 1)
    assert (bucket_ms - unit) * buckets < start + span_ms - aligned_start


@given(span_ms=spans, buckets=bucket_counts, age_ms=start_ages)
def test_source_is_never_coarser_than_the_range_calls_for_and_still_kept(
    span_ms: int, buckets: int, age_ms: int
) -> None:
    start = NOW - age_ms
    resolution, _ = choose_resolution(start, start + span_ms, buckets, NOW)
    assert resolution.bucket_ms <= pick_resolution(start, start + span_ms).bucket_ms
    retention_ms = {"1m": 90 * DAY, "15m": 730 * DAY}.get(resolution.name)
    if retention_ms is not None:
        assert start >= NOW - retention_ms + HOUR


@given(span_ms=spans, buckets=bucket_counts, age_ms=start_ages)
def test_never_more_buckets_than_asked_once_aligned_to_the_source(
    span_ms: int, buckets: int, age_ms: int
) -> None:
    """read_history groups from `from` rounded down to the source bucket (so each
    downsampled point falls in one output bucket); the buckets it then answers with are
    counted from there. Seen on a real InfluxDB: 241 buckets for 240 asked over 10 days
    from 10:14."""
    start = NOW - age_ms + 14 * MINUTE
    resolution, bucket_ms = choose_resolution(start, start + span_ms, buckets, NOW)
    aligned_start = start - start % (resolution.bucket_ms or 1)
    assert math.ceil((start + span_ms - aligned_start) / bucket_ms) <= buckets


# ---- reading validity (docs/design.md §11): what a bucket is computed from ------------


def test_raw_statements_read_only_readings_that_are_temperatures() -> None:
    device = Device("BSL", "unit", "FRIDGE-01", ("p1",), 60)
    raw = _statement(_Part(RAW, 0, HOUR), "db", [device], MINUTE, 0, DEFAULT_VALIDITY)
    assert f"AND {valid_readings_condition(DEFAULT_VALIDITY)} GROUP BY" in raw
    assert '"temp_c" != 85.0' in raw
    assert '"temp_c" != -127.0' in raw


def test_downsampled_statements_leave_out_buckets_with_an_invalid_min_or_max() -> None:
    device = Device("BSL", "unit", "FRIDGE-01", ("p1",), 60)
    ds = _statement(_Part(RESOLUTIONS[1], 0, DAY), "db", [device], HOUR, 0, DEFAULT_VALIDITY)
    assert valid_readings_condition(DEFAULT_VALIDITY, "temp_c_max") in ds
    assert valid_readings_condition(DEFAULT_VALIDITY, "temp_c_min") in ds
    assert '"temp_c" ' not in ds  # a downsampled point has no temp_c field


def test_the_validity_settings_reach_the_statement() -> None:
    device = Device("BSL", "unit", "FRIDGE-01", ("p1",), 60)
    validity = ReadingValidity(error_values_c=(99.5,), probe_min_c=-55.0, probe_max_c=125.0)
    raw = _statement(_Part(RAW, 0, HOUR), "db", [device], MINUTE, 0, validity)
    assert '("temp_c" >= -55.0 AND "temp_c" <= 125.0 AND "temp_c" != 99.5)' in raw
