"""Budget alerts from the API's batch scan (api/budget_watch.py) on the real path: readings
in a real influxd, the record judged by the scan as of a clock the test moves, the alerts,
their MQTT events and notices in the catalog, the alert list through the app.

ACME's VAX (2-8 °C; 2 h allowed at 8-25 °C, the old single form) is LOT-A in BSL/FR-1,
which warms to 12 °C three times: 70 min from 1 h, 35 min from 3 h and 30 min from 5 h
(58 %, 88 % and 113 % of the budget by 2.5 h, 4 h and 6 h). BETA's BIO (no budget) is
LOT-B in ZRH/FR-2, 20 min at 12 °C from 1 h: over at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from api.budget_watch import budget_alert_id
from coldchain.catalog import catalog_session
from coldchain.catalog.budget import add_tor_entry
from coldchain.catalog.placements import close_placement
from coldchain.catalog.schema import AlertRow, OutboxRow, PlacementRow
from coldchain.config import Settings
from tests.support.api_world import reading_line
from tests.support.budget_world import BudgetWorld, open_budget_world
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 2, tzinfo=UTC)
HOOK = "http://127.0.0.1:9/cmo-hook"  # the CMO's webhook: only its outbox rows are read
USERS = ("alice", "bob", "omar", "quinn")
FLEET = """\
sponsors:
  - {id: ACME, name: Acme Pharma, contacts: {email: [qa@acme.example]}}
  - {id: BETA, name: Beta Bio, contacts: {email: [qa@beta.example]}}
users:
  - {id: alice, role: sponsor_viewer, sponsor: ACME}
  - {id: bob, role: sponsor_viewer, sponsor: BETA}
  - {id: omar, role: warehouse_operator, sites: [ZRH]}
  - {id: quinn, role: qa}
sites:
  - id: BSL
    units: [{id: FR-1, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}]
  - id: ZRH
    units: [{id: FR-2, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}]
products:
  - id: VAX
    sponsor: ACME
    storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30, budget: {max_c: 25.0, hours: 2}}
  - {id: BIO, sponsor: BETA, storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}
batches: [{id: LOT-A, product: VAX}, {id: LOT-B, product: BIO}]
placements:
  - {batch: LOT-A, unit: BSL/FR-1, from: "2026-03-02T00:00:00Z"}
  - {batch: LOT-B, unit: ZRH/FR-2, from: "2026-03-02T00:00:00Z"}
"""
WARM_A = ((60, 70), (180, 35), (300, 30))  # (start, minutes) from DAY, LOT-A's fridge
WARM_B = ((60, 20),)


def _hours(h: float) -> datetime:
    return DAY + timedelta(hours=h)


def _lines(device: str, site: str, warm: tuple[tuple[int, int], ...], a: int, b: int) -> list[str]:
    """Minutes [a, b) of one fridge's p1: 5 °C, 12 °C in the `warm` spans."""
    return [
        reading_line(
            site,
            "unit",
            device,
            "p1",
            DAY + timedelta(minutes=m),
            12.0 if any(s <= m < s + n for s, n in warm) else 5.0,
        )
        for m in range(a, b)
    ]


