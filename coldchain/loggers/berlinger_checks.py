"""Consistency of a Berlinger export with itself: where truncation or an edit shows.

The signature (berlinger_signature.py) decides whether a file is intact; these checks say
*where* it is not, so that a refusal names a line. Each is something every real export
satisfies (checked on all of tests/data/real-loggers/msupply-berlinger-fridgetag-qtag):

- the log steps by exactly the logging interval, except, on a Fridge-tag, after its first
  row (the device records its activation, then logs from when it was started: 352 minutes
  later in the Fridge-tag 2 L file; a Q-tag's log starts at `TS Start`);
- the log starts when the device says it started (`TS Actv` / `TS Start`) and ends less
  than one interval before it closed the report (`TS Report Creation` / `TS Stop`);
- the log covers exactly the days of the daily summaries, which are consecutive;
- a row is flagged `x` exactly when its value is outside the alarm limits;
- every logged value lies within its day's `Min T`..`Max T` (the device samples every
  minute and logs every 5, so its extremes enclose the log's), and a Q-tag's logged
  minimum and maximum, with their times, are the `Res:` ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from coldchain.loggers.model import (
    AlarmRule,
    DailySummary,
    LoggedReading,
    MissingReading,
    RunSummary,
)

__all__ = ["Finding", "check_consistency"]

_TOLERANCE_C = 0.05  # values are printed to 0.1 °C


@dataclass(frozen=True, slots=True)
class Finding:
    """One inconsistency: the line where it shows and what is wrong."""

    line: int
    reason: str


def check_consistency(
    *,
    readings: Sequence[LoggedReading],
    missing: Sequence[MissingReading],
    interval_min: int | None,
    rules: Sequence[AlarmRule],
    daily: Sequence[DailySummary],
    run: RunSummary | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
    activation_row: bool,
) -> list[Finding]:
    """Every inconsistency found, in file order (empty for an intact export).

    `activation_row`: the log's first row is the activation record, which may be followed
    by a wait of any length before regular logging starts (Fridge-tags).
    """
    findings = _consecutive_days(daily)
    rows: list[LoggedReading | MissingReading] = sorted([*readings, *missing], key=lambda r: r.row)
    if interval_min is not None:
        findings += _steps(rows, interval_min, activation_row)
        findings += _span(rows, interval_min, starts_at, ends_at)
        findings += _days_covered(rows, daily)
    findings += _flags(readings, rules)
    findings += _within_daily_range(readings, daily)
    if run is not None:
        findings += _run_extremes(readings, run)
    return sorted(findings, key=lambda f: f.line)


def _minutes(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60.0


def _steps(
    rows: Sequence[LoggedReading | MissingReading], interval: int, activation_row: bool
) -> list[Finding]:
    found = []
    for index in range(1, len(rows)):
        previous, row = rows[index - 1], rows[index]
        step = _minutes(row.local_time, previous.local_time)
        if step == interval or (activation_row and index == 1 and step > interval):
            continue
        what = "rows missing" if step > interval else "rows inserted or out of order"
        found.append(
            Finding(
                row.line,
                f"Data: {row.local_time:%Y-%m-%d %H:%M} is {step:g} min after the row before "
                f"({previous.local_time:%Y-%m-%d %H:%M}); the device logs every {interval} min: "
                f"{what}",
            )
        )
    return found


def _span(
    rows: Sequence[LoggedReading | MissingReading],
    interval: int,
    starts_at: datetime | None,
    ends_at: datetime | None,
) -> list[Finding]:
    if not rows:
        return []
    first, last = rows[0], rows[-1]
    found = []
    if starts_at is not None and first.local_time != starts_at:
        found.append(
            Finding(
                first.line,
                f"Data: the log starts at {first.local_time:%Y-%m-%d %H:%M}, the device says it "
                f"started at {starts_at:%Y-%m-%d %H:%M}: rows missing at the start",
            )
        )
    if ends_at is not None and not 0 <= _minutes(ends_at, last.local_time) <= interval:
        found.append(
            Finding(
                last.line,
                f"Data: the log ends at {last.local_time:%Y-%m-%d %H:%M}, the device closed it "
                f"at {ends_at:%Y-%m-%d %H:%M} and logs every {interval} min: rows missing at "
                "the end",
            )
        )
    return found


def _consecutive_days(daily: Sequence[DailySummary]) -> list[Finding]:
    return [
        Finding(later.line, f"Hist: {later.day} follows {earlier.day}: a day is missing")
        for earlier, later in pairwise(daily)
        if (later.day - earlier.day).days != 1
    ]


def _days_covered(
    rows: Sequence[LoggedReading | MissingReading], daily: Sequence[DailySummary]
) -> list[Finding]:
    if not daily or not rows:
        return []
    found = []
    first_day, last_day = rows[0].local_time.date(), rows[-1].local_time.date()
    if first_day != daily[0].day:
        found.append(Finding(rows[0].line, f"Data: starts on {first_day}, Hist: on {daily[0].day}"))
    if last_day != daily[-1].day:
        found.append(Finding(rows[-1].line, f"Data: ends on {last_day}, Hist: on {daily[-1].day}"))
    return found


def _flags(readings: Sequence[LoggedReading], rules: Sequence[AlarmRule]) -> list[Finding]:
    lows = [r.limit_c for r in rules if r.direction == "low"]
    highs = [r.limit_c for r in rules if r.direction == "high"]
    if not lows and not highs:
        return []
    low, high = max(lows, default=float("-inf")), min(highs, default=float("inf"))
    found = []
    for reading in readings:
        out = reading.temp_c > high or reading.temp_c < low
        if out != reading.flagged:
            state = "outside" if out else "within"
            flag = "flagged" if reading.flagged else "not flagged"
            found.append(
                Finding(
                    reading.line,
                    f"Data: {reading.temp_c:g} °C is {state} the alarm limits {low:g}..{high:g} "
                    f"but the row is {flag} 'x'",
                )
            )
    return found


def _within_daily_range(
    readings: Sequence[LoggedReading], daily: Sequence[DailySummary]
) -> list[Finding]:
    by_day = {d.day: d for d in daily}
    found = []
    for reading in readings:
        summary = by_day.get(reading.local_time.date())
        if summary is None:
            if daily:
                found.append(
                    Finding(reading.line, f"Data: no Hist: summary for {reading.local_time:%F}")
                )
            continue
        if not (summary.min_c - _TOLERANCE_C <= reading.temp_c <= summary.max_c + _TOLERANCE_C):
            found.append(
                Finding(
                    reading.line,
                    f"Data: {reading.temp_c:g} °C is outside the device's own range for "
                    f"{summary.day} ({summary.min_c:g}..{summary.max_c:g}, line {summary.line})",
                )
            )
    return found


def _run_extremes(readings: Sequence[LoggedReading], run: RunSummary) -> list[Finding]:
    if not readings:
        return []
    found = []
    for label, value, at in (
        ("minimum", run.min_c, run.min_at),
        ("maximum", run.max_c, run.max_at),
    ):
        extreme = (min if label == "minimum" else max)(r.temp_c for r in readings)
        at_row = next((r for r in readings if r.local_time == at), None)
        if abs(extreme - value) > _TOLERANCE_C or at_row is None or at_row.temp_c != extreme:
            line = at_row.line if at_row is not None else readings[0].line
            found.append(
                Finding(
                    line,
                    f"Data: the log's {label} is {extreme:g} °C; the device's Res: {label} is "
                    f"{value:g} °C at {at:%Y-%m-%d %H:%M}",
                )
            )
    return found
