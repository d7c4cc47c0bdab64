"""Budget account from the record's figures, detector/readings reconciliation, findings and the verdict, and local
time across a daylight-saving change."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from api.export.excursions import BACK_IN_RANGE, Leg, RecordExcursion
from api.export.findings import Finding, collect_findings, verdict
from api.export.reconcile import (
    ExcursionFinding,
    GapFinding,
    reconcile_excursions,
    reconcile_gaps,
)
from api.export.record import (
    AlertInfo,
    BatchRecord,
    Coverage,
    PlacementInfo,
    ProductInfo,
    SensorRef,
)
from api.export.stats import Gap
from api.export.summary import Figures, budget_account_of
from api.export.timefmt import format_local, format_utc
from api.export.timeline import build_timeline
from coldchain.catalog.budget import BudgetEntries
from coldchain.judgement.budget import BudgetAccount
from coldchain.judgement.excursion import Excursion
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


def _figures(
    above_h: float = 0.0,
    below_h: float = 0.0,
    max_c: float = 9.0,
    product: ProductInfo | None = None,
) -> Figures:
    """Figures whose time above the range was at `max_c` and below it at 1 °C, split by the
    bands of `product`'s budget as stats.py splits it (the last entry: in no band)."""
    budget = (product or _product()).budget
    band_h = [0.0] * (len(budget.bands) + 1)
    for hours, temp in ((above_h, max_c), (below_h, 1.0)):
        band = budget.band_of(temp)
        band_h[len(budget.bands) if band is None else band] += hours
    return Figures(
        10, 10, 1.0, max_c, 5.0, 5.2, 10.0, 9.0, 0.9, above_h, below_h, band_h=tuple(band_h)
    )


def budget_verdict(product: ProductInfo, chain: Figures, extremes: Figures) -> BudgetAccount:
    return budget_account_of(product, chain, extremes, BudgetEntries())


def _budget(product: ProductInfo, figures: Figures) -> BudgetAccount:
    return budget_verdict(product, figures, figures)


def test_budget_within_says_how_much_remains() -> None:
    within = _budget(_product(), _figures(above_h=3.5))
    assert (within.exceeded, within.charged_h, within.remaining_h) == (False, 3.5, 20.5)


def test_budget_exceeded_says_by_how_much() -> None:
    exceeded = _budget(_product(hours=2.0), _figures(above_h=3.5))
    assert exceeded.exceeded
    assert exceeded.over_by_h == pytest.approx(1.5)
    assert "exceeds the stability budget of 2 h by 1.50 h" in exceeded.reasons[0]


def test_a_peak_above_the_budgets_limit_on_any_path_exceeds_it_whatever_the_hours() -> None:
    worst_path, everywhere = _figures(above_h=0.1), _figures(above_h=0.1, max_c=27.0)
    exceeded = budget_verdict(_product(), worst_path, everywhere)
    assert exceeded.exceeded
    assert "above the budget's limit of 25 °C" in exceeded.reasons[0]


def test_cold_time_is_outside_a_budget_without_a_lower_bound() -> None:
    assert _budget(_product(), _figures(below_h=0.5)).exceeded
    with_floor = _product(budget_min=0.0)
    assert not _budget(with_floor, _figures(below_h=0.5, product=with_floor)).exceeded


def test_without_a_budget_no_time_out_of_range_is_allowed() -> None:
    none = _product(hours=None)
    assert _budget(none, _figures(above_h=0.01, product=none)).exceeded
    assert not _budget(none, _figures(product=none)).exceeded


def _alert(
    start_h: float,
    end_h: float | None,
    state: str = "closed",
    cause: str | None = "door",
    *,
    other_limits: bool = False,
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
        other_limits=other_limits,
    )


PLACEMENT = PlacementInfo(
    index=1,
    placement_id=7,
    kind="shipment",
    place="SHP-1",
    start=datetime.fromtimestamp(0, UTC),
    end=datetime.fromtimestamp(12 * 3600, UTC),
    until=datetime.fromtimestamp(12 * 3600, UTC),
    timezone="UTC",
    sensors=(SENSOR,),
)


def _excursion(start_h: float, end_h: float, alarm: bool = True) -> RecordExcursion:
    start, end = int(start_h * H), int(end_h * H)
    run = Excursion(start, start, end - 1, 12.0, 1, 12, end, start + 1 if alarm else None)
    return RecordExcursion(run, (Leg(PLACEMENT, SENSOR),), end, BACK_IN_RANGE)


def _reconcile(
    excursions: list[RecordExcursion], alerts: list[AlertInfo]
) -> list[ExcursionFinding]:
    return reconcile_excursions(excursions, alerts, [(PLACEMENT, SENSOR)])


def test_excursions_and_alerts_are_paired_and_disagreements_named() -> None:
    findings = _reconcile(
        [_excursion(1, 2), _excursion(5, 6), _excursion(8, 8.1, alarm=False)],
        [_alert(1, 2), _alert(10, 11)],
    )
    assert [(f.agreement, f.explained) for f in findings] == [
        ("agree", True),
        ("readings only", False),
        ("brief", False),
        ("detector only", True),
    ]


