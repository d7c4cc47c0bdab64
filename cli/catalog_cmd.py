"""`coldchain catalog|audit|user|token`: load the fleet file, check and review the audit
trail, and manage who may log in. Each command migrates the catalog first, so a fresh data
dir works. Changes of record (a storage condition, a placement's end, a user's role, sponsor
or sites) need `--reason`: without it the verb is refused (exit 2) and nothing is written."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from cli.options import (
    Actor,
    CatalogUrl,
    ConfigFile,
    DataDir,
    audit_actor,
    build_settings,
    catalog_engine,
    fail,
    time_option,
)
from cli.progress import progress_on_stderr
from coldchain.catalog import (
    catalog_session,
    create_token,
    import_fleet,
    set_password,
    upsert_user,
    verify_audit_chain,
)
from coldchain.catalog.audit_review import AuditReview, review_audit
from coldchain.catalog.credentials import (
    MIN_PASSWORD_LENGTH,
    list_tokens,
    revoke_sessions,
    revoke_token,
)
from coldchain.catalog.errors import ReasonRequired
from coldchain.catalog.schema import ROLES
from coldchain.catalog.signatures import signatures_unlike_their_audit
from coldchain.catalog.users import user_fields

__all__ = ["audit_app", "catalog_app", "token_app", "user_app"]

catalog_app = typer.Typer(no_args_is_help=True, help="The catalog: fleet, products, custody.")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit trail.")
user_app = typer.Typer(no_args_is_help=True, help="Users and their roles.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens.")

Reason = Annotated[
    str | None,
    typer.Option(
        "--reason",
        help="why the record changes, kept in the audit trail; needed to change a product's "
        "storage condition, close a placement, or change a user's role, sponsor or sites",
    ),
]


def _refuse_unreasoned(exc: ReasonRequired) -> NoReturn:
    """End the verb (exit 2) listing the changes that need `--reason`."""
    changes = "\n".join(f"  - {change}" for change in exc.changes)
    fail(
        f'refused, nothing written: these changes need a reason (--reason "..."), '
        f"which the audit trail keeps:\n{changes}",
        2,
    )


@catalog_app.command("import")
def catalog_import(
    fleet: Annotated[Path, typer.Argument(help="the fleet file (docs/design.md §10)")],
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    actor: Actor = None,
    reason: Reason = None,
) -> None:
    """Load FLEET into the catalog: all of it or, if anything is wrong, none of it. Changing
    a product's storage condition, closing a placement or changing a user's role, sponsor or
    sites needs --reason (creating things does not)."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine:
        who = audit_actor(engine, actor)
        with progress_on_stderr() as tracker:
            try:
                report = import_fleet(engine, fleet, actor=who, reason=reason, progress=tracker)
            except ReasonRequired as exc:
                _refuse_unreasoned(exc)
    typer.echo(report.summary())


@catalog_app.command("show")
def catalog_show(
    catalog_url: CatalogUrl = None, data_dir: DataDir = None, config: ConfigFile = None
) -> None:
    """Print how many rows each catalog table holds."""
    from sqlalchemy import func, select

    from coldchain.catalog.schema import Base

    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine, catalog_session(engine) as session:
        for name, table in sorted(Base.metadata.tables.items()):
            count = session.execute(select(func.count()).select_from(table)).scalar_one()
            typer.echo(f"{name:<22} {count}")


