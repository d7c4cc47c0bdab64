"""Options every service takes (docs/design.md §9), turned into one `Settings` object."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from coldchain.config import Settings
from coldchain.errors import ConfigError

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = [
    "CatalogUrl",
    "ConfigFile",
    "DataDir",
    "InfluxDb",
    "InfluxUrl",
    "MqttUrl",
    "build_settings",
    "catalog_engine",
    "fail",
]

MqttUrl = Annotated[str | None, typer.Option("--mqtt-url", help="mqtt://host:port")]
InfluxUrl = Annotated[str | None, typer.Option("--influx-url", help="http://host:port")]
InfluxDb = Annotated[str | None, typer.Option("--influx-db")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="spool, dead letters, keys")]
CatalogUrl = Annotated[str | None, typer.Option("--catalog-url", help="SQLAlchemy URL")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="settings TOML file")]


def build_settings(config: Path | None = None, **options: object) -> Settings:
    """Settings from defaults, TOML, environment and CLI options; exits on a bad value."""
    try:
        return Settings.load(config, **options)
    except ConfigError as exc:
        fail(f"configuration error: {exc}", 2)


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
