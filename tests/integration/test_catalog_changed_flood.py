"""A gateway flooding `"catalog_changed": true` (an announcement any sender can add to a
readings payload) on a real broker with the detector service running: the shared detector
reloads the catalog only when the catalog really changed, so the flood neither throttles
the loop nor delays another site's alarm. The legitimate announcement of
`coldchain logger import --import-rules` is covered in test_logger_import.py."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from coldchain.pipeline_metrics import metrics_file
from coldchain.times import now_ms
from tests.support.catalog import catalog_from_fleet
from tests.support.detector import DetectProcess, alerts
from tests.support.pipeline import Publisher, wait_until
from tests.support.servers import MosquittoServer, running_mosquitto

pytestmark = pytest.mark.integration

FLEET = """\
sponsors: [{id: ACME, name: Acme}, {id: BETA, name: Beta}]
sites:
  - id: TST
    timezone: UTC
    units:
      - {id: FR-1, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}
  - id: ATK
    timezone: UTC
    units:
      - {id: FR-9, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}
products:
  - {id: VAX, sponsor: ACME, storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 0.1}}
  - {id: SER, sponsor: BETA, storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}
batches: [{id: LOT-1, product: VAX}, {id: LOT-9, product: SER}]
placements:
  - {batch: LOT-1, unit: TST/FR-1, from: "2020-01-01T00:00:00Z"}
  - {batch: LOT-9, unit: ATK/FR-9, from: "2020-01-01T00:00:00Z"}
"""

VICTIM_TOPIC = "coldchain/v1/TST/unit/FR-1/readings"
FLOOD = (
    ("coldchain/v1/ATK/unit/FR-9/readings", "FR-9"),
    ("coldchain/v1/ATK/logger/LOG-9/readings", "LOG-9"),
)
FLOOD_MESSAGES = 2000
FLOOD_S = 10.0
ALARM_DELAY_S = 6.0  # alarm_delay_min 0.1
WORKER = "coldchain-detect-flood"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    with running_mosquitto(tmp_path / "mosquitto") as server:
        yield server


@pytest.fixture
def detect(broker: MosquittoServer, tmp_path: Path) -> Iterator[DetectProcess]:
    process = DetectProcess(
        broker.url,
        catalog_from_fleet(tmp_path, FLEET),
        tmp_path / "var",
        env={
            "COLDCHAIN_DETECT_CLIENT_ID": WORKER,
            "COLDCHAIN_DETECT_WARNING_DELAY_MIN": "5",
            "COLDCHAIN_DETECT_CATALOG_REFRESH_S": "3600",  # only announcements reload
            "COLDCHAIN_METRICS_INTERVAL_S": "0.3",
        },
    )
    process.start()
    yield process
    if process.process is not None and process.process.poll() is None:
        process.kill9()


def _announcing(device: str, seq: int) -> bytes:
    reading = {"sensor": "p1", "ts": now_ms(), "temp_c": 5.0, "seq": seq}
    return orjson.dumps({"device": device, "readings": [reading], "catalog_changed": True})


def _reading(seq: int, temp_c: float) -> bytes:
    return orjson.dumps({"sensor": "p1", "ts": now_ms(), "temp_c": temp_c, "seq": seq})


def _counters(detect: DetectProcess) -> dict[str, int]:
    path = metrics_file(detect.data_dir, "detector", WORKER)
    values: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
    return values


def test_a_flood_of_catalog_changed_reloads_nothing_and_delays_no_other_sites_alarm(
    broker: MosquittoServer, detect: DetectProcess
) -> None:
    attacker = Publisher(broker.port, client_id="gw-atk")
    victim = Publisher(broker.port, client_id="gw-tst")
    try:
        victim.publish(VICTIM_TOPIC, _reading(0, 5.0))
        started = time.monotonic()
        out_of_range_at: float | None = None
        alarm_seen_at: float | None = None
        sent = 0
        while sent < FLOOD_MESSAGES or alarm_seen_at is None:
            assert time.monotonic() - started < 60, detect.log_text()[-3000:]
            elapsed = time.monotonic() - started
            due = min(FLOOD_MESSAGES, round(elapsed / FLOOD_S * FLOOD_MESSAGES))
            while sent < due:
                topic, device = FLOOD[sent % 2]
                attacker.publish(topic, _announcing(device, sent))
                sent += 1
            if out_of_range_at is None and elapsed > 2.0:  # mid-flood: the victim's fridge warms
                out_of_range_at = time.monotonic()
            if out_of_range_at is not None:
                victim.publish(VICTIM_TOPIC, _reading(sent + 1, 9.5))
                if alarm_seen_at is None and any(
                    a.severity == "alarm" and a.site_id == "TST" for a in alerts(detect.catalog_url)
                ):
                    alarm_seen_at = time.monotonic()
            time.sleep(0.1)
        attacker.wait_acked()
        victim.wait_acked()
        assert out_of_range_at is not None
        assert alarm_seen_at - out_of_range_at < ALARM_DELAY_S + 3.0
        wait_until(
            lambda: (
                _counters(detect).get("catalog_announcements", 0) > 0
                and _counters(detect).get("readings_evaluated", 0) >= FLOOD_MESSAGES
            ),
            30,
            "the flood evaluated",
        )
        counters = _counters(detect)
        # The only catalog writes during the flood were the detector's own alert changes;
        # an announcement reloads only after one of them, never for the flood itself.
        assert counters["catalog_reloads_announced"] <= counters["alert_changes"]
        reload_lines = detect.log_text().count("catalog reloaded, announced")
        assert reload_lines == counters["catalog_reloads_announced"]
        assert detect.stop() == 0
    finally:
        attacker.close()
        victim.close()
