"""Imported logger reports in the catalog (SQLite and PostgreSQL): where the readings go,
the device's record kept once per file and target, rules under the `alert_rules` contract,
every change audited."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from coldchain.catalog import (
    CatalogConflict,
    CatalogNotFound,
    catalog_session,
    import_fleet,
    verify_audit_chain,
)
from coldchain.catalog.audit import read_audit
from coldchain.catalog.logger_reports import find_report, reports_for, resolve_target
from coldchain.catalog.schema import AlertRuleRow, LoggerReportRow
from coldchain.errors import ConfigError
from coldchain.loggers.serialize import device_record
from coldchain.models import SourceKind
from logger_import.importer import import_rules_only, prepare_import, record_import
from tests.support.real_loggers import real_file, real_path

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture
def fleet(engine: Engine, fleet_file: Path) -> Engine:
    import_fleet(engine, fleet_file, actor="test")
    return engine


def test_a_shipment_resolves_to_its_logger_under_the_origin_site(fleet: Engine) -> None:
    with catalog_session(fleet) as session:
        target = resolve_target(session, shipment="SHP-100")
    assert (target.site, target.source, target.device, target.sensor) == (
        "BSL",
        SourceKind.LOGGER,
        "LOG-100",
        "p1",
    )
    assert (target.shipment, target.unit_id, target.timezone) == ("SHP-100", None, "Europe/Zurich")


def test_a_unit_needs_its_sensor_named_when_it_has_several(fleet: Engine) -> None:
    with catalog_session(fleet) as session:
        with pytest.raises(ConfigError, match=r"has 2 sensors \['p1', 'p2'\]: name one"):
            resolve_target(session, unit="BSL/FRIDGE-01")
        target = resolve_target(session, unit="BSL/FRIDGE-01", sensor="p2", timezone="UTC")
    assert (target.source, target.device, target.sensor, target.timezone) == (
        SourceKind.UNIT,
        "FRIDGE-01",
        "p2",
        "UTC",
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({}, ConfigError, "exactly one of --shipment"),
        ({"shipment": "SHP-100", "unit": "BSL/FRIDGE-01"}, ConfigError, "exactly one"),
        ({"shipment": "SHP-999"}, CatalogNotFound, "shipment 'SHP-999' not found"),
        ({"unit": "BSL/NOPE"}, CatalogNotFound, "unit 'BSL/NOPE' not found"),
        ({"shipment": "SHP-100", "sensor": "p9"}, CatalogNotFound, "sensor 'p9' not found"),
        ({"shipment": "SHP-100", "timezone": "Mars/Olympus"}, ConfigError, "unknown time zone"),
    ],
)
def test_unresolvable_targets_are_refused(
    fleet: Engine, kwargs: dict[str, str], error: type[Exception], match: str
) -> None:
    with catalog_session(fleet) as session, pytest.raises(error, match=match):
        resolve_target(session, **kwargs)


def test_report_recorded_once_per_file_and_target_with_rules_and_audit(fleet: Engine) -> None:
    prepared = prepare_import(fleet, real_path("qtag_run2"), shipment="SHP-100")
    assert prepared.existing is None
    assert prepared.times_ms.size == 124
    outcome = record_import(fleet, prepared, actor="quinn", import_rules=True, now=NOW)
    assert (outcome.status, outcome.readings, len(outcome.rule_ids)) == ("imported", 124, 4)

    with catalog_session(fleet) as session:
        (stored,) = reports_for(session, shipment="SHP-100")
        rules = (
            session.execute(select(AlertRuleRow).where(AlertRuleRow.shipment_id == "SHP-100"))
            .scalars()
            .all()
        )
        audit = read_audit(session)
    assert stored.record == device_record(real_file("qtag_run2"))
    assert (stored.device, stored.sensor, stored.timezone, stored.imported_by) == (
        "LOG-100",
        "p1",
        "Europe/Zurich",
        "quinn",
    )
    # 2022-11-08 04:49 in Zurich (CET) is 03:49 UTC.
    assert stored.first_reading_at == datetime(2022, 11, 8, 3, 49, tzinfo=UTC)
    assert sorted(json.loads(r.params_json)["origin"] for r in rules) == [
        f"Q-tag CLm doc LR RCPJ00010 alarm {n}" for n in (1, 2, 4, 5)
    ]
    assert json.loads(rules[0].params_json) == {
        "direction": "high",
        "limit_c": 8.0,
        "delay_min": 30.0,
        "mode": "consecutive",
        "origin": "Q-tag CLm doc LR RCPJ00010 alarm 1",
        # The run's window: TS Start 04:49 CET (the first row) .. TS Stop 2022-11-09 01:28
        # CET (the last row is 01:19): the device counted until its stop.
        "from": "2022-11-08T03:49:00.000Z",
        "until": "2022-11-09T00:28:00.000Z",
    }
    assert all((r.kind, r.unit_id, r.enabled) == ("excursion", None, True) for r in rules)
    assert [(e.action, e.entity) for e in audit[-5:]] == [("import", "logger_report")] + [
        ("create", "alert_rule")
    ] * 4
    assert json.loads(audit[-5].new_value or "{}")["sha256"] == prepared.file.sha256

    again = prepare_import(fleet, real_path("qtag_run2"), shipment="SHP-100")
    assert again.existing is not None
    assert again.existing.id == outcome.report_id
    assert import_rules_only(fleet, again, actor="quinn") == ()  # the rules are there
    # A second writer that raced past the check: the unique key makes it a no-op.
    late = record_import(fleet, prepared, actor="quinn", now=NOW)
    assert (late.status, late.report_id) == ("already imported", outcome.report_id)
    with catalog_session(fleet) as session:
        assert session.scalar(select(func.count()).select_from(LoggerReportRow)) == 1
        assert session.scalar(select(func.count()).select_from(AlertRuleRow)) == 4
        assert verify_audit_chain(session).ok


def test_the_same_file_may_describe_a_unit_too_but_is_flagged(fleet: Engine) -> None:
    first = prepare_import(fleet, real_path("qtag_run3"), shipment="SHP-100")
    record_import(fleet, first, actor="quinn", now=NOW)
    other = prepare_import(fleet, real_path("qtag_run3"), unit="BSL/FRIDGE-01", sensor="p1")
    assert other.existing is None
    assert other.elsewhere == ("SHP-100",)
    record_import(fleet, other, actor="quinn", now=NOW)
    with catalog_session(fleet) as session:
        assert find_report(session, other.target, other.file.sha256) is not None


def test_the_database_refuses_a_duplicate_report(fleet: Engine) -> None:
    prepared = prepare_import(fleet, real_path("fridgetag2_4d"), shipment="SHP-100")
    record_import(fleet, prepared, actor="quinn", now=NOW)
    with catalog_session(fleet) as session:
        row = session.execute(select(LoggerReportRow)).scalar_one()
        columns = [c.name for c in LoggerReportRow.__table__.columns if c.name != "id"]
        clone = LoggerReportRow(**{name: getattr(row, name) for name in columns})
    with pytest.raises(CatalogConflict), catalog_session(fleet) as session:
        session.add(clone)
