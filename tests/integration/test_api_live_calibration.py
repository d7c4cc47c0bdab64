"""The live view and the charts show a probe's readings corrected by its calibration
certificate (#22), as the detector alarms and the record judges: a tile or a chart line
never disagrees with the alarm."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from coldchain.catalog import catalog_session
from coldchain.catalog.calibration import NewCertificate, find_probe, record_certificate
from tests.support.api_world import World, write_reading

pytestmark = pytest.mark.integration


def test_a_reading_inside_as_sent_is_an_alarm_and_drawn_corrected(world: World) -> None:
    # FRIDGE-03 is empty now: judged by a refrigerator's 2–8 °C. 7.8 °C as sent, 8.2 corrected.
    with catalog_session(world.engine) as session:
        record_certificate(
            session,
            find_probe(session, "BSL/FRIDGE-03/p1"),
            NewCertificate("CAL-7", "Metrolab", date(2026, 1, 1), date(2099, 1, 1), 0.4),
            actor="quinn",
            at=datetime.now(UTC),
        )
    now = datetime.now(UTC)
    write_reading(world.settings, "FRIDGE-03", "p1", 7.8, at=now)
    live = world.client.get(
        "/v1/sites/BSL/units/FRIDGE-03/live", headers=world.headers("quinn")
    ).json()
    [sensor] = live["places"][0]["sensors"]
    assert sensor["temp_c"] == pytest.approx(8.2)
    assert sensor["status"] == "alarm"
    history = world.client.get(
        "/v1/sites/BSL/units/FRIDGE-03/history",
        params={
            "from": (now - timedelta(minutes=5)).isoformat(),
            "to": (now + timedelta(minutes=1)).isoformat(),
            "buckets": 6,
        },
        headers=world.headers("ada"),
    ).json()
    [series] = history["series"]
    _, low, high, mean = series["points"][-1]  # the bucket of the 7.8 °C sent
    assert (low, high, mean) == pytest.approx((8.2, 8.2, 8.2))
