"""`import_fleet`: the fleet file into the catalog, idempotent, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from coldchain.catalog import catalog_session, import_fleet, verify_audit_chain
from coldchain.catalog.schema import (
    AuditEntryRow,
    Base,
    PlacementRow,
    ProductRow,
    SensorRow,
    StorageUnitRow,
    UserRow,
)
from coldchain.errors import ConfigError
from tests.support.catalog import FLEET_YAML


def _counts(engine: Engine) -> dict[str, int]:
    with catalog_session(engine) as session:
        return {
            name: session.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in Base.metadata.tables.items()
        }


def test_import_creates_the_fleet_and_audits_each_row(engine: Engine, fleet_file: Path) -> None:
    report = import_fleet(engine, fleet_file, actor="test")
    assert report.created["unit"] == 2
    assert report.created["placement"] == 3
    counts = _counts(engine)
    assert counts["sponsors"] == 2
    assert counts["sensors"] == 4  # 2 in the fridge, 1 in the room, 1 in the logger
    with catalog_session(engine) as session:
        product = session.get(ProductRow, "VAX-1")
        assert product is not None
        assert product.label == "2–8 °C; up to 24 h cumulative at ≤ 25 °C"
        fridge = session.execute(
            select(StorageUnitRow).where(StorageUnitRow.code == "FRIDGE-01")
        ).scalar_one()
        assert fridge.site_id == "BSL"
        due = session.execute(
            select(SensorRow.calibration_due).where(SensorRow.unit_id == fridge.id)
        ).scalars()
        assert {str(d) for d in due} == {"2027-03-01"}
        open_placement = session.execute(
            select(PlacementRow).where(PlacementRow.batch_id == "LOT-0002")
        ).scalar_one()
        assert open_placement.start_at.isoformat() == "2026-11-04T23:00:00+00:00"
        assert open_placement.end_at is None
        assert verify_audit_chain(session).ok
    assert counts["audit_log"] == sum(report.created.values())


def test_reimport_of_the_same_file_changes_nothing(engine: Engine, fleet_file: Path) -> None:
    import_fleet(engine, fleet_file, actor="test")
    before = _counts(engine)
    report = import_fleet(engine, fleet_file, actor="test")
    assert not report.changed
    assert _counts(engine) == before


def test_reimport_updates_changed_fields_with_old_and_new_in_the_audit(
    engine: Engine, fleet_file: Path
) -> None:
    import_fleet(engine, fleet_file, actor="test")
    fleet_file.write_text(FLEET_YAML.replace("name: Globex Bio", "name: Globex Biologics"))
    report = import_fleet(engine, fleet_file, actor="bob")
    assert dict(report.updated) == {"sponsor": 1}
    with catalog_session(engine) as session:
        last = session.execute(select(AuditEntryRow).order_by(AuditEntryRow.seq.desc())).scalars()
        entry = next(iter(last))
    assert (entry.actor, entry.action, entry.entity_id) == ("bob", "update", "GLOBEX")
    assert entry.old_value == '{"name":"Globex Bio"}'
    assert entry.new_value == '{"name":"Globex Biologics"}'


def test_reimport_keeps_passwords_set_since(engine: Engine, fleet_file: Path) -> None:
    from coldchain.catalog import set_password

    import_fleet(engine, fleet_file, actor="test")
    with catalog_session(engine) as session:
        set_password(session, user_id="alice", password="correct horse", actor="test")
    import_fleet(engine, fleet_file, actor="test")
    with catalog_session(engine) as session:
        alice = session.get(UserRow, "alice")
        assert alice is not None
        assert alice.password_hash is not None


def test_closing_an_open_placement_in_the_file_records_the_move(
    engine: Engine, fleet_file: Path
) -> None:
    import_fleet(engine, fleet_file, actor="test")
    moved = FLEET_YAML.replace(
        '{batch: LOT-0002, unit: BSL/FRIDGE-01, from: "2026-11-05T00:00:00+01:00"}',
        '{batch: LOT-0002, unit: BSL/FRIDGE-01, from: "2026-11-05T00:00:00+01:00", '
        'to: "2026-11-20T00:00:00Z"}\n'
        '  - {batch: LOT-0002, unit: LYS/ROOM-01, from: "2026-11-20T00:00:00Z"}',
    )
    fleet_file.write_text(moved)
    report = import_fleet(engine, fleet_file, actor="test", reason="moved to LYS")
    assert dict(report.updated) == {"placement": 1}  # closed, not rewritten
    assert report.created["placement"] == 1
    with catalog_session(engine) as session:
        rows = session.execute(
            select(PlacementRow).where(PlacementRow.batch_id == "LOT-0002")
        ).scalars()
        assert sorted(str(r.end_at) for r in rows) == ["2026-11-20 00:00:00+00:00", "None"]


def test_a_bad_file_is_refused_whole_naming_line_and_field(engine: Engine, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        FLEET_YAML.replace("setpoint_c: 5.0\n        log", "setpoint_c: warm\n        log")
    )
    with pytest.raises(ConfigError, match=r"line 10: sites\.0\.units\.0\.setpoint_c"):
        import_fleet(engine, bad, actor="test")
    assert sum(_counts(engine).values()) == 0


def test_overlapping_placements_in_the_file_are_refused_and_nothing_is_written(
    engine: Engine, tmp_path: Path
) -> None:
    bad = tmp_path / "overlap.yaml"
    bad.write_text(
        FLEET_YAML
        + '  - {batch: LOT-0002, unit: BSL/FRIDGE-01, from: "2026-11-06T00:00:00Z",'
        + ' to: "2026-11-07T00:00:00Z"}\n'
    )
    with pytest.raises(ConfigError) as caught:
        import_fleet(engine, bad, actor="test")
    assert "line 38: placements.3.from" in str(caught.value)
    assert "overlaps placements[2]" in str(caught.value)
    assert sum(_counts(engine).values()) == 0


def test_a_file_that_rewrites_a_recorded_move_is_refused(engine: Engine, fleet_file: Path) -> None:
    import_fleet(engine, fleet_file, actor="test")
    before = _counts(engine)
    fleet_file.write_text(
        FLEET_YAML.replace('to: "2026-11-10T08:00:00Z"', 'to: "2026-11-09T08:00:00Z"').replace(
            "name: Acme Pharma", "name: Acme Renamed"
        )
    )
    with pytest.raises(ConfigError, match=r"placements\.0\.to: recorded end .* never overwritten"):
        import_fleet(engine, fleet_file, actor="test")
    assert _counts(engine) == before  # not even the harmless rename went in


def test_a_batch_cannot_change_product(engine: Engine, fleet_file: Path) -> None:
    import_fleet(engine, fleet_file, actor="test")
    fleet_file.write_text(
        FLEET_YAML.replace("{id: LOT-0002, product: BIO-7}", "{id: LOT-0002, product: VAX-1}")
    )
    with pytest.raises(ConfigError, match=r"batches\.1\.product: batch LOT-0002 is recorded"):
        import_fleet(engine, fleet_file, actor="test")
