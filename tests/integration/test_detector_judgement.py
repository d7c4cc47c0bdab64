"""The detector service judges by the domain's rules (docs/design.md §11), on a real
mosquitto with the catalog from a fleet file, readings sent as a gateway's backfill:

- two single blips over the limit hours apart, the unit just inside between them, are no
  alarm (hysteresis clears only an active alarm; a pending excursion ends at the first
  reading back);
- a logger that logs every 20 minutes (slower than the 15-minute backfill gap) is judged
  from its last reading inside, as the batch record judges it: two readings over the limit
  are 40 minutes beyond it, an alarm;
- an offline (USB) logger's plateau at its resolution is no stuck probe and its silence no
  missing data, while the same readings from an online logger are both.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from coldchain.catalog.schema import AlertRow
from coldchain.times import now_ms, to_ms
from tests.support.catalog import catalog_from_fleet
from tests.support.detector import DetectProcess, alerts
from tests.support.pipeline import Publisher, wait_until
from tests.support.servers import MosquittoServer, running_mosquitto

pytestmark = pytest.mark.integration

MIN = 60_000

FLEET = """\
sponsors: [{id: ACME, name: Acme}]
sites:
  - id: TST
    timezone: UTC
    units:
      - {id: FR-1, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}
products:
  - {id: VAX, sponsor: ACME, storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}
batches: [{id: LOT-1, product: VAX}, {id: LOT-2, product: VAX}]
shipments:
  - {id: SHP-1, origin: TST, destination: TST,
     loggers: [{id: SLOW-1, sensors: [{id: p1}], log_interval_s: 1200},
               {id: TAG-1, sensors: [{id: p1}], log_interval_s: 300, offline: true},
               {id: LIVE-1, sensors: [{id: p1}], log_interval_s: 300}]}
placements:
  - {batch: LOT-1, unit: TST/FR-1, from: "2020-01-01T00:00:00Z"}
  - {batch: LOT-2, shipment: SHP-1, from: "2020-01-01T00:00:00Z"}
"""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    with running_mosquitto(tmp_path / "mosquitto") as server:
        yield server


@pytest.fixture
def detect(broker: MosquittoServer, tmp_path: Path) -> Iterator[DetectProcess]:
    url = catalog_from_fleet(tmp_path, FLEET)
    # Silence is counted from when a sensor was last heard of: six seconds, not twenty minutes.
    process = DetectProcess(
        broker.url, url, tmp_path / "var", env={"COLDCHAIN_DETECT_MISSING_AFTER_MIN": "0.1"}
    )
    process.start()
    yield process
    process.stop()


def _backfill(
    broker: MosquittoServer, source: str, device: str, points: list[tuple[int, float]]
) -> None:
    readings = [
        {"sensor": "p1", "ts": ts, "temp_c": temp, "seq": n} for n, (ts, temp) in enumerate(points)
    ]
    gateway = Publisher(broker.port, client_id=f"gw-{device}")
    try:
        for i in range(0, len(readings), 50):
            payload = {"device": device, "readings": readings[i : i + 50]}
            gateway.publish(f"coldchain/v1/TST/{source}/{device}/readings", orjson.dumps(payload))
        gateway.wait_acked()
    finally:
        gateway.close()


def _of(rows: list[AlertRow], device: str, kind: str, severity: str = "alarm") -> list[AlertRow]:
    return [a for a in rows if a.device == device and a.kind == kind and a.severity == severity]


def test_the_detector_service_judges_by_the_one_excursion_and_validity_rules(
    broker: MosquittoServer, detect: DetectProcess
) -> None:
    start = now_ms() // MIN * MIN - 6 * 3_600_000
    # FR-1, one reading a minute for 4 h at 7.8 °C, two single blips at 8.2 three hours apart.
    blips = {30, 215}
    unit = [(start + m * MIN, 8.2 if m in blips else 7.8) for m in range(240)]
    # SLOW-1 every 20 min: 5.0, then two readings at 9.0 (40 min beyond since 5.0), then 5.0.
    slow = [(start + n * 20 * MIN, 9.0 if n in (3, 4) else 5.0) for n in range(10)]
    # The same 3 h plateau at 5.0 °C (a 0.1 °C logger in a stable room) from both loggers.
    plateau = [(start + n * 5 * MIN, 5.0) for n in range(36)]
    _backfill(broker, "unit", "FR-1", unit)
    _backfill(broker, "logger", "SLOW-1", slow)
    _backfill(broker, "logger", "TAG-1", plateau)
    _backfill(broker, "logger", "LIVE-1", plateau)

    def judged() -> bool:
        rows = alerts(detect.catalog_url)
        return bool(
            _of(rows, "SLOW-1", "excursion")
            and _of(rows, "LIVE-1", "sensor_fault")
            and _of(rows, "LIVE-1", "missing_data")
        )

    wait_until(judged, 60, "the slow logger's alarm and the online logger's fault and silence")
    time.sleep(3)  # anything else the backfills would raise has been raised by now
    rows = alerts(detect.catalog_url)

    assert _of(rows, "FR-1", "excursion") == []

    [slow_alarm] = _of(rows, "SLOW-1", "excursion")
    assert to_ms(slow_alarm.start_at) == start + 3 * 20 * MIN
    assert slow_alarm.end_at is not None
    assert to_ms(slow_alarm.end_at) == start + 5 * 20 * MIN

    assert _of(rows, "TAG-1", "sensor_fault") == []
    assert _of(rows, "TAG-1", "missing_data") == []
    [stuck] = _of(rows, "LIVE-1", "sensor_fault")
    assert orjson.loads(stuck.detail_json or "{}")["reason"] == "stuck"
