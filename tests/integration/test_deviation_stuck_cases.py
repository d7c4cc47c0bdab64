"""Issue #21's stuck cases: findings a QA-closed alert can never clear, each cleared only
through a deviation once it is closed, the verdict blocked while it is open, assessed or
disputed.

Readings go into a real influxd as ingest writes them; the alerts of the two shipments are
the detector's own (run in-process over the same readings with the catalog's timeline:
the product's limits and the Q-tag rules imported for each shipment); the records are
judged as the API judges them (`judge_batch`). Each batch has a place of its own, so each
test writes only its readings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from alerting.alert_store import NotifyConfig, write_changes
from alerting.conditions import load_timeline
from alerting.config import DetectorConfig
from alerting.detector import Detector
from api.access.deviations import covered_finding
from api.export.findings import Finding
from api.export.judge import judge_batch
from api.export.walk import Report
from coldchain.catalog import catalog_session
from coldchain.catalog.alerts import NewAlert, close_alert, get_alert, open_alert, resolve_alert
from coldchain.catalog.deviations import Deviation
from coldchain.catalog.logger_reports import import_device_rules, resolve_target
from coldchain.catalog.schema import AlertRow
from coldchain.config import Settings
from coldchain.influx import InfluxClient
from coldchain.lineprotocol import reading_line
from coldchain.loggers.model import AlarmRule
from coldchain.models import Reading, SourceKind
from coldchain.times import to_ms
from tests.support.export_world import NOW, ExportWorld, at, iso, open_export_world, series, write
from tests.support.servers import InfluxServer
from tests.support.signers import add_signers, assess, decide, open_on

pytestmark = pytest.mark.integration

_UNITS = "".join(
    f"      - {{id: FRIDGE-{c}, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, "
    "sensors: [{id: p1}]}\n"
    for c in "CDEG"
)
_UNIT_PLACEMENTS = "".join(
    f'  - {{batch: LOT-{c}, unit: BSL/FRIDGE-{c}, from: "{iso(0)}", to: "{iso(12)}"}}\n'
    for c in "CDEG"
)
_LOGGER = "loggers: [{{id: {0}, sensors: [{{id: p1}}], log_interval_s: 60}}]"
FLEET = f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}, {{id: GLOBEX, name: Globex}}]
users: [{{id: alice, role: sponsor_viewer, sponsor: ACME}}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
{_UNITS}\
products:
  - id: VAX-1
    sponsor: ACME
    storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30, budget: {{max_c: 25.0, hours: 24}}}}
batches: [{", ".join(f"{{id: LOT-{b}, product: VAX-1}}" for b in ("A", "B1", "B2", *"CDEG"))}]
shipments:
  - {{id: SHP-A, origin: BSL, destination: BSL, {_LOGGER.format("LOG-A")}}}
  - {{id: SHP-B1, origin: BSL, destination: BSL, {_LOGGER.format("LOG-B")}}}
  - {{id: SHP-B2, origin: BSL, destination: BSL, {_LOGGER.format("LOG-B")}}}
placements:
  - {{batch: LOT-A, shipment: SHP-A, from: "{iso(0)}", to: "{iso(6)}"}}
  - {{batch: LOT-B1, shipment: SHP-B1, from: "{iso(0)}", to: "{iso(4)}"}}
  - {{batch: LOT-B2, shipment: SHP-B2, from: "{iso(6)}", to: "{iso(10)}"}}
{_UNIT_PLACEMENTS}"""


