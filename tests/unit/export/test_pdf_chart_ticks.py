"""The PDF chart's time axis has ticks for a placement of any length, without the warning
matplotlib gives when it finds no interval (which made some exports fail)."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from api.export.pdf_charts import time_locator

ZURICH = ZoneInfo("Europe/Zurich")


def test_every_placement_length_gets_ticks_without_a_warning() -> None:
    start = datetime(2026, 3, 28, tzinfo=ZURICH)  # a DST change inside the short ones
    lengths = [*range(2, 60 * 24 * 10, 7), *range(14_400, 2_160_000, 211)]  # minutes
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for minutes in lengths:
            locator = time_locator(ZURICH)
            locator.get_locator(start, start + timedelta(minutes=minutes))  # type: ignore[no-untyped-call]
