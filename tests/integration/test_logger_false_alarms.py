"""No false probe alarms on real logger files: a stuck probe or missing data is not what a
healthy USB logger's backfill is.

The real Fridge-tag 2 L and Q-tag CLm doc LR exports (tests/data/real-loggers) go through
the same detector path as tests/integration/test_logger_rules_agreement.py: the device's
own rules through the `alert_rules` contract into an in-process `Detector`, the log rows
fed as one backfill in the importer's pages, a day after the device stopped. None of these
devices reported a sensor fault (their `Int Sensor timeout` minutes are 0 and no row lacks
a value), and their logs have no gap but the Fridge-tag's documented wait after activation,
so every `sensor_fault` alert with reason "stuck" and every `missing_data` alert is false.

The timeline is the one `alerting.conditions.load_timeline` gives a logger whose export
was imported (`recorder`: tests/unit/alerting/test_conditions_recorder.py proves that):
before the detector knew a recorder from a live probe, the Fridge-tag 2 L raised 79 stuck
alarms on its 0.1 °C plateaus at room temperature (`pytest -s` prints any alert).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from alerting.detector import Detector
from alerting.device_rules import device_rule
from alerting.episodes import AlertChange, AlertKind
from alerting.timeline import FAR_FUTURE, FAR_PAST, ConditionTimeline, Segment
from coldchain.judgement.limits import NO_LIMITS
from coldchain.loggers import LoggerFile
from coldchain.models import SensorKey
from coldchain.times import local
from tests.integration.test_logger_rules_agreement import CFG, MINUTE, ZONE, _backfill, _ms
from tests.support.real_loggers import real_file

pytestmark = pytest.mark.integration


def _probe_alerts(logger: LoggerFile, end: datetime) -> list[AlertChange]:
    """The alerts opened on `logger`'s backfill, as `_detect` of the agreement test runs it."""
    assert logger.log_interval_min is not None
    interval = timedelta(minutes=logger.log_interval_min)
    key = SensorKey("BSL", "logger", logger.serial, "t")
    cap_ms = int(interval / MINUTE) * 60_000
    rules = tuple(device_rule(r.number, r.params(), cap_ms) for r in logger.rules)
    segment = Segment(FAR_PAST, FAR_FUTURE, NO_LIMITS, False, rules, cap_ms, recorder=True)
    timeline = ConditionTimeline({key: [segment]})
    detector = Detector(CFG, timeline)
    points = [(_ms(r.local_time), r.temp_c) for r in logger.readings]
    changes = _backfill(detector, key, points, _ms(end))
    return [c for c in changes if c.state == "open"]


def _false(changes: list[AlertChange]) -> dict[str, list[AlertChange]]:
    return {
        "stuck": [
            c
            for c in changes
            if c.kind == AlertKind.SENSOR_FAULT and c.detail.get("reason") == "stuck"
        ],
        "missing_data": [c for c in changes if c.kind == AlertKind.MISSING_DATA],
    }


def _end(name: str, logger: LoggerFile) -> datetime:
    if logger.run is not None and logger.run.stopped_at is not None:
        return logger.run.stopped_at  # a Q-tag counted until its stop
    assert logger.log_interval_min is not None
    return logger.readings[-1].local_time + timedelta(minutes=logger.log_interval_min)


@pytest.mark.parametrize("name", ["fridgetag2l", "qtag_run2", "qtag_run3"])
def test_a_real_logger_backfill_raises_no_stuck_probe_or_missing_data_alert(name: str) -> None:
    logger = real_file(name)
    assert logger.missing == ()  # every row has a value
    found = _false(_probe_alerts(logger, _end(name, logger)))
    print(
        f"\n{name} ({len(logger.readings)} readings every {logger.log_interval_min} min): "
        + ", ".join(f"{kind} {len(alerts)}" for kind, alerts in found.items())
    )
    for kind, alerts in found.items():
        for c in alerts[:5]:
            print(f"  {kind} from {local(c.start_ms, ZONE):%Y-%m-%d %H:%M} {c.detail}")
    assert {kind: len(alerts) for kind, alerts in found.items()} == {
        "stuck": 0,
        "missing_data": 0,
    }
