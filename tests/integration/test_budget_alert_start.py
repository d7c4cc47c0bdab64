"""A budget alert starts when the account crossed its threshold, not when the API's batch
scan saw it (#22), on the real path: readings in a real influxd, the scan run as of a clock
the test moves, the alert rows in the catalog and the alert list through the app.

ACME's VAX (2-8 °C; 2 h allowed at 8-25 °C) is in three fridges of its own:
- LOT-A in FR-1, which warms to 12 °C for 70 min from 01:00, 35 min from 03:00 and 30 min
  from 05:00: 50 % (60 min) is reached at 02:00, 80 % (96 min) at 03:26, 100 % at 05:15;
- LOT-T in FR-2, always at 5 °C: a time out of refrigeration from 01:00 to 02:30 at 15 °C,
  recorded at 03:00, reaches 50 % at 02:00;
- LOT-C in FR-3, always at 5 °C, came with 1.2 h carried in (60 %): 50 % was reached
  before it arrived, so its alert starts when its placement does, 00:00.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from api.budget_watch import budget_alert_id
from coldchain.catalog import catalog_session
from coldchain.catalog.budget import add_tor_entry
from tests.support.api_world import reading_line
from tests.support.budget_world import BudgetWorld, open_budget_world
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 2, tzinfo=UTC)
UNIT = "{{id: {0}, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}]}}"
FLEET = f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}]
users: [{{id: quinn, role: qa}}]
sites:
  - id: BSL
    units: [{", ".join(UNIT.format(f"FR-{i}") for i in (1, 2, 3))}]
products:
  - id: VAX
    sponsor: ACME
    storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30, budget: {{max_c: 25.0, hours: 2}}}}
batches:
  - {{id: LOT-A, product: VAX}}
  - {{id: LOT-T, product: VAX}}
  - {{id: LOT-C, product: VAX, carried_in: [{{min_c: 8, max_c: 25, hours: 1.2, source: CoA}}]}}
placements:
  - {{batch: LOT-A, unit: BSL/FR-1, from: "2026-03-02T00:00:00Z"}}
  - {{batch: LOT-T, unit: BSL/FR-2, from: "2026-03-02T00:00:00Z"}}
  - {{batch: LOT-C, unit: BSL/FR-3, from: "2026-03-02T00:00:00Z"}}
"""
WARM = ((60, 70), (180, 35), (300, 30))  # (start, minutes) from DAY, FR-1


def _at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


async def _arrive(world: BudgetWorld, until_h: float) -> None:
    """Every fridge's readings up to `until_h`, then a scan as of then."""
    done = int((world.clock[0] - DAY).total_seconds() // 60)
    lines = [
        reading_line(
            "BSL",
            "unit",
            unit,
            "p1",
            DAY + timedelta(minutes=m),
            12.0 if unit == "FR-1" and any(s <= m < s + n for s, n in WARM) else 5.0,
        )
        for unit in ("FR-1", "FR-2", "FR-3")
        for m in range(done, int(until_h * 60))
    ]
    await world.influx.write_lines(lines)
    await world.scan(_at(until_h))


@pytest.fixture
async def world(influxd: InfluxServer, tmp_path: Path) -> AsyncIterator[BudgetWorld]:
    async with open_budget_world(FLEET, influxd.url, tmp_path, users=("quinn",), start=DAY) as w:
        yield w


async def test_each_budget_alert_starts_where_the_readings_crossed_its_threshold(
    world: BudgetWorld,
) -> None:
    await _arrive(world, 2.5)
    await _arrive(world, 4)
    await _arrive(world, 6)
    fifty, eighty, hundred = world.budget_alerts("LOT-A")
    assert [(a.alert_id, a.start, a.opened_at) for a in (fifty, eighty, hundred)] == [
        (budget_alert_id("LOT-A", 0.5), _at(2), _at(2.5)),
        (budget_alert_id("LOT-A", 0.8), DAY + timedelta(minutes=206), _at(4)),
        (budget_alert_id("LOT-A", 1.0), DAY + timedelta(minutes=315), _at(6)),
    ]
    alerts = await world.get("quinn", "/v1/alerts?kind=budget&state=open")
    starts = {a["alert_id"]: a["start"] for a in alerts}
    assert starts[budget_alert_id("LOT-A", 1.0)] == "2026-03-02T05:15:00Z"


async def test_a_manual_entry_and_carried_in_time_start_the_alert_where_they_charged(
    world: BudgetWorld,
) -> None:
    await _arrive(world, 2.75)
    assert world.budget_alerts("LOT-T") == []
    with catalog_session(world.engine) as session:
        add_tor_entry(
            session,
            "LOT-T",
            start=_at(1),
            end=_at(2.5),
            max_c=15.0,
            reason="staged on the dock during the truck swap",
            actor="quinn",
            now=_at(3),
        )
    await _arrive(world, 3)
    [tor] = world.budget_alerts("LOT-T")
    assert (tor.alert_id, tor.start, tor.opened_at) == (
        budget_alert_id("LOT-T", 0.5),
        _at(2),
        _at(3),
    )
    [carried] = world.budget_alerts("LOT-C")
    assert (carried.alert_id, carried.start, carried.opened_at) == (
        budget_alert_id("LOT-C", 0.5),
        DAY,
        _at(2.75),
    )
