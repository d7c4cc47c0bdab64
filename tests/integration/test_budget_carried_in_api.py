"""`POST /v1/batches/{batch}/carried-in` (#22): QA records budget a batch consumed before it
reached this site, with a reason for change, through the real app; it is audited and the
account (`GET /v1/batches/{batch}/budget`) charges it; other roles and bad input are
refused with a sentence.

VAX-B (2-8 °C) allows 2 h at 8-25 °C and 1 h at 0-2 °C; LOT-1 sits in BSL/FR-1 with no
readings yet, so the account holds only what is carried in."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from coldchain.catalog import catalog_session
from coldchain.catalog.audit import read_audit
from tests.support.budget_world import BudgetWorld, open_budget_world
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 2, tzinfo=UTC)
USERS = ("alice", "omar", "quinn")
FLEET = """\
sponsors: [{id: ACME, name: Acme Pharma}]
users:
  - {id: alice, role: sponsor_viewer, sponsor: ACME}
  - {id: omar, role: warehouse_operator, sites: [BSL]}
  - {id: quinn, role: qa}
sites:
  - id: BSL
    units: [{id: FR-1, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}]
products:
  - id: VAX-B
    sponsor: ACME
    storage: {min_c: 2.0, max_c: 8.0, freeze_c: 0.0, freeze_events: 1,
              budget: [{min_c: 8, max_c: 25, hours: 2}, {min_c: 0, max_c: 2, hours: 1}]}
batches: [{id: LOT-1, product: VAX-B}]
placements: [{batch: LOT-1, unit: BSL/FR-1, from: "2026-03-02T00:00:00Z"}]
"""
PATH = "/v1/batches/LOT-1/carried-in"
AMOUNT = {
    "band_min_c": 8,
    "band_max_c": 25,
    "hours": 0.5,
    "freeze_events": 1,
    "source": "sponsor CoA 2026-02-27",
    "reason": "CoA received with the shipment papers",
}


@pytest.fixture
async def world(influxd: InfluxServer, tmp_path: Path) -> AsyncIterator[BudgetWorld]:
    async with open_budget_world(
        FLEET, influxd.url, tmp_path, users=USERS, start=DAY + timedelta(hours=2)
    ) as built:
        yield built


async def _post(world: BudgetWorld, user: str, body: dict[str, Any]) -> tuple[int, Any]:
    answer = await world.client.post(PATH, json=body, headers=world.headers(user))
    return answer.status_code, answer.json()


async def test_qa_records_carried_in_time_audited_with_its_reason_and_the_account_charges_it(
    world: BudgetWorld,
) -> None:
    status, body = await _post(world, "quinn", AMOUNT)
    assert status == 201, body
    assert (body["band_min_c"], body["band_max_c"], body["hours"], body["freeze_events"]) == (
        8.0,
        25.0,
        0.5,
        1,
    )
    assert (body["source"], body["recorded_by"]) == ("sponsor CoA 2026-02-27", "quinn")
    with catalog_session(world.engine) as session:
        [audited] = read_audit(session, entity="carried_in")
    assert (audited.actor, audited.action, audited.entity_id) == ("quinn", "create", "1")
    assert json.loads(audited.new_value or "{}")["reason"] == AMOUNT["reason"]

    account = await world.get("quinn", "/v1/batches/LOT-1/budget")
    assert [c["id"] for c in account["carried_in"]] == [body["id"]]
    [charge] = account["charges"]
    assert (charge["source"], charge["band"], charge["hours"]) == ("carried_in", 1, 0.5)
    assert account["bands"][1]["charged_h"] == 0.5
    assert account["freeze_events"] == 1


@pytest.mark.parametrize(
    ("change", "status", "said"),
    [
        ({"band_min_c": 25, "band_max_c": 30}, 409, "has no band 25–30 °C"),
        ({"reason": " "}, 422, "reason"),
        ({"reason": None}, 422, "reason"),
        ({"source": ""}, 422, "source"),
        ({"hours": -1}, 422, "hours"),
    ],
)
async def test_carried_in_refuses_bad_input_with_a_sentence_and_records_nothing(
    world: BudgetWorld, change: dict[str, Any], status: int, said: str
) -> None:
    body = {k: v for k, v in {**AMOUNT, **change}.items() if v is not None}
    got, answer = await _post(world, "quinn", body)
    assert got == status, answer
    assert said in json.dumps(answer["detail"], ensure_ascii=False)
    with catalog_session(world.engine) as session:
        assert read_audit(session, entity="carried_in") == []


@pytest.mark.parametrize(("user", "status"), [("omar", 403), ("alice", 403)])
async def test_carried_in_is_qas_alone(world: BudgetWorld, user: str, status: int) -> None:
    got, answer = await _post(world, user, AMOUNT)
    assert got == status, answer
    assert "recorded by QA" in answer["detail"]
    with catalog_session(world.engine) as session:
        assert read_audit(session, entity="carried_in") == []
