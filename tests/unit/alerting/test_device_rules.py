"""Device rules (alert_rules of kind excursion, e.g. a Q-tag's own alarms) in the detector:
hand-made series on a 10-minute log, and the rules' way from the catalog to an alert row."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from alerting.alert_store import NotifyConfig, write_changes
from alerting.conditions import load_timeline
from alerting.config import DetectorConfig
from alerting.detector import Detector
from alerting.device_rules import DeviceRule, device_rule
from alerting.episodes import AlertChange
from alerting.timeline import FAR_FUTURE, FAR_PAST, ConditionTimeline, Segment
from coldchain.catalog import catalog_session, create_catalog_engine, import_fleet, upgrade_catalog
from coldchain.catalog.schema import AlertRow, AlertRuleRow, LoggerReportRow, StorageUnitRow
from coldchain.config import Settings
from coldchain.judgement.limits import NO_LIMITS, Limits
from coldchain.models import Reading, SensorKey, SourceKind
from coldchain.times import from_ms, rfc3339_ms

KEY = SensorKey("S", "logger", "LOG-1", "t")
T0 = 1_763_800_000_000
MIN = 60_000
STEP = 10  # minutes between readings: the logging interval
CFG = DetectorConfig.from_settings(Settings())


def _rule(rule_id: int = 1, /, **params: object) -> DeviceRule:
    base: dict[str, object] = {"direction": "high", "limit_c": 8.0, "delay_min": 30.0}
    return device_rule(rule_id, {**base, "mode": "consecutive", **params}, STEP * MIN)


def _detector(*rules: DeviceRule, limits: Limits = NO_LIMITS) -> Detector:
    segment = Segment(FAR_PAST, FAR_FUTURE, limits, False, rules)
    detector = Detector(CFG, ConditionTimeline({KEY: [segment]}))
    detector.register_catalog(T0)
    return detector


def _feed(
    detector: Detector, values: dict[int, float], minutes: int, *, now_lag: int = 0
) -> list[AlertChange]:
    """A reading every STEP minutes (value by minute, else 5 °C), processed `now_lag`
    minutes after its time (0: live)."""
    changes: list[AlertChange] = []
    for m in range(0, minutes, STEP):
        ts = T0 + m * MIN
        reading = Reading(
            KEY.site, SourceKind.LOGGER, KEY.device, KEY.sensor, ts, values.get(m, 5.0), m
        )
        changes += detector.process([reading], ts + now_lag * MIN)
    return changes


def _at(minute: int) -> str | None:
    return rfc3339_ms(T0 + minute * MIN)


def _ruled(changes: list[AlertChange]) -> list[AlertChange]:
    return [c for c in changes if c.rule_id is not None]


def test_a_run_lasting_the_delay_alarms_from_its_start_to_the_first_reading_back() -> None:
    changes = _ruled(_feed(_detector(_rule()), {m: 9.0 + m / 100 for m in (100, 110, 120)}, 200))
    opened, resolved = changes
    assert (opened.state, opened.kind, opened.severity) == ("open", "excursion", "alarm")
    assert (opened.start_ms, opened.rule_id, opened.retrospective) == (T0 + 100 * MIN, 1, False)
    assert opened.detail["triggered_at"] == _at(130)  # start + 30 min
    assert opened.at_ms == T0 + 130 * MIN  # decided by the reading that fixed the last weight
    assert (resolved.state, resolved.end_ms, resolved.peak_c) == ("resolved", T0 + 130 * MIN, 10.2)
    assert resolved.detail["beyond_min"] == 30.0


def test_a_shorter_run_and_a_value_on_the_limit_raise_nothing() -> None:
    values = {100: 9.0, 110: 9.0, 200: 8.0, 210: 8.0, 220: 8.0, 230: 8.0}
    assert _ruled(_feed(_detector(_rule()), values, 300)) == []


def test_a_gap_counts_one_interval_not_the_whole_silence() -> None:
    detector = _detector(_rule())
    changes = _feed(detector, {m: 9.0 for m in range(100, 130, STEP)}, 110)
    reading = Reading("S", SourceKind.LOGGER, "LOG-1", "t", T0 + 240 * MIN, 5.0, 99)
    changes += detector.process([reading], T0 + 240 * MIN)  # 130 min without a reading
    changes += detector.tick(T0 + 241 * MIN)
    assert _ruled(changes) == []  # 10 + 10 min beyond the limit, not 140


def test_cumulative_minutes_add_up_over_the_record_and_alarm_once() -> None:
    rule = _rule(2, mode="cumulative", delay_min=60.0, direction="low", limit_c=2.0)
    cold = {m: 1.5 for m in (50, 60, 150, 160, 250, 260, 350, 360)}  # 20-min dips
    changes = _ruled(_feed(_detector(rule), cold, 500))
    (opened,) = changes
    assert (opened.state, opened.start_ms, opened.end_ms) == ("open", T0 + 50 * MIN, None)
    assert opened.detail["triggered_at"] == _at(270)  # 20 + 20 + 20 min: the third dip, + 10 min
    assert opened.detail["mode"] == "cumulative"


def test_a_device_rule_alarms_beside_the_product_limits_with_its_own_id() -> None:
    product = Limits(2.0, 8.0, 30 * MIN, "products VAX")
    changes = _feed(_detector(_rule(), limits=product), {m: 9.5 for m in range(100, 160)}, 200)
    opened = [c for c in changes if c.state == "open" and c.kind == "excursion"]
    by_rule = {c.rule_id: c for c in opened if c.severity == "alarm"}
    assert set(by_rule) == {None, 1}
    assert by_rule[None].start_ms == by_rule[1].start_ms == T0 + 100 * MIN
    assert by_rule[None].alert_id != by_rule[1].alert_id


def test_a_value_inside_a_wide_product_range_is_still_judged_by_the_rule() -> None:
    """The numpy pass takes plainly in-range readings in bulk; a device rule's limit must
    take a reading out of that pass, or a 12 °C run inside 2–25 °C would go unjudged."""
    wide = Limits(2.0, 25.0, 30 * MIN, "products CRT")
    changes = _feed(_detector(_rule(), limits=wide), {m: 12.0 for m in range(100, 140)}, 200)
    assert [c.state for c in _ruled(changes)] == ["open", "resolved"]


def test_a_backfill_is_retrospective() -> None:
    changes = _feed(_detector(_rule()), {m: 9.0 for m in range(100, 140)}, 200, now_lag=600)
    assert [(c.state, c.retrospective) for c in _ruled(changes)] == [
        ("open", True),
        ("resolved", True),
    ]


def test_a_late_page_with_a_run_is_one_retrospective_alarm() -> None:
    detector = _detector(_rule())
    _feed(detector, {}, 50)
    now = T0 + 400 * MIN
    current = Reading("S", SourceKind.LOGGER, "LOG-1", "t", T0 + 390 * MIN, 5.0, 39)
    changes = detector.process([current], now)  # the logger is back; its memory follows
    page = [
        Reading("S", SourceKind.LOGGER, "LOG-1", "t", T0 + m * MIN, 9.0 if m >= 200 else 5.0, m)
        for m in range(150, 260, STEP)
    ]
    changes += detector.process(page, now) + detector.tick(now + 5_000)
    changes += detector.process(page, now + 10_000) + detector.tick(now + 15_000)  # resent
    ruled = _ruled(changes)
    assert [(c.state, c.retrospective) for c in ruled] == [("open", True), ("resolved", True)]
    assert ruled[0].start_ms == T0 + 200 * MIN


def test_restored_state_keeps_a_run_in_progress() -> None:
    first = _detector(_rule())
    values = {m: 9.0 for m in range(100, 150, STEP)}
    assert _ruled(_feed(first, values, 120)) == []  # 100 and 110 beyond: 10 min known
    second = _detector(_rule())
    second.restore(list(first.snapshot().values()), T0 + 120 * MIN)
    changes: list[AlertChange] = []
    for m in range(110, 200, STEP):  # the broker resends from minute 110 on
        ts = T0 + m * MIN
        reading = Reading("S", SourceKind.LOGGER, "LOG-1", "t", ts, values.get(m, 5.0), m)
        changes += second.process([reading], ts)
    opened = [c for c in _ruled(changes) if c.state == "open"]
    assert [c.start_ms for c in opened] == [T0 + 100 * MIN]


# -- windows: one logger, several runs ------------------------------------------------------


def _window(first: int, last: int) -> dict[str, object]:
    """params_json's window keys as the importer writes them (minutes after T0)."""
    return {"from": _at(first), "until": _at(last)}


