"""`coldchain deadletters list`: what ingest refused, and why."""

from __future__ import annotations

from typing import Annotated, get_args

import typer
from rich.console import Console
from rich.table import Table

from cli.options import ConfigFile, DataDir, build_settings
from coldchain.times import from_ms
from ingest.dead_letters import DeadLetterStore, Stage

__all__ = ["deadletters_app"]

deadletters_app = typer.Typer(no_args_is_help=True, help="Messages ingest could not accept.")


@deadletters_app.command("list")
def list_dead_letters(
    data_dir: DataDir = None,
    config: ConfigFile = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="one JSON object per line, payload in base64")
    ] = False,
    limit: Annotated[int, typer.Option(help="show the newest N")] = 50,
    stage: Annotated[
        str | None,
        typer.Option(
            "--stage",
            help=f"only this stage: {', '.join(get_args(Stage))} (`conflict`: re-sent readings "
            "refused because InfluxDB holds other values, also in the batch record)",
        ),
    ] = None,
) -> None:
    """Show dead letters, newest last: time, stage, topic, reason, payload size."""
    if stage is not None and stage not in get_args(Stage):
        raise typer.BadParameter(
            f"expected one of {', '.join(get_args(Stage))}", param_hint="--stage"
        )
    settings = build_settings(config, data_dir=data_dir)
    store = DeadLetterStore(settings.data_dir / "dead-letters")
    letters = [letter for letter in store.read() if stage in (None, letter.stage)][-limit:]
    if as_json:
        for letter in letters:
            typer.echo(letter.to_json().decode())
        return
    table = Table("time (UTC)", "stage", "topic", "reason", "bytes")
    for letter in letters:
        when = from_ms(letter.time_ms).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(when, letter.stage, letter.topic, letter.reason, str(len(letter.payload)))
    Console().print(table)
