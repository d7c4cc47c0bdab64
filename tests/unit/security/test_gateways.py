"""Gateway accounts in the catalog: issued once, audited without the password, revocable."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from coldchain.broker_auth import check_mosquitto_password
from coldchain.catalog import catalog_session, create_catalog_engine, upgrade_catalog
from coldchain.catalog.audit import read_audit, verify_audit_chain
from coldchain.catalog.errors import CatalogConflict, CatalogNotFound
from coldchain.catalog.gateways import (
    add_gateway,
    gateway_accounts,
    list_gateways,
    revoke_gateway,
)
from coldchain.catalog.schema import GatewayRow, SiteRow
from tests.support.secrets_registry import register


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_catalog_engine(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    upgrade_catalog(engine)
    with catalog_session(engine) as session:
        session.add_all([SiteRow(id="BSL", timezone="UTC"), SiteRow(id="ZRH", timezone="UTC")])
    yield engine
    engine.dispose()


def test_a_new_gateway_gets_a_password_shown_once_and_stored_hashed(engine: Engine) -> None:
    with catalog_session(engine) as session:
        issued = add_gateway(session, site="BSL", gateway="gw1", actor="test")
    register(issued.password)
    assert issued.username == "gw~BSL~gw1"
    assert issued.password not in repr(issued)
    with catalog_session(engine) as session:
        row = session.query(GatewayRow).one()
        assert row.password_hash != issued.password
        assert check_mosquitto_password(issued.password, row.password_hash)
        entries = read_audit(session, entity="gateway")
        assert verify_audit_chain(session).ok
    assert [e.action for e in entries] == ["create"]
    assert issued.password not in (entries[0].new_value or "")
    assert row.password_hash not in (entries[0].new_value or "")


def test_credentials_are_issued_once_even_after_revocation(engine: Engine) -> None:
    with catalog_session(engine) as session:
        register(add_gateway(session, site="BSL", gateway="gw1", actor="test").password)
    with (
        pytest.raises(CatalogConflict, match="already has an account"),
        catalog_session(engine) as session,
    ):
        add_gateway(session, site="BSL", gateway="gw1", actor="test")
    with catalog_session(engine) as session:
        assert revoke_gateway(session, site="BSL", gateway="gw1", actor="test")
    with pytest.raises(CatalogConflict, match="revoked"), catalog_session(engine) as session:
        add_gateway(session, site="BSL", gateway="gw1", actor="test")


def test_revoked_gateways_leave_the_broker_accounts_but_not_the_record(engine: Engine) -> None:
    with catalog_session(engine) as session:
        for site, gateway in (("BSL", "gw1"), ("ZRH", "gw1")):
            register(add_gateway(session, site=site, gateway=gateway, actor="t").password)
        revoke_gateway(session, site="BSL", gateway="gw1", actor="t")
        assert not revoke_gateway(session, site="BSL", gateway="gw1", actor="t")
        accounts = gateway_accounts(session)
        records = list_gateways(session)
        actions = [e.action for e in read_audit(session, entity="gateway")]
    assert [(a.site, a.gateway) for a in accounts] == [("ZRH", "gw1")]
    assert [(r.site, r.revoked_at is not None) for r in records] == [("BSL", True), ("ZRH", False)]
    assert actions == ["create", "create", "revoke"]


def test_unknown_site_or_gateway_is_not_found(engine: Engine) -> None:
    with pytest.raises(CatalogNotFound, match="site 'NOPE'"), catalog_session(engine) as session:
        add_gateway(session, site="NOPE", gateway="gw1", actor="t")
    with pytest.raises(CatalogNotFound, match="BSL/gw9"), catalog_session(engine) as session:
        revoke_gateway(session, site="BSL", gateway="gw9", actor="t")
