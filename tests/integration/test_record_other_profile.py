"""An alarm raised in a shared unit under another product's stricter alarm profile (#22: its
critical limit, its shorter delay) is marked in the batch record as raised under other
limits, as one raised under another product's stricter storage condition is: context for
this product, never a disagreement or a finding against it, and never naming the other
product or its profile. Through the real path (fleet file → catalog, readings → a real
influxd, `export_batch`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from coldchain.catalog import Viewer, catalog_session
from coldchain.catalog.alerts import NewAlert, open_alert
from tests.support.export_world import at, export, iso, open_export_world, series, write
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

# VAX-1 (Acme) and VAX-2 (Globex) share ROOM-1 under the same 2–8 °C, 30-minute condition;
# only VAX-2 has an alarm profile. 20 minutes at 8.5 °C: brief for VAX-1, an alarm for the
# room under VAX-2's profile.
FLEET = """\
sponsors: [{{id: ACME, name: Acme Pharma}}, {{id: GLOBEX, name: Globex}}]
sites:
  - id: BSL
    timezone: UTC
    units:
      - {{id: ROOM-1, kind: cold_room, setpoint_c: 4.0, log_interval_s: 60, sensors: [{{id: p1}}]}}
products:
  - id: VAX-1
    sponsor: ACME
    storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30, budget: {{max_c: 25.0, hours: 24}}}}
  - id: VAX-2
    sponsor: GLOBEX
    storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30, budget: {{max_c: 25.0, hours: 24}}}}
    alarm_profile: {profile}
batches: [{{id: LOT-A, product: VAX-1}}, {{id: LOT-B, product: VAX-2}}]
placements:
  - {{batch: LOT-A, unit: BSL/ROOM-1, from: "{start}", to: "{end}"}}
  - {{batch: LOT-B, unit: BSL/ROOM-1, from: "{start}", to: "{end}"}}
"""


def _warm(hour: float) -> float:
    return 8.5 if 4 <= hour < 4 + 20 / 60 else 5.0


@pytest.mark.parametrize(
    ("profile", "alarmed_at"),
    [("{high_delay_min: 5}", 4 + 5 / 60), ("{critical: {high_c: 8.4}}", 4)],
    ids=["shorter delay", "critical limit"],
)
async def test_an_alarm_under_another_products_stricter_profile_is_context_raised_under_other_limits(
    influxd: InfluxServer, influx_db: str, tmp_path: Path, profile: str, alarmed_at: float
) -> None:
    fleet = FLEET.format(profile=profile, start=iso(0), end=iso(12))
    async with open_export_world(fleet, influxd.url, influx_db, tmp_path) as world:
        await write(world, series("ROOM-1", 0, 12, _warm))
        alert = NewAlert(
            alert_id="al-room-1-profile",
            kind="excursion",
            severity="alarm",
            site="BSL",
            source="unit",
            device="ROOM-1",
            sensor="p1",
            start=at(4),  # an alarm's span is its excursion's, raised later
            end=at(4 + 20 / 60),
            peak_c=8.5,
            detail={"limit_c": 8.0, "condition": "products VAX-1 + VAX-2"},
        )
        with catalog_session(world.engine) as session:
            open_alert(session, alert, at=at(alarmed_at))
        text = (await export(world, "LOT-A")).decode()
        summary: dict[str, Any] = json.loads(text)["summary"]
        brief, context = summary["excursions"]
        assert (brief["agreement"], brief["alarm"], brief["detector_alert"]) == (
            "brief",
            False,
            None,
        )
        assert context["agreement"] == "other limits"
        assert (
            context["detector_alert"]["limits"] == "stricter limits of another product in the unit"
        )
        [finding] = summary["findings"]
        assert (finding["kind"], finding["state"], finding["alert_id"]) == (
            "excursion",
            "context",
            "al-room-1-profile",
        )
        assert summary["verdict"] == "no open findings"
        for secret in ("VAX-2", "GLOBEX", "LOT-B", "8.4", "products VAX"):
            assert secret not in text
        # its sponsor sees it as context too: the peak left VAX-1's own range
        sponsor = Viewer("alice", "sponsor_viewer", "ACME")
        theirs = json.loads(await export(world, "LOT-A", viewer=sponsor))["summary"]
        assert [f["state"] for f in theirs["findings"]] == ["context"]
        # the alarm is VAX-2's own: its record agrees with it
        other = json.loads(await export(world, "LOT-B"))["summary"]
        assert [e["agreement"] for e in other["excursions"]] == ["agree"]
