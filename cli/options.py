"""Options every service takes (docs/design.md §9), turned into one `Settings` object."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer

from coldchain.config import Settings
from coldchain.errors import ConfigError

__all__ = [
    "ConfigFile",
    "DataDir",
    "InfluxDb",
    "InfluxUrl",
    "MqttUrl",
    "build_settings",
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
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc


def fail(message: str, code: int) -> NoReturn:
    """End a verb with `message` on stderr and exit status `code` (1 failed, 2 refused)."""
    typer.echo(message, err=True)
    raise typer.Exit(code)
