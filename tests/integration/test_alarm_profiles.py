"""Alarm profiles (#22) through the real detector service (mosquitto, a SQLite catalog
imported from a fleet file): a zero-delay critical limit alarms on the first reading
below it, a latching alarm stays open after the readings return until it is acknowledged;
and a profile changed by a later import keeps judging the past by the version then in
force (the detector's timeline and the record's, read from the catalog)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import select

from alerting.conditions import load_timeline
from api.export.inforce import LimitsInForce
from coldchain.catalog import catalog_session, create_catalog_engine
from coldchain.catalog.alerts import (
    NewAlert,
    acknowledge_alert,
    get_alert,
    open_alert,
    resolve_alert,
)
from coldchain.catalog.errors import ReasonRequired
from coldchain.catalog.importer import import_fleet
from coldchain.catalog.profiles import profile_timeline
from coldchain.catalog.schema import AlarmProfileRow, AlertRow, StorageUnitRow
from coldchain.errors import ConfigError
from coldchain.judgement.limits import Limits
from coldchain.models import SensorKey
from coldchain.times import now_ms, to_ms
from tests.support.catalog import catalog_from_fleet
from tests.support.detector import DetectProcess, alerts
from tests.support.export_world import export, iso, open_export_world, series, write
from tests.support.pipeline import Publisher, wait_until
from tests.support.servers import InfluxServer, MosquittoServer, running_mosquitto

pytestmark = pytest.mark.integration

UNIT_TOPIC = "coldchain/v1/TST/unit/FR-1/readings"
MIN = 60_000

#: A 2–8 °C vaccine whose alarm delay (30 min) no test waits for: only the critical limit
#: at 0 °C can alarm here; latching.
FLEET = """\
sponsors: [{id: ACME, name: Acme}]
sites:
  - id: TST
    timezone: UTC
    units:
      - {id: FR-1, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}
products:
  - id: VAX
    sponsor: ACME
    storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}
    alarm_profile: {critical: {low_c: 0.0}, latching: true}
batches: [{id: LOT-1, product: VAX}]
placements:
  - {batch: LOT-1, unit: TST/FR-1, from: "2020-01-01T00:00:00Z"}
