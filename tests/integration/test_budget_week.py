"""#22's must-show: a simulated fleet week against the simulators' ground truth. The week's
readings arrive in InfluxDB six simulated hours at a time and the API's batch scan runs
after each step, as its timer would: the account's charges are those the ground truth
says, the 80 % warning opens before the 100 % alarm, a manual time-out-of-refrigeration
entry is charged and audited, a carried-in amount counts, and each sponsor sees only its
own batches' budgets and budget alerts.

BSL/FR-1 holds ACME's LOT-V1 (VAX: 2-8 °C, 7.5 h allowed at 8-25 °C, freezing counted
below -0.5 °C; 1.5 h carried in from the sponsor's CoA) and suffers a compressor failure
(day 1), a door left open (day 3) and a power outage (day 5); LOT-V1 also waited 45 min on
the dock at up to 15 °C on day 2 (entered by hand). BSL/FR-2 holds BETA's LOT-B1 (BIO: 2 h
allowed at 8-25 °C) and loses its power for 3 h on day 4. Probes without noise, so the
readings are the ground truth sampled every 5 minutes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from api.budget_watch import budget_alert_id
from api.export.judge import judge_batch
from coldchain.catalog import catalog_session
from coldchain.catalog.audit import read_audit
from coldchain.catalog.budget import add_tor_entry
from coldchain.fleet import Fleet
from coldchain.judgement.budget import BudgetAccount
from coldchain.lineprotocol import reading_line
from coldchain.times import from_ms, to_ms
from simulators.engine import Simulation
from simulators.outbound import ReadingsMessage
from simulators.plan import build_plan
from simulators.truth import TruthEvent
from tests.support.budget_world import BudgetWorld, open_budget_world
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

START = datetime(2026, 2, 2, tzinfo=UTC)
DAYS = 7
STEP = timedelta(hours=6)  # readings arrive, then the scan runs, every 6 simulated hours
INTERVAL_H = 300 / 3600  # the units' logging interval
ALLOWED_H, CARRIED_H = 7.5, 1.5
TOR = (START + timedelta(days=2, hours=9), START + timedelta(days=2, hours=9, minutes=45))
USERS = ("alice", "bob", "quinn")
FLEET = """\
sponsors:
  - {id: ACME, name: Acme Pharma, contacts: {email: [qa@acme.example]}}
  - {id: BETA, name: Beta Bio, contacts: {email: [qa@beta.example]}}
users:
  - {id: alice, role: sponsor_viewer, sponsor: ACME}
  - {id: bob, role: sponsor_viewer, sponsor: BETA}
  - {id: quinn, role: qa}
sites:
  - id: BSL
    units:
      - id: FR-1
        kind: refrigerator
        setpoint_c: 5.0
        log_interval_s: 300
        sensors: [{id: p1}]
        simulation:
          probes: {p1: {noise_c: 0.0}}
          faults:
            - {kind: compressor_failure, at: 1d, duration: 3h}
            - {kind: door_left_open, at: 3d, duration: 40m}
            - {kind: power_outage, at: 5d, duration: 4h}
      - id: FR-2
        kind: refrigerator
        setpoint_c: 5.0
        log_interval_s: 300
        sensors: [{id: p1}]
        simulation:
          probes: {p1: {noise_c: 0.0}}
          faults: [{kind: power_outage, at: 4d, duration: 3h}]
products:
  - id: VAX
    sponsor: ACME
    storage:
      min_c: 2.0
      max_c: 8.0
      alarm_delay_min: 30
      budget: [{min_c: 8.0, max_c: 25.0, hours: 7.5}]
      freeze_c: -0.5
  - id: BIO
    sponsor: BETA
    storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30, budget: [{min_c: 8.0, max_c: 25.0, hours: 2}]}
batches:
  - id: LOT-V1
    product: VAX
    carried_in: [{min_c: 8.0, max_c: 25.0, hours: 1.5, source: "sponsor CoA 2026-01-30"}]
  - {id: LOT-B1, product: BIO}
placements:
  - {batch: LOT-V1, unit: BSL/FR-1, from: "2026-02-02T00:00:00Z"}
  - {batch: LOT-B1, unit: BSL/FR-2, from: "2026-02-02T00:00:00Z"}
simulation: {seed: 3, step_s: 60}
"""


def _week() -> tuple[list[tuple[int, list[str]]], list[TruthEvent]]:
    """The simulated week: (due time, line protocol) of every readings message, in order,
    and the ground truth."""
    start = to_ms(START)
    plan = build_plan(Fleet.model_validate(yaml.safe_load(FLEET)), start, start + DAYS * 86_400_000)
    sim = Simulation(plan)
    messages: list[tuple[int, list[str]]] = []
    truth: list[TruthEvent] = []
    for chunk in sim.chunks():
        truth += chunk.truth
        messages += [
            (m.due_ms, [reading_line(r, m.due_ms) for r in m.readings])
            for m in chunk.messages
            if isinstance(m, ReadingsMessage)
        ]
    return messages, truth + sim.finish()


def _in_band_h(truth: list[TruthEvent], device: str) -> float:
    """The ground truth's hours above 8 °C (all below 25 °C) on `device`."""
    runs = [
        e
        for e in truth
        if e.kind == "excursion" and e.sensor.device == device and e.detail["direction"] == "high"
    ]
    assert runs
    assert all(e.end_ms is not None and (e.peak_c or 0) < 25 for e in runs)
    return sum(((e.end_ms or 0) - e.start_ms) / 3_600_000 for e in runs)


@pytest.fixture
async def world(influxd: InfluxServer, tmp_path: Path) -> AsyncIterator[BudgetWorld]:
    async with open_budget_world(FLEET, influxd.url, tmp_path, users=USERS, start=START) as w:
        yield w