def test_a_windowed_consecutive_rule_sees_only_its_runs_readings() -> None:
    rule = _rule(**_window(100, 300))
    hot = {m: 9.0 for m in [*range(40, 90, STEP), *range(150, 190, STEP), *range(320, 380, STEP)]}
    changes = _ruled(_feed(_detector(rule), hot, 500))
    assert [(c.state, c.start_ms) for c in changes] == [
        ("open", T0 + 150 * MIN),
        ("resolved", T0 + 150 * MIN),
    ]
    assert changes[0].detail["triggered_at"] == _at(180)
    assert (changes[0].detail["from"], changes[0].detail["until"]) == (_at(100), _at(300))


def test_a_windowed_cumulative_total_starts_at_zero_at_from() -> None:
    rule = _rule(mode="cumulative", delay_min=60.0, direction="low", limit_c=2.0)
    windowed = replace(rule, from_ms=T0 + 200 * MIN)
    cold = {m: 1.5 for m in (50, 60, 150, 160, 250, 260, 350, 360, 450, 460)}  # 20-min dips
    (unbounded,) = _ruled(_feed(_detector(rule), cold, 600))
    (opened,) = _ruled(_feed(_detector(windowed), cold, 600))
    assert unbounded.detail["triggered_at"] == _at(270)  # the dips at 50 and 150 counted
    assert (opened.start_ms, opened.detail["triggered_at"]) == (T0 + 250 * MIN, _at(470))


