"""InfluxDB 1.x users for an `auth-enabled` server: an admin, a writer, a reader.

Least privilege per service: ingest gets `WRITE` and `READ` on the readings database, the
API and the exporter `READ` only; neither may drop the database or a measurement, create
users or retention policies. Ingest reads so that it never overwrites: InfluxDB takes a point
written again as an update, so ingest asks what is stored before writing (`ingest.duplicates`)
and keeps a re-send with other values apart. READ adds little to a writer in InfluxDB 1.x,
whose WRITE privilege also allows DELETE and DROP SERIES on the database; no grant takes
that away (docs/security.md, residual risks). The admin exists for this setup and for
operators (retention policies, continuous queries). InfluxDB 1.x lets the first user be
created without credentials, but only as an admin ("create admin user first"), which is the
bootstrap.

Passwords travel inside InfluxQL statements, so no error raised here carries the
statement or chains the client's exception (whose text would quote it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from coldchain.downsampling import ensure_downsampling
from coldchain.errors import StoreError, StoreRejected, StoreUnavailable
from coldchain.influx import InfluxClient, quote_identifier, quote_string

__all__ = ["INFLUX_ACCOUNTS", "InfluxAccount", "InfluxSetupError", "setup_influx_users"]

#: Role -> InfluxDB user name.
INFLUX_ACCOUNTS: Mapping[str, str] = {
    "admin": "coldchain-admin",
    "ingest": "coldchain-ingest",
    "reader": "coldchain-reader",
}


class InfluxSetupError(StoreError):
    """A user could not be created or granted; the message names the user, not the password."""


@dataclass(frozen=True, slots=True)
class InfluxAccount:
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password
        return f"InfluxAccount({self.username!r})"


async def _run(client: InfluxClient, statement: str, what: str) -> list[list[object]]:
    try:
        series = await client.query(statement)
    except StoreUnavailable as exc:
        # Its text is the HTTP status and the server's answer, never the statement.
        raise StoreUnavailable(f"{exc} ({what})") from None
    except StoreRejected as exc:
        # Its text quotes the statement, and with it a password: keep only the answer.
        raise InfluxSetupError(f"InfluxDB {what}: {exc.server_message}") from None
    return [row for item in series for row in item.values]


async def _bootstrap_admin(url: str, database: str, admin: InfluxAccount) -> None:
    """Create the admin without credentials; a server that has users already refuses
    (HTTP 401 or 403) and the admin's own credentials are used from then on."""
    async with InfluxClient(url, database) as anonymous:
        try:
            await anonymous.query(
                f"CREATE USER {quote_identifier(admin.username)} WITH PASSWORD "
                f"{quote_string(admin.password)} WITH ALL PRIVILEGES"
            )
        except StoreError:
            return


async def setup_influx_users(
    url: str,
    database: str,
    *,
    admin: InfluxAccount,
    ingest: InfluxAccount,
    reader: InfluxAccount,
    timeout_s: float = 10.0,
) -> None:
    """Create (or re-password) the three users, the database, the grants and the
    downsampled series' retention policies (`ensure_downsampling`); idempotent.

    Re-running sets each password again from the given accounts, so the secret files stay
    the truth, and revokes whatever else the ingest and reader users had been granted.

    Raises:
        InfluxSetupError: a statement was refused (e.g. the admin password is wrong).
        StoreUnavailable: the server did not answer.
    """
    await _bootstrap_admin(url, database, admin)
    async with InfluxClient(
        url, database, username=admin.username, password=admin.password, timeout_s=timeout_s
    ) as client:
        existing = {str(row[0]) for row in await _run(client, "SHOW USERS", "SHOW USERS")}
        await _run(client, f"CREATE DATABASE {quote_identifier(database)}", "CREATE DATABASE")
        for account, privileges in ((ingest, "ALL"), (reader, "READ")):
            name, secret = quote_identifier(account.username), quote_string(account.password)
            if account.username in existing:
                await _run(client, f"SET PASSWORD FOR {name} = {secret}", f"{account!r}")
                await _run(client, f"REVOKE ALL PRIVILEGES FROM {name}", f"{account!r}")
            else:
                await _run(client, f"CREATE USER {name} WITH PASSWORD {secret}", f"{account!r}")
            await _run(client, f"REVOKE ALL ON {quote_identifier(database)} FROM {name}", name)
            await _run(
                client,
                f"GRANT {privileges} ON {quote_identifier(database)} TO {name}",
                f"GRANT {privileges} to {account.username}",
            )
        # No password in these statements: their errors may say what was refused.
        await ensure_downsampling(client)
