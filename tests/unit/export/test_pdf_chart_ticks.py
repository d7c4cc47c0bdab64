"""The PDF chart's time axis has ticks for a placement of any length, without the warning
matplotlib gives when it finds no interval (which made some exports fail)."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import matplotlib.dates as mdates

from api.export.pdf_charts import time_locator

ZURICH = ZoneInfo("Europe/Zurich")


def test_every_placement_length_gets_two_to_nine_ticks_without_a_warning() -> None:
    start = datetime(2026, 3, 28, tzinfo=ZURICH)  # a DST change inside the short ones
    lengths = [*range(2, 60 * 24 * 10, 7), *range(14_400, 2_160_000, 211)]  # minutes
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for minutes in lengths:
            end = start + timedelta(minutes=minutes)
            locator = time_locator(ZURICH).get_locator(start, end)  # type: ignore[no-untyped-call]
            low, high = mdates.date2num(start), mdates.date2num(end)  # type: ignore[no-untyped-call]
            inside = [t for t in locator.tick_values(start, end) if low <= t <= high]
            assert 2 <= len(inside) <= 9, f"{minutes} min: {len(inside)} ticks"
