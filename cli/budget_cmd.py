"""`coldchain budget …`: what a batch's stability budget is charged with besides its
readings (#22, docs/design.md §9), and the account itself.

    coldchain budget tor add BATCH --from T --to T --max-c C --reason TEXT [--voids ID]
    coldchain budget tor list BATCH
    coldchain budget carry-in BATCH --hours H --band-min-c C --band-max-c C --source TEXT
    coldchain budget show BATCH

Entries are audited and never rewritten: a wrong time-out-of-refrigeration entry is
corrected by a new one that voids it (`--voids`), with its own reason.
"""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Annotated

import typer

from api.export.judge import judge_batch
from cli.options import (
    Actor,
    CatalogUrl,
    ConfigFile,
    DataDir,
    InfluxDb,
    InfluxUrl,
    audit_actor,
    build_settings,
    catalog_engine,
    fail,
    time_option,
)
from coldchain.catalog import catalog_session
from coldchain.catalog.budget import add_carried_in, add_tor_entry, budget_entries
from coldchain.catalog.errors import CatalogConflict, CatalogNotFound
from coldchain.errors import StoreError
from coldchain.influx import InfluxClient
from coldchain.judgement.budget import BudgetAccount
from coldchain.times import rfc3339

__all__ = ["budget_app"]

budget_app = typer.Typer(
    no_args_is_help=True,
    help="Stability budgets: time out of refrigeration, carried-in time, the account.",
)
tor_app = typer.Typer(no_args_is_help=True, help="Time out of refrigeration recorded by hand.")
budget_app.add_typer(tor_app, name="tor")

Batch = Annotated[str, typer.Argument(metavar="BATCH", help="the batch (lot) id")]


@tor_app.command("add")
def tor_add(
    batch: Batch,
    start: Annotated[str, typer.Option("--from", help="when the batch left refrigeration")],
    end: Annotated[str, typer.Option("--to", help="when it was back")],
    max_c: Annotated[float, typer.Option("--max-c", help="the highest temperature it saw")],
    reason: Annotated[str, typer.Option("--reason", help="why, e.g. 'staged on dock 3'")],
    voids: Annotated[
        int | None, typer.Option("--voids", help="the entry this one corrects (voids)")
    ] = None,
    actor: Actor = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Record that BATCH was out of refrigeration; its duration is charged to the budget
    band holding --max-c. Exit 2 for an unknown batch or entry, times out of order or in
    the future, a maximum within the storage range, or an entry voided already."""
    start_at, end_at = time_option("--from", start), time_option("--to", end)
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine:
        who = audit_actor(engine, actor)
        try:
            with catalog_session(engine) as session:
                entry = add_tor_entry(
                    session,
                    batch,
                    start=start_at,
                    end=end_at,
                    max_c=max_c,
                    reason=reason,
                    actor=who,
                    now=datetime.now(UTC),
                    voids=voids,
                )
        except (CatalogNotFound, CatalogConflict) as exc:
            fail(f"budget tor add: {exc}", 2)
    voided = "" if voids is None else f", voiding entry {voids}"
    typer.echo(f"recorded time out of refrigeration {entry.id} of {batch}{voided}")


@tor_app.command("list")
def tor_list(
    batch: Batch,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Every time-out-of-refrigeration entry of BATCH, voided ones too, oldest first."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine, catalog_session(engine) as session:
        entries = budget_entries(session, batch).tor
    if not entries:
        typer.echo(f"no time out of refrigeration recorded for {batch}")
    for e in entries:
        status = "in force" if e.in_force else f"voided by {e.voided_by}"
        corrects = "" if e.voids is None else f"\tvoids {e.voids}"
        typer.echo(
            f"{e.id}\t{rfc3339(e.start)}\t{rfc3339(e.end)}\tmax {e.max_c:g} °C\t{status}\t"
            f"by {e.recorded_by} at {rfc3339(e.recorded_at)}\t{e.reason}{corrects}"
        )


@budget_app.command("carry-in")
def carry_in(
    batch: Batch,
    hours: Annotated[float, typer.Option("--hours", help="hours consumed before arrival")],
    band_min_c: Annotated[float, typer.Option("--band-min-c", help="the band's lower bound")],
    band_max_c: Annotated[float, typer.Option("--band-max-c", help="the band's upper bound")],
    source: Annotated[str, typer.Option("--source", help="e.g. 'sponsor CoA 2026-11-02'")],
    freeze_events: Annotated[
        int, typer.Option("--freeze-events", help="freeze events before arrival")
    ] = 0,
    actor: Actor = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Record budget BATCH consumed before it reached this site. Exit 2 for an unknown
    batch, negative amounts, no source, or a band its product's budget does not have."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine:
        who = audit_actor(engine, actor)
        try:
            with catalog_session(engine) as session:
                add_carried_in(
                    session,
                    batch,
                    band_min_c=band_min_c,
                    band_max_c=band_max_c,
                    hours=hours,
                    freeze_events=freeze_events,
                    source=source,
                    actor=who,
                    now=datetime.now(UTC),
                )
        except (CatalogNotFound, CatalogConflict) as exc:
            fail(f"budget carry-in: {exc}", 2)
    typer.echo(f"recorded {hours:g} h at {band_min_c:g}–{band_max_c:g} °C carried in to {batch}")


@budget_app.command("show")
def show(
    batch: Batch,
    influx_url: InfluxUrl = None,
    influx_db: InfluxDb = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """The account of BATCH now: each band, each charge with its source, freeze events and
    why it is exceeded (the batch record's own). Exit 2 for an unknown batch, 1 when
    InfluxDB fails."""
    settings = build_settings(
        config,
        influx_url=influx_url,
        influx_db=influx_db,
        catalog_url=catalog_url,
        data_dir=data_dir,
    )

    async def judge() -> BudgetAccount:
        async with InfluxClient.for_settings(settings) as influx:
            report = await judge_batch(
                batch, influx=influx, catalog_engine=engine, viewer=None, settings=settings
            )
        return report.budget

    with catalog_engine(settings) as engine:
        try:
            account = asyncio.run(judge())
        except CatalogNotFound as exc:
            fail(f"budget show: {exc}", 2)
        except StoreError as exc:
            fail(f"budget show: InfluxDB failed: {exc}", 1)
    _print_account(batch, account)


def _print_account(batch: str, account: BudgetAccount) -> None:
    share = account.consumed_share
    used = "∞ (none allowed)" if math.isinf(share) else f"{share * 100:.1f} %"
    state = "EXCEEDED" if account.exceeded else "within"
    typer.echo(f"{batch}: {state}, {used} of the budget consumed")
    for band in account.bands:
        typer.echo(
            f"  band {band.min_c:g}–{band.max_c:g} °C: {band.charged_h:.2f} h of "
            f"{band.allowed_h:g} h"
        )
    if account.freeze_allowed is not None:
        typer.echo(f"  freeze events: {account.freeze_events} of {account.freeze_allowed} allowed")
    for charge in account.charges:
        where = "no band (over at once)"
        if charge.band is not None:
            held = account.bands[charge.band]
            where = f"{held.min_c:g}–{held.max_c:g} °C"
        typer.echo(f"  {charge.source}\t{where}\t{charge.hours:.2f} h\t{charge.detail}")
    for reason in account.reasons:
        typer.echo(f"  exceeded: {reason}")
