"""Catalog dump and load: every table's rows as gzip JSON lines, one file per table.

Why rows through SQLAlchemy rather than a database file (sqlite3's backup API) or `pg_dump`
as the format: one format for both engines, so a SQLite catalog restores into PostgreSQL and
back; the values go through the column types the application uses (`UtcDateTime`), so the
audit trail's hashed fields (`at` to the microsecond, canonical JSON text) come back byte
for byte and `coldchain audit verify` passes; the load runs into a catalog migrated by this
coldchain, not a copy of someone else's schema; and row counts per table are checkable. The
catalog is small (fleet, custody, alerts, audit), so rows cost little.

Consistency: the dump reads every table in one read transaction (PostgreSQL: REPEATABLE
READ, a snapshot) and checks the audit chain inside it, so the manifest's head hash matches
the rows exactly. A SQLite catalog is first copied with sqlite3's online backup API, which
holds writers off only for the page copy, and the rows are read from that copy.
The load writes everything in one transaction into a freshly migrated catalog and verifies
row counts and the audit chain before it commits: a restore is whole or nothing.
"""

from __future__ import annotations

import base64
import gzip
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import orjson
from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    LargeBinary,
    Table,
    TypeDecorator,
    func,
    insert,
    select,
    text,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from backup.errors import BackupDamaged, BackupIncompatible, TargetNotEmpty
from backup.files import sqlite_snapshot
from backup.manifest import AuditState, CatalogSection, FileEntry, TableDump
from backup.output import open_output
from coldchain.catalog.audit import verify_audit_chain
from coldchain.catalog.migrate import catalog_revision, head_revision
from coldchain.catalog.schema import Base
from coldchain.catalog.store import (
    catalog_session,
    create_catalog_engine,
    translate_sqlalchemy_error,
)

__all__ = ["dump_catalog", "first_nonempty_table", "load_catalog"]

log = logging.getLogger(__name__)

_PAGE: Final = 1000

Encode = Callable[[Any], Any]


def _storage_type(column: Column[Any]) -> Any:
    kind = column.type
    return kind.impl if isinstance(kind, TypeDecorator) else kind


def _encoder(column: Column[Any]) -> Encode:
    """JSON for a column's Python value: ISO 8601 times, base64 bytes, the rest as is
    (JSON floats round-trip exactly: both directions use the shortest repr)."""
    kind = _storage_type(column)
    if isinstance(kind, DateTime | Date):
        return lambda value: None if value is None else value.isoformat()
    if isinstance(kind, LargeBinary):
        return lambda value: None if value is None else base64.b64encode(value).decode("ascii")
    return lambda value: value


