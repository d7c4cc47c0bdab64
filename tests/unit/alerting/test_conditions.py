"""The detector's timeline from a catalog imported from a fleet file: limits in force at the
time (a later change of a product's condition never rewrites the past), a swapped probe
expected only while fitted, and a recorder (offline logger) never expected and never a
stuck probe."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from alerting.conditions import load_timeline
from alerting.config import DetectorConfig
from alerting.detector import Detector
from alerting.episodes import AlertChange
from coldchain.catalog import catalog_session, create_catalog_engine, import_fleet, upgrade_catalog
from coldchain.catalog.schema import ProductConditionRow
from coldchain.config import Settings
from coldchain.models import Reading, SensorKey, SourceKind
from coldchain.times import to_ms

CFG = DetectorConfig.from_settings(Settings())
MIN = 60_000

FLEET = """\
sponsors: [{id: ACME, name: Acme Pharma}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {id: FR-1, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60,
         sensors: [{id: p1, removed: "2026-11-05T00:00:00Z"},
                   {id: p3, installed: "2026-11-05T00:00:00Z"}]}
products:
  - id: VAX-1
    sponsor: ACME
    storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}
batches: [{id: LOT-1, product: VAX-1}]
shipments:
  - {id: SHP-1, origin: BSL, destination: BSL,
     loggers: [{id: TAG-1, sensors: [{id: t}], log_interval_s: 300, offline: true},
               {id: LIVE-1, sensors: [{id: t}], log_interval_s: 300}]}
placements:
  - {batch: LOT-1, unit: BSL/FR-1, from: "2026-11-01T00:00:00Z", to: "2026-11-10T00:00:00Z"}
  - {batch: LOT-1, shipment: SHP-1, from: "2026-11-10T00:00:00Z"}
"""


def _catalog(tmp_path: Path) -> Engine:
    engine = create_catalog_engine(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    upgrade_catalog(engine)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    import_fleet(engine, fleet, actor="test")
    return engine


def _ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text).replace(tzinfo=UTC))


def test_a_later_change_of_the_condition_does_not_rewrite_the_past(tmp_path: Path) -> None:
    engine = _catalog(tmp_path)
    with catalog_session(engine) as session:
        session.add(
            ProductConditionRow(
                product_id="VAX-1",
                valid_from=datetime(2026, 11, 8, tzinfo=UTC),
                min_c=2.0,
                max_c=6.0,
                alarm_delay_min=15,
                label="2-6 °C",
                recorded_at=datetime(2026, 11, 8, tzinfo=UTC),
            )
        )
    timeline = load_timeline(engine, CFG.default_alarm_delay_ms)
    key = SensorKey("BSL", "unit", "FR-1", "p3")
    before = timeline.lookup(key, _ms("2026-11-07T12:00:00")).limits
    after = timeline.lookup(key, _ms("2026-11-08T12:00:00")).limits
    assert (before.high_c, before.alarm_delay_ms) == (8.0, 30 * MIN)
    assert (after.high_c, after.alarm_delay_ms) == (6.0, 15 * MIN)


def test_a_swapped_probe_is_expected_only_while_it_was_fitted(tmp_path: Path) -> None:
    timeline = load_timeline(_catalog(tmp_path), CFG.default_alarm_delay_ms)
    old, new = SensorKey("BSL", "unit", "FR-1", "p1"), SensorKey("BSL", "unit", "FR-1", "p3")
    before, after = _ms("2026-11-04T12:00:00"), _ms("2026-11-06T12:00:00")
    assert timeline.lookup(old, before).expected
    assert not timeline.lookup(old, after).expected
    assert not timeline.lookup(new, before).expected
    assert timeline.lookup(new, after).expected
    assert timeline.lookup(old, after).limits.high_c == 8.0  # a reading still judged


def test_an_offline_logger_is_a_recorder_never_expected_and_never_a_stuck_probe(
    tmp_path: Path,
) -> None:
    timeline = load_timeline(_catalog(tmp_path), CFG.default_alarm_delay_ms)
    at = _ms("2026-11-11T00:00:00")
    tag, live = SensorKey("BSL", "logger", "TAG-1", "t"), SensorKey("BSL", "logger", "LIVE-1", "t")
    assert (timeline.lookup(tag, at).recorder, timeline.lookup(tag, at).expected) == (True, False)
    assert (timeline.lookup(live, at).recorder, timeline.lookup(live, at).expected) == (False, True)
    detector = Detector(CFG, timeline)
    detector.register_catalog(at)
    changes: list[AlertChange] = []
    for key in (tag, live):
        for n in range(40):  # a 0.1 °C plateau for over three hours
            ts = at + n * 5 * MIN
            reading = Reading("BSL", SourceKind.LOGGER, key.device, "t", ts, 5.0, n)
            changes += detector.process([reading], ts)
    faults = {c.key.device for c in changes if c.kind == "sensor_fault"}
    assert faults == {"LIVE-1"}
    silent = detector.tick(at + 2 * 86_400_000)
    silent_loggers = {c.key.device for c in silent if c.kind == "missing_data"} - {"FR-1"}
    assert silent_loggers == {"LIVE-1"}


def test_a_batch_handed_over_joins_the_receiving_sensors_to_the_place_it_left(
    tmp_path: Path,
) -> None:
    timeline = load_timeline(_catalog(tmp_path), CFG.default_alarm_delay_ms)
    at = _ms("2026-11-10T00:00:00")
    handover = timeline.lookup(SensorKey("BSL", "logger", "LIVE-1", "t"), at).handover
    assert handover is not None
    assert handover.at_ms == at
    fridge = {SensorKey("BSL", "unit", "FR-1", "p1"), SensorKey("BSL", "unit", "FR-1", "p3")}
    assert set(handover.from_keys) == fridge
    assert timeline.lookup(SensorKey("BSL", "logger", "LIVE-1", "t"), at - 1).handover is None
    assert timeline.lookup(SensorKey("BSL", "unit", "FR-1", "p3"), at).handover is None
