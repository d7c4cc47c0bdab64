"""Catalog fixtures: every catalog test runs on SQLite and on a real PostgreSQL, each time on a
fresh migrated database (copied from a template migrated once, to keep the suite fast); and
`catalog_from_fleet`, the SQLite catalog a service test imports its fleet file into."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from coldchain.catalog import create_catalog_engine, import_fleet, upgrade_catalog
from tests.support.needs import missing
from tests.support.postgres import PostgresServer, find_postgres_bin, running_postgres

FLEET_YAML = """\
sponsors: [{id: ACME, name: Acme Pharma}, {id: GLOBEX, name: Globex Bio}]
users: [{id: alice, role: sponsor_viewer, sponsor: ACME},
        {id: omar, role: warehouse_operator, sites: [BSL]}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - id: FRIDGE-01
        kind: refrigerator            # refrigerator | freezer | ultra_low | cold_room | crt
        setpoint_c: 5.0
        log_interval_s: 60
        sensors: [{id: p1, calibration_due: 2027-03-01}, {id: p2, calibration_due: 2027-03-01}]
        simulation: {drift_c_per_h: 0.1}
  - id: LYS
    units:
      - id: ROOM-01
        kind: cold_room
        setpoint_c: 5.0
        sensors: [{id: p1}]
products:
  - id: VAX-1
    sponsor: ACME
    storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30,
              budget: {max_c: 25.0, hours: 24}}   # allowed cumulative excursion
  - id: BIO-7
    sponsor: GLOBEX
    storage: {min_c: 3.0, max_c: 7.0, alarm_delay_min: 15, budget: {max_c: 20.0, hours: 12}}
batches: [{id: LOT-0001, product: VAX-1}, {id: LOT-0002, product: BIO-7}]
shipments:
  - id: SHP-100
    origin: BSL
    destination: LYS
    loggers: [{id: LOG-100, sensors: [{id: p1}], log_interval_s: 600}]
placements:                            # the chain of custody
  - {batch: LOT-0001, unit: BSL/FRIDGE-01, from: "2026-11-01T08:00:00Z", to: "2026-11-10T08:00:00Z"}
  - {batch: LOT-0001, shipment: SHP-100, from: "2026-11-10T08:00:00Z"}
  - {batch: LOT-0002, unit: BSL/FRIDGE-01, from: "2026-11-05T00:00:00+01:00"}
"""


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        missing(
            "PostgreSQL (initdb, pg_ctl)", "`make deps` installs it (Debian package postgresql)"
        )
    with running_postgres(bin_dir) as server:
        yield server


@pytest.fixture(scope="session")
def _sqlite_template() -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="coldchain-catalog-"))
    path = directory / "template.sqlite3"
    upgrade_catalog(f"sqlite:///{path}")
    yield path
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def _postgres_template(postgres_server: PostgresServer) -> str:
    url = postgres_server.create_database()
    upgrade_catalog(url)
    return url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, migrated, empty catalog of this test's own."""
    if request.param == "sqlite":
        path = tmp_path / "catalog.sqlite3"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        return f"sqlite:///{path}"
    import psycopg

    server: PostgresServer = request.getfixturevalue("postgres_server")
    template = request.getfixturevalue("_postgres_template")
    name = f"t_{uuid.uuid4().hex[:12]}"
    conninfo = f"host=127.0.0.1 port={server.port} user={server.user} dbname=postgres"
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return server.url(name)


@pytest.fixture
def engine(catalog_url: str) -> Iterator[Engine]:
    engine = create_catalog_engine(catalog_url)
    yield engine
    engine.dispose()


@pytest.fixture
def fleet_file(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET_YAML, encoding="utf-8")
    return path


def catalog_from_fleet(directory: Path, fleet: str) -> str:
    """A SQLite catalog in `directory`, migrated, with `fleet` (the fleet file's YAML text)
    imported; its URL."""
    url = f"sqlite:///{directory / 'catalog.sqlite3'}"
    engine = create_catalog_engine(url)
    try:
        upgrade_catalog(engine)
        fleet_file = directory / "fleet.yaml"
        fleet_file.write_text(fleet, encoding="utf-8")
        import_fleet(engine, fleet_file, actor="test")
    finally:
        engine.dispose()
    return url