@audit_app.command("verify")
def audit_verify(
    catalog_url: CatalogUrl = None, data_dir: DataDir = None, config: ConfigFile = None
) -> None:
    """Re-hash the whole audit trail and check every electronic signature against its
    entry; exit 1 naming the first edited or deleted entry, or each signature that differs."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine, catalog_session(engine) as session:
        result = verify_audit_chain(session)
        unlike = signatures_unlike_their_audit(session)
    if not result.ok:
        fail(f"audit trail BROKEN at entry {result.broken_at}: {result.reason}", 1)
    if unlike:
        fail("signatures BROKEN:\n" + "\n".join(unlike), 1)
    typer.echo(f"audit trail intact: {result.entries} entries, head {result.head_hash}")


@audit_app.command("review")
def audit_review(
    start: Annotated[
        str, typer.Option("--from", help="RFC 3339 time with offset, e.g. 2026-12-01T00:00:00Z")
    ],
    end: Annotated[str, typer.Option("--to", help="RFC 3339 time with offset (exclusive)")],
    actor: Annotated[str | None, typer.Option("--actor", help="only this actor's entries")] = None,
    batch: Annotated[
        str | None, typer.Option("--batch", help="only entries about this lot")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 1000,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """List the audit entries from --from to --to (of --actor, about --batch: the batch,
    its placements, its exports, entries naming it): number, UTC time, actor, action,
    entity, reason for change and what changed."""
    since, until = time_option("--from", start), time_option("--to", end)
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine, catalog_session(engine) as session:
        try:
            review = review_audit(
                session, start=since, end=until, actor=actor, batch=batch, limit=limit
            )
        except ValueError as exc:
            fail(f"refused: {exc}", 2)
    _print_review(review, limit)


def _print_review(review: AuditReview, limit: int) -> None:
    table = Table("seq", "UTC", "actor", "action", "entity", "id", "reason", "what changed")
    for entry in review.entries:
        table.add_row(
            str(entry.seq),
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            entry.actor,
            entry.action,
            entry.entity,
            entry.entity_id,
            entry.reason or "",
            entry.changed,
        )
    console = Console()
    if not console.is_terminal:  # a file or a pipe gets whole lines, not an 80-column fold
        console = Console(width=240)
    console.print(table)
    more = f"; more match: the first {limit} shown, narrow the span" if review.truncated else ""
    typer.echo(f"{len(review.entries)} entries{more}")


@user_app.command("add")
def user_add(
    user_id: Annotated[str, typer.Argument(metavar="ID")],
    role: Annotated[str, typer.Option("--role", help=" | ".join(ROLES))],
    sponsor: Annotated[str | None, typer.Option("--sponsor")] = None,
    site: Annotated[list[str] | None, typer.Option("--site", help="repeat for each site")] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from standard input")
    ] = False,
    no_password: Annotated[
        bool, typer.Option("--no-password", help="token-only user: set no password")
    ] = False,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    actor: Actor = None,
    reason: Reason = None,
) -> None:
    """Create user ID (or update role, sponsor and sites: that needs --reason) and set their
    password."""
    if role not in ROLES:
        fail(f"--role: expected one of {', '.join(ROLES)}, got {role!r}", 2)
    password = None if no_password else _read_password(password_stdin)
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine:
        who = audit_actor(engine, actor)
        with catalog_session(engine) as session:
            existed = user_fields(session, user_id) is not None
            try:
                upsert_user(
                    session,
                    user_id=user_id,
                    role=role,
                    actor=who,
                    sponsor=sponsor,
                    sites=site or [],
                    name=name,
                    reason=reason,
                )
            except ReasonRequired as exc:
                _refuse_unreasoned(exc)
            if password is not None:
                set_password(session, user_id=user_id, password=password, actor=who)
    typer.echo(f"user {user_id} {'updated' if existed else 'added'} ({role})")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if len(password) < MIN_PASSWORD_LENGTH:
        fail(f"password: at least {MIN_PASSWORD_LENGTH} characters, please", 2)
    return password


@user_app.command("end-sessions")
def user_end_sessions(
    user_id: Annotated[str, typer.Argument(metavar="ID")],
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    actor: Actor = None,
) -> None:
    """Log user ID out everywhere: every login token they hold stops working (API tokens
    are revoked one by one with `token revoke`)."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine:
        who = audit_actor(engine, actor)
        with catalog_session(engine) as session:
            at = revoke_sessions(session, user_id=user_id, actor=who)
    typer.echo(f"user {user_id}: login tokens issued before {at.isoformat()} are void")


@token_app.command("create")
def token_create(
    user_id: Annotated[str, typer.Argument(metavar="ID")],
    label: Annotated[str | None, typer.Option("--label")] = None,
    expires_in_days: Annotated[
        int | None,
        typer.Option("--expires-in-days", min=1, max=3650, help="default: api_token_ttl_days (90)"),
    ] = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    actor: Actor = None,
) -> None:
    """Issue an API token for user ID and print it; it cannot be shown again."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    lifetime = timedelta(days=expires_in_days or settings.api_token_ttl_days)
    with catalog_engine(settings) as engine:
        who = audit_actor(engine, actor)
        with catalog_session(engine) as session:
            issued = create_token(
                session, user_id=user_id, actor=who, label=label, lifetime=lifetime
            )
    typer.echo(issued.token)
    typer.echo(
        f"token {issued.token_id} for {user_id}, expires {issued.expires_at.isoformat()}: "
        "store it now, it is not kept",
        err=True,
    )


@token_app.command("list")
def token_list(
    user_id: Annotated[str | None, typer.Argument(metavar="[ID]")] = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """List API tokens (of user ID): id, user, created, expires, revoked, label."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine, catalog_session(engine) as session:
        tokens = list_tokens(session, user_id=user_id)
    for token in tokens:
        revoked = token.revoked_at.isoformat() if token.revoked_at else "-"
        typer.echo(
            f"{token.token_id:<6} {token.user_id:<20} {token.created_at.isoformat()} "
            f"expires={token.expires_at.isoformat()} revoked={revoked} {token.label or ''}"
        )


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(metavar="TOKEN_ID", help="as `token list` shows")],
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    actor: Actor = None,
) -> None:
    """Revoke API token TOKEN_ID: refused from then on (within api_auth_cache_s)."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine:
        who = audit_actor(engine, actor)
        with catalog_session(engine) as session:
            revoke_token(session, token_id=token_id, actor=who)
    typer.echo(f"token {token_id} revoked")
