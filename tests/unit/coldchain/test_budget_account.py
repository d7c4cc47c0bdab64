"""The stability budget account (coldchain/judgement/budget.py): charges per band, time in
no band, freeze events, manual entries and carried-in time, and why it is exceeded."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from coldchain.judgement.budget import (
    Band,
    Budget,
    Charge,
    bands_json,
    budget_account,
    budget_of,
    carried_in_charge,
    manual_charge,
)

H = 3_600_000
#: A 2–8 °C product: 72 h at 8–25 °C, 2 h at 0–2 °C, no freeze event allowed at ≤ 0 °C.
BUDGET = Budget((Band(0.0, 2.0, 2.0), Band(8.0, 25.0, 72.0)), freeze_c=0.0, freeze_allowed=0)


def _readings(band: int | None, hours: float) -> Charge:
    return Charge("readings", band, None, None, hours, "the worst path's readings")


@dataclass(frozen=True)
class _Condition:
    max_c: float = 8.0
    budget_max_c: float | None = None
    budget_min_c: float | None = None
    budget_hours: float | None = None
    budget_bands_json: str | None = None
    freeze_c: float | None = None
    freeze_events: int | None = None


def test_each_band_is_charged_only_its_own_time() -> None:
    account = budget_account(BUDGET, [_readings(1, 30.0), _readings(0, 0.5), _readings(1, 6.0)])
    assert [(b.allowed_h, b.charged_h) for b in account.bands] == [(2.0, 0.5), (72.0, 36.0)]
    assert account.consumed_share == pytest.approx(0.5)
    assert (account.allowed_h, account.charged_h, account.remaining_h) == (74.0, 36.5, 37.5)
    assert not account.exceeded


def test_a_band_over_its_hours_is_exceeded_by_the_overrun() -> None:
    account = budget_account(BUDGET, [_readings(0, 3.5)])
    assert account.exceeded
    assert account.over_by_h == pytest.approx(1.5)
    assert account.reasons == ("3.50 h at 0–2 °C exceeds the stability budget of 2 h by 1.50 h",)
    assert account.bands[0].share == pytest.approx(1.75)


def test_time_in_no_band_is_over_budget_at_once() -> None:
    account = budget_account(BUDGET, [_readings(None, 0.1)], range_label="2–8 °C")
    assert account.exceeded
    assert math.isinf(account.consumed_share)
    assert "0.10 h outside 2–8 °C in no band" in account.reasons[0]


def test_without_a_budget_any_time_out_of_range_is_exceeded() -> None:
    account = budget_account(Budget(), [_readings(None, 0.01)], range_label="2–8 °C")
    assert account.reasons == (
        "the product has no stability budget and the batch spent 0.01 h outside 2–8 °C",
    )
    assert budget_account(Budget(), []).consumed_share == 0.0


def test_freeze_events_count_against_those_allowed() -> None:
    none_allowed = budget_account(BUDGET, [], freeze_events=1)
    assert none_allowed.reasons == ("1 freeze event(s) at or below 0 °C, 0 allowed",)
    assert math.isinf(none_allowed.consumed_share)
    two_allowed = Budget(BUDGET.bands, freeze_c=0.0, freeze_allowed=2)
    one_of_two = budget_account(two_allowed, [], freeze_events=1)
    assert (one_of_two.exceeded, one_of_two.consumed_share) == (False, 0.5)


def test_a_manual_entry_charges_its_duration_to_the_band_holding_its_maximum() -> None:
    warm = manual_charge(BUDGET, 0, 3 * H, 12.0, "entry 1 by op: staged on dock 3")
    cold = manual_charge(BUDGET, 0, H // 2, 1.0, "entry 2 by op: loaded in frost")
    hot = manual_charge(BUDGET, 0, H, 30.0, "entry 3 by op: left in the sun")
    assert (warm.source, warm.band, warm.hours) == ("manual", 1, 3.0)
    assert (cold.band, cold.hours) == (0, 0.5)
    assert hot.band is None  # above every band: over at once
    account = budget_account(BUDGET, [warm, cold])
    assert [b.charged_h for b in account.bands] == [0.5, 3.0]


def test_carried_in_time_is_charged_as_recorded_to_the_band_it_names() -> None:
    carried = carried_in_charge(BUDGET, 8.0, 25.0, 70.0, "carried in (sponsor CoA 2026-11-02)")
    assert (carried.source, carried.band, carried.hours) == ("carried_in", 1, 70.0)
    account = budget_account(BUDGET, [carried, _readings(1, 3.0)])
    assert account.reasons == ("73.00 h at 8–25 °C exceeds the stability budget of 72 h by 1.00 h",)
    assert carried_in_charge(BUDGET, 25.0, 40.0, 1.0, "elsewhere").band is None


def test_the_old_single_form_is_one_band_above_the_range() -> None:
    above = budget_of(_Condition(budget_max_c=25.0, budget_hours=24.0))
    assert above.bands == (Band(8.0, 25.0, 24.0),)
    # 25 °C itself is within the old form's budget, as it always was; above it is not
    assert (above.band_of(9.0), above.band_of(1.0), above.band_of(25.0)) == (0, None, 0)
    assert above.band_of(25.1) is None
    both_sides = budget_of(_Condition(budget_max_c=25.0, budget_hours=24.0, budget_min_c=-5.0))
    assert both_sides.bands == (Band(-5.0, 25.0, 24.0),)  # one pool, as the old verdict
    assert budget_of(_Condition()) == Budget()


def test_stored_bands_and_freezing_are_read_back_lowest_first() -> None:
    stored = bands_json([Band(8.0, 25.0, 72.0), Band(0.0, 2.0, 2.0)])
    read = budget_of(_Condition(budget_bands_json=stored, freeze_c=0.0))
    assert read == BUDGET  # freeze_events not given: none allowed
    assert budget_of(_Condition(freeze_c=-1.0, freeze_events=3)).freeze_allowed == 3
