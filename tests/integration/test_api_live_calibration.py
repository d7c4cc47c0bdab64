"""The live view and the charts show a probe's readings corrected by its calibration
certificate (#22), as the detector alarms and the record judges: a tile, its sparkline or a
chart line never disagrees with the alarm. The certificates are read once and again only
after the catalog changed (`api.catalog_rules`)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from coldchain.catalog import catalog_session
from coldchain.catalog.calibration import NewCertificate, find_probe, record_certificate
from tests.support.api_world import World, write_reading

pytestmark = pytest.mark.integration

#: Every answer computed afresh, so each request below asks for the corrections.
API_SETTINGS = {"api_live_cache_s": 0}


def _certify(world: World, probe: str, certificate: str, offset_c: float) -> None:
    """Record a certificate correcting `probe` by `offset_c` since 2026-01-01 (before all
    the world's readings), as `coldchain calibration add` does: audited."""
    with catalog_session(world.engine) as session:
        record_certificate(
            session,
            find_probe(session, probe),
            NewCertificate(certificate, "Metrolab", date(2026, 1, 1), date(2099, 1, 1), offset_c),
            actor="quinn",
            at=datetime.now(UTC),
        )


def test_a_reading_inside_as_sent_is_an_alarm_and_drawn_corrected(world: World) -> None:
    # FRIDGE-03 is empty now: judged by a refrigerator's 2–8 °C. 7.8 °C as sent, 8.2 corrected.
    _certify(world, "BSL/FRIDGE-03/p1", "CAL-7", 0.4)
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


def _spark(world: World, unit: str) -> list[float]:
    answer = world.client.get(
        f"/v1/sites/BSL/units/{unit}/live", params={"spark": "true"}, headers=world.headers("ada")
    )
    assert answer.status_code == 200, answer.text
    spark = answer.json()["places"][0]["spark"]
    assert spark, "a sparkline of the last 6 h"
    return [value for _, value in spark]


def test_a_sparkline_shows_a_probe_corrected_as_the_history_chart_does(world: World) -> None:
    # The world's FRIDGE-02 p1 reads 5.0 °C throughout: corrected by +0.5, 5.5 in every
    # bucket of the sparkline, as in the chart's.
    _certify(world, "BSL/FRIDGE-02/p1", "CAL-S2", 0.5)
    values = _spark(world, "FRIDGE-02")
    assert values == pytest.approx([5.5] * len(values))
    history = world.client.get(
        "/v1/sites/BSL/units/FRIDGE-02/history",
        params={
            "from": (world.now - timedelta(hours=6)).isoformat(),
            "to": world.now.isoformat(),
            "buckets": 48,
        },
        headers=world.headers("ada"),
    ).json()
    [series] = history["series"]
    assert {round(mean, 6) for *_, mean in series["points"]} == {5.5}
    # FRIDGE-01's p1 reads 5.0 and p2 5.5 (GLOBEX's period): p2 corrected by +0.5, the
    # sparkline is the mean of the probes, (5.0 + 6.0) / 2, not of the raw 5.25.
    _certify(world, "BSL/FRIDGE-01/p2", "CAL-S1", 0.5)
    values = _spark(world, "FRIDGE-01")
    assert values == pytest.approx([5.5] * len(values))


@pytest.fixture
def certificate_reads(world: World) -> Iterator[list[str]]:
    """The statements that read calibration certificates from the catalog, as they run."""
    found: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM calibration_certificates" in statement:
            found.append(statement)

    event.listen(world.engine, "before_cursor_execute", seen)
    try:
        yield found
    finally:
        event.remove(world.engine, "before_cursor_execute", seen)


def test_the_certificates_are_read_once_and_again_after_one_is_added(
    world: World, certificate_reads: list[str]
) -> None:
    def live(user: str, path: str) -> dict[str, Any]:
        answer = world.client.get(path, headers=world.headers(user))
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    live("quinn", "/v1/live")  # read them, if not held already
    certificate_reads.clear()
    live("quinn", "/v1/live")
    live("alice", "/v1/live")
    live("ada", "/v1/sites/LYS/units/ROOM-01/live")
    world.client.get(
        "/v1/sites/BSL/units/FRIDGE-02/history",
        params={"buckets": 10},
        headers=world.headers("ada"),
    ).raise_for_status()
    assert certificate_reads == []  # four answers, no certificate read again
    _certify(world, "LYS/ROOM-01/p1", "CAL-R1", 1.0)
    certificate_reads.clear()  # recording read the probe's certificates
    [sensor] = live("ada", "/v1/sites/LYS/units/ROOM-01/live")["places"][0]["sensors"]
    assert sensor["temp_c"] == pytest.approx(6.0)  # 5.0 as sent, the new certificate's +1.0
    assert len(certificate_reads) == 1  # read again once, for the change
    live("quinn", "/v1/live")
    assert len(certificate_reads) == 1