"""

#: The same, the profile changed later: critical limit gone, a 10-minute low delay instead.
CHANGED = FLEET.replace(
    "alarm_profile: {critical: {low_c: 0.0}, latching: true}",
    "alarm_profile: {low_delay_min: 10}",
)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    with running_mosquitto(tmp_path / "mosquitto") as server:
        yield server


@pytest.fixture
def detect(
    broker: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> Iterator[DetectProcess]:
    process = DetectProcess(
        broker.url,
        catalog_from_fleet(tmp_path, FLEET),
        tmp_path / "var",
        env={
            "COLDCHAIN_DETECT_CLEAR_AFTER_MIN": "0.05",
            "COLDCHAIN_INFLUX_URL": influxd.url,
            "COLDCHAIN_INFLUX_DB": influx_db,
        },
    )
    httpx.post(f"{influxd.url}/query", data={"q": f'CREATE DATABASE "{influx_db}"'}, timeout=10)
    process.start()
    yield process
    if process.process is not None and process.process.poll() is None:
        process.kill9()


def _reading(seq: int, temp: float, ts: int | None = None) -> bytes:
    ts = ts if ts is not None else now_ms()
    return orjson.dumps({"sensor": "p1", "ts": ts, "temp_c": temp, "seq": seq})


def _alarms(detect: DetectProcess) -> list[AlertRow]:
    return [
        a for a in alerts(detect.catalog_url) if a.kind == "excursion" and a.severity == "alarm"
    ]


def test_a_critical_limit_alarms_at_once_and_a_latching_alarm_stays_until_acknowledged(
    broker: MosquittoServer, detect: DetectProcess
) -> None:
    gateway = Publisher(broker.port, client_id="gw-profile")
    seq = 0
    try:
        for _ in range(3):
            gateway.publish(UNIT_TOPIC, _reading(seq, 5.0))
            seq += 1
            time.sleep(0.3)
        frozen = now_ms()
        gateway.publish(UNIT_TOPIC, _reading(seq, -0.5, frozen))  # one reading below 0 °C
        seq += 1
        gateway.wait_acked()
        wait_until(lambda: _alarms(detect), 20, "the critical limit's alarm")
        (alarm,) = _alarms(detect)
        assert (to_ms(alarm.start_at), alarm.state, alarm.peak_c) == (frozen, "open", -0.5)

        for _ in range(12):  # back in range for longer than the clear time (3 s)
            gateway.publish(UNIT_TOPIC, _reading(seq, 5.0))
            seq += 1
            time.sleep(0.5)
        gateway.wait_acked()
        wait_until(
            lambda: _alarms(detect)[0].end_at is not None, 20, "the readings back to be recorded"
        )
        (held,) = _alarms(detect)
        assert held.state == "open"  # latching: the readings alone do not resolve it

        engine = create_catalog_engine(detect.catalog_url)
        try:
            with catalog_session(engine) as session:
                acknowledge_alert(session, held.id, actor="test", at=datetime.now(UTC))
        finally:
            engine.dispose()
        (resolved,) = _alarms(detect)
        assert resolved.state == "resolved"
        assert resolved.end_at == held.end_at
    finally:
        gateway.close()


def test_a_profile_changed_later_does_not_change_how_the_past_is_judged(tmp_path: Path) -> None:
    url = catalog_from_fleet(tmp_path, FLEET)
    changed = tmp_path / "changed.yaml"
    changed.write_text(CHANGED, encoding="utf-8")
    engine = create_catalog_engine(url)
    try:
        with pytest.raises(ReasonRequired, match="product VAX: alarm profile"):
            import_fleet(engine, changed, actor="test")
        before_ms = now_ms()
        import_fleet(engine, changed, actor="test", reason="freeze alarm moved to the BMS")
        after_ms = now_ms()
        key = SensorKey("TST", "unit", "FR-1", "p1")
        timeline = load_timeline(engine, 30 * MIN)
        past, now = timeline.lookup(key, before_ms).limits, timeline.lookup(key, after_ms).limits
        assert (past.critical(-0.5), past.delay_ms(-1), past.latching) == (True, 30 * MIN, True)
        assert (now.critical(-0.5), now.delay_ms(-1), now.latching) == (False, 10 * MIN, False)
        with catalog_session(engine) as session:
            versions = profile_timeline(session, product_id="VAX")
        record = LimitsInForce.constant(Limits(2.0, 8.0, 30 * MIN, "VAX")).with_profiles(versions)
        assert record.at(before_ms).critical(-0.5)
        assert not record.at(after_ms).critical(-0.5)
    finally:
        engine.dispose()


def test_a_units_profile_and_its_products_combine_into_the_strictest(tmp_path: Path) -> None:
    fleet = FLEET.replace(
        "alarm_profile: {critical: {low_c: 0.0}, latching: true}",
        "alarm_profile: {high_delay_min: 10, critical: {high_c: 12.0}}",
    ).replace(
        "sensors: [{id: p1}]}",
        "sensors: [{id: p1}], alarm_profile: {high_delay_min: 5, critical: {high_c: 15.0}}}",
    )
    engine = create_catalog_engine(catalog_from_fleet(tmp_path, fleet))
    try:
        at_ms = now_ms()
        limits = (
            load_timeline(engine, 30 * MIN)
            .lookup(SensorKey("TST", "unit", "FR-1", "p1"), at_ms)
            .limits
        )
        assert (limits.delay_ms(1), limits.delay_ms(-1), limits.critical_high_c) == (
            5 * MIN,
            30 * MIN,
            12.0,
        )
        with catalog_session(engine) as session:
            product = profile_timeline(session, product_id="VAX")
            unit_id = session.execute(select(StorageUnitRow.id)).scalar_one()
            unit = profile_timeline(session, unit_id=unit_id)
        record = LimitsInForce.constant(Limits(2.0, 8.0, 30 * MIN, "VAX"))
        assert record.with_profiles(product, unit).at(at_ms) == Limits(
            2.0,
            8.0,
            30 * MIN,
            "VAX",
            high_delay_ms=5 * MIN,
            low_delay_ms=30 * MIN,
            critical_high_c=12.0,
        )
    finally:
        engine.dispose()


def test_an_empty_profile_ends_the_recorded_one_from_that_import_on(tmp_path: Path) -> None:
    url = catalog_from_fleet(tmp_path, FLEET)
    ended = tmp_path / "ended.yaml"
    ended.write_text(FLEET.replace("{critical: {low_c: 0.0}, latching: true}", "{}"), "utf-8")
    engine = create_catalog_engine(url)
    try:
        before_ms = now_ms()
        import_fleet(engine, ended, actor="test", reason="the BMS alarms now")
        key = SensorKey("TST", "unit", "FR-1", "p1")
        timeline = load_timeline(engine, 30 * MIN)
        assert timeline.lookup(key, before_ms).limits.latching
        assert timeline.lookup(key, now_ms()).limits == Limits(2.0, 8.0, 30 * MIN, "products VAX")
    finally:
        engine.dispose()


def test_a_profile_recorded_in_the_future_refuses_the_import_naming_the_field(
    tmp_path: Path,
) -> None:
    url = catalog_from_fleet(tmp_path, FLEET)
    engine = create_catalog_engine(url)
    changed = tmp_path / "changed.yaml"
    changed.write_text(CHANGED, encoding="utf-8")
    try:
        with catalog_session(engine) as session:
            session.add(
                AlarmProfileRow(
                    product_id="VAX",
                    valid_from=datetime.now(UTC) + timedelta(days=1),
                    latching=False,
                    recorded_at=datetime.now(UTC),
                )
            )
        with pytest.raises(
            ConfigError, match=r"line 11: products.0.alarm_profile: .* clock behind"
        ):
            import_fleet(engine, changed, actor="test", reason="moved")
    finally:
        engine.dispose()


def test_a_latching_alarm_acknowledged_first_resolves_when_the_readings_are_back(
    tmp_path: Path,
) -> None:
    engine = create_catalog_engine(catalog_from_fleet(tmp_path, FLEET))
    start = datetime.now(UTC)
    alert = NewAlert(
        "al-latch", "excursion", "alarm", "TST", "unit", "FR-1", "p1", start,
        detail={"latching": True},
    )  # fmt: skip
    try:
        with catalog_session(engine) as session:
            open_alert(session, alert, at=start)
            acknowledge_alert(session, "al-latch", actor="omar", at=start)
            assert get_alert(session, "al-latch").state == "acknowledged"
            back = start + timedelta(minutes=5)
            resolve_alert(
                session, "al-latch", actor="detector", at=back, end=back, by_readings=True
            )
            assert get_alert(session, "al-latch").state == "resolved"
    finally:
        engine.dispose()


#: The batch record's world (tests/support/export_world.py): VAX-1 with a critical limit at
#: 0 °C; FRIDGE-02 with a unit profile of its own, a 5-minute delay below the range.
RECORD_FLEET = f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}]
sites:
  - id: BSL
    timezone: UTC
    units:
      - {{id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, sensors: [{{id: p1}}]}}
      - {{id: FRIDGE-02, kind: refrigerator, setpoint_c: 5.0, sensors: [{{id: p1}}],
          alarm_profile: {{low_delay_min: 5}}}}
products:
  - id: VAX-1
    sponsor: ACME
    storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}
    alarm_profile: {{critical: {{low_c: 0.0}}}}
batches: [{{id: LOT-FROST, product: VAX-1}}, {{id: LOT-UNIT, product: VAX-1}}]
placements:
  - {{batch: LOT-FROST, unit: BSL/FRIDGE-01, from: "{iso(0)}", to: "{iso(12)}"}}
  - {{batch: LOT-UNIT, unit: BSL/FRIDGE-02, from: "{iso(0)}", to: "{iso(12)}"}}
"""


async def test_the_batch_record_alarms_by_the_product_and_unit_profiles_in_force(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    frost = series("FRIDGE-01", 6, 9, lambda h: -0.5 if 7.5 <= h < 7.5 + 1 / 60 else 5.0)
    cool = series("FRIDGE-02", 6, 9, lambda h: 1.5 if 7.5 <= h < 7.5 + 10 / 60 else 5.0)
    async with open_export_world(RECORD_FLEET, influxd.url, influx_db, tmp_path) as world:
        await write(world, frost + cool)
        for batch in ("LOT-FROST", "LOT-UNIT"):
            summary = json.loads(await export(world, batch))["summary"]
            [excursion] = summary["excursions"]
            start = excursion["start"]["utc"]
            assert (start, excursion["alarm"]) == ("2026-03-02T07:30:00.000Z", True), batch