@pytest.fixture
async def world(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> AsyncIterator[ExportWorld]:
    async with open_export_world(FLEET, influxd.url, influx_db, tmp_path) as world:
        add_signers(world.engine)
        yield world


async def _judge(world: ExportWorld, batch: str) -> Report:
    async with InfluxClient(world.influx_url, world.influx_db) as influx:
        return await judge_batch(
            batch,
            influx=influx,
            catalog_engine=world.engine,
            viewer=None,
            settings=Settings(),
            now=NOW,
        )


def _states(report: Report) -> list[tuple[str, str, str | None]]:
    return [(f.kind, f.state, f.deviation) for f in report.findings]


async def _cleared_only_when_closed(
    world: ExportWorld, batch: str, findings: list[Finding]
) -> Deviation:
    """A deviation on `findings`: while it is open, assessed and disputed (and assessed
    again) they stay open under its number and the verdict is `open findings`; once the
    sponsor agrees (closed), they are cleared and the verdict is `no open findings`."""
    deviation = open_on(world.engine, batch, [covered_finding(f) for f in findings], now=NOW)
    for step in (
        lambda: None,
        lambda: assess(world.engine, deviation.id),
        lambda: decide(world.engine, deviation.id, agree=False),
        lambda: assess(world.engine, deviation.id, reason="stability arm C covers 12 °C for 2 h"),
    ):
        step()
        report = await _judge(world, batch)
        assert report.verdict == "open findings"
        assert _states(report) == [(f.kind, "open", deviation.number) for f in findings]
    closed = decide(world.engine, deviation.id, agree=True)
    report = await _judge(world, batch)
    assert _states(report) == [(f.kind, "cleared", closed.number) for f in findings]
    assert report.verdict == "no open findings"
    return closed


def _logger(
    device: str, start_h: float, end_h: float, value: Callable[[float], float]
) -> list[Reading]:
    """A reading of BSL's logger `device`/p1 every minute in [start, end) of the test day."""
    return [
        Reading(
            "BSL",
            SourceKind.LOGGER,
            device,
            "p1",
            to_ms(at(start_h + m / 60)),
            value(start_h + m / 60),
            m,
        )
        for m in range(round((end_h - start_h) * 60))
    ]


async def _upload_and_detect(world: ExportWorld, readings: list[Reading]) -> None:
    """The logger's upload after its trips: into InfluxDB, and through the detector with
    the catalog's timeline (product limits, the shipments' imported rules) into the
    catalog's alerts, as one backfill after the record's generation time."""
    now_ms = to_ms(NOW)
    await write(world, [reading_line(r, now_ms) for r in readings])
    cfg = DetectorConfig.from_settings(Settings())
    detector = Detector(cfg, load_timeline(world.engine, cfg.default_alarm_delay_ms))
    changes = detector.process(readings, now_ms) + detector.tick(now_ms + 60_000)
    write_changes(world.engine, changes, NotifyConfig())


def _import_rule(
    world: ExportWorld, shipment: str, rule: AlarmRule, span: tuple[float, float]
) -> int:
    """The Q-tag's alarm rule as `coldchain logger import --import-rules` stores it; its id."""
    with catalog_session(world.engine) as session:
        [rule_id] = import_device_rules(
            session,
            target=resolve_target(session, shipment=shipment),
            rules=[rule],
            actor="qa-maria",
            now=NOW,
            window=(at(span[0]), at(span[1])),
        )
    return rule_id


def _warm(
    *spans: tuple[float, float], mild: tuple[float, float] | None = None
) -> Callable[[float], float]:
    """Temperature by hour of the test day: 12 °C in `spans`, 7 °C (inside the product's
    2–8 °C, above a Q-tag's 6 °C) in `mild`, 5 °C otherwise."""

    def value(hour: float) -> float:
        if any(a <= hour < b for a, b in spans):
            return 12.0
        return 7.0 if mild is not None and mild[0] <= hour < mild[1] else 5.0

    return value


async def test_two_alarms_on_one_excursion_are_cleared_only_through_a_closed_deviation(
    world: ExportWorld,
) -> None:
    """(a) The Q-tag's own rule (above 6 °C for 20 min) alarms from 02:00, the product's
    limits (above 8 °C for 30 min) from 03:00, on one excursion: the record says the start
    differs, a disagreement no alert closure can clear."""
    rule = _import_rule(
        world, "SHP-A", AlarmRule(1, "high", 6.0, 20, "consecutive", "Q-tag alarm 1"), (0, 6)
    )
    await _upload_and_detect(world, _logger("LOG-A", 0, 6, _warm((3, 4), mild=(2, 3))))
    with catalog_session(world.engine) as session:
        alarms = session.execute(
            select(AlertRow.rule_id, AlertRow.start_at, AlertRow.end_at)
            .where(
                AlertRow.device == "LOG-A",
                AlertRow.kind == "excursion",
                AlertRow.severity == "alarm",
            )
            .order_by(AlertRow.start_at)
        ).all()
    assert alarms == [(rule, at(2), at(4)), (None, at(3), at(4))]
    report = await _judge(world, "LOT-A")
    assert [(f.kind, f.state, f.detail["agreement"]) for f in report.findings] == [
        ("disagreement", "open", "start differs"),
        ("excursion", "open", "start differs"),
    ]
    await _cleared_only_when_closed(world, "LOT-A", list(report.findings))


async def test_a_cumulative_alarm_is_dispositioned_through_its_deviation_and_leaves_the_next_trip(
    world: ExportWorld,
) -> None:
    """(b) The Q-tag's cumulative rule (above 8 °C for 40 min in all) fires on two brief
    excursions of SHP-B1 and, like the device, never ends: it overlaps the logger's next
    trip, SHP-B2 (clean), as an alarm only the detector saw. Closing SHP-B1's deviation
    closes the alarm with the end of the span it covered; SHP-B2's record is clean."""
    rule = _import_rule(
        world, "SHP-B1", AlarmRule(2, "high", 8.0, 40, "cumulative", "Q-tag alarm 2"), (0, 4)
    )
    trips = _logger("LOG-B", 0, 4, _warm((1, 1 + 20 / 60), (2, 2 + 25 / 60))) + _logger(
        "LOG-B", 6, 10, _warm()
    )
    await _upload_and_detect(world, trips)
    first, later = await _judge(world, "LOT-B1"), await _judge(world, "LOT-B2")
    alarm_id = str(first.findings[0].detail["alert_id"])
    assert [(f.kind, f.detail) for f in first.findings] == [
        ("disagreement", {"agreement": "alarm on a brief excursion", "alert_id": alarm_id}),
        ("disagreement", {"agreement": "alarm on a brief excursion", "alert_id": alarm_id}),
    ]
    assert [(f.kind, f.start_ms, f.end_ms, f.detail) for f in later.findings] == [
        # its time in SHP-B2 only: a span a deviation of LOT-B2 could cover for good
        (
            "disagreement",
            to_ms(at(6)),
            to_ms(at(10)),
            {"agreement": "detector only", "alert_id": alarm_id},
        ),
    ]
    assert later.verdict == "open findings"
    await _cleared_only_when_closed(world, "LOT-B1", list(first.findings))
    with catalog_session(world.engine) as session:
        alarm = get_alert(session, alarm_id)
        assert (alarm.state, alarm.rule_id) == ("closed", rule)
        assert alarm.end_at is not None
        assert to_ms(alarm.end_at) == first.findings[-1].end_ms  # all the deviation covered
    again = await _judge(world, "LOT-B2")
    assert (again.findings, again.verdict) == ((), "no open findings")


async def test_a_two_minute_gap_without_an_alert_is_cleared_through_a_deviation(
    world: ExportWorld,
) -> None:
    """(c) Two readings lost at 05:00 and 05:01: a gap no alert names."""
    kept, _ = _split(series("FRIDGE-C", 0, 12, _warm()), 5, 5 + 2 / 60)
    await write(world, kept)
    report = await _judge(world, "LOT-C")
    [gap] = report.findings
    assert (gap.kind, gap.state, gap.detail["missing_readings"], gap.detail["explained_by"]) == (
        "gap",
        "open",
        2,
        None,
    )
    await _cleared_only_when_closed(world, "LOT-C", [gap])


async def test_an_excursion_only_the_readings_show_is_cleared_through_a_deviation(
    world: ExportWorld,
) -> None:
    """(d) 45 min at 12 °C and no alert at all (the detector never saw these readings)."""
    await write(world, series("FRIDGE-D", 0, 12, _warm((3, 3.75))))
    report = await _judge(world, "LOT-D")
    assert [
        (f.kind, f.state, f.detail["agreement"], f.detail["alert_id"]) for f in report.findings
    ] == [
        ("disagreement", "open", "readings only", None),
        ("excursion", "open", "readings only", None),
    ]
    await _cleared_only_when_closed(world, "LOT-D", list(report.findings))


async def test_a_gap_under_a_qa_closed_missing_data_alert_stays_open_until_its_deviation_closes(
    world: ExportWorld,
) -> None:
    """(e) Two hours lost from 04:00; the detector's missing-data alert of its first half
    hour was closed by QA: the alert no longer explains a gap of any length."""
    kept, _ = _split(series("FRIDGE-E", 0, 12, _warm()), 4, 6)
    await write(world, kept)
    with catalog_session(world.engine) as session:
        alert = NewAlert(
            "missing-FRIDGE-E-p1", "missing_data", "alarm", "BSL", "unit", "FRIDGE-E", "p1", at(4)
        )
        open_alert(session, alert, at=at(4.2))
        resolve_alert(session, alert.alert_id, actor="detector", at=at(4.5), end=at(4.5))
        close_alert(
            session, alert.alert_id, actor="qa-maria", at=at(5), root_cause="gateway rebooted"
        )
    report = await _judge(world, "LOT-E")
    [gap] = report.findings
    assert (gap.kind, gap.state, gap.detail["explained_by"]) == ("gap", "open", alert.alert_id)
    assert gap.detail["duration_min"] > 120
    await _cleared_only_when_closed(world, "LOT-E", [gap])


async def test_a_finding_that_grows_past_its_covered_span_is_open_again(world: ExportWorld) -> None:
    """45 min at 12 °C from 03:00, back at 5 °C at 03:45 and 03:46, then nothing until
    04:20: a closed deviation clears the excursion (03:00 to 03:45), its disagreement and
    the gap. The probe's buffered readings of 03:47 to 04:19 arrive late, still at 12 °C:
    the excursion now ends at 04:20, past the span covered, and it is open again."""
    readings = series("FRIDGE-G", 0, 12, _warm((3, 3.75), (3.75 + 2 / 60, 4 + 20 / 60)))
    kept, late = _split(readings, 3.75 + 2 / 60, 4 + 20 / 60)
    await write(world, kept)
    report = await _judge(world, "LOT-G")
    assert [(f.kind, f.start_ms, f.end_ms) for f in report.findings] == [
        ("disagreement", to_ms(at(3)), to_ms(at(3.75))),
        ("excursion", to_ms(at(3)), to_ms(at(3.75))),
        ("gap", to_ms(at(3.75 + 1 / 60)), to_ms(at(4 + 20 / 60))),
    ]
    deviation = await _cleared_only_when_closed(world, "LOT-G", list(report.findings))
    await write(world, late)
    grown = await _judge(world, "LOT-G")
    assert [(f.kind, f.id, f.start_ms, f.end_ms, f.state, f.deviation) for f in grown.findings] == [
        (f.kind, f.id, f.start_ms, to_ms(at(4 + 20 / 60)), "open", None)
        for f in report.findings[:2]  # the same findings, longer; the gap is filled
    ]
    assert grown.verdict == "open findings"
    assert deviation.state == "closed"


def _split(lines: list[str], start_h: float, end_h: float) -> tuple[list[str], list[str]]:
    """(lines outside, lines inside) [start, end) of the test day (line protocol, epoch ms
    as `series` writes it)."""
    inside = range(to_ms(at(start_h)), to_ms(at(end_h)))
    within = [line for line in lines if int(line.rsplit(" ", 1)[1]) in inside]
    taken = set(within)
    return [line for line in lines if line not in taken], within
