"""Fixtures of the API unit tests: a real SQLite catalog (migrated once per session, copied
per test) and the real app from `create_app` around it, with no InfluxDB behind it.

Login, tokens, `me` and the security headers touch only the catalog, so they are tested
here through the whole app without servers; the lifespan finds InfluxDB unreachable,
logs it and carries on (history then reads raw), which is the documented behaviour."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from api.app import create_app
from coldchain.catalog import (
    catalog_session,
    create_catalog_engine,
    import_fleet,
    set_password,
    upgrade_catalog,
)
from coldchain.config import Settings
from tests.support.secrets_registry import register
from tests.support.servers import free_port

PASSWORD = "unit-test horse battery staple"
USERS = ("alice", "omar", "quinn")

FLEET_YAML = """\
sponsors: [{id: ACME, name: Acme Pharma}]
users:
  - {id: alice, role: sponsor_viewer, sponsor: ACME}
  - {id: omar, role: warehouse_operator, sites: [BSL]}
  - {id: quinn, role: qa}
sites:
  - id: BSL
    units:
      - {id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, sensors: [{id: p1}]}
products:
  - {id: VAX-1, sponsor: ACME, storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}
batches: [{id: LOT-1, product: VAX-1}]
placements:
  - {batch: LOT-1, unit: BSL/FRIDGE-01, from: "2026-11-01T08:00:00Z"}
"""


@pytest.fixture(scope="session")
def _catalog_template() -> Iterator[Path]:
    """One migrated catalog with the fleet and passwords; argon2 and alembic run once."""
    register(PASSWORD)
    directory = Path(tempfile.mkdtemp(prefix="coldchain-api-unit-"))
    path = directory / "template.sqlite3"
    fleet = directory / "fleet.yaml"
    fleet.write_text(FLEET_YAML, encoding="utf-8")
    engine = create_catalog_engine(f"sqlite:///{path}")
    try:
        upgrade_catalog(engine)
        import_fleet(engine, fleet, actor="test")
        with catalog_session(engine) as session:
            for user in USERS:
                set_password(session, user_id=user, password=PASSWORD, actor="test")
    finally:
        engine.dispose()
    yield path
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def catalog_engine(_catalog_template: Path, tmp_path: Path) -> Iterator[Engine]:
    """A catalog of this test's own (a copy of the template)."""
    path = tmp_path / "catalog.sqlite3"
    shutil.copyfile(_catalog_template, path)
    engine = create_catalog_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


def unit_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for an app whose InfluxDB is a closed loopback port (nothing listens)."""
    return Settings(
        influx_url=f"http://127.0.0.1:{free_port()}",
        influx_db="unit",
        influx_timeout_s=2.0,
        data_dir=tmp_path / "var",
        catalog_url=f"sqlite:///{tmp_path / 'catalog.sqlite3'}",
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
async def app_client(catalog_engine: Engine, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The real app on this test's catalog, in process: its lifespan is entered here
    (httpx's ASGI transport does not run it; starlette's TestClient is deprecated)."""
    app = create_app(unit_settings(tmp_path), engine=catalog_engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            yield client