def test_two_runs_of_one_logger_with_the_same_rules_are_independent() -> None:
    """The same cumulative rule imported from two runs (two rows, two windows): each run
    counts its own minutes and raises its own alarm, as each run of the device did."""
    params: dict[str, object] = {"mode": "cumulative", "delay_min": 30.0}
    first, second = _rule(1, **params, **_window(0, 290)), _rule(2, **params, **_window(300, 590))
    hot = {m: 9.0 for m in (100, 110, 240, 250, 400, 410, 540, 550)}  # 20 + 20 min per run
    detector = _detector(first, second)
    changes = _ruled(_feed(detector, hot, 600))
    assert [(c.rule_id, c.state, c.start_ms, c.detail["triggered_at"]) for c in changes] == [
        (1, "open", T0 + 100 * MIN, _at(250)),
        (2, "open", T0 + 400 * MIN, _at(550)),
    ]
    progress = detector.sensors.states[detector.sensors.index[KEY]].rules
    assert (progress["1"].total_ms, progress["2"].total_ms) == (40 * MIN, 40 * MIN)


def test_a_run_beyond_the_limit_at_until_is_counted_up_to_until_and_stays_open() -> None:
    """`until` is the device's stop, after its last log row: the last reading stands until
    then; the window closes at the first reading after it, which fires the alarm but does
    not end it (the device lists such an event as still open at stop)."""
    rule = _rule(delay_min=25.0, **_window(0, 205))
    detector = _detector(rule)
    changes = _ruled(_feed(detector, {m: 9.0 for m in range(180, 240, STEP)}, 300))
    (opened,) = changes
    assert (opened.state, opened.start_ms, opened.at_ms) == ("open", T0 + 180 * MIN, T0 + 210 * MIN)
    assert opened.detail["triggered_at"] == _at(205)
    state = detector.sensors.states[detector.sensors.index[KEY]]
    progress = state.rules["1"]
    assert progress.alarm is not None  # open, not resolved by the 5 °C readings after until
    assert progress.beyond_ms(rule, T0 + 10_000 * MIN) == 25 * MIN  # 10 + 10 + 5 (to until)
    assert state.quiet  # nothing left to decide: bulk path


def test_a_rule_without_a_window_is_unchanged() -> None:
    rule = _rule(mode="cumulative", delay_min=30.0)
    assert (rule.from_ms, rule.until_ms) == (None, None)
    hot = {m: 9.0 for m in (100, 110, 400, 410)}
    (opened,) = _ruled(_feed(_detector(rule), hot, 600))  # both runs' minutes add up
    assert (opened.start_ms, opened.detail["triggered_at"]) == (T0 + 100 * MIN, _at(410))
    assert "from" not in opened.detail
    assert "until" not in opened.detail


