"""Reasons for change (21 CFR 11.10(e), Annex 11 §9): an import or a user change that
changes the record (a product's storage condition, a placement's end, a user's role,
sponsor or sites) is refused without a reason, listing every such change and writing
nothing; with one, each of those changes' audit entries carries it. Creating things, and
changes beside the record (a name), need none. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from coldchain.catalog import catalog_session, import_fleet, upsert_user
from coldchain.catalog.audit import read_audit
from coldchain.catalog.errors import ReasonRequired
from coldchain.catalog.schema import AuditEntryRow
from tests.support.catalog import FLEET_YAML

REASON = "stability study SR-12 narrows VAX-1; LOT-0002 moved; omar covers LYS"
STRICTER = "storage: {min_c: 2.0, max_c: 6.0"
OPEN_STAY = '{batch: LOT-0002, unit: BSL/FRIDGE-01, from: "2026-11-05T00:00:00+01:00"}'
CLOSED_STAY = OPEN_STAY[:-1] + ', to: "2026-11-20T00:00:00Z"}'
# The three changes of record, a rename beside them and a new batch.
CHANGED = (
    FLEET_YAML.replace("storage: {min_c: 2.0, max_c: 8.0", STRICTER)
    .replace(OPEN_STAY, CLOSED_STAY)
    .replace("sites: [BSL]}", "sites: [BSL, LYS]}")
    .replace("name: Globex Bio", "name: Globex Biologics")
    .replace(
        "{id: LOT-0002, product: BIO-7}]",
        "{id: LOT-0002, product: BIO-7}, {id: LOT-9, product: BIO-7}]",
    )
)


def _entries(engine: Engine) -> int:
    with catalog_session(engine) as session:
        return session.execute(select(func.count()).select_from(AuditEntryRow)).scalar_one()


@pytest.mark.parametrize("reason", [None, "", "   "], ids=["none", "empty", "blank"])
def test_an_import_changing_the_record_without_a_reason_is_refused_listing_each_change(
    engine: Engine, fleet_file: Path, reason: str | None
) -> None:
    import_fleet(engine, fleet_file, actor="test")
    before = _entries(engine)
    fleet_file.write_text(CHANGED, encoding="utf-8")
    with pytest.raises(ReasonRequired) as refused:
        import_fleet(engine, fleet_file, actor="qa", reason=reason)
    assert refused.value.changes == (
        'user omar: sites ["BSL"] → ["BSL","LYS"]',
        "product VAX-1: storage condition max_c 8.0 → 6.0, "
        "label 2–8 °C; up to 24 h cumulative at ≤ 25 °C → 2–6 °C; up to 24 h cumulative at ≤ 25 °C",
        "placement 3 of batch LOT-0002 in unit BSL/FRIDGE-01 from 2026-11-04T23:00:00.000Z: "
        "closed at 2026-11-20T00:00:00.000Z",
    )
    assert _entries(engine) == before  # nothing written, not even the rename or LOT-9


def test_with_a_reason_each_change_of_record_carries_it_in_its_audit_entry(
    engine: Engine, fleet_file: Path
) -> None:
    import_fleet(engine, fleet_file, actor="test")
    first = _entries(engine)
    fleet_file.write_text(CHANGED, encoding="utf-8")
    report = import_fleet(engine, fleet_file, actor="qa", reason=f"  {REASON} ")
    assert report.updated == {"user": 1, "product": 1, "placement": 1, "sponsor": 1}
    with catalog_session(engine) as session:
        entries = [e for e in read_audit(session) if e.seq > first]
    reasons = {
        (e.action, e.entity, e.entity_id): json.loads(e.new_value or "{}").get("reason")
        for e in entries
    }
    version = next(e.entity_id for e in entries if e.entity == "product_condition")
    assert reasons == {
        ("update", "user", "omar"): REASON,
        ("update", "product", "VAX-1"): REASON,
        ("create", "product_condition", version): REASON,
        ("close", "placement", "3"): REASON,
        ("update", "sponsor", "GLOBEX"): None,  # a name: no change of record
        ("create", "batch", "LOT-9"): None,  # creating needs no reason
    }


def test_a_first_import_and_a_reimport_that_changes_nothing_need_no_reason(
    engine: Engine, fleet_file: Path
) -> None:
    assert import_fleet(engine, fleet_file, actor="test").changed
    assert not import_fleet(engine, fleet_file, actor="test").changed


def test_changing_a_users_role_needs_a_reason_and_records_it(engine: Engine) -> None:
    with catalog_session(engine) as session:
        upsert_user(session, user_id="uma", role="qa", actor="test")
    with catalog_session(engine) as session:
        upsert_user(session, user_id="uma", role="qa", actor="test", name="Uma QA")  # a name
    with (
        pytest.raises(ReasonRequired, match=r"user uma: role qa → admin"),
        catalog_session(engine) as session,
    ):
        upsert_user(session, user_id="uma", role="admin", actor="test", name="Uma QA")
    with catalog_session(engine) as session:
        upsert_user(
            session, user_id="uma", role="admin", actor="ada", name="Uma QA", reason="new head"
        )
    with catalog_session(engine) as session:
        last = read_audit(session, entity="user")[-1]
    assert (last.actor, last.action) == ("ada", "update")
    assert json.loads(last.new_value or "{}") == {"role": "admin", "reason": "new head"}
