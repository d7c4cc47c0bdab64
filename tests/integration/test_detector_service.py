"""The detector service on a real mosquitto: kill -9 mid-excursion, and a logger's backfill."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from coldchain.catalog.schema import AlertRow
from coldchain.times import now_ms, to_ms
from tests.support.detector import (
    AlertListener,
    DetectProcess,
    alerts,
    make_catalog,
)
from tests.support.pipeline import Publisher, wait_until
from tests.support.servers import InfluxServer, MosquittoServer, running_mosquitto

pytestmark = pytest.mark.integration

UNIT_TOPIC = "coldchain/v1/TST/unit/FR-1/readings"
LOGGER_TOPIC = "coldchain/v1/TST/logger/LOG-1/readings"


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
        make_catalog(tmp_path),
        tmp_path / "var",
        env={
            "COLDCHAIN_DETECT_CLEAR_AFTER_MIN": "0.1",
            "COLDCHAIN_DETECT_WARNING_DELAY_MIN": "5",
            "COLDCHAIN_INFLUX_URL": influxd.url,
            "COLDCHAIN_INFLUX_DB": influx_db,
            "COLDCHAIN_METRICS_INTERVAL_S": "0.5",
        },
    )
    # Ingest creates the database in a deployment; the detector only adds display points.
    httpx.post(f"{influxd.url}/query", data={"q": f'CREATE DATABASE "{influx_db}"'}, timeout=10)
    process.start()
    yield process
    if process.process is not None and process.process.poll() is None:
        process.kill9()


def _reading(seq: int, temp: float, ts: int | None = None) -> bytes:
    ts = ts if ts is not None else now_ms()
    return orjson.dumps({"sensor": "p1", "ts": ts, "temp_c": temp, "seq": seq})


def test_kill9_mid_excursion_gives_exactly_one_alert_with_its_true_start(
    broker: MosquittoServer, detect: DetectProcess
) -> None:
    listener = AlertListener(broker.port)
    gateway = Publisher(broker.port, client_id="gw-kill")
    seq = 0
    try:
        for _ in range(5):
            gateway.publish(UNIT_TOPIC, _reading(seq, 5.0))
            seq += 1
            time.sleep(0.3)
        first_out = now_ms()
        gateway.publish(UNIT_TOPIC, _reading(seq, 9.5, first_out))
        seq += 1
        for _ in range(5):  # 1.5 s into a 12 s alarm delay: pending, not yet an alert
            time.sleep(0.3)
            gateway.publish(UNIT_TOPIC, _reading(seq, 9.6))
            seq += 1
        gateway.wait_acked()
        time.sleep(1.0)
        detect.kill9()
        detect.start()
        deadline = time.monotonic() + 60
        while not any(
            a.kind == "excursion" and a.severity == "alarm" for a in alerts(detect.catalog_url)
        ):
            assert time.monotonic() < deadline, detect.log_text()[-3000:]
            gateway.publish(UNIT_TOPIC, _reading(seq, 9.8))
            seq += 1
            time.sleep(1.0)
        detect.kill9()  # and once more while the alarm is open
        detect.start()
        for _ in range(5):
            gateway.publish(UNIT_TOPIC, _reading(seq, 9.9))
            seq += 1
            time.sleep(0.3)
        for _ in range(15):  # back in range for longer than the clear time (6 s)
            gateway.publish(UNIT_TOPIC, _reading(seq, 5.0))
            seq += 1
            time.sleep(0.6)
        gateway.wait_acked()
        wait_until(
            lambda: any(
                a.state == "resolved" and a.severity == "alarm" for a in alerts(detect.catalog_url)
            ),
            30,
            "the alarm to resolve",
        )
        alarms = [
            a for a in alerts(detect.catalog_url) if a.kind == "excursion" and a.severity == "alarm"
        ]
        assert len(alarms) == 1
        assert to_ms(alarms[0].start_at) == first_out
        assert alarms[0].peak_c == 9.9
        wait_until(
            lambda: sum(1 for e in listener.events if e["alert_id"] == alarms[0].id) >= 2,
            30,
            "open and resolved events on MQTT",
        )
        states = [e["state"] for e in listener.events if e["alert_id"] == alarms[0].id]
        assert states == ["open", "resolved"]
        assert detect.stop() == 0
    finally:
        gateway.close()
        listener.close()


def test_an_open_alarms_peak_follows_its_condition_before_it_resolves(
    broker: MosquittoServer, detect: DetectProcess
) -> None:
    """The alarm list and the tiles read the catalog's peak: opened with the peak of its
    first readings beyond the limit, it follows the excursion while it is open (before, it
    changed only at resolve: an alarm 5 °C worse than opened still said its first value)."""
    gateway = Publisher(broker.port, client_id="gw-peak")
    seq = 0

    def open_alarm() -> AlertRow | None:
        return next(
            (
                a
                for a in alerts(detect.catalog_url)
                if a.kind == "excursion" and a.severity == "alarm" and a.state == "open"
            ),
            None,
        )

    try:
        deadline = time.monotonic() + 60
        while open_alarm() is None:
            assert time.monotonic() < deadline, detect.log_text()[-3000:]
            gateway.publish(UNIT_TOPIC, _reading(seq, 9.5))
            seq += 1
            time.sleep(0.5)
        opened = open_alarm()
        assert opened is not None
        assert opened.peak_c == 9.5
        for temp in (10.4, 11.8, 12.6, 12.1):
            gateway.publish(UNIT_TOPIC, _reading(seq, temp))
            seq += 1
            time.sleep(0.3)
        gateway.wait_acked()
        wait_until(
            lambda: (alarm := open_alarm()) is not None and alarm.peak_c == 12.6,
            15,
            "the open alarm's peak to follow the readings",
        )
    finally:
        gateway.close()


def test_backfill_with_an_excursion_inside_raises_one_retrospective_alert(
    broker: MosquittoServer, detect: DetectProcess, influxd: InfluxServer, influx_db: str
) -> None:
    now = now_ms() // 60_000 * 60_000
    start = now - 4 * 3_600_000
    readings = []
    for i in range(36):  # three hours of 5-minute logs, 45 minutes of them at 12 °C
        temp = 12.0 + i * 0.01 if 12 <= i < 21 else 5.0 + (i % 3) * 0.1
        readings.append({"sensor": "p1", "ts": start + i * 300_000, "temp_c": temp, "seq": i})
    chunks = [readings[i : i + 12] for i in range(0, 36, 12)]
    gateway = Publisher(broker.port, client_id="gw-logger")
    try:
        for chunk in (chunks[2], chunks[0], chunks[1], chunks[1]):  # shuffled, one sent twice
            gateway.publish(LOGGER_TOPIC, orjson.dumps({"device": "LOG-1", "readings": chunk}))
        gateway.wait_acked()
        wait_until(
            lambda: any(
                a.kind == "excursion" and a.severity == "alarm" for a in alerts(detect.catalog_url)
            ),
            30,
            "a retrospective alarm",
        )
        time.sleep(3)  # the duplicate chunk and any late evaluation have passed
        alarms = [
            a for a in alerts(detect.catalog_url) if a.kind == "excursion" and a.severity == "alarm"
        ]
        assert len(alarms) == 1, [(a.start_at, a.end_at) for a in alarms]
        alarm = alarms[0]
        assert alarm.retrospective
        assert to_ms(alarm.start_at) == start + 12 * 300_000
        assert alarm.end_at is not None
        assert to_ms(alarm.end_at) == start + 21 * 300_000
        assert alarm.peak_c == pytest.approx(12.2)
        # The dashboards' copies: the alert's state changes and the detector's counters.
        wait_until(
            lambda: (
                _influx_rows(influxd, influx_db, "SELECT * FROM alert")
                and _influx_rows(
                    influxd, influx_db, "SELECT * FROM pipeline WHERE service='detector'"
                )
            ),
            15,
            "alert and pipeline points in InfluxDB",
        )
        states = {row["state"] for row in _influx_rows(influxd, influx_db, "SELECT * FROM alert")}
        assert {"open", "resolved"} <= states
        [counters] = _influx_rows(
            influxd,
            influx_db,
            "SELECT last(readings_evaluated) FROM pipeline WHERE service='detector'",
        )
        assert int(str(counters["last"])) >= 36
    finally:
        gateway.close()


def _influx_rows(influxd: InfluxServer, db: str, query: str) -> list[dict[str, object]]:
    answer = httpx.post(f"{influxd.url}/query", data={"q": query, "db": db}, timeout=10).json()
    rows: list[dict[str, object]] = []
    for result in answer.get("results", []):
        for series in result.get("series", []):
            rows += [
                dict(zip(series["columns"], values, strict=True)) for values in series["values"]
            ]
    return rows
