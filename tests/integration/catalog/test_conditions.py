"""Limits in force at a time: the import versions a product's storage condition, so a later
change never rewrites how the past is judged; sensors carry when they were installed and
removed; offline loggers say so."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select

from coldchain.catalog import CatalogNotFound, catalog_session, import_fleet
from coldchain.catalog.conditions import (
    SINCE_EVER,
    ConditionSpan,
    ProductCondition,
    condition_at,
    conditions_in_force,
    installed_span,
    is_installed,
)
from coldchain.catalog.importer import import_fleet_model
from coldchain.catalog.schema import (
    AuditEntryRow,
    LoggerRow,
    ProductConditionRow,
    ProductRow,
    SensorRow,
    StorageUnitRow,
)
from coldchain.errors import ConfigError
from coldchain.fleet import Fleet
from coldchain.judgement.limits import strictest
from coldchain.times import NaiveTimeError
from tests.support.catalog import FLEET_YAML

VAX_2_8 = ProductCondition(
    id="VAX-1",
    min_c=2.0,
    max_c=8.0,
    alarm_delay_min=30.0,
    budget_max_c=25.0,
    budget_min_c=None,
    budget_hours=24.0,
    label="2–8 °C; up to 24 h cumulative at ≤ 25 °C",
)
VAX_2_6 = ProductCondition(
    id="VAX-1",
    min_c=2.0,
    max_c=6.0,
    alarm_delay_min=30.0,
    budget_max_c=25.0,
    budget_min_c=None,
    budget_hours=24.0,
    label="2–6 °C; up to 24 h cumulative at ≤ 25 °C",
)
STRICTER = FLEET_YAML.replace(
    "storage: {min_c: 2.0, max_c: 8.0", "storage: {min_c: 2.0, max_c: 6.0"
)


def t(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def _versions(engine: Engine, product: str) -> list[tuple[datetime, float]]:
    with catalog_session(engine) as session:
        rows = session.execute(
            select(ProductConditionRow)
            .where(ProductConditionRow.product_id == product)
            .order_by(ProductConditionRow.valid_from)
        ).scalars()
        return [(row.valid_from, row.max_c) for row in rows]


def _audit(engine: Engine, entity: str) -> list[tuple[str, str | None, str | None]]:
    with catalog_session(engine) as session:
        rows = session.execute(
            select(AuditEntryRow).where(AuditEntryRow.entity == entity).order_by(AuditEntryRow.seq)
        ).scalars()
        return [(row.action, row.old_value, row.new_value) for row in rows]


# --- condition versions -----------------------------------------------------------------


def test_a_new_product_has_had_its_label_condition_since_ever(
    engine: Engine, fleet_file: Path
) -> None:
    report = import_fleet(engine, fleet_file, actor="test")
    assert report.created["product_condition"] == 2
    assert _versions(engine, "VAX-1") == [(SINCE_EVER, 8.0)]
    assert _versions(engine, "BIO-7") == [(SINCE_EVER, 7.0)]
    audit = _audit(engine, "product_condition")
    assert audit[0] == (
        "create",
        None,
        '{"alarm_delay_min":30.0,"budget_bands_json":null,"budget_hours":24.0,'
        '"budget_max_c":25.0,"budget_min_c":null,"freeze_c":null,"freeze_events":null,'
        '"label":"2–8 °C; up to 24 h cumulative at ≤ 25 °C","max_c":8.0,"min_c":2.0,'
        '"product":"VAX-1","valid_from":"1970-01-01T00:00:00+00:00"}',
    )
    with catalog_session(engine) as session:
        # Placements imported with their history find it: they lie before the import.
        assert condition_at(session, "VAX-1", t(3)) == VAX_2_8
        assert conditions_in_force(session, "VAX-1", t(1), t(30)) == [
            ConditionSpan(t(1), t(30), VAX_2_8)
        ]


def test_a_reimport_or_a_change_beside_the_condition_adds_no_version(
    engine: Engine, fleet_file: Path
) -> None:
    import_fleet(engine, fleet_file, actor="test")
    assert not import_fleet(engine, fleet_file, actor="test").changed
    fleet_file.write_text(FLEET_YAML.replace("  - id: VAX-1\n", "  - id: VAX-1\n    name: Vax\n"))
    report = import_fleet(engine, fleet_file, actor="test")
    assert (dict(report.created), dict(report.updated)) == ({}, {"product": 1})
    assert _versions(engine, "VAX-1") == [(SINCE_EVER, 8.0)]


def test_a_changed_condition_applies_from_the_import_and_the_past_keeps_its_own(
    engine: Engine, fleet_file: Path
) -> None:
    import_fleet(engine, fleet_file, actor="test")
    fleet_file.write_text(STRICTER)
    before = datetime.now(UTC)
    report = import_fleet(engine, fleet_file, actor="qa", reason="stability study SR-12")
    after = datetime.now(UTC)
    assert (dict(report.created), dict(report.updated)) == (
        {"product_condition": 1},
        {"product": 1},
    )
    (_, old), (changed_at, new) = _versions(engine, "VAX-1")
    assert (old, new) == (8.0, 6.0)
    assert before <= changed_at <= after
    with catalog_session(engine) as session:
        product = session.get(ProductRow, "VAX-1")
        assert product is not None
        assert (product.max_c, product.label) == (6.0, VAX_2_6.label)  # the present, as before
        assert condition_at(session, "VAX-1", t(3)) == VAX_2_8
        assert condition_at(session, "VAX-1", changed_at) == VAX_2_6
        assert conditions_in_force(session, "VAX-1", t(1), None) == [
            ConditionSpan(t(1), changed_at, VAX_2_8),
            ConditionSpan(changed_at, None, VAX_2_6),
        ]
    # Audited twice: the product's change, old and new, and the version it adds.
    update, version = _audit(engine, "product")[-1], _audit(engine, "product_condition")[-1]
    assert update[0] == "update"
    assert update[1] == '{"label":"2–8 °C; up to 24 h cumulative at ≤ 25 °C","max_c":8.0}'
    assert version[0] == "create"
    assert version[2] is not None
    assert '"max_c":6.0' in version[2]
    assert f'"valid_from":"{changed_at.isoformat()}"' in version[2]
    # Importing the same file again changes nothing more.
    assert not import_fleet(engine, fleet_file, actor="qa").changed


def test_conditions_in_force_cut_the_span_at_each_version(engine: Engine, fleet_file: Path) -> None:
    import_fleet(engine, fleet_file, actor="test")
    with catalog_session(engine) as session:
        for valid_from, max_c in ((t(5), 7.0), (t(10), 6.0)):
            session.add(
                ProductConditionRow(
                    product_id="VAX-1",
                    valid_from=valid_from,
                    min_c=2.0,
                    max_c=max_c,
                    alarm_delay_min=30.0,
                    label=f"2–{max_c:g} °C",
                    recorded_at=valid_from,
                )
            )
    with catalog_session(engine) as session:
        spans = conditions_in_force(session, "VAX-1", t(3), t(12))
        assert [(s.valid_from, s.valid_to, s.condition.max_c) for s in spans] == [
            (t(3), t(5), 8.0),
            (t(5), t(10), 7.0),
            (t(10), t(12), 6.0),
        ]
        assert spans[1].condition.budget_hours is None
        inside = conditions_in_force(session, "VAX-1", t(6), t(7))
        assert [(s.valid_from, s.valid_to, s.condition.max_c) for s in inside] == [
            (t(6), t(7), 7.0)
        ]
        # A version ends where the next begins: half-open, like placements.
        assert [s.condition.max_c for s in conditions_in_force(session, "VAX-1", t(5), t(10))] == [
            7.0
        ]
        assert conditions_in_force(session, "VAX-1", t(7), t(7)) == []
        assert conditions_in_force(session, "VAX-1", t(8), t(7)) == []
        assert condition_at(session, "VAX-1", t(5)).max_c == 7.0  # type: ignore[union-attr]
        assert condition_at(session, "VAX-1", t(5) - timedelta(microseconds=1)) == VAX_2_8
        # Each product keeps its own; the unit's alarm takes the strictest of them.
        both = [
            condition_at(session, "VAX-1", t(11)),
            condition_at(session, "BIO-7", t(11)),
        ]
        limits = strictest([c for c in both if c is not None])
        assert (limits.low_c, limits.high_c, limits.label) == (3.0, 6.0, "products BIO-7 + VAX-1")


def test_conditions_of_an_unknown_product_or_at_a_naive_time_are_refused(
    engine: Engine, fleet_file: Path
) -> None:
    import_fleet(engine, fleet_file, actor="test")
    with catalog_session(engine) as session:
        with pytest.raises(CatalogNotFound, match=r"^product 'NOPE' not found$"):
            conditions_in_force(session, "NOPE", t(1), t(2))
        with pytest.raises(CatalogNotFound, match=r"^product 'NOPE' not found$"):
            condition_at(session, "NOPE", t(1))
        with pytest.raises(NaiveTimeError):
            condition_at(session, "VAX-1", datetime(2026, 11, 1))


def test_a_product_without_versions_has_had_its_row_condition_since_ever(
    engine: Engine, fleet_file: Path
) -> None:
    """A product row written straight into the table (a benchmark does) has no versions;
    readers take the row, and the next import records it as the first version."""
    import_fleet(engine, fleet_file, actor="test")
    with catalog_session(engine) as session:
        session.execute(delete(ProductConditionRow))
    with catalog_session(engine) as session:
        assert conditions_in_force(session, "VAX-1", t(1), t(2)) == [
            ConditionSpan(t(1), t(2), VAX_2_8)
        ]
        assert condition_at(session, "VAX-1", SINCE_EVER - timedelta(seconds=1)) is None
    fleet_file.write_text(STRICTER)
    report = import_fleet(engine, fleet_file, actor="test", reason="stability study SR-12")
    assert report.created["product_condition"] == 3  # both products' first; VAX-1's change
    assert [max_c for _, max_c in _versions(engine, "VAX-1")] == [8.0, 6.0]


def test_a_change_behind_the_latest_recorded_version_is_refused(
    engine: Engine, fleet_file: Path
) -> None:
    import_fleet(engine, fleet_file, actor="test")
    future = datetime(2999, 1, 1, tzinfo=UTC)
    with catalog_session(engine) as session:
        session.add(
            ProductConditionRow(
                product_id="VAX-1",
                valid_from=future,
                min_c=2.0,
                max_c=8.0,
                alarm_delay_min=30.0,
                label="2–8 °C",
                recorded_at=future,
            )
        )
    fleet_file.write_text(STRICTER)
    with pytest.raises(ConfigError) as caught:
        import_fleet(engine, fleet_file, actor="test")
    assert re.fullmatch(
        rf"{re.escape(str(fleet_file))}: line 23: products\.0\.storage: the recorded condition "
        r"of VAX-1 is in force from 2999-01-01T00:00:00\.000Z, not before this import "
        r"\(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\): is the clock behind\?",
        str(caught.value),
    )
    assert len(_versions(engine, "VAX-1")) == 2


# --- sensors and loggers ----------------------------------------------------------------

SWAP = FLEET_YAML.replace(
    "sensors: [{id: p1, calibration_due: 2027-03-01}, {id: p2, calibration_due: 2027-03-01}]",
    "sensors: [{id: p1, removed: 2026-11-05}, {id: p2},\n"
    "                  {id: p3, installed: 2026-11-05}]",
).replace(
    "loggers: [{id: LOG-100, sensors: [{id: p1}], log_interval_s: 600}]",
    'loggers: [{id: LOG-100, sensors: [{id: p1, installed: "2026-11-10T07:00:00Z"}],\n'
    "              log_interval_s: 600, offline: true}]",
)
ZURICH_MIDNIGHT = datetime(2026, 11, 4, 23, tzinfo=UTC)  # 2026-11-05 in Europe/Zurich


def _sensor(engine: Engine, code: str, unit: str = "FRIDGE-01") -> SensorRow:
    with catalog_session(engine) as session:
        row = session.execute(
            select(SensorRow)
            .join(StorageUnitRow, StorageUnitRow.id == SensorRow.unit_id)
            .where(StorageUnitRow.code == unit, SensorRow.code == code)
        ).scalar_one()
        session.expunge(row)
        return row


def test_a_probe_swap_is_stored_with_dates_at_midnight_on_the_site(
    engine: Engine, fleet_file: Path
) -> None:
    fleet_file.write_text(SWAP)
    import_fleet(engine, fleet_file, actor="test")
    p1, p2, p3 = (_sensor(engine, code) for code in ("p1", "p2", "p3"))
    assert (p1.installed_at, p1.removed_at) == (None, ZURICH_MIDNIGHT)
    assert (p2.installed_at, p2.removed_at) == (None, None)
    assert (p3.installed_at, p3.removed_at) == (ZURICH_MIDNIGHT, None)
    # The swap hands over without a gap or an overlap.
    assert installed_span(p1, t(1), t(10)) == (t(1), ZURICH_MIDNIGHT)
    assert installed_span(p3, t(1), t(10)) == (ZURICH_MIDNIGHT, t(10))
    assert installed_span(p2, t(1), None) == (t(1), None)
    assert installed_span(p1, t(1), None) == (t(1), ZURICH_MIDNIGHT)
    assert installed_span(p1, t(6), t(7)) is None  # removed: expect nothing from it
    assert installed_span(p3, t(1), t(3)) is None  # not yet fitted
    assert (is_installed(p1, ZURICH_MIDNIGHT), is_installed(p3, ZURICH_MIDNIGHT)) == (False, True)
    with catalog_session(engine) as session:
        logger = session.execute(select(LoggerRow).where(LoggerRow.code == "LOG-100")).scalar_one()
        assert logger.offline is True
        probe = session.execute(select(SensorRow).where(SensorRow.logger_id == logger.id)).one()[0]
        assert probe.installed_at == datetime(2026, 11, 10, 7, tzinfo=UTC)
    assert not import_fleet(engine, fleet_file, actor="test").changed


def test_removing_a_probe_later_is_an_audited_update(engine: Engine, fleet_file: Path) -> None:
    import_fleet(engine, fleet_file, actor="test")
    assert _sensor(engine, "p1").removed_at is None
    fleet_file.write_text(
        FLEET_YAML.replace("{id: p1, calibration_due: 2027-03-01}", "{id: p1, removed: 2026-11-05}")
    )
    report = import_fleet(engine, fleet_file, actor="omar")
    assert dict(report.updated) == {"sensor": 1}
    assert _sensor(engine, "p1").removed_at == ZURICH_MIDNIGHT
    assert _audit(engine, "sensor")[-1] == (
        "update",
        '{"calibration_due":"2027-03-01","removed_at":null}',
        '{"calibration_due":null,"removed_at":"2026-11-04T23:00:00+00:00"}',
    )


def test_a_date_on_a_site_without_a_zone_is_midnight_utc(engine: Engine, fleet_file: Path) -> None:
    fleet_file.write_text(
        FLEET_YAML.replace(
            "sensors: [{id: p1}]\n", "sensors: [{id: p1, installed: 2026-11-05}]\n", 1
        )
    )
    import_fleet(engine, fleet_file, actor="test")
    assert _sensor(engine, "p1", unit="ROOM-01").installed_at == datetime(2026, 11, 5, tzinfo=UTC)


def test_loggers_are_online_unless_the_file_says_offline(engine: Engine, fleet_file: Path) -> None:
    import_fleet(engine, fleet_file, actor="test")
    with catalog_session(engine) as session:
        assert session.execute(select(LoggerRow.offline)).scalar_one() is False
    fleet_file.write_text(SWAP)
    report = import_fleet(engine, fleet_file, actor="test")
    assert report.updated["logger"] == 1
    assert _audit(engine, "logger")[-1] == ("update", '{"offline":false}', '{"offline":true}')


def test_a_fleet_built_in_code_gets_the_same_date_checks(engine: Engine, fleet_file: Path) -> None:
    import yaml

    raw = yaml.safe_load(
        SWAP.replace("{id: p2}", '{id: p2, installed: 2026-11-05, removed: "2026-11-04T22:00:00Z"}')
    )
    fleet = Fleet.model_validate(raw)
    with catalog_session(engine) as session, pytest.raises(ConfigError) as caught:
        import_fleet_model(session, fleet, actor="test")
    assert str(caught.value) == (
        "sites.0.units.0.sensors.1.removed: removed 2026-11-04T22:00:00+00:00 is not after "
        "installed 2026-11-05"
    )
