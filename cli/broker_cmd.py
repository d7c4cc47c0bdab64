"""`coldchain broker|gateway|influx`: who may talk to the broker and the database.

Passwords are printed once (a new gateway's) or stay in `{data_dir}/secrets/` (0600);
nothing here logs one. Every command that changes credentials regenerates the broker's
`passwd` and `acl` from the catalog and, given the broker's pid, reloads them (SIGHUP).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session

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
)
from coldchain.broker_auth import (
    IMPORT_ACCOUNT,
    IMPORT_SECRET,
    Listener,
    import_accounts,
    reload_broker,
    service_accounts,
    write_broker_credentials,
    write_listeners,
)
from coldchain.catalog import CatalogError, catalog_session
from coldchain.catalog.gateways import add_gateway, gateway_accounts, list_gateways, revoke_gateway
from coldchain.errors import ConfigError, StoreError
from coldchain.influx_users import INFLUX_ACCOUNTS, InfluxAccount, setup_influx_users
from coldchain.security.secrets import read_or_create_secret, secret_path
from coldchain.security.tls import TlsFiles, ensure_demo_pki

__all__ = ["broker_app", "gateway_app", "influx_app", "regenerate_broker_files"]

broker_app = typer.Typer(no_args_is_help=True, help="Mosquitto: passwords, ACL, listeners.")
gateway_app = typer.Typer(no_args_is_help=True, help="Gateways' MQTT accounts.")
influx_app = typer.Typer(no_args_is_help=True, help="InfluxDB users (auth-enabled servers).")

OutDir = Annotated[
    Path | None, typer.Option("--out", help="broker files folder [default: DATA_DIR/broker]")
]
BrokerPid = Annotated[
    int | None, typer.Option("--broker-pid", help="mosquitto's pid, to reload it (SIGHUP)")
]
BrokerPidFile = Annotated[
    Path | None,
    typer.Option(
        "--broker-pid-file", help="file holding mosquitto's pid [default: OUT/mosquitto.pid]"
    ),
]


def _address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        fail(f"expected ADDRESS:PORT (e.g. 0.0.0.0:8883), got {value!r}", 2)
    return host, int(port)


def regenerate_broker_files(
    engine: Engine,
    data_dir: Path,
    out: Path,
    *,
    ingest_workers: int = 1,
    detector_partitions: int = 1,
    import_stations: int = 1,
) -> int:
    """Write `passwd` and `acl` for the services, the logger imports' account and every
    gateway not revoked; returns how many gateway accounts they hold."""
    with catalog_session(engine) as session:
        gateways = gateway_accounts(session)
    accounts = service_accounts(
        data_dir, ingest_workers=ingest_workers, detector_partitions=detector_partitions
    )
    imports = import_accounts(data_dir, stations=import_stations)
    write_broker_credentials(out, [*accounts, *imports, *gateways])
    return len(gateways)


def _reload(out: Path, pid: int | None, pid_file: Path | None) -> None:
    pid_path = pid_file or out / "mosquitto.pid"
    if pid is None and pid_path.exists():
        text = pid_path.read_text().strip()
        if not text.isdigit():
            fail(f"{pid_path}: expected a process id, got {text[:20]!r}", 2)
        pid = int(text)
    if pid is None:
        typer.echo("broker not reloaded (no --broker-pid): run `kill -HUP <mosquitto pid>`")
        return
    try:
        reload_broker(pid)
    except ConfigError as exc:
        fail(f"reload: {exc}", 1)
    typer.echo(f"broker {pid} reloading passwd and acl (SIGHUP)")


@broker_app.command("config")
def broker_config(
    out: OutDir = None,
    listen: Annotated[
        list[str] | None,
        typer.Option("--listen", help="plain listener ADDRESS:PORT, repeatable [127.0.0.1:1883]"),
    ] = None,
    tls_listen: Annotated[
        list[str] | None, typer.Option("--tls-listen", help="TLS listener ADDRESS:PORT")
    ] = None,
    cafile: Annotated[Path | None, typer.Option("--cafile")] = None,
    certfile: Annotated[Path | None, typer.Option("--certfile")] = None,
    keyfile: Annotated[Path | None, typer.Option("--keyfile")] = None,
    demo_tls: Annotated[
        bool, typer.Option("--demo-tls", help="private CA under DATA_DIR/tls (tests, demos)")
    ] = False,
    tls_host: Annotated[
        list[str] | None, typer.Option("--tls-host", help="--demo-tls: names in the certificate")
    ] = None,
    ingest_workers: Annotated[
        int,
        typer.Option(
            "--ingest-workers",
            min=1,
            help="ingest accounts to create: coldchain-ingest, coldchain-ingest-2, ...",
        ),
    ] = 1,
    detector_partitions: Annotated[
        int,
        typer.Option(
            "--detector-partitions",
            min=1,
            help="detector accounts: coldchain-detector, coldchain-detector-2, ... (one per "
            "partition, `coldchain detect --site`)",
        ),
    ] = 1,
    import_stations: Annotated[
        int,
        typer.Option(
            "--import-stations",
            min=1,
            help="logger import accounts: coldchain-import, coldchain-import-2, ... (one per "
            "station that imports while others do, `coldchain logger import`)",
        ),
    ] = 1,
    broker_pid: BrokerPid = None,
    broker_pid_file: BrokerPidFile = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Write passwd, acl and listeners.conf (include it from mosquitto.conf) into OUT."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    target = out or settings.data_dir / "broker"
    tls: TlsFiles | None = None
    if tls_listen:
        if demo_tls:
            tls = ensure_demo_pki(settings.data_dir / "tls", tls_host or ("127.0.0.1", "localhost"))
        elif cafile and certfile and keyfile:
            tls = TlsFiles(cafile, certfile, keyfile)
        else:
            fail("--tls-listen needs --cafile, --certfile and --keyfile, or --demo-tls", 2)
    listeners = [Listener(port, host) for host, port in map(_address, listen or ["127.0.0.1:1883"])]
    listeners += [Listener(port, host, tls) for host, port in map(_address, tls_listen or [])]
    with catalog_engine(settings) as engine:
        try:
            count = regenerate_broker_files(
                engine,
                settings.data_dir,
                target,
                ingest_workers=ingest_workers,
                detector_partitions=detector_partitions,
                import_stations=import_stations,
            )
        except (CatalogError, ConfigError) as exc:
            fail(f"broker config: {exc}", 1)
    conf = write_listeners(target, listeners)
    typer.echo(f"wrote {target}/passwd, {target}/acl ({count} gateways + services) and {conf}")
    typer.echo(
        f"logger imports publish as {IMPORT_ACCOUNT}[-n]: copy "
        f"{secret_path(settings.data_dir, IMPORT_SECRET)}[-n] to each import station"
    )
    if tls is not None:
        typer.echo(f"clients verify the broker with --mqtt-ca-file {tls.ca_cert}")
    _reload(target, broker_pid, broker_pid_file)


_T = TypeVar("_T")


def _change_gateway(
    verb: str,
    change: Callable[[Session, str], _T],
    *,
    actor: str | None,
    out: Path | None,
    catalog_url: str | None,
    data_dir: Path | None,
    config: Path | None,
) -> tuple[_T, Path]:
    """Apply `change` (given the session and who the audit trail names) to the catalog and
    regenerate the broker's files in one go; returns its result and the folder written, for
    the caller to report and reload."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    target = out or settings.data_dir / "broker"
    with catalog_engine(settings) as engine:
        who = audit_actor(engine, actor)
        try:
            with catalog_session(engine) as session:
                result = change(session, who)
            regenerate_broker_files(engine, settings.data_dir, target)
        except (CatalogError, ConfigError) as exc:
            fail(f"gateway {verb}: {exc}", 1)
    return result, target


