"""Mosquitto 2.0 credentials and ACLs, rendered from the catalog (docs/design.md §8).

Three files, all regenerated from scratch each time so no hand edit survives to drift:
- `passwd`: `user:$7$101$<salt>$<hash>`, mosquitto 2.0's PBKDF2-SHA512 format, produced
  here with `hashlib` so no `mosquitto_passwd` subprocess is needed (a test checks the real
  broker accepts it). Gateway passwords are 256-bit random, so the format's 101 iterations
  are no weakness: there is nothing to guess.
- `acl`: one `user` block per account. A gateway may write only its own site's readings
  and status and its own gateway status (its last will), never `alerts`; the services may
  only read, except that the detector writes alerts; the import account (`coldchain logger
  import` at any station) writes logger readings of any site and nothing else, so an
  import station needs no site's gateway password. Mosquitto checks a shared
  subscription against the filter after `$share/{group}/`, so ingest's plain read rules
  cover its `$share/ingest/...` subscriptions too.
- `listeners.conf`: `per_listener_settings false` (one password file and ACL for every
  listener), no anonymous access, a plain listener (loopback by default) and a TLS one.

SIGHUP makes mosquitto re-read `passwd` and `acl` (mosquitto.conf(5), "reloaded on
SIGHUP"), which is how a revocation takes effect without a restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import signal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from coldchain.errors import ConfigError
from coldchain.security.secrets import read_or_create_secret, secret_path, write_private_file
from coldchain.security.tls import TlsFiles
from coldchain.wire import TOPIC_ROOT

__all__ = [
    "IMPORT_ACCOUNT",
    "IMPORT_SECRET",
    "SERVICE_ACCOUNTS",
    "BrokerAccount",
    "Listener",
    "check_mosquitto_password",
    "gateway_username",
    "import_accounts",
    "mosquitto_password_hash",
    "reload_broker",
    "render_acl",
    "render_listeners",
    "render_password_file",
    "service_accounts",
    "write_broker_credentials",
    "write_listeners",
]

_ITERATIONS = 101  # mosquitto_passwd's default for the $7$ format in 2.0
_SALT_BYTES = 12
#: Service name -> broker user name. Their passwords live in the data dir's secrets.
SERVICE_ACCOUNTS: Mapping[str, str] = {
    "ingest": "coldchain-ingest",
    "detector": "coldchain-detector",
    "api": "coldchain-api",
}
#: The broker user logger imports publish as, and its secret's name in the data dir.
IMPORT_ACCOUNT = "coldchain-import"
IMPORT_SECRET = "mqtt-import"
# Ids that are safe in a user name, a password-file line (split at the first ':') and an
# ACL line; `~` joins them because no id may contain it, so no two gateways share a name.
_BROKER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def mosquitto_password_hash(password: str, *, salt: bytes | None = None) -> str:
    """`$7$101$<salt b64>$<hash b64>`: PBKDF2-HMAC-SHA512, 12-byte salt, 64-byte hash."""
    salt = os.urandom(_SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, _ITERATIONS, 64)
    return f"$7${_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_mosquitto_password(password: str, encoded: str) -> bool:
    """True when `password` matches a `$7$` hash (as mosquitto would decide)."""
    try:
        _, kind, iterations, salt, expected = encoded.split("$")
        if kind != "7":
            return False
        digest = hashlib.pbkdf2_hmac(
            "sha512", password.encode("utf-8"), base64.b64decode(salt), int(iterations), 64
        )
    except ValueError:
        return False
    return hmac.compare_digest(base64.b64encode(digest).decode(), expected)


def gateway_username(site: str, gateway: str) -> str:
    """The broker user of gateway `gateway` at `site`: `gw~{site}~{gateway}`.

    Raises:
        ConfigError: an id the broker's files cannot hold unambiguously.
    """
    for field, value in (("site", site), ("gateway", gateway)):
        if not _BROKER_ID.fullmatch(value):
            raise ConfigError(
                f"{field}: {value!r} cannot name a broker account "
                "(letters, digits, '.', '_', '-'; at most 64)"
            )
    return f"gw~{site}~{gateway}"


@dataclass(frozen=True, slots=True)
class BrokerAccount:
    """One line of the password file and one block of the ACL.

    Attributes:
        username: the MQTT user name.
        password_hash: mosquitto `$7$` hash; never the password.
        site, gateway: set for gateway accounts, None for services.
        service: `ingest`, `detector`, `api` or `import` for service accounts.
    """

    username: str
    password_hash: str
    site: str | None = None
    gateway: str | None = None
    service: str | None = None

    def topic_rules(self) -> list[str]:
        """The ACL lines of this account (`topic read|write FILTER`)."""
        if self.site is not None and self.gateway is not None:
            site = f"{TOPIC_ROOT}/{self.site}"
            return [
                f"topic write {site}/unit/+/readings",
                f"topic write {site}/unit/+/status",
                f"topic write {site}/logger/+/readings",
                f"topic write {site}/logger/+/status",
                f"topic write {site}/gateway/{self.gateway}/status",
            ]
        readings = [
            f"topic read {TOPIC_ROOT}/+/+/+/readings",
            f"topic read {TOPIC_ROOT}/+/+/+/status",
        ]
        if self.service == "ingest":
            return readings
        if self.service == "detector":
            return [*readings, f"topic write {TOPIC_ROOT}/+/alerts"]
        if self.service == "api":
            return [*readings, f"topic read {TOPIC_ROOT}/+/alerts"]
        if self.service == "import":
            # A logger's readings of any site (a logger imported at the destination
            # publishes under its origin site, design.md §10); no status, alerts or reading.
            return [f"topic write {TOPIC_ROOT}/+/logger/+/readings"]
        raise ConfigError(f"broker account {self.username!r}: neither a gateway nor a service")


def service_accounts(
    data_dir: Path, *, ingest_workers: int = 1, detector_partitions: int = 1
) -> list[BrokerAccount]:
    """The services' accounts; each password is `{data_dir}/secrets/mqtt-{name}.secret`,
    created on first use, which is also where the service reads it from
    (`COLDCHAIN_MQTT_PASSWORD_FILE`).

    The broker uses the user name as client id, so each ingest worker and each detector
    partition needs an account of its own: the first is `coldchain-ingest` (or
    `-detector`), the n-th `coldchain-ingest-n`. Once created they keep their accounts
    (their secret files say so) until the files are removed.
    """
    counts = {"ingest": ingest_workers, "detector": detector_partitions}
    return [
        account
        for service, username in SERVICE_ACCOUNTS.items()
        for account in _numbered(data_dir, service, username, counts.get(service, 1))
    ]


def import_accounts(data_dir: Path, *, stations: int = 1) -> list[BrokerAccount]:
    """The logger imports' accounts: `coldchain-import`, and `coldchain-import-n` for the
    n-th import station that may import at the same time as others (the broker binds the
    client id to the user name, so two stations on one account would take turns on one
    session). Passwords in `{data_dir}/secrets/mqtt-import[-n].secret`, created on first
    use: copy each to its station (`coldchain logger import` reads `mqtt-import.secret`
    from its own data dir, or `COLDCHAIN_MQTT_PASSWORD_FILE`)."""
    return _numbered(data_dir, "import", IMPORT_ACCOUNT, stations)


def _numbered(data_dir: Path, service: str, username: str, count: int) -> list[BrokerAccount]:
    """`username` and `username-n` for n up to `count` and for any created before (their
    secret files say so), with the passwords of `mqtt-{service}[-n].secret`."""
    for n in range(2, count + 1):
        read_or_create_secret(data_dir, f"mqtt-{service}-{n}")
    secrets = secret_path(data_dir, f"mqtt-{service}").parent
    extra = sorted(
        int(match.group(1))
        for path in secrets.glob(f"mqtt-{service}-*.secret")
        if (match := re.fullmatch(rf"mqtt-{service}-([0-9]+)\.secret", path.name))
    )
    names = [(username, f"mqtt-{service}")]
    names += [(f"{username}-{n}", f"mqtt-{service}-{n}") for n in extra]
    return [
        BrokerAccount(
            user, mosquitto_password_hash(read_or_create_secret(data_dir, secret)), service=service
        )
        for user, secret in names
    ]


def render_password_file(accounts: Iterable[BrokerAccount]) -> str:
    return "".join(f"{a.username}:{a.password_hash}\n" for a in accounts)


def render_acl(accounts: Iterable[BrokerAccount]) -> str:
    """The ACL file. An account without a block (or anyone anonymous) may do nothing,
    since mosquitto denies whatever no rule grants once an `acl_file` is set."""
    blocks = ["# generated by `coldchain broker config`; edits are overwritten\n"]
    for account in accounts:
        blocks.append(f"\nuser {account.username}\n")
        blocks.extend(f"{rule}\n" for rule in account.topic_rules())
    return "".join(blocks)


def write_broker_credentials(directory: Path, accounts: Iterable[BrokerAccount]) -> None:
    """Write `passwd` and `acl` under `directory`, both 0600 (the hashes are not public,
    and the ACL tells an attacker which accounts are worth stealing)."""
    ordered = sorted(accounts, key=lambda a: a.username)
    names = [a.username for a in ordered]
    if len(set(names)) != len(names):
        raise ConfigError("broker accounts: the same user name twice")
    write_private_file(directory / "passwd", render_password_file(ordered))
    write_private_file(directory / "acl", render_acl(ordered))


@dataclass(frozen=True, slots=True)
class Listener:
    """A mosquitto listener: `address:port`, with TLS files or plain."""

    port: int
    address: str = "127.0.0.1"
    tls: TlsFiles | None = None


def render_listeners(directory: Path, listeners: Iterable[Listener]) -> str:
    """mosquitto.conf lines that turn on authentication and open `listeners`."""
    lines = [
        "# generated by `coldchain broker config`; include it from mosquitto.conf",
        "per_listener_settings false",
        "allow_anonymous false",
        f"password_file {(directory / 'passwd').resolve()}",
        f"acl_file {(directory / 'acl').resolve()}",
    ]
    for listener in listeners:
        lines.append(f"listener {listener.port} {listener.address}")
        # A listener option in mosquitto 2.0: the client id becomes the user name, so no
        # account can claim another's id and take over its persistent session and the
        # readings queued in it [MQTT-3.1.4-3]. Hence one account per ingest worker.
        lines.append("use_username_as_clientid true")
        if listener.tls is not None:
            lines += [
                f"cafile {listener.tls.ca_cert.resolve()}",
                f"certfile {listener.tls.server_cert.resolve()}",
                f"keyfile {listener.tls.server_key.resolve()}",
                # TLS 1.2 is the floor; mosquitto also offers 1.3 where OpenSSL has it.
                "tls_version tlsv1.2",
            ]
    return "\n".join(lines) + "\n"


def write_listeners(directory: Path, listeners: Iterable[Listener]) -> Path:
    path = directory / "listeners.conf"
    write_private_file(path, render_listeners(directory, listeners))
    return path


def reload_broker(pid: int) -> None:
    """Ask mosquitto to re-read its password file and ACL (SIGHUP).

    Raises:
        ConfigError: no such process, or not ours to signal.
    """
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ConfigError(f"broker pid {pid}: no such process") from None
    except PermissionError:
        raise ConfigError(f"broker pid {pid}: not allowed to signal it") from None