def _parse_datetime(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _decoder(column: Column[Any]) -> Encode:
    kind = _storage_type(column)
    if isinstance(kind, DateTime):
        return lambda value: None if value is None else _parse_datetime(value)
    if isinstance(kind, Date):
        return lambda value: None if value is None else date.fromisoformat(value)
    if isinstance(kind, LargeBinary):
        return lambda value: None if value is None else base64.b64decode(value)
    return lambda value: value


def _tables() -> list[Table]:
    """Every catalog table, parents before children (foreign-key order)."""
    return list(Base.metadata.sorted_tables)


def dump_catalog(engine: Engine, root: Path) -> tuple[CatalogSection, list[FileEntry]]:
    """Write every table of the catalog at `engine` under `root/catalog/`.

    A SQLite catalog is first copied with sqlite3's backup API (see `sqlite_snapshot`) and
    the rows are read from the copy: a read transaction on the live file would hold off
    every writer (the catalog does not use WAL) for as long as the JSON takes to write.

    Raises:
        BackupIncompatible: the catalog is not at this coldchain's schema revision.
        CatalogError: the database failed (translated from SQLAlchemy).
    """
    revision, head = catalog_revision(engine), head_revision()
    if revision is None or revision != head:
        raise BackupIncompatible(
            f"catalog at schema revision {revision or 'none (not migrated)'}, this coldchain "
            f"writes {head}: run `coldchain catalog show` to migrate it, or back up with the "
            "coldchain version that matches it"
        )
    database = engine.url.database
    if engine.dialect.name != "sqlite" or database in (None, "", ":memory:"):
        return _dump(engine, root, head)
    with sqlite_snapshot(Path(str(database)), root / "catalog" / ".snapshot.sqlite3") as copy:
        snapshot = create_catalog_engine(f"sqlite:///{copy}")
        try:
            return _dump(snapshot, root, head)
        finally:
            snapshot.dispose()


def _dump(engine: Engine, root: Path, revision: str) -> tuple[CatalogSection, list[FileEntry]]:
    """Every table and the audit chain's state, read in one transaction."""
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                connection.execution_options(
                    isolation_level="REPEATABLE READ", postgresql_readonly=True
                )
            with connection.begin():
                if connection.dialect.name == "sqlite":
                    connection.exec_driver_sql("BEGIN")
                dumps, files = _dump_tables(connection, root)
                with Session(bind=connection) as session:
                    audit = verify_audit_chain(session)
    except SQLAlchemyError as exc:
        raise translate_sqlalchemy_error(exc) from exc
    state = AuditState(entries=audit.entries, head_hash=audit.head_hash, broken_at=audit.broken_at)
    if not audit.ok:
        log.warning("backup: the audit chain is already broken at=%s", audit.broken_at)
    section = CatalogSection(
        revision=revision, dialect=engine.dialect.name, tables=dumps, audit=state
    )
    return section, files


def _dump_tables(connection: Connection, root: Path) -> tuple[list[TableDump], list[FileEntry]]:
    dumps: list[TableDump] = []
    files: list[FileEntry] = []
    for index, table in enumerate(_tables()):
        relative = f"catalog/{index:02d}-{table.name}.jsonl.gz"
        encoders = {column.name: _encoder(column) for column in table.columns}
        query = select(table).order_by(*table.primary_key.columns)
        rows = 0
        with open_output(root, relative, compress=True) as out:
            result = connection.execute(query.execution_options(yield_per=_PAGE))
            for row in result.mappings():
                record = {name: encode(row[name]) for name, encode in encoders.items()}
                out.write(orjson.dumps(record) + b"\n")
                rows += 1
        dumps.append(TableDump(table=table.name, rows=rows, file=relative))
        files.append(out.entry)
        log.info("backup: catalog table=%s rows=%d", table.name, rows)
    return dumps, files


def _first_nonempty(session: Session) -> str | None:
    for table in _tables():
        if session.execute(select(table).limit(1)).first() is not None:
            return table.name
    return None


def first_nonempty_table(engine: Engine) -> str | None:
    """The first catalog table that holds a row (None: an empty, migrated catalog)."""
    with catalog_session(engine) as session:
        return _first_nonempty(session)


def _read_rows(path: Path, table: Table) -> Iterator[list[dict[str, Any]]]:
    """Pages of decoded rows of one table file."""
    decoders = {column.name: _decoder(column) for column in table.columns}
    page: list[dict[str, Any]] = []
    with gzip.open(path, "rb") as handle:
        for number, line in enumerate(handle, 1):
            raw: Mapping[str, Any] = orjson.loads(line)
            unknown = set(raw) - set(decoders)
            if unknown:
                raise BackupIncompatible(
                    f"{path.name}: line {number}: columns {sorted(unknown)} are not in "
                    f"table {table.name} of this coldchain"
                )
            page.append({name: decoders[name](value) for name, value in raw.items()})
            if len(page) >= _PAGE:
                yield page
                page = []
    if page:
        yield page


def load_catalog(engine: Engine, root: Path, section: CatalogSection, *, replace: bool) -> None:
    """Load a dump into the migrated, empty catalog at `engine`, in one transaction.

    `replace` deletes every row first (restore --force). Row counts and the audit chain
    are checked against the manifest before the commit; any difference rolls it all back.

    Raises:
        TargetNotEmpty: the catalog holds rows and `replace` is False.
        BackupIncompatible: a table or column this schema does not have.
        BackupDamaged: what was loaded differs from what the manifest says.
        CatalogError: the database failed or refused a row.
    """
    tables = {table.name: table for table in _tables()}
    unknown = [dump.table for dump in section.tables if dump.table not in tables]
    if unknown:
        raise BackupIncompatible(f"catalog tables {unknown} are not in this coldchain's schema")
    dumps = {dump.table: dump for dump in section.tables}
    with catalog_session(engine) as session:
        if replace:
            for table in reversed(tables.values()):
                session.execute(table.delete())
        elif (occupied := _first_nonempty(session)) is not None:
            raise TargetNotEmpty(f"catalog table {occupied} already holds rows")
        for name, table in tables.items():
            dump = dumps.get(name)
            if dump is None:
                continue
            for page in _read_rows(root / dump.file, table):
                session.execute(insert(table), page)
            count = session.execute(select(func.count()).select_from(table)).scalar_one()
            if count != dump.rows:
                raise BackupDamaged(
                    f"{dump.file}: loaded {count} rows, the manifest says {dump.rows}"
                )
            log.info("restore: catalog table=%s rows=%d", name, count)
        if session.get_bind().dialect.name == "postgresql":
            _advance_sequences(session, list(tables.values()))
        audit = verify_audit_chain(session)
        loaded = AuditState(
            entries=audit.entries, head_hash=audit.head_hash, broken_at=audit.broken_at
        )
        if loaded != section.audit:
            raise BackupDamaged(
                f"audit trail after loading: {loaded.entries} entries, head "
                f"{loaded.head_hash[:12]}; the backup recorded {section.audit.entries}, "
                f"head {section.audit.head_hash[:12]}"
            )


def _advance_sequences(session: Session, tables: list[Table]) -> None:
    """Rows keep their ids, so each SERIAL sequence must move past the largest one, or the
    next insert would collide (SQLite takes max(rowid) + 1 by itself)."""
    preparer = session.get_bind().dialect.identifier_preparer
    for table in tables:
        column = table.autoincrement_column
        if column is None:
            continue
        quoted_table, quoted_column = preparer.format_table(table), preparer.quote(column.name)
        session.execute(
            text(
                "SELECT setval(pg_get_serial_sequence(:table, :column), "
                f"COALESCE(MAX({quoted_column}), 0) + 1, false) FROM {quoted_table}"
            ),
            {"table": table.name, "column": column.name},
        )