@gateway_app.command("add")
def gateway_add(
    site: Annotated[str, typer.Argument()],
    gateway: Annotated[str, typer.Argument()],
    out: OutDir = None,
    broker_pid: BrokerPid = None,
    broker_pid_file: BrokerPidFile = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    actor: Actor = None,
) -> None:
    """Create GATEWAY's account at SITE and print its password, this once only."""
    issued, target = _change_gateway(
        "add",
        lambda session, who: add_gateway(session, site=site, gateway=gateway, actor=who),
        actor=actor,
        out=out,
        catalog_url=catalog_url,
        data_dir=data_dir,
        config=config,
    )
    typer.echo(f"gateway {site}/{gateway}: user {issued.username}")
    typer.echo(f"password (shown once, stored hashed): {issued.password}")
    _reload(target, broker_pid, broker_pid_file)


@gateway_app.command("revoke")
def gateway_revoke(
    site: Annotated[str, typer.Argument()],
    gateway: Annotated[str, typer.Argument()],
    out: OutDir = None,
    broker_pid: BrokerPid = None,
    broker_pid_file: BrokerPidFile = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    actor: Actor = None,
) -> None:
    """Revoke GATEWAY at SITE: the broker refuses it from its next reload on."""
    changed, target = _change_gateway(
        "revoke",
        lambda session, who: revoke_gateway(session, site=site, gateway=gateway, actor=who),
        actor=actor,
        out=out,
        catalog_url=catalog_url,
        data_dir=data_dir,
        config=config,
    )
    typer.echo(f"gateway {site}/{gateway} {'revoked' if changed else 'was already revoked'}")
    _reload(target, broker_pid, broker_pid_file)


@gateway_app.command("list")
def gateway_list(
    catalog_url: CatalogUrl = None, data_dir: DataDir = None, config: ConfigFile = None
) -> None:
    """Every gateway account: site, id, user, created, revoked."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine, catalog_session(engine) as session:
        for record in list_gateways(session):
            revoked = record.revoked_at.isoformat() if record.revoked_at else "-"
            typer.echo(
                f"{record.site}\t{record.gateway}\t{record.username}\t"
                f"{record.created_at.isoformat()}\t{revoked}"
            )


@influx_app.command("setup-users")
def influx_setup_users(
    influx_url: InfluxUrl = None,
    influx_db: InfluxDb = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Create the admin, the write-only ingest user and the read-only reader; idempotent."""
    settings = build_settings(config, influx_url=influx_url, influx_db=influx_db, data_dir=data_dir)
    accounts = {
        role: InfluxAccount(user, read_or_create_secret(settings.data_dir, f"influx-{role}"))
        for role, user in INFLUX_ACCOUNTS.items()
    }
    try:
        asyncio.run(
            setup_influx_users(
                settings.influx_url,
                settings.influx_db,
                admin=accounts["admin"],
                ingest=accounts["ingest"],
                reader=accounts["reader"],
            )
        )
    except StoreError as exc:
        fail(f"influx setup-users: {exc}", 1)
    for role, user in INFLUX_ACCOUNTS.items():
        typer.echo(
            f"{role}: user {user}, password in {secret_path(settings.data_dir, f'influx-{role}')}"
        )
