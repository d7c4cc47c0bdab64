"""Options every service takes (docs/design.md §9), turned into one `Settings` object."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from coldchain.config import Settings
from coldchain.errors import ConfigError
from coldchain.times import parse_rfc3339

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "Actor",
    "CatalogUrl",
    "ConfigFile",
    "DataDir",
    "InfluxDb",
    "InfluxUrl",
    "MqttUrl",
    "audit_actor",
    "build_settings",
    "catalog_engine",
    "fail",
    "time_option",
]

MqttUrl = Annotated[str | None, typer.Option("--mqtt-url", help="mqtt://host:port")]
InfluxUrl = Annotated[str | None, typer.Option("--influx-url", help="http://host:port")]
InfluxDb = Annotated[str | None, typer.Option("--influx-db")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="spool, dead letters, keys")]
CatalogUrl = Annotated[str | None, typer.Option("--catalog-url", help="SQLAlchemy URL")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="settings TOML file")]
Actor = Annotated[
    str | None,
    typer.Option(
        "--actor",
        help="the catalog user the audit trail names (default: cli:$USER, the OS account)",
    ),
]


def audit_actor(engine: Engine, actor: str | None) -> str:
    """Who the audit trail names for this verb: `--actor` if it is a catalog user, else the
    verb is refused (exit 2) before anything is written; without `--actor`, the OS account
    that ran it as `cli:ACCOUNT`. An entry that names a person must name a real one."""
    account = f"cli:{getpass.getuser()}"
    if actor is None:
        return account
    from coldchain.catalog import catalog_session
    from coldchain.catalog.users import user_fields

    with catalog_session(engine) as session:
        known = user_fields(session, actor) is not None
    if not known:
        fail(
            f"--actor {actor!r} is not a catalog user: name one (`coldchain user add`), "
            f"or leave --actor out to be recorded as {account}",
            2,
        )
    return actor


def build_settings(config: Path | None = None, **options: object) -> Settings:
    """Settings from defaults, TOML, environment and CLI options; exits on a bad value."""
    try:
        return Settings.load(config, **options)
    except ConfigError as exc:
        fail(f"configuration error: {exc}", 2)


def time_option(option: str, text: str) -> datetime:
    """The RFC 3339 time an option names (`--from 2026-11-02T08:00Z`); exit 2 saying why
    it is not one."""
    try:
        return parse_rfc3339(text)
    except ValueError as exc:
        fail(f"{option}: {exc} (expected a time with its offset, e.g. 2026-11-02T08:00Z)", 2)


def fail(message: str, code: int) -> NoReturn:
    """End a verb with `message` on stderr and exit status `code` (1 failed, 2 refused).

    Called inside an `except` block, the exception it handles stays the exit's context.
    """
    typer.echo(message, err=True)
    raise typer.Exit(code)


@contextmanager
def catalog_engine(
    settings: Settings, *, migrate: bool = True, exit_on_error: bool = True
) -> Iterator[Engine]:
    """The catalog engine of one verb, disposed when the block ends.

    Args:
        migrate: bring the schema up to date first, so a fresh data dir works.
        exit_on_error: a catalog error (from opening, migrating or the block) ends the verb
            with status 1, a configuration error (a bad catalog URL, a bad fleet file) with
            status 2. False for verbs that report them with their other stores' failures.
    """
    # Imported here: `coldchain health`, run every few seconds by container health checks,
    # takes its options from this module and needs no SQLAlchemy.
    from coldchain.catalog import CatalogError, create_catalog_engine, upgrade_catalog

    try:
        engine = create_catalog_engine(settings.resolved_catalog_url)
        try:
            if migrate:
                upgrade_catalog(engine)
            yield engine
        finally:
            engine.dispose()
    except ConfigError as exc:
        if not exit_on_error:
            raise
        fail(f"refused: {exc}", 2)
    except CatalogError as exc:
        if not exit_on_error:
            raise
        fail(f"catalog error: {exc}", 1)