def test_restored_state_keeps_a_windowed_total_in_progress() -> None:
    def rules() -> tuple[DeviceRule, DeviceRule]:
        params: dict[str, object] = {"mode": "cumulative", "delay_min": 30.0}
        return _rule(1, **params, **_window(0, 290)), _rule(2, **params, **_window(300, 590))

    hot = {m: 9.0 for m in (100, 110, 240, 250, 400, 410, 540, 550)}
    whole = _ruled(_feed(_detector(*rules()), hot, 600))
    first = _detector(*rules())
    assert _ruled(_feed(first, hot, 200)) == []  # mid-window: 20 of its 30 min counted
    second = _detector(*rules())
    second.restore(list(first.snapshot().values()), T0 + 200 * MIN)
    changes: list[AlertChange] = []
    for m in range(190, 600, STEP):  # the broker resends from minute 190 on
        ts = T0 + m * MIN
        reading = Reading("S", SourceKind.LOGGER, "LOG-1", "t", ts, hot.get(m, 5.0), m)
        changes += second.process([reading], ts)
    assert [(c.alert_id, c.detail) for c in _ruled(changes)] == [
        (c.alert_id, c.detail) for c in whole
    ]
    assert len(whole) == 2


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"direction": "up", "limit_c": 8.0, "delay_min": 30}, "direction"),
        ({"direction": "high", "limit_c": "8", "delay_min": 30}, "limit_c"),
        ({"direction": "high", "limit_c": 8.0, "delay_min": -1}, "delay_min"),
        ({"direction": "high", "limit_c": 8.0, "delay_min": 30, "mode": "daily"}, "mode"),
        ({"direction": "high", "limit_c": 8.0, "delay_min": 30, "from": "yesterday"}, "from"),
        ({"direction": "high", "limit_c": 8.0, "delay_min": 30, "from": 1_700_000}, "from"),
        (
            {"direction": "high", "limit_c": 8.0, "delay_min": 30, "until": "2022-11-09T00:28"},
            "until: expected a time with an offset",
        ),
        (
            {
                "direction": "high",
                "limit_c": 8.0,
                "delay_min": 30,
                "from": "2022-11-09T00:00:00Z",
                "until": "2022-11-08T00:00:00Z",
            },
            "until: expected at or after from",
        ),
    ],
)
def test_unreadable_params_are_refused_naming_the_field(
    params: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        device_rule(1, params, STEP * MIN)


# -- from the catalog ----------------------------------------------------------------------

FLEET = """\
sponsors: [{id: ACME, name: Acme}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {id: FR-1, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}
shipments:
  - {id: SHP-1, origin: BSL, destination: BSL,
     loggers: [{id: LOG-1, sensors: [{id: t}], log_interval_s: 600}]}
"""


def _fridge_tag_report(unit_id: int) -> LoggerReportRow:
    """A Fridge-tag export (5-min log) imported as the unit's probe p1 (logs every minute)."""
    return LoggerReportRow(
        unit_id=unit_id,
        site_id="BSL",
        source="unit",
        device="FR-1",
        sensor="p1",
        format="berlinger",
        device_model="Q-tag Fridge-tag 2 L",
        serial="130500109088",
        file_sha256="0" * 64,
        file_name="130500109088_202206081014.txt",
        timezone="Europe/Zurich",
        log_interval_s=300,
        readings=0,
        imported_at=from_ms(T0),
        imported_by="test",
        summary_json="{}",
        events_json="[]",
        rules_json="[]",
    )


def test_rules_of_a_shipment_and_a_unit_come_from_the_catalog_to_the_alert_row(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_catalog_engine(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    upgrade_catalog(engine)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    import_fleet(engine, fleet, actor="test")
    params = {"direction": "high", "limit_c": 8.0, "delay_min": 30.0, "mode": "consecutive"}
    with catalog_session(engine) as session:
        unit_id = session.execute(select(StorageUnitRow.id)).scalar_one()
        rows = [
            AlertRuleRow(
                kind="excursion",
                shipment_id="SHP-1",
                params_json=json.dumps({**params, "origin": "Q-tag X alarm 1"}),
            ),
            AlertRuleRow(kind="excursion", unit_id=unit_id, params_json=json.dumps(params)),
            AlertRuleRow(kind="excursion", shipment_id="SHP-1", params_json='{"limit_c": 1}'),
            AlertRuleRow(
                kind="excursion", shipment_id="SHP-1", params_json=json.dumps(params), enabled=False
            ),
        ]
        session.add_all(rows)
        session.add(_fridge_tag_report(unit_id))
        session.flush()
        shipment_rule, unit_rule = rows[0].id, rows[1].id
    with caplog.at_level(logging.WARNING, logger="alerting.conditions"):
        timeline = load_timeline(engine, CFG.default_alarm_delay_ms)
    assert "left out: direction" in caplog.text
    logger_key = SensorKey("BSL", "logger", "LOG-1", "t")
    (rule,) = timeline.lookup(logger_key, T0).rules
    assert (rule.rule_id, rule.cap_ms, rule.origin) == (shipment_rule, 600_000, "Q-tag X alarm 1")
    (rule,) = timeline.lookup(SensorKey("BSL", "unit", "FR-1", "p1"), T0).rules
    assert (rule.rule_id, rule.cap_ms) == (unit_rule, 300_000)  # the export's, not the unit's

    detector = Detector(CFG, timeline)
    readings = [
        Reading("BSL", SourceKind.LOGGER, "LOG-1", "t", T0 + m * MIN, 9.0 if m < 40 else 5.0, m)
        for m in range(0, 60, 10)
    ]
    changes = _ruled(detector.process(readings, T0 + 60 * MIN))
    assert [c.state for c in changes] == ["open", "resolved"]
    write_changes(engine, changes, NotifyConfig())
    with catalog_session(engine) as session:
        row = session.execute(select(AlertRow)).scalar_one()
        assert (row.rule_id, row.kind, row.severity, row.state) == (
            shipment_rule,
            "excursion",
            "alarm",
            "resolved",
        )
        detail = json.loads(row.detail_json or "{}")
        assert detail["triggered_at"] == _at(30)
    engine.dispose()
