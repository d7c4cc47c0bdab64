"""Gateways' MQTT accounts: created once (the password shown once), revoked, listed.

Every change is audited in the same transaction. The audit entry and the errors name the
gateway and say that a password was set, never the password or its hash. The broker's
files are rendered from `broker_accounts`, so the catalog is the one source of truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.broker_auth import BrokerAccount, gateway_username, mosquitto_password_hash
from coldchain.catalog.audit import append_audit
from coldchain.catalog.errors import CatalogConflict, CatalogNotFound
from coldchain.catalog.schema import GatewayRow, SiteRow
from coldchain.security.secrets import new_secret

__all__ = [
    "GatewayCredentials",
    "GatewayRecord",
    "add_gateway",
    "gateway_accounts",
    "list_gateways",
    "revoke_gateway",
]


@dataclass(frozen=True, slots=True)
class GatewayCredentials:
    """What a new gateway is configured with; `password` exists only in this value."""

    site: str
    gateway: str
    username: str
    password: str

    def __repr__(self) -> str:  # never print the password
        return f"GatewayCredentials({self.site}/{self.gateway}, user={self.username!r})"


@dataclass(frozen=True, slots=True)
class GatewayRecord:
    site: str
    gateway: str
    username: str
    created_at: datetime
    revoked_at: datetime | None


def _find(session: Session, site: str, gateway: str) -> GatewayRow | None:
    query = select(GatewayRow).where(GatewayRow.site_id == site, GatewayRow.gateway == gateway)
    return session.execute(query).scalar_one_or_none()


def add_gateway(session: Session, *, site: str, gateway: str, actor: str) -> GatewayCredentials:
    """Create gateway `gateway` of `site` with a new random password.

    Raises:
        CatalogNotFound: no such site.
        CatalogConflict: the gateway already has (or had) an account. A revoked gateway
            is not brought back under the same id: give the replacement a new id.
        ConfigError: an id the broker cannot use.
    """
    username = gateway_username(site, gateway)
    if session.get(SiteRow, site) is None:
        raise CatalogNotFound(f"site {site!r} not found")
    existing = _find(session, site, gateway)
    if existing is not None:
        state = "revoked" if existing.revoked_at else "active"
        raise CatalogConflict(
            f"gateway {site}/{gateway} already has an account ({state}); "
            "credentials are issued once: revoke it and add the replacement under a new id"
        )
    password = new_secret()
    row = GatewayRow(
        site_id=site,
        gateway=gateway,
        username=username,
        password_hash=mosquitto_password_hash(password),
        created_at=datetime.now(UTC),
        revoked_at=None,
    )
    session.add(row)
    session.flush()
    append_audit(
        session,
        actor=actor,
        action="create",
        entity="gateway",
        entity_id=f"{site}/{gateway}",
        new={"site": site, "gateway": gateway, "username": username, "password": "<set>"},
    )
    return GatewayCredentials(site, gateway, username, password)


def revoke_gateway(session: Session, *, site: str, gateway: str, actor: str) -> bool:
    """Revoke the gateway's account; False if it already was. The broker refuses it once
    its files are regenerated and it was sent SIGHUP."""
    row = _find(session, site, gateway)
    if row is None:
        raise CatalogNotFound(f"gateway {site}/{gateway} not found")
    if row.revoked_at is not None:
        return False
    row.revoked_at = datetime.now(UTC)
    append_audit(
        session,
        actor=actor,
        action="revoke",
        entity="gateway",
        entity_id=f"{site}/{gateway}",
        old={"revoked_at": None},
        new={"revoked_at": row.revoked_at},
    )
    return True


def list_gateways(session: Session) -> list[GatewayRecord]:
    rows = session.execute(select(GatewayRow).order_by(GatewayRow.site_id, GatewayRow.gateway))
    return [
        GatewayRecord(r.site_id, r.gateway, r.username, r.created_at, r.revoked_at)
        for r in rows.scalars()
    ]


def gateway_accounts(session: Session) -> list[BrokerAccount]:
    """The broker accounts of every gateway not revoked."""
    query = select(GatewayRow).where(GatewayRow.revoked_at.is_(None))
    return [
        BrokerAccount(r.username, r.password_hash, site=r.site_id, gateway=r.gateway)
        for r in session.execute(query).scalars()
    ]