async def _account(world: BudgetWorld, batch: str) -> BudgetAccount:
    """The account as the scan judges it (QA's view)."""
    report = await judge_batch(
        batch,
        influx=world.influx,
        catalog_engine=world.engine,
        viewer=None,
        settings=world.settings,
        now=world.clock[0],
    )
    return report.budget


async def test_a_simulated_week_charges_the_budget_as_the_ground_truth_says_and_warns_before_the_alarm(
    world: BudgetWorld,
) -> None:
    messages, truth = _week()
    tor_recorded: datetime | None = None
    moment, sent = START, 0
    while moment < START + timedelta(days=DAYS):
        moment += STEP
        due = to_ms(moment)
        lines: list[str] = []
        while sent < len(messages) and messages[sent][0] <= due:
            lines += messages[sent][1]
            sent += 1
        await world.influx.write_lines(lines)
        if tor_recorded is None and moment >= TOR[1]:  # the dock staff's entry, that day
            with catalog_session(world.engine) as session:
                add_tor_entry(
                    session,
                    "LOT-V1",
                    start=TOR[0],
                    end=TOR[1],
                    max_c=15.0,
                    reason="pallet staged on dock 3 while FR-1 was cleaned",
                    actor="quinn",
                    now=moment,
                )
            tor_recorded = moment
        await world.scan(moment)

    # the charges: readings as the ground truth's time in the band, the entry, the CoA
    account = await _account(world, "LOT-V1")
    truth_h = _in_band_h(truth, "FR-1")
    by_source = {c.source: c for c in account.charges}
    assert sorted(by_source) == ["carried_in", "manual", "readings"]
    readings = [c for c in account.charges if c.source == "readings"]
    assert [c.band for c in readings] == [0]
    # ±1 logging interval per charge: the readings' one charge sums the band's time
    assert readings[0].hours == pytest.approx(truth_h, abs=INTERVAL_H)
    assert (by_source["manual"].band, by_source["manual"].hours) == (0, 0.75)
    assert (by_source["manual"].start_ms, by_source["manual"].end_ms) == tuple(map(to_ms, TOR))
    assert (by_source["carried_in"].band, by_source["carried_in"].hours) == (0, CARRIED_H)
    [band] = account.bands
    assert band.charged_h == pytest.approx(truth_h + 0.75 + CARRIED_H, abs=INTERVAL_H)
    assert account.consumed_share == pytest.approx(band.charged_h / ALLOWED_H)
    assert account.freeze_events == 0
    assert account.exceeded

    # the alerts, as the scans saw the share grow: 50 %, 80 %, then the 100 % alarm
    alerts = world.budget_alerts("LOT-V1")
    assert [(a.alert_id, a.severity) for a in alerts] == [
        (budget_alert_id("LOT-V1", 0.5), "warning"),
        (budget_alert_id("LOT-V1", 0.8), "warning"),
        (budget_alert_id("LOT-V1", 1.0), "alarm"),
    ]
    fifty, eighty, hundred = alerts
    assert fifty.opened_at < eighty.opened_at < hundred.opened_at
    assert [a.state for a in alerts] == ["resolved", "resolved", "open"]
    # each opened at the first scan after the ground truth's share crossed its threshold
    for alert, threshold in ((fifty, 0.5), (eighty, 0.8), (hundred, 1.0)):
        crossed = _crossing(truth, threshold)
        assert crossed <= alert.opened_at < crossed + STEP + timedelta(hours=2 * INTERVAL_H)

    # the manual entry is audited with who, when and why
    with catalog_session(world.engine) as session:
        [entry] = [e for e in read_audit(session, entity="tor_entry") if e.action == "create"]
    recorded = json.loads(entry.new_value or "{}")
    assert (entry.actor, entry.at, recorded["max_c"]) == ("quinn", tor_recorded, 15.0)
    assert recorded["reason"] == "pallet staged on dock 3 while FR-1 was cleaned"

    # each sponsor: its own batch's budget and budget alerts, not the other's
    alice_budget = await world.get("alice", "/v1/batches/LOT-V1/budget")
    assert alice_budget["consumed_share"] == pytest.approx(account.consumed_share, abs=1e-3)
    assert {c["source"] for c in alice_budget["charges"]} == {"readings", "manual", "carried_in"}
    await world.get("alice", "/v1/batches/LOT-B1/budget", status=404)
    await world.get("bob", "/v1/batches/LOT-V1/budget", status=404)
    assert _budget_alerts(await world.get("alice", "/v1/alerts")) == {"LOT-V1"}
    assert _budget_alerts(await world.get("bob", "/v1/alerts")) == {"LOT-B1"}


def _crossing(truth: list[TruthEvent], threshold: float) -> datetime:
    """When LOT-V1's ground-truth account first reached `threshold` of its allowance: the
    carried-in hours, then FR-1's time above 8 °C and the dock entry, in time order."""
    spans = [
        (e.start_ms, e.end_ms or e.start_ms)
        for e in truth
        if e.kind == "excursion" and e.sensor.device == "FR-1" and e.detail["direction"] == "high"
    ] + [(to_ms(TOR[0]), to_ms(TOR[1]))]
    need_h = threshold * ALLOWED_H - CARRIED_H
    for start_ms, end_ms in sorted(spans):
        hours = (end_ms - start_ms) / 3_600_000
        if hours >= need_h:
            return from_ms(start_ms + round(need_h * 3_600_000))
        need_h -= hours
    raise AssertionError(f"the ground truth never reaches {threshold:.0%} of the budget")


def _budget_alerts(alerts: list[dict[str, Any]]) -> set[str]:
    return {a["device"] for a in alerts if a["kind"] == "budget"}
