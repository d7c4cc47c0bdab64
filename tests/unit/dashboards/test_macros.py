"""Grafana's InfluxQL macro and variable expansion, case by case from its sources."""

from __future__ import annotations

import pytest

from dashboards.macros import (
    TimeRange,
    VariableValue,
    calculate_interval_ms,
    escape_regex,
    format_interval,
    interpolate,
    parse_interval_ms,
    time_filter,
    time_range,
)

NOW = 1_763_800_000_000


def test_relative_range_keeps_now_in_the_time_filter() -> None:
    assert time_filter(time_range("now-6h", "now", NOW)) == "time >= now() - 6h and time <= now()"
    assert time_filter(time_range("now-7d", "now", NOW)) == "time >= now() - 7d and time <= now()"


def test_absolute_and_week_ranges_become_epoch_milliseconds() -> None:
    span = time_range("1763700000000", "1763800000000", NOW)
    assert time_filter(span) == "time >= 1763700000000ms and time <= 1763800000000ms"
    # Grafana keeps only [dhms] relative; a week is resolved to milliseconds.
    week = time_range("now-1w", "now", NOW)
    assert time_filter(week) == f"time >= {NOW - 604_800_000}ms and time <= now()"


@pytest.mark.parametrize(
    ("span", "points", "minimum", "expected"),
    [
        ("now-6h", 1000, None, "20s"),
        ("now-24h", 1000, None, "1m"),
        ("now-24h", 1000, "10s", "1m"),
        ("now-1h", 1000, "10s", "10s"),  # the data source's minimum wins over 5s
        ("now-7d", 1000, None, "10m"),
        ("now-30d", 1000, None, "30m"),
        ("now-24h", 1000, "$resolution", None),
    ],
)
def test_interval_is_rounded_like_grafana(
    span: str, points: int, minimum: str | None, expected: str | None
) -> None:
    rng = time_range(span, "now", NOW)
    if expected is None:
        with pytest.raises(ValueError, match="interval"):
            calculate_interval_ms(rng, points, minimum)
        return
    assert format_interval(calculate_interval_ms(rng, points, minimum)) == expected


def test_format_interval_picks_the_largest_unit() -> None:
    assert [format_interval(ms) for ms in (500, 1000, 90_000, 3_600_000, 604_800_000)] == [
        "500ms",
        "1s",
        "1m",
        "1h",
        "7d",
    ]
    assert parse_interval_ms(">15m") == 900_000


def _span() -> TimeRange:
    return time_range("now-24h", "now", NOW)


def test_multi_value_variable_becomes_an_escaped_alternation() -> None:
    query = 'SELECT x FROM r WHERE "sensor" =~ /^$sensor$/ AND $timeFilter'
    values = {"sensor": VariableValue(("p1", "p.2"), multi=True)}
    assert interpolate(query, values, _span(), 60_000) == (
        'SELECT x FROM r WHERE "sensor" =~ /^(p1|p\\.2)$/ AND time >= now() - 24h and time <= now()'
    )


def test_single_value_is_escaped_only_inside_a_regex() -> None:
    query = "WHERE \"site\" =~ /^${site}$/ AND \"device\" = '$site' AND x = '[[site]]'"
    values = {"site": VariableValue(("A.1",))}
    assert interpolate(query, values, _span(), 60_000) == (
        "WHERE \"site\" =~ /^A\\.1$/ AND \"device\" = 'A\\.1' AND x = 'A\\.1'"
    )
    plain = interpolate("WHERE \"device\" = '$site'", values, _span(), 60_000)
    assert plain == "WHERE \"device\" = 'A.1'"


def test_raw_format_is_never_escaped_and_builtins_expand() -> None:
    query = 'WHERE "device" =~ /^(${shipment:raw})$/ GROUP BY time($__interval) LIMIT ${__to}'
    values = {"shipment": VariableValue(("LOG-1|LOG-2",))}
    assert interpolate(query, values, _span(), 60_000) == (
        f'WHERE "device" =~ /^(LOG-1|LOG-2)$/ GROUP BY time(1m) LIMIT {NOW}'
    )


def test_unknown_variables_are_left_as_written() -> None:
    assert interpolate("SELECT $nope", {}, _span(), 1000) == "SELECT $nope"
    assert escape_regex("a/b(c)") == "a\\/b\\(c\\)"