def test_an_alarm_under_another_products_limits_is_context_or_explains_one_of_ours() -> None:
    findings = _reconcile(
        [_excursion(1, 2), _excursion(5, 5.2, alarm=False)],
        [_alert(0.5, 2, other_limits=True), _alert(5, 5.5, other_limits=True)],
    )
    assert [(f.agreement, f.excursion is not None, f.disagrees) for f in findings] == [
        ("agree", True, False),  # started earlier: its start was the stricter limits'
        ("brief", True, False),  # our brief excursion stays brief
        ("other limits", False, False),  # and the alarm is context
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


def _record(open_placement: bool = False) -> BatchRecord:
    placement = replace(PLACEMENT, end=None) if open_placement else PLACEMENT
    return BatchRecord("LOT-1", _product(), (placement,), (), PLACEMENT.until)


def _findings(
    excursions: list[ExcursionFinding],
    gaps: list[GapFinding],
    budget: BudgetAccount,
    record: BatchRecord,
) -> list[Finding]:
    timeline = build_timeline(record.placements)
    return collect_findings(
        record, timeline, excursions=excursions, gaps=gaps, invalid=[], budget=budget
    )


def test_no_open_findings_only_when_a_closed_deviation_covers_every_finding() -> None:
    within = budget_verdict(_product(), _figures(above_h=1.0), _figures())
    agreed = _reconcile([_excursion(1, 2)], [_alert(1, 2)])
    (closed_alert_only,) = _findings(agreed, [], within, _record())
    assert (closed_alert_only.kind, closed_alert_only.state) == ("excursion", "open")
    span = (closed_alert_only.id, closed_alert_only.start_ms, closed_alert_only.end_ms)
    for state, expected in [("assessed", "open"), ("closed", "cleared")]:
        covered = replace(_record(), coverage=(Coverage(*span, "DEV-1", state),))
        findings = _findings(agreed, [], within, covered)
        assert [(f.state, f.deviation) for f in findings] == [(expected, "DEV-1")]
        assert verdict(findings, covered) == (
            "no open findings" if state == "closed" else "open findings"
        )
    assert closed_alert_only.end_ms is not None
    short = (span[0], span[1], closed_alert_only.end_ms - 60_000)  # grew past the covered span
    grown = replace(_record(), coverage=(Coverage(*short, "DEV-1", "closed"),))
    assert [f.state for f in _findings(agreed, [], within, grown)] == ["open"]
    unclosed = _reconcile([_excursion(1, 2)], [_alert(1, 2, state="resolved", cause=None)])
    gap = reconcile_gaps(1, SENSOR, [Gap(0, H, "start", 11)], [])
    exceeded = budget_verdict(_product(hours=0.5), _figures(above_h=1.0), _figures())
    bad = _findings(unclosed, gap, exceeded, _record())
    assert sorted((f.kind, f.state) for f in bad) == [
        ("budget", "open"),
        ("excursion", "open"),
        ("gap", "open"),
    ]
    assert verdict(bad, _record()) == "open findings"
    assert verdict(bad, _record(open_placement=True)) == "incomplete"


def test_a_findings_id_is_the_same_in_every_judgement_of_the_record() -> None:
    within = budget_verdict(_product(), _figures(above_h=1.0), _figures())
    agreed = _reconcile([_excursion(1, 2)], [_alert(1, 2)])
    first = _findings(agreed, [], within, _record())
    again = _findings(agreed, [], within, _record())
    assert [f.id for f in first] == [f.id for f in again]
    assert first[0].id.startswith("excursion-")
    other_batch = replace(_record(), batch="LOT-2")
    assert _findings(agreed, [], within, other_batch)[0].id != first[0].id


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


def test_an_alarm_without_an_end_is_a_finding_of_the_batchs_time_in_the_place_only() -> None:
    """A cumulative device rule's alarm never ends; the batch's finding ends where its
    placement does, so a deviation can cover it for good."""
    within = budget_verdict(_product(), _figures(), _figures())
    ongoing_alarm = _reconcile([], [_alert(-5, None, state="open", cause=None)])
    (finding,) = _findings(ongoing_alarm, [], within, _record())
    assert (finding.kind, finding.start_ms, finding.end_ms) == ("disagreement", 0, 12 * H)
    cover = Coverage(finding.id, 0, 12 * H, "DEV-1", "closed")
    covered = replace(_record(), coverage=(cover,))
    assert [f.state for f in _findings(ongoing_alarm, [], within, covered)] == ["cleared"]


def test_a_gap_up_to_the_end_of_a_place_the_batch_is_still_in_is_ongoing_not_open() -> None:
    """A logger awaiting upload: its readings may still come, so no deviation opens yet."""
    within = budget_verdict(_product(), _figures(), _figures())
    trailing = reconcile_gaps(1, SENSOR, [Gap(11 * H, 12 * H, "end", 11)], [])
    middle = reconcile_gaps(1, SENSOR, [Gap(5 * H, 6 * H, "between", 11)], [])
    still_there = _record(open_placement=True)
    assert [f.state for f in _findings([], trailing, within, still_there)] == ["ongoing"]
    assert [f.state for f in _findings([], middle, within, still_there)] == ["open"]
    assert [f.state for f in _findings([], trailing, within, _record())] == ["open"]
