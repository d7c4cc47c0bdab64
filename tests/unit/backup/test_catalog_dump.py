"""Catalog dump and load on SQLite (the restore drill covers PostgreSQL): every row comes
back exactly, bytes and microseconds included; the load is all or nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select

from backup import BackupDamaged, BackupIncompatible, TargetNotEmpty
from backup.catalog import dump_catalog, first_nonempty_table, load_catalog
from coldchain.catalog import catalog_session, create_catalog_engine, import_fleet, upgrade_catalog
from coldchain.catalog.alerts import NewAlert, acknowledge_alert, open_alert
from coldchain.catalog.schema import Base, DeadLetterRow

DEMO_FLEET = Path(__file__).resolve().parents[3] / "deploy" / "demo" / "fleet.yaml"


def _engine(path: Path) -> Engine:
    engine = create_catalog_engine(f"sqlite:///{path}")
    upgrade_catalog(engine)
    return engine


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Engine]:
    engine = _engine(tmp_path / "source.sqlite3")
    import_fleet(engine, DEMO_FLEET, actor="test")
    at = datetime(2026, 11, 20, 8, 0, 0, 123_457, tzinfo=UTC)
    with catalog_session(engine) as session:
        alert = NewAlert(
            alert_id="exc-1",
            kind="excursion",
            severity="alarm",
            site="BSL",
            source="unit",
            device="FRIDGE-02",
            sensor="p1",
            start=at - timedelta(microseconds=1),
            peak_c=8.100000000000001,
        )
        open_alert(session, alert, at=at)
        acknowledge_alert(session, "exc-1", actor="omar", at=at, comment='ünïcode, "quotes"')
        session.execute(
            insert(DeadLetterRow),
            [
                {
                    "received_at": at,
                    "stage": "decode",
                    "topic": None,
                    "reason": "x",
                    "payload": b"\x00\xff",
                }
            ],
        )
    yield engine
    engine.dispose()


def _all_rows(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with catalog_session(engine) as session:
        return {
            table.name: [
                tuple(row) for row in session.execute(select(table).order_by(*table.primary_key))
            ]
            for table in Base.metadata.sorted_tables
        }


def test_every_row_comes_back_exactly(source: Engine, tmp_path: Path) -> None:
    section, files = dump_catalog(source, tmp_path / "backup")
    assert [t.table for t in section.tables] == [t.name for t in Base.metadata.sorted_tables]
    assert {f.path for f in files} == {t.file for t in section.tables}
    assert section.audit.broken_at is None
    assert not list((tmp_path / "backup" / "catalog").glob(".snapshot*"))  # no copy left
    target = _engine(tmp_path / "target.sqlite3")
    load_catalog(target, tmp_path / "backup", section, replace=False)
    assert _all_rows(target) == _all_rows(source)
    target.dispose()


def test_load_refuses_a_catalog_that_holds_rows_and_force_replaces_them(
    source: Engine, tmp_path: Path
) -> None:
    section, _ = dump_catalog(source, tmp_path / "backup")
    target = _engine(tmp_path / "target.sqlite3")
    import_fleet(target, DEMO_FLEET, actor="someone else")
    before = _all_rows(target)
    with pytest.raises(TargetNotEmpty, match="already holds rows"):
        load_catalog(target, tmp_path / "backup", section, replace=False)
    assert _all_rows(target) == before
    load_catalog(target, tmp_path / "backup", section, replace=True)
    assert _all_rows(target) == _all_rows(source)
    target.dispose()


def test_a_load_that_does_not_match_the_manifest_rolls_back(source: Engine, tmp_path: Path) -> None:
    section, _ = dump_catalog(source, tmp_path / "backup")
    wrong = section.model_copy(
        update={
            "tables": [
                t.model_copy(update={"rows": t.rows + 1}) if t.table == "sensors" else t
                for t in section.tables
            ]
        }
    )
    [sensors] = [t.rows for t in section.tables if t.table == "sensors"]
    target = _engine(tmp_path / "target.sqlite3")
    with pytest.raises(
        BackupDamaged,
        match=rf"sensors\.jsonl\.gz: loaded {sensors} rows, the manifest says {sensors + 1}",
    ):
        load_catalog(target, tmp_path / "backup", wrong, replace=False)
    assert first_nonempty_table(target) is None
    target.dispose()


def test_an_unmigrated_catalog_is_not_backed_up(tmp_path: Path) -> None:
    engine = create_catalog_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    with pytest.raises(BackupIncompatible, match="not migrated"):
        dump_catalog(engine, tmp_path / "backup")
    engine.dispose()