async def _arrive(world: BudgetWorld, until_h: float) -> None:
    """Both fridges' readings up to `until_h`, then a scan as of then."""
    done = world.clock[0] - DAY
    a, b = int(done.total_seconds() // 60), int(until_h * 60)
    await world.influx.write_lines(
        _lines("FR-1", "BSL", WARM_A, a, b) + _lines("FR-2", "ZRH", WARM_B, a, b)
    )
    await world.scan(_hours(until_h))


@pytest.fixture
async def world(influxd: InfluxServer, tmp_path: Path) -> AsyncIterator[BudgetWorld]:
    async with open_budget_world(
        FLEET,
        influxd.url,
        tmp_path,
        users=USERS,
        start=DAY,
        notify_webhook_url=HOOK,
        notify_min_severity="warning",
    ) as built:
        yield built


async def test_the_scan_opens_50_80_100_once_each_as_consumed_and_each_ends_the_one_below(
    world: BudgetWorld,
) -> None:
    await _arrive(world, 2.5)
    [fifty] = world.budget_alerts("LOT-A")
    assert (fifty.alert_id, fifty.severity, fifty.state) == (
        budget_alert_id("LOT-A", 0.5),
        "warning",
        "open",
    )
    assert (fifty.site, fifty.source, fifty.device, fifty.sensor) == (
        "BSL",
        "batch",
        "LOT-A",
        "budget",
    )
    detail = json.loads(fifty.detail_json or "{}")
    assert detail["threshold"] == 0.5
    assert detail["consumed_share"] == pytest.approx(70 / 120, abs=1 / 120)
    await _arrive(world, 4)
    await _arrive(world, 6)
    await world.scan(_hours(6.5))  # nothing new: no alert opens twice
    fifty, eighty, hundred = world.budget_alerts("LOT-A")
    assert [(a.alert_id, a.severity, a.opened_at) for a in (fifty, eighty, hundred)] == [
        (budget_alert_id("LOT-A", 0.5), "warning", _hours(2.5)),
        (budget_alert_id("LOT-A", 0.8), "warning", _hours(4)),
        (budget_alert_id("LOT-A", 1.0), "alarm", _hours(6)),
    ]
    assert (fifty.state, fifty.resolved_by) == (
        "resolved",
        ("system", "superseded by the 80 % budget alert"),
    )
    assert (eighty.state, eighty.resolved_by) == (
        "resolved",
        ("system", "superseded by the 100 % budget alert"),
    )
    assert (hundred.state, hundred.resolved_by) == ("open", None)
    assert json.loads(hundred.detail_json or "{}")["consumed_share"] == pytest.approx(
        135 / 120, abs=1 / 120
    )
    # LOT-B's product allows nothing out of range: the 100 % alarm at once, no warnings
    [over] = world.budget_alerts("LOT-B")
    assert (over.alert_id, over.severity, over.opened_at) == (
        budget_alert_id("LOT-B", 1.0),
        "alarm",
        _hours(2.5),
    )


async def test_budget_alerts_go_to_the_mqtt_topic_the_cmo_webhook_and_only_their_sponsors_contacts(
    world: BudgetWorld,
) -> None:
    await _arrive(world, 2.5)
    await _arrive(world, 4)
    fifty = budget_alert_id("LOT-A", 0.5)
    eighty = budget_alert_id("LOT-A", 0.8)
    with catalog_session(world.engine) as session:
        rows = session.execute(select(OutboxRow).order_by(OutboxRow.id)).scalars().all()
        sent = [(r.alert_id, r.channel, r.destination, json.loads(r.payload)) for r in rows]
    ours = [s for s in sent if s[3].get("device") == "LOT-A"]
    assert [(a, c, d, p["alert_id"], p["state"]) for a, c, d, p in ours] == [
        (fifty, "mqtt", "coldchain/v1/BSL/alerts", fifty, "open"),
        (fifty, "webhook", HOOK, fifty, "open"),
        (None, "email", "qa@acme.example", fifty, "open"),
        (eighty, "mqtt", "coldchain/v1/BSL/alerts", eighty, "open"),
        (eighty, "webhook", HOOK, eighty, "open"),
        (None, "email", "qa@acme.example", eighty, "open"),
        (fifty, "mqtt", "coldchain/v1/BSL/alerts", fifty, "resolved"),
        (fifty, "webhook", HOOK, fifty, "resolved"),
        (None, "email", "qa@acme.example", fifty, "resolved"),
    ]
    notice = ours[2][3]
    assert (notice["event"], notice["batch"], notice["sponsor"], notice["kind"]) == (
        "budget",
        "LOT-A",
        "ACME",
        "budget",
    )
    # BETA's contact hears of LOT-B's alarm only, ACME's never of it
    notices = [(d, p.get("device")) for a, c, d, p in sent if p.get("event") == "budget"]
    assert ("qa@beta.example", "LOT-B") in notices
    assert ("qa@beta.example", "LOT-A") not in notices
    assert ("qa@acme.example", "LOT-B") not in notices


async def test_a_sponsor_sees_the_budget_alerts_of_its_own_batches_only_with_their_figures(
    world: BudgetWorld,
) -> None:
    await _arrive(world, 2.5)
    await _arrive(world, 4)

    async def budget(user: str) -> list[tuple[str, str]]:
        alerts = await world.get(user, "/v1/alerts")
        return sorted((a["device"], a["alert_id"]) for a in alerts if a["kind"] == "budget")

    acme = [("LOT-A", budget_alert_id("LOT-A", 0.5)), ("LOT-A", budget_alert_id("LOT-A", 0.8))]
    beta = [("LOT-B", budget_alert_id("LOT-B", 1.0))]
    assert await budget("alice") == sorted(acme)
    assert await budget("bob") == beta
    assert await budget("quinn") == sorted(acme + beta)
    assert await budget("omar") == beta  # an operator: the alerts of the sites he works at
    one = await world.get("alice", f"/v1/alerts/{budget_alert_id('LOT-A', 0.8)}")
    # the old single form is one band above the range; 105 of its 120 min charged
    assert one["detail"]["bands"] == [
        {"min_c": 8.0, "max_c": 25.0, "allowed_h": 2.0, "charged_h": pytest.approx(1.75, abs=0.02)}
    ]
    assert one["history"][0]["state"] == "open"
    await world.get("bob", f"/v1/alerts/{budget_alert_id('LOT-A', 0.8)}", status=404)
    by_kind = await world.get("alice", "/v1/alerts?kind=budget")
    assert sorted((a["device"], a["alert_id"]) for a in by_kind) == sorted(acme)


async def test_the_last_budget_alert_resolves_when_the_batch_leaves_custody(
    world: BudgetWorld,
) -> None:
    await _arrive(world, 4)
    with catalog_session(world.engine) as session:
        placement = session.execute(
            select(PlacementRow.id).where(PlacementRow.batch_id == "LOT-A")
        ).scalar_one()
        close_placement(session, placement_id=placement, at=_hours(4.25), actor="quinn")
    await world.scan(_hours(4.5))
    [eighty] = world.budget_alerts("LOT-A")
    assert (eighty.alert_id, eighty.state, eighty.end) == (
        budget_alert_id("LOT-A", 0.8),
        "resolved",
        _hours(4.25),
    )
    actor, comment = eighty.resolved_by or ("", "")
    assert actor == "system"
    assert (comment or "").startswith("the batch left custody with 8")  # 105 of 120 min
    assert (comment or "").endswith(" % of its budget consumed")


def test_budget_thresholds_outside_0_to_1_or_twice_are_refused_by_name() -> None:
    for bad in ([0.5, 1.5], [0.0], [0.8, 0.8]):
        with pytest.raises(ValidationError, match="api_budget_alert_thresholds") as caught:
            Settings(api_budget_alert_thresholds=bad)
        assert "expected distinct shares in (0, 1]" in str(caught.value)
    assert Settings(api_budget_alert_thresholds=[1.0, 0.5]).api_budget_alert_thresholds == [
        0.5,
        1.0,
    ]


async def test_a_budget_alert_resolves_when_a_voided_entry_takes_the_account_back_below_it(
    world: BudgetWorld,
) -> None:
    await _arrive(world, 2.5)  # 70 of 120 min: the 50 % warning
    with catalog_session(world.engine) as session:
        wrong = add_tor_entry(
            session,
            "LOT-A",
            start=_hours(0.25),
            end=_hours(0.75),
            max_c=15.0,
            reason="pallet on the dock",
            actor="quinn",
            now=_hours(2.5),
        )
    await world.scan(_hours(2.6))  # 100 of 120 min: the 80 % warning
    with catalog_session(world.engine) as session:
        add_tor_entry(
            session,
            "LOT-A",
            start=_hours(0.25),
            end=_hours(0.3),
            max_c=15.0,
            reason="the pallet was out 3 min, not 30: typed wrong",
            actor="quinn",
            now=_hours(2.7),
            voids=wrong.id,
        )
    await world.scan(_hours(2.8))  # 73 of 120 min again
    fifty, eighty = world.budget_alerts("LOT-A")
    assert (fifty.alert_id, fifty.state) == (budget_alert_id("LOT-A", 0.5), "resolved")
    assert (eighty.alert_id, eighty.state, eighty.end) == (
        budget_alert_id("LOT-A", 0.8),
        "resolved",
        _hours(2.8),
    )
    actor, comment = eighty.resolved_by or ("", "")
    assert actor == "system"
    assert (comment or "").startswith("the budget fell back to 6")  # 73 of 120 min


async def test_a_budget_alarm_calls_the_sites_on_call_rota_as_the_detectors_alarms_do(
    influxd: InfluxServer, tmp_path: Path
) -> None:
    """One rule of who is called (coldchain/catalog/alert_notices.py): BSL's shift in force
    is called at level 0, not the global `notify_email_to`, and the alarm escalates after
    the rota's delay."""
    rota = """\
    oncall:
      escalate_after_min: 7
      shifts:
        - {from: "2026-03-01T00:00:00Z", to: "2026-03-03T00:00:00Z",
           chain: [{name: Ana Roth, email: ana@cmo.example},
                   {name: Ben Kade, webhook: "http://127.0.0.1:9/ben"}]}
"""
    fleet = FLEET.replace("  - id: BSL\n", "  - id: BSL\n" + rota, 1)
    async with open_budget_world(
        fleet,
        influxd.url,
        tmp_path,
        users=USERS,
        start=DAY,
        notify_smtp_host="127.0.0.1",
        notify_email_to=["global@cmo.example"],
    ) as world:
        await _arrive(world, 6)
        hundred = budget_alert_id("LOT-A", 1.0)
        with catalog_session(world.engine) as session:
            rows = session.execute(
                select(OutboxRow).where(OutboxRow.alert_id == hundred, OutboxRow.channel == "email")
            ).scalars()
            called = sorted(r.destination for r in rows)
            alarm = session.get(AlertRow, hundred)
            assert alarm is not None
            assert alarm.next_escalation_at is not None
            escalates_after = alarm.next_escalation_at - alarm.updated_at
    assert called == ["ana@cmo.example"]
    assert escalates_after == timedelta(minutes=7)
