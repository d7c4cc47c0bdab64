"""The live view judges by the alarm profiles in force (#22), as the detector does: a
product's or a unit's warning limits inside the warning margin make a reading a warning on
the tile, a warning raised at a product's own alert limit is its sponsor's (not the other
sponsor's in a shared unit), and a reading beyond a critical limit is an alarm.

The world's fleet is imported again with profiles (VAX-1: warning above 6 °C, critical
above 9 °C; the empty FRIDGE-03: warning above 6 °C) and a shared cold room, LYS/ROOM-01,
holding ACME's LOT-A9 (VAX-1, 2–8 °C) and GLOBEX's LOT-B9 (BIO-7, 3–7 °C) for the last
hour. Without the profiles the warning band is 0.5 °C inside the range: 6.4 °C is fine for
both products there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coldchain.catalog import catalog_session, import_fleet
from coldchain.catalog.alerts import NewAlert, open_alert
from coldchain.times import rfc3339
from tests.support.api_world import World, fleet_yaml, write_reading

pytestmark = pytest.mark.integration

#: Every answer computed afresh: what is asserted is the judgement, not a cached answer.
API_SETTINGS = {"api_live_cache_s": 0}

VAX_STORAGE = (
    "storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30, budget: {max_c: 25.0, hours: 24}}"
)
FRIDGE_03 = (
    "{id: FRIDGE-03, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]"
)
BATCHES = "{id: LOT-B1, product: BIO-7}]"


def _profiled_fleet(now: datetime) -> str:
    fleet = fleet_yaml(now)
    for old, new in (
        (
            VAX_STORAGE,
            f"{VAX_STORAGE}, alarm_profile: {{warning: {{high_c: 6.0}}, critical: {{high_c: 9.0}}}}",
        ),
        (FRIDGE_03, f"{FRIDGE_03}, alarm_profile: {{warning: {{high_c: 6.0}}}}"),
        (
            BATCHES,
            "{id: LOT-B1, product: BIO-7}, {id: LOT-A9, product: VAX-1}, "
            "{id: LOT-B9, product: BIO-7}]",
        ),
    ):
        assert fleet.count(old) == 1, old
        fleet = fleet.replace(old, new)
    an_hour_ago = rfc3339(now - timedelta(hours=1))
    return (
        fleet
        + f'  - {{batch: LOT-A9, unit: LYS/ROOM-01, from: "{an_hour_ago}"}}\n'
        + f'  - {{batch: LOT-B9, unit: LYS/ROOM-01, from: "{an_hour_ago}"}}\n'
    )


@pytest.fixture(scope="module")
def profiled(world: World, tmp_path_factory: pytest.TempPathFactory) -> World:
    fleet = Path(tmp_path_factory.mktemp("profiles")) / "fleet.yaml"
    fleet.write_text(_profiled_fleet(world.now), encoding="utf-8")
    import_fleet(world.engine, fleet, actor="test", reason="alarm profiles and a shared room")
    return world


def _tile(world: World, user: str, site: str, unit: str) -> dict[str, Any]:
    answer = world.client.get(f"/v1/sites/{site}/units/{unit}/live", headers=world.headers(user))
    assert answer.status_code == 200, answer.text
    [place] = answer.json()["places"]
    return dict(place)


def test_a_products_warning_limit_makes_a_reading_warning_on_its_sponsors_and_qas_tile(
    profiled: World,
) -> None:
    write_reading(profiled.settings, "ROOM-01", "p1", 6.4, site="LYS")
    for user in ("alice", "quinn"):  # ACME's own VAX-1 limits; the strictest of the room
        place = _tile(profiled, user, "LYS", "ROOM-01")
        [sensor] = place["sensors"]
        assert (sensor["temp_c"], sensor["status"], place["status"]) == (6.4, "warning", "warning")
    # GLOBEX's BIO-7 has no profile: 6.4 °C is inside its 3–7 °C less the 0.5 °C band.
    [sensor] = _tile(profiled, "bob", "LYS", "ROOM-01")["sensors"]
    assert (sensor["temp_c"], sensor["status"]) == (6.4, "ok")


def test_a_units_warning_limit_makes_a_reading_of_the_empty_unit_warning(profiled: World) -> None:
    write_reading(profiled.settings, "FRIDGE-03", "p1", 6.4)
    [sensor] = _tile(profiled, "quinn", "BSL", "FRIDGE-03")["sensors"]
    assert (sensor["temp_c"], sensor["status"]) == (6.4, "warning")


def test_a_warning_at_a_products_own_alert_limit_is_its_sponsors_not_the_other_sponsors(
    profiled: World,
) -> None:
    # As the detector raises it in the shared room under the profiles now in force (they
    # took effect at the import): at the strictest alert limit, VAX-1's.
    alert = NewAlert(
        alert_id="W-ROOM-PROFILE",
        kind="excursion",
        severity="warning",
        site="LYS",
        source="unit",
        device="ROOM-01",
        sensor="p1",
        start=datetime.now(UTC),
        peak_c=6.4,
        detail={"limit_c": 6.0, "value_c": 6.4},
    )
    with catalog_session(profiled.engine) as session:
        open_alert(session, alert, at=alert.start)

    def listed(user: str) -> set[str]:
        answer = profiled.client.get("/v1/alerts", headers=profiled.headers(user))
        assert answer.status_code == 200, answer.text
        return {a["alert_id"] for a in answer.json()}

    assert "W-ROOM-PROFILE" in listed("alice")
    assert "W-ROOM-PROFILE" not in listed("bob")  # 6.4 °C is no warning of BIO-7's
    alice = _tile(profiled, "alice", "LYS", "ROOM-01")
    assert [a["alert_id"] for a in alice["alerts"]] == ["W-ROOM-PROFILE"]
    assert alice["status"] == "warning"
    assert _tile(profiled, "bob", "LYS", "ROOM-01")["alerts"] == []


def test_a_reading_beyond_a_critical_limit_is_an_alarm_on_the_tile(profiled: World) -> None:
    write_reading(profiled.settings, "ROOM-01", "p1", 9.5, site="LYS")
    for user in ("alice", "quinn"):
        place = _tile(profiled, user, "LYS", "ROOM-01")
        [sensor] = place["sensors"]
        assert (sensor["temp_c"], sensor["status"], place["status"]) == (9.5, "alarm", "alarm")
