"""The pure parts shared through coldchain/: picking a downsampled series, alert points."""

from __future__ import annotations

import pytest

from coldchain.alert_points import alert_line
from coldchain.downsampling import pick_resolution

HOUR_MS = 3_600_000


@pytest.mark.parametrize(
    ("hours", "name"),
    [(1, "raw"), (12, "raw"), (13, "1m"), (48, "1m"), (24 * 7, "15m"), (24 * 90, "1h")],
)
def test_pick_resolution_by_span(hours: int, name: str) -> None:
    assert pick_resolution(0, hours * HOUR_MS).name == name


def test_pick_resolution_refuses_an_empty_range() -> None:
    with pytest.raises(ValueError, match="after start"):
        pick_resolution(5, 5)


def test_alert_line_is_one_point_per_state_change() -> None:
    line = alert_line(
        alert_id="A 1",
        kind="excursion",
        severity="alarm",
        state="acknowledged",
        site="BSL",
        source="unit",
        device="FRIDGE-02",
        sensor="p1",
        start_ms=1000,
        end_ms=None,
        peak_c=9.4,
        retrospective=True,
        changed_ms=2000,
    )
    assert line == (
        "alert,alert_id=A\\ 1,device=FRIDGE-02,kind=excursion,sensor=p1,severity=alarm,"
        "site=BSL,source=unit,state=acknowledged is_open=1i,retrospective=true,start_ms=1000i,"
        'summary="excursion alarm acknowledged, peak 9.4 °C",peak_c=9.4 2000'
    )


def test_alert_line_refuses_an_unknown_state() -> None:
    with pytest.raises(ValueError, match="state"):
        alert_line(
            alert_id="A",
            kind="excursion",
            severity="alarm",
            state="gone",
            site="S",
            source="unit",
            device="D",
            sensor="p1",
            start_ms=0,
            end_ms=0,
            peak_c=None,
            retrospective=False,
            changed_ms=0,
        )
