"""`GET /v1/products` shows every stability budget (#22): the old single form as before
(plus its one band), a budget given as bands, and freezing, through the real app and a
catalog imported from a fleet file.

VAX-S has the old single form (2 h up to 25 °C); VAX-B is given as two bands with a
freeze threshold and one freeze event allowed; BIO has no budget."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.budget_world import BudgetWorld, open_budget_world
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 2, tzinfo=UTC)
FLEET = """\
sponsors: [{id: ACME, name: Acme Pharma}]
users: [{id: quinn, role: qa}]
sites:
  - id: BSL
    units: [{id: FR-1, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}]
products:
  - id: VAX-S
    sponsor: ACME
    storage: {min_c: 2.0, max_c: 8.0, budget: {max_c: 25.0, hours: 2}}
  - id: VAX-B
    sponsor: ACME
    storage: {min_c: 2.0, max_c: 8.0, freeze_c: 0.0, freeze_events: 1,
              budget: [{min_c: 8, max_c: 25, hours: 2}, {min_c: 0, max_c: 2, hours: 1}]}
  - {id: BIO, sponsor: ACME, storage: {min_c: 2.0, max_c: 8.0}}
batches: [{id: LOT-1, product: VAX-B}]
placements: [{batch: LOT-1, unit: BSL/FR-1, from: "2026-03-02T00:00:00Z"}]
"""


@pytest.fixture
async def world(influxd: InfluxServer, tmp_path: Path) -> AsyncIterator[BudgetWorld]:
    async with open_budget_world(FLEET, influxd.url, tmp_path, users=("quinn",), start=DAY) as w:
        yield w


async def test_products_show_band_budgets_freezing_and_the_single_form_as_before(
    world: BudgetWorld,
) -> None:
    products = {p["id"]: p for p in await world.get("quinn", "/v1/products")}
    assert products["VAX-B"]["budget"] == {
        "max_c": None,
        "hours": None,
        "min_c": None,
        "bands": [
            {"min_c": 0.0, "max_c": 2.0, "hours": 1.0},
            {"min_c": 8.0, "max_c": 25.0, "hours": 2.0},
        ],
        "freeze_c": 0.0,
        "freeze_events": 1,
    }
    assert products["VAX-S"]["budget"] == {
        "max_c": 25.0,
        "hours": 2.0,
        "min_c": None,
        "bands": [{"min_c": 8.0, "max_c": 25.0, "hours": 2.0}],
        "freeze_c": None,
        "freeze_events": None,
    }
    assert products["BIO"]["budget"] is None
    one = await world.get("quinn", "/v1/products/VAX-B")
    assert one["budget"] == products["VAX-B"]["budget"]
