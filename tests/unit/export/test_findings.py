"""Budget verdict, detector/readings reconciliation, the recommendation, and local time
across a daylight-saving change."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from api.export.recommend import recommend
from api.export.reconcile import reconcile_excursions, reconcile_gaps
from api.export.record import AlertInfo, ProductInfo, SensorRef
from api.export.stats import Excursion, Gap
from api.export.summary import Figures, budget_verdict
from api.export.timefmt import format_local, format_utc
from coldchain.times import to_ms

H = 3_600_000
SENSOR = SensorRef("BSL", "logger", "LOG-1", "p1", 300)


def _product(hours: float | None = 24.0, budget_min: float | None = None) -> ProductInfo:
    return ProductInfo(
        id="VAX-1",
        name=None,
        sponsor="ACME",
        min_c=2.0,
        max_c=8.0,
        alarm_delay_min=30,
        budget_max_c=None if hours is None else 25.0,
        budget_min_c=budget_min,
        budget_hours=hours,
        label="2–8 °C",
        delta_h_kj_per_mol=83.144,
    )


def _figures(above_h: float = 0.0, below_h: float = 0.0, max_c: float = 9.0) -> Figures:
    return Figures(10, 10, 1.0, max_c, 5.0, 5.2, 10.0, 9.0, 0.9, above_h, below_h)


def test_budget_within_says_how_much_remains() -> None:
    verdict = budget_verdict(_product(), _figures(above_h=3.5))
    assert (verdict.exceeded, verdict.charged_h, verdict.remaining_h) == (False, 3.5, 20.5)


def test_budget_exceeded_says_by_how_much() -> None:
    verdict = budget_verdict(_product(hours=2.0), _figures(above_h=3.5))
    assert verdict.exceeded
    assert verdict.over_by_h == pytest.approx(1.5)
    assert "exceeds the stability budget of 2 h by 1.50 h" in verdict.reasons[0]


def test_a_peak_above_the_budgets_limit_exceeds_it_whatever_the_hours() -> None:
    verdict = budget_verdict(_product(), _figures(above_h=0.1, max_c=27.0))
    assert verdict.exceeded
    assert "above the budget's limit of 25 °C" in verdict.reasons[0]


def test_cold_time_is_outside_a_budget_without_a_lower_bound() -> None:
    assert budget_verdict(_product(), _figures(below_h=0.5)).exceeded
    assert not budget_verdict(_product(budget_min=0.0), _figures(below_h=0.5)).exceeded


def test_without_a_budget_no_time_out_of_range_is_allowed() -> None:
    assert budget_verdict(_product(hours=None), _figures(above_h=0.01)).exceeded
    assert not budget_verdict(_product(hours=None), _figures()).exceeded


def _alert(
    start_h: float, end_h: float | None, state: str = "closed", cause: str | None = "door"
) -> AlertInfo:
    return AlertInfo(
        id=f"a{start_h}",
        kind="excursion",
        severity="alarm",
        state=state,
        sensor=SENSOR,
        start=datetime.fromtimestamp(start_h * 3600, UTC),
        end=None if end_h is None else datetime.fromtimestamp(end_h * 3600, UTC),
        peak_c=12.0,
        retrospective=True,
        closed_by="qa",
        root_cause=cause,
    )


def _excursion(start_h: float, end_h: float, alarm: bool = True) -> Excursion:
    return Excursion(
        int(start_h * H),
        int(end_h * H),
        int((end_h - start_h) * H),
        12.0,
        "above",
        12,
        alarm,
        False,
    )


def test_excursions_and_alerts_are_paired_and_disagreements_named() -> None:
    findings = reconcile_excursions(
        1,
        SENSOR,
        [_excursion(1, 2), _excursion(5, 6), _excursion(8, 8.1, alarm=False)],
        [_alert(1, 2), _alert(10, 11)],
        window=(0, 12 * H),
    )
    assert [(f.agreement, f.explained) for f in findings] == [
        ("agree", True),
        ("readings only", False),
        ("brief", False),
        ("detector only", True),
    ]


def test_gaps_are_explained_only_by_a_closed_missing_data_alert() -> None:
    gap = Gap(1 * H, 3 * H, "between", 23)
    closed = AlertInfo(
        "m1",
        "missing_data",
        "warning",
        "closed",
        SENSOR,
        datetime.fromtimestamp(3600 * 1.2, UTC),
        None,
        None,
        False,
        root_cause="logger battery swap",
    )
    [finding] = reconcile_gaps(1, SENSOR, [gap], [closed])
    assert finding.explained_by is closed
    [open_one] = reconcile_gaps(
        1,
        SENSOR,
        [gap],
        [
            AlertInfo(
                "m2", "missing_data", "warning", "open", SENSOR, closed.start, None, None, False
            )
        ],
    )
    assert open_one.explained_by is None


def test_release_is_recommended_only_without_any_reason_against_it() -> None:
    within = budget_verdict(_product(), _figures(above_h=1.0))
    agreed = reconcile_excursions(1, SENSOR, [_excursion(1, 2)], [_alert(1, 2)], window=(0, 12 * H))
    ok = recommend(excursions=agreed, gaps=[], budget=within, open_placement=False, placements=2)
    assert ok.release
    assert ok.verdict == "RELEASE RECOMMENDED"
    assert not ok.reasons
    unclosed = reconcile_excursions(
        1,
        SENSOR,
        [_excursion(1, 2)],
        [_alert(1, 2, state="resolved", cause=None)],
        window=(0, 12 * H),
    )
    gap = reconcile_gaps(1, SENSOR, [Gap(0, H, "start", 11)], [])
    exceeded = budget_verdict(_product(hours=0.5), _figures(above_h=1.0))
    bad = recommend(
        excursions=unclosed,
        gaps=gap,
        budget=exceeded,
        open_placement=True,
        placements=2,
        unmonitored=["3 (BSL/ROOM-9)"],
    )
    assert not bad.release
    text = " | ".join(bad.reasons)
    for expected in ("not closed by QA", "exceeds the stability budget", "gap(s)", "no sensor"):
        assert expected in text
    assert any("still placed" in n for n in bad.notes)


def test_local_time_shows_the_offset_on_both_sides_of_the_dst_change() -> None:
    # Europe/Zurich 2026-10-25: 03:00 CEST (+02:00) becomes 02:00 CET (+01:00) at 01:00 UTC.
    utc = np.array(
        [to_ms(datetime(2026, 10, 25, h, 30, tzinfo=UTC)) for h in (0, 1, 2)],
        dtype=np.int64,
    )
    assert format_utc(utc)[0] == "2026-10-25T00:30:00.000Z"
    assert format_local(utc, "Europe/Zurich") == [
        "2026-10-25T02:30:00.000+02:00",
        "2026-10-25T02:30:00.000+01:00",
        "2026-10-25T03:30:00.000+01:00",
    ]
    # A chunk without a change takes the fast path and gives the same answer.
    assert format_local(utc[1:], "Europe/Zurich") == format_local(utc, "Europe/Zurich")[1:]
