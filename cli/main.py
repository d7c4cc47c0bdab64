"""Entry point of the `coldchain` command; each verb lives in a module of its own."""

from __future__ import annotations

import typer

from cli import ingest_cmd

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.callback()
def coldchain() -> None:
    """Cold-chain telemetry pipeline: ingest, detect, serve, simulate, export."""


app.command("ingest")(ingest_cmd.ingest)

if __name__ == "__main__":
    app()
