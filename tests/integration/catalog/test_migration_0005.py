"""Migration 0005 brings a catalog written at 0004 forward: each product gets its condition
as the first version (since ever), placements a NULL quantity (the whole batch), sensors no
dates, loggers `offline` false; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, select, text

from coldchain.catalog import catalog_session, create_catalog_engine, upgrade_catalog
from coldchain.catalog.conditions import SINCE_EVER, ConditionSpan, conditions_in_force
from coldchain.catalog.migrate import alembic_config, catalog_revision, head_revision
from coldchain.catalog.schema import LoggerRow, PlacementRow, ProductConditionRow, SensorRow
from tests.support.postgres import PostgresServer

AT_0004 = [
    "INSERT INTO sponsors (id, name) VALUES ('ACME', 'Acme Pharma')",
    "INSERT INTO sites (id, name, timezone) VALUES ('BSL', NULL, 'Europe/Zurich')",
    "INSERT INTO storage_units (id, site_id, code, name, kind, setpoint_c, log_interval_s) "
    "VALUES (1, 'BSL', 'FRIDGE-01', NULL, 'refrigerator', 5.0, 60)",
    "INSERT INTO sensors (id, unit_id, logger_id, code, calibration_due) "
    "VALUES (1, 1, NULL, 'p1', NULL)",
    "INSERT INTO shipments (id, origin_site_id, destination_site_id) VALUES ('SHP-1', 'BSL', 'BSL')",
    "INSERT INTO loggers (id, shipment_id, code, log_interval_s) VALUES (1, 'SHP-1', 'LOG-1', 600)",
    "INSERT INTO products (id, sponsor_id, name, min_c, max_c, alarm_delay_min, budget_max_c, "
    "budget_min_c, budget_hours, label, mkt_delta_h_kj_per_mol) VALUES ('VAX-1', 'ACME', NULL, "
    "2.0, 8.0, 30.0, 25.0, NULL, 24.0, '2–8 °C; up to 24 h cumulative at ≤ 25 °C', 83.144)",
    "INSERT INTO batches (id, product_id) VALUES ('LOT-1', 'VAX-1')",
    "INSERT INTO placements (id, batch_id, unit_id, shipment_id, start_at, end_at, recorded_at) "
    "VALUES (1, 'LOT-1', 1, NULL, :start, NULL, :start)",
]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A catalog database with no tables at all (not the migrated template)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
    engine = create_catalog_engine(url)
    yield engine
    engine.dispose()


def test_a_catalog_at_0004_upgrades_with_one_version_per_product(empty_engine: Engine) -> None:
    upgrade_catalog(empty_engine, "0004")
    start = datetime(2026, 11, 1, 8, tzinfo=UTC)
    bound = start if empty_engine.dialect.name == "postgresql" else start.replace(tzinfo=None)
    with empty_engine.begin() as connection:
        for statement in AT_0004:
            connection.execute(text(statement), {"start": bound})

    upgrade_catalog(empty_engine)

    assert catalog_revision(empty_engine) == head_revision()
    with catalog_session(empty_engine) as session:
        (version,) = session.execute(select(ProductConditionRow)).scalars()
        assert (version.product_id, version.valid_from) == ("VAX-1", SINCE_EVER)
        assert (version.min_c, version.max_c, version.alarm_delay_min) == (2.0, 8.0, 30.0)
        assert (version.budget_max_c, version.budget_min_c, version.budget_hours) == (
            25.0,
            None,
            24.0,
        )
        assert version.label == "2–8 °C; up to 24 h cumulative at ≤ 25 °C"
        (span,) = conditions_in_force(session, "VAX-1", start, None)
        assert span == ConditionSpan(start, None, span.condition)
        assert span.condition.max_c == 8.0
        placement = session.get(PlacementRow, 1)
        sensor = session.get(SensorRow, 1)
        logger = session.get(LoggerRow, 1)
        assert placement is not None
        assert sensor is not None
        assert logger is not None
        assert (placement.start_at, placement.quantity) == (start, None)
        assert (sensor.installed_at, sensor.removed_at) == (None, None)
        assert logger.offline is False


def test_0005_downgrades_to_0004_and_up_again(empty_engine: Engine) -> None:
    upgrade_catalog(empty_engine)
    config = alembic_config()
    with empty_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    assert catalog_revision(empty_engine) == "0004"
    upgrade_catalog(empty_engine)
    assert catalog_revision(empty_engine) == head_revision()
