"""The catalog tests' fixtures (SQLite and a real PostgreSQL, a fresh migrated catalog per
test), for the logger reports' catalog side."""

from tests.unit.catalog.conftest import (  # noqa: F401  (fixtures, found by name)
    _postgres_template,
    _sqlite_template,
    catalog_url,
    engine,
    fleet_file,
    postgres_server,
)
