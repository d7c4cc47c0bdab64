"""Passwords are argon2 hashes and tokens are kept only as SHA-256."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from coldchain.catalog import (
    authenticate_password,
    authenticate_token,
    catalog_session,
    create_token,
    import_fleet,
    set_password,
)
from coldchain.catalog.credentials import revoke_token
from coldchain.catalog.schema import ApiTokenRow, AuditEntryRow, UserRow


def test_password_is_hashed_and_checked(engine: Engine, fleet_file: Path) -> None:
    import_fleet(engine, fleet_file, actor="test")
    with catalog_session(engine) as session:
        set_password(session, user_id="alice", password="correct horse", actor="admin")
    with catalog_session(engine) as session:
        user = session.get(UserRow, "alice")
        assert user is not None
        assert user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        assert authenticate_password(session, user_id="alice", password="correct horse")
        assert not authenticate_password(session, user_id="alice", password="wrong horse")
        assert not authenticate_password(session, user_id="omar", password="correct horse")
        assert not authenticate_password(session, user_id="nobody", password="x")
        audit = session.execute(select(AuditEntryRow.new_value)).scalars()
        assert not any("argon2" in (value or "") for value in audit)


def test_token_is_shown_once_and_stored_hashed(engine: Engine, fleet_file: Path) -> None:
    import_fleet(engine, fleet_file, actor="test")
    with catalog_session(engine) as session:
        issued = create_token(session, user_id="omar", actor="admin", label="scanner")
    with catalog_session(engine) as session:
        stored = session.execute(select(ApiTokenRow)).scalar_one()
        assert issued.token not in stored.token_sha256
        assert authenticate_token(session, token=issued.token) == "omar"
        assert authenticate_token(session, token=issued.token + "x") is None
        revoke_token(session, token_id=issued.token_id, actor="admin")
        assert authenticate_token(session, token=issued.token) is None
