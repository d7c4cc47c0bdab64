"""A freeze run across a hand-over counts once (#22): the stability budget is the batch's
across its chain of custody, so a dip still below `freeze_c` when the batch leaves one
fridge and below it from the first reading in the next is one freeze event, on the real
path (readings in a real influxd, the record's budget as exported).

VAX-F (2-8 °C) freezes at or below 0 °C, one freeze event allowed. Each batch goes through
two fridges of its own:
- LOT-HAND: FR-1 until 06:00 (at -1 °C from 05:00), handed over to FR-2 (at -1 °C until
  06:30, then 5 °C): one dip;
- LOT-THAW: the same, but FR-4's first reading at 06:00 is 5 °C, then -1 °C from 06:10 to
  06:30: two dips;
- LOT-GAP: the same as LOT-HAND, but FR-6 takes the batch at 06:30 (a custody gap: nothing
  says where it was): two dips, nothing is carried across a gap.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.export_world import ExportWorld, export, iso, open_export_world, series, write
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

UNIT = "{{id: {0}, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}]}}"
FLEET = f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}]
sites:
  - id: BSL
    units: [{", ".join(UNIT.format(f"FR-{i}") for i in range(1, 7))}]
products:
  - id: VAX-F
    sponsor: ACME
    storage: {{min_c: 2.0, max_c: 8.0, freeze_c: 0.0, freeze_events: 1,
              budget: [{{min_c: 8, max_c: 25, hours: 2}}, {{min_c: -5, max_c: 2, hours: 3}}]}}
batches: [{{id: LOT-HAND, product: VAX-F}}, {{id: LOT-THAW, product: VAX-F}},
          {{id: LOT-GAP, product: VAX-F}}]
placements:
  - {{batch: LOT-HAND, unit: BSL/FR-1, from: "{iso(0)}", to: "{iso(6)}"}}
  - {{batch: LOT-HAND, unit: BSL/FR-2, from: "{iso(6)}", to: "{iso(12)}"}}
  - {{batch: LOT-THAW, unit: BSL/FR-3, from: "{iso(0)}", to: "{iso(6)}"}}
  - {{batch: LOT-THAW, unit: BSL/FR-4, from: "{iso(6)}", to: "{iso(12)}"}}
  - {{batch: LOT-GAP, unit: BSL/FR-5, from: "{iso(0)}", to: "{iso(6)}"}}
  - {{batch: LOT-GAP, unit: BSL/FR-6, from: "{iso(6.5)}", to: "{iso(12)}"}}
"""


def _cold_between(*spans: tuple[float, float]) -> Callable[[float], float]:
    """-1 °C within the hours of `spans`, 5 °C otherwise."""
    return lambda h: -1.0 if any(a <= h < b for a, b in spans) else 5.0


@pytest.fixture
async def world(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> AsyncIterator[ExportWorld]:
    async with open_export_world(FLEET, influxd.url, influx_db, tmp_path) as built:
        await write(
            built,
            series("FR-1", 0, 6, _cold_between((5, 6)))
            + series("FR-2", 6, 12, _cold_between((6, 6.5)))
            + series("FR-3", 0, 6, _cold_between((5, 6)))
            + series("FR-4", 6, 12, _cold_between((6 + 10 / 60, 6.5)))
            + series("FR-5", 0, 6, _cold_between((5, 6)))
            + series("FR-6", 6.5, 12, _cold_between((6.5, 7))),
        )
        yield built


async def _budget(world: ExportWorld, batch: str) -> dict[str, Any]:
    budget: dict[str, Any] = json.loads(await export(world, batch))["summary"]["budget"]
    return budget


async def test_a_dip_running_across_a_hand_over_is_one_freeze_event(world: ExportWorld) -> None:
    budget = await _budget(world, "LOT-HAND")
    assert (budget["freeze_events"], budget["freeze_events_allowed"]) == (1, 1)
    assert budget["exceeded"] is False
    assert not any("freeze" in r for r in budget["reasons"])


async def test_a_reading_above_freeze_c_at_the_hand_over_makes_two_events(
    world: ExportWorld,
) -> None:
    budget = await _budget(world, "LOT-THAW")
    assert budget["freeze_events"] == 2
    assert "2 freeze event(s) at or below 0 °C, 1 allowed" in budget["reasons"]


async def test_nothing_is_carried_across_a_custody_gap_two_events(world: ExportWorld) -> None:
    budget = await _budget(world, "LOT-GAP")
    assert budget["freeze_events"] == 2
    assert "2 freeze event(s) at or below 0 °C, 1 allowed" in budget["reasons"]
