"""Calibration in the running detector (#22), on a real mosquitto: `calibration_due` alerts
(a warning N days before the due date, an alarm at it, once each, on the alert topic like
any alert; none for a probe taken out of service, whose open ones resolve) and a
certificate's correction applied before the excursion rule judges."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from coldchain.catalog import create_catalog_engine, import_fleet
from coldchain.times import now_ms
from tests.support.catalog import catalog_from_fleet
from tests.support.detector import FLEET, AlertListener, DetectProcess, alerts
from tests.support.pipeline import Publisher, wait_until
from tests.support.servers import MosquittoServer, running_mosquitto

pytestmark = pytest.mark.integration

UNIT_TOPIC = "coldchain/v1/TST/unit/FR-1/readings"
TODAY = datetime.now(UTC).date()


def _certificate(name: str, due_in_days: int, offset: str = "") -> str:
    calibrated = TODAY - timedelta(days=365)
    due = TODAY + timedelta(days=due_in_days)
    return f"{{certificate: {name}, lab: Metrolab, calibrated: {calibrated}, due: {due}{offset}}}"


# FR-1's probe: due in 10 days (inside the 30-day warning), corrected by +0.5 °C.
# LOG-1's probe: due today (the alarm), no correction.
CALIBRATED_FLEET = FLEET.replace(
    "log_interval_s: 60, sensors: [{id: p1}]}",
    "log_interval_s: 60, sensors: [{id: p1, calibration: ["
    + _certificate("CAL-FR", 10, ", offset_c: 0.5")
    + "]}]}",
).replace(
    "loggers: [{id: LOG-1, sensors: [{id: p1}]",
    "loggers: [{id: LOG-1, sensors: [{id: p1, calibration: [" + _certificate("CAL-LOG", 0) + "]}]",
)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    with running_mosquitto(tmp_path / "mosquitto") as server:
        yield server


@pytest.fixture
def listener(broker: MosquittoServer) -> Iterator[AlertListener]:
    """Subscribed before the detector starts: its first check runs at start."""
    listener = AlertListener(broker.port)
    time.sleep(0.5)
    yield listener
    listener.close()


@pytest.fixture
def detect(
    broker: MosquittoServer, listener: AlertListener, tmp_path: Path
) -> Iterator[DetectProcess]:
    assert "CAL-FR" in CALIBRATED_FLEET
    assert "CAL-LOG" in CALIBRATED_FLEET
    process = DetectProcess(
        broker.url,
        catalog_from_fleet(tmp_path, CALIBRATED_FLEET),
        tmp_path / "var",
        env={"COLDCHAIN_DETECT_CATALOG_REFRESH_S": "1"},
    )
    process.start()
    yield process
    if process.process is not None and process.process.poll() is None:
        process.kill9()


def test_a_warning_before_the_due_date_and_an_alarm_at_it_once_each(
    listener: AlertListener, detect: DetectProcess
) -> None:
    wait_until(
        lambda: len([a for a in alerts(detect.catalog_url) if a.kind == "calibration_due"]) == 3,
        30,
        "the calibration alerts",
    )
    time.sleep(3)  # three more rounds of the check (every second here): nothing new
    found = sorted(
        (a.device, a.severity, a.start_at.date(), a.state)
        for a in alerts(detect.catalog_url)
        if a.kind == "calibration_due"
    )
    assert found == [
        ("FR-1", "warning", TODAY + timedelta(days=10 - 30), "open"),
        ("LOG-1", "alarm", TODAY, "open"),
        ("LOG-1", "warning", TODAY - timedelta(days=30), "open"),
    ]
    wait_until(
        lambda: len([e for e in listener.events if e["kind"] == "calibration_due"]) == 3,
        30,
        "the calibration alert events",
    )
    time.sleep(1)
    events = [e for e in listener.events if e["kind"] == "calibration_due"]
    assert len(events) == 3
    assert {e["state"] for e in events} == {"open"}


def test_the_excursion_alarm_judges_the_corrected_reading(
    broker: MosquittoServer, detect: DetectProcess
) -> None:
    gateway = Publisher(broker.port, client_id="gw-calibration")
    start = now_ms()
    # 7.8 °C as sent is inside 2–8 °C; corrected by +0.5 it is 8.3 °C, beyond for longer
    # than the 12 s alarm delay
    for seq in range(20):
        payload = {"sensor": "p1", "ts": start + seq * 1000, "temp_c": 7.8, "seq": seq}
        gateway.publish(UNIT_TOPIC, orjson.dumps(payload))
        time.sleep(0.1)
    gateway.wait_acked()
    wait_until(
        lambda: any(
            a.kind == "excursion" and a.severity == "alarm" for a in alerts(detect.catalog_url)
        ),
        30,
        "the excursion alarm on the corrected readings",
    )
    (alarm,) = [
        a for a in alerts(detect.catalog_url) if a.kind == "excursion" and a.severity == "alarm"
    ]
    assert alarm.peak_c == pytest.approx(8.3)


def _removed(fleet: str, probe: str, on: date) -> str:
    """`fleet` with the probe `{id: p1, calibration: [<probe's certificate>` taken out `on`."""
    marker = "{id: p1, calibration: [{certificate: " + probe
    assert fleet.count(marker) == 1
    return fleet.replace(marker, f"{{id: p1, removed: {on}, calibration: [{{certificate: {probe}")


def test_a_removed_probe_gets_no_calibration_alert_and_its_open_ones_resolve_at_the_removal(
    broker: MosquittoServer, listener: AlertListener, tmp_path: Path
) -> None:
    # FR-1's probe was taken out yesterday: no alert for it, ever. LOG-1's is still in
    # service (warning and alarm open) until the catalog records it removed today.
    fleet = _removed(CALIBRATED_FLEET, "CAL-FR", TODAY - timedelta(days=1))
    process = DetectProcess(
        broker.url,
        catalog_from_fleet(tmp_path, fleet),
        tmp_path / "var",
        env={"COLDCHAIN_DETECT_CATALOG_REFRESH_S": "1"},
    )
    process.start()
    try:
        wait_until(
            lambda: (
                len([a for a in alerts(process.catalog_url) if a.kind == "calibration_due"]) == 2
            ),
            30,
            "LOG-1's calibration alerts",
        )
        fleet_file = tmp_path / "fleet.yaml"
        fleet_file.write_text(_removed(fleet, "CAL-LOG", TODAY), encoding="utf-8")
        engine = create_catalog_engine(process.catalog_url)
        try:
            import_fleet(engine, fleet_file, actor="test")
        finally:
            engine.dispose()
        wait_until(
            lambda: (
                {a.state for a in alerts(process.catalog_url) if a.kind == "calibration_due"}
                == {"resolved"}
            ),
            30,
            "LOG-1's calibration alerts resolved",
        )
        time.sleep(3)  # three more rounds of the check: nothing opens again
    finally:
        process.kill9()
    removal = datetime.combine(TODAY, datetime.min.time(), UTC)
    found = sorted(
        (a.device, a.severity, a.state, a.end_at.replace(tzinfo=UTC) if a.end_at else None)
        for a in alerts(process.catalog_url)
        if a.kind == "calibration_due"
    )
    assert found == [
        ("LOG-1", "alarm", "resolved", removal),
        ("LOG-1", "warning", "resolved", removal),
    ]
    events = [e for e in listener.events if e["kind"] == "calibration_due"]
    assert sorted((e["device"], e["severity"], e["state"]) for e in events) == [
        ("LOG-1", "alarm", "open"),
        ("LOG-1", "alarm", "resolved"),
        ("LOG-1", "warning", "open"),
        ("LOG-1", "warning", "resolved"),
    ]
