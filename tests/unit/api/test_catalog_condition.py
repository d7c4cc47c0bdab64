"""The catalog's answer to "which condition applies here" (`storage_condition_for_sensor`,
which the API and tools read) combines products by the domain's one rule
(`coldchain.judgement.limits.strictest`, docs/design.md §11), as the detector does."""

from __future__ import annotations

import itertools

import pytest

from coldchain.catalog.queries import Budget, ProductView, _strictest
from coldchain.judgement.limits import MINUTE_MS, strictest


def _product(
    pid: str, low: float, high: float, delay_min: float, budget: Budget | None = None
) -> ProductView:
    return ProductView(pid, "S", None, low, high, delay_min, budget, f"{low:g}-{high:g} °C", 83.144)


PRODUCTS = [
    _product("VAX-1", 2.0, 8.0, 30, Budget(25.0, 24)),
    _product("BIO-7", 3.0, 7.0, 15, Budget(20.0, 12, -5.0)),
    _product("NARROW-1", 4.0, 4.5, 0.5),
    _product("HOT-1", 15.0, 25.0, 60),  # conflicts with the fridge products
    # A delay that is no whole number of ms: the catalog says what the detector counts.
    _product("ODD-1", 2.0, 8.0, 1 / 7),
]


@pytest.mark.parametrize(
    "combo",
    [c for n in (1, 2, 3) for c in itertools.combinations(PRODUCTS, n)],
    ids=lambda c: "+".join(p.id for p in c),
)
def test_the_applied_condition_is_the_domains_strictest(combo: tuple[ProductView, ...]) -> None:
    products = list(combo)
    applied = _strictest(products)
    limits = strictest(products)
    assert (applied.min_c, applied.max_c) == (limits.low_c, limits.high_c)
    assert round(applied.alarm_delay_min * MINUTE_MS) == limits.alarm_delay_ms
    assert applied.alarm_delay_min == limits.alarm_delay_ms / MINUTE_MS
    assert applied.conflicting == (limits.low_c >= limits.high_c)
    assert applied.products == tuple(p.id for p in products)


def test_budget_and_label_combine_as_before() -> None:
    applied = _strictest(PRODUCTS[:2])
    assert applied.budget == Budget(max_c=20.0, hours=12, min_c=-5.0)
    assert applied.label == "2-8 °C + 3-7 °C"
    assert _strictest(PRODUCTS[:3]).budget is None  # NARROW-1 allows no excursion at all
