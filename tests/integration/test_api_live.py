"""Live view, status, Server-Sent Events, alert lifecycle and metrics through the API."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from coldchain.catalog import catalog_session
from coldchain.catalog.audit import read_audit
from coldchain.influx import InfluxClient, quote_string
from coldchain.judgement.limits import KIND_DEFAULT_RANGES
from coldchain.times import now_ms, to_ms
from tests.support.api_world import PASSWORD, World, write_reading

pytestmark = pytest.mark.integration


API_SETTINGS = {"api_stream_interval_s": 0.2}


def test_product_live_lists_every_place_holding_it(world: World) -> None:
    live = world.client.get("/v1/products/VAX-1/live", headers=world.headers("alice")).json()
    places = {p["location"]["id"]: p for p in live["places"]}
    assert set(places) == {"BSL/FRIDGE-02", "SHP-A"}
    fridge = places["BSL/FRIDGE-02"]
    assert fridge["limits"]["min_c"] == 2.0
    assert fridge["limits"]["max_c"] == 8.0
    assert fridge["status"] == "alarm"  # an open alarm alert on its sensor
    assert [a["alert_id"] for a in fridge["alerts"]] == ["A-F02-1"]
    assert fridge["sensors"][0]["temp_c"] == 5.0


def test_latest_is_by_event_time_not_arrival(world: World) -> None:
    now = datetime.now(UTC)
    write_reading(world.settings, "FRIDGE-03", "p1", 6.5, at=now)
    write_reading(world.settings, "FRIDGE-03", "p1", 1.0, at=now.replace(year=now.year - 1))
    live = world.client.get(
        "/v1/sites/BSL/units/FRIDGE-03/live", headers=world.headers("quinn")
    ).json()
    assert live["places"][0]["sensors"][0]["temp_c"] == 6.5


def test_out_of_range_reading_is_alarm_and_stale_is_no_data(world: World) -> None:
    # FRIDGE-01 holds GLOBEX's LOT-B1 (BIO-7, 3-7 °C); its only open alert is a warning,
    # so an alarm can only come from the reading itself.
    write_reading(world.settings, "FRIDGE-01", "p1", 12.0)
    # FRIDGE-03 (log interval 60 s) stopped reporting an hour ago: its newest readings go.
    asyncio.run(_delete_readings_since(world, "FRIDGE-03", timedelta(hours=1)))
    quinn = world.headers("quinn")
    fridge = world.client.get("/v1/sites/BSL/units/FRIDGE-01/live", headers=quinn).json()
    [place] = fridge["places"]
    assert place["limits"]["min_c"] == 3.0
    assert place["limits"]["max_c"] == 7.0
    assert [a["severity"] for a in place["alerts"]] == ["warning"]
    sensors = {s["sensor"]: s for s in place["sensors"]}
    assert sensors["p1"]["temp_c"] == 12.0
    assert sensors["p1"]["status"] == "alarm"
    assert sensors["p2"]["status"] != "alarm"
    assert place["status"] == "alarm"

    # omar: a scope of its own, so no answer cached for an earlier look at FRIDGE-03.
    omar = world.headers("omar")
    stale = world.client.get("/v1/sites/BSL/units/FRIDGE-03/live", headers=omar).json()
    [place] = stale["places"]
    [sensor] = place["sensors"]
    assert sensor["ts"] is not None  # there is a reading, but it is old
    age = datetime.now(UTC) - datetime.fromisoformat(sensor["ts"])
    assert age > timedelta(hours=1)
    assert sensor["status"] == "no_data"
    assert place["status"] == "no_data"
    assert place["alerts"] == []


def test_a_warm_empty_unit_is_judged_by_its_kinds_range_as_the_detector_judges_it(
    world: World,
) -> None:
    write_reading(world.settings, "ROOM-01", "p1", 12.0, site="LYS")
    live = world.client.get("/v1/sites/LYS/units/ROOM-01/live", headers=world.headers("ada")).json()
    # ROOM-01 holds nothing: a cold room's default range, which the detector alarms by too.
    [place] = live["places"]
    assert (place["limits"]["min_c"], place["limits"]["max_c"]) == KIND_DEFAULT_RANGES["cold_room"]
    assert place["limits"]["label"] == "default of a cold_room"
    assert place["sensors"][0]["temp_c"] == 12.0
    assert place["status"] == "alarm"


async def _delete_readings_since(world: World, device: str, ago: timedelta) -> None:
    since_ms = to_ms(datetime.now(UTC) - ago)
    async with InfluxClient(world.settings.influx_url, world.settings.influx_db) as influx:
        await influx.query(
            f'DELETE FROM "reading" WHERE "device" = {quote_string(device)}'
            f" AND time >= {since_ms}ms"
        )
        [series] = await influx.query(
            f'SELECT last("temp_c") FROM "reading" WHERE "device" = {quote_string(device)}'
        )
        assert series.values[0][0] < since_ms


def test_sse_stream_sends_a_new_value(world: World) -> None:
    headers = world.headers("bob")
    events = []
    with world.client.stream(
        "GET", "/v1/live/stream", headers=headers, params={"max_events": 2}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if len(events) == 1:
                    write_reading(world.settings, "FRIDGE-01", "p2", 6.9)
    temps = [s["temp_c"] for s in events[-1]["places"][0]["sensors"] if s["sensor"] == "p2"]
    assert temps == [6.9]


def test_acknowledge_then_close_is_audited(world: World) -> None:
    ack = world.client.post(
        "/v1/alerts/B-F01-NOW/acknowledge",
        json={"comment": "door was open"},
        headers=world.headers("omar"),
    )
    assert ack.status_code == 200, ack.text
    assert ack.json()["state"] == "acknowledged"
    again = world.client.post(
        "/v1/alerts/B-F01-NOW/acknowledge", json={"comment": "x"}, headers=world.headers("omar")
    )
    assert again.status_code == 409
    closed = world.client.post(
        "/v1/alerts/B-F03-1/close",
        json={"root_cause": "compressor", "password": PASSWORD},
        headers=world.headers("quinn"),
    )
    assert closed.status_code == 200, closed.text
    with catalog_session(world.engine) as session:
        actions = [(e.actor, e.action, e.entity_id) for e in read_audit(session)]
    assert ("omar", "acknowledge", "B-F01-NOW") in actions
    assert ("quinn", "close", "B-F03-1") in actions
    assert ("quinn", "sign", "B-F03-1") in actions  # closing is an electronic signature


def test_operator_may_not_close(world: World) -> None:
    answer = world.client.post(
        "/v1/alerts/A-F01-PAST/close",
        json={"root_cause": "x", "password": PASSWORD},
        headers=world.headers("omar"),
    )
    assert answer.status_code == 403


def test_alert_list_filters(world: World) -> None:
    alerts = world.client.get(
        "/v1/alerts", params={"state": "resolved"}, headers=world.headers("quinn")
    ).json()
    assert {a["state"] for a in alerts} == {"resolved"}
    keys = {
        "alert_id",
        "kind",
        "severity",
        "state",
        "site",
        "device",
        "sensor",
        "start",
        "end",
        "peak_c",
        "retrospective",
    }
    assert keys <= set(alerts[0])


def test_metrics_report_ingest_counters_and_lag(world: World) -> None:
    directory = world.settings.data_dir / "metrics"
    directory.mkdir(parents=True, exist_ok=True)
    written_ms = now_ms()
    (directory / "ingest-w1.json").write_text(
        json.dumps(
            {"worker": "w1", "spool_depth_bytes": 4096, "lines_written": 10, "time_ms": written_ms}
        )
    )
    (directory / "detector-d1.json").write_text(
        json.dumps({"worker": "d1", "sites": ["NOWHERE"], "time_ms": written_ms})
    )
    metrics = world.client.get("/v1/metrics", headers=world.headers("omar")).json()
    assert metrics["sites_without_detector"]  # the fleet's sites: d1 watches none of them
    assert metrics["spool_depth_bytes"] == 4096
    assert metrics["services"]["ingest-w1"]["lines_written"] == 10
    assert metrics["lag_s"] is not None
    assert metrics["lag_s"] < 600


def test_health(world: World) -> None:
    assert world.client.get("/v1/health").json() == {
        "status": "ok",
        "influx": True,
        "catalog": True,
    }


def _live_when(world: World, path: str, user: str, ready: Any, **params: str) -> Any:
    """The first place of `path`'s live answer once `ready(place)` (answers are shared for a
    second, so an earlier look may still be served)."""
    deadline = time.monotonic() + 10
    while True:
        answer = world.client.get(path, headers=world.headers(user), params=params)
        assert answer.status_code == 200, answer.text
        place = answer.json()["places"][0]
        if ready(place) or time.monotonic() > deadline:
            return place


def test_an_error_code_is_a_probe_fault_not_the_units_temperature(world: World) -> None:
    # A DS18B20 that lost power reports 85 °C: stored (nothing is dropped), never shown.
    write_reading(world.settings, "FRIDGE-03", "p1", 85.0)
    place = _live_when(
        world,
        "/v1/sites/BSL/units/FRIDGE-03/live",
        "ada",
        lambda p: p["sensors"][0]["status"] == "fault",
        spark="true",
    )
    [sensor] = place["sensors"]
    assert sensor["status"] == "fault"
    assert sensor["temp_c"] is None
    assert sensor["fault"] == "error code 85 °C"
    assert sensor["ts"] is not None  # the probe still reports
    assert place["status"] == "fault"
    spark = place["spark"]
    assert spark  # the sparkline is there, from the valid readings only
    assert max(v for _, v in spark) < 10.0
