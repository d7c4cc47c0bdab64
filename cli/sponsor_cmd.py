"""`coldchain sponsor webhook-secret ID`: the key a sponsor checks its notices with."""

from __future__ import annotations

from typing import Annotated

import typer

from alerting.channels.webhook import sponsor_secret
from cli.options import CatalogUrl, ConfigFile, DataDir, build_settings, catalog_engine, fail
from coldchain.catalog import catalog_session
from coldchain.catalog.schema import SponsorRow

__all__ = ["sponsor_app"]

sponsor_app = typer.Typer(no_args_is_help=True, help="Sponsors: what the CMO hands them.")


@sponsor_app.command("webhook-secret")
def webhook_secret(
    sponsor: Annotated[str, typer.Argument(metavar="SPONSOR", help="the sponsor's id")],
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Print the HMAC-SHA256 key SPONSOR's webhook checks `X-Coldchain-Signature` of its
    deviation notices with: its own, derived from `notify_webhook_secret`, so it cannot sign
    anything else. Exit 2 without a webhook secret or for an unknown sponsor."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    if not settings.notify_webhook_secret:
        fail("no notify_webhook_secret is configured: webhooks are not signed", 2)
    with catalog_engine(settings) as engine, catalog_session(engine) as session:
        known = session.get(SponsorRow, sponsor) is not None
    if not known:
        fail(f"no sponsor {sponsor!r} in the catalog", 2)
    typer.echo(sponsor_secret(settings.notify_webhook_secret, sponsor))
