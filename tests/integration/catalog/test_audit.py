"""The audit trail detects an edited or a deleted entry, even one deleted from the end."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from coldchain.catalog import (
    AuditVerification,
    catalog_session,
    import_fleet,
    verify_audit_chain,
)


@pytest.fixture
def imported(engine: Engine, fleet_file: Path) -> Engine:
    import_fleet(engine, fleet_file, actor="test")
    return engine


def _verify(engine: Engine) -> AuditVerification:
    with catalog_session(engine) as session:
        return verify_audit_chain(session, batch_size=7)  # several pages


def test_an_untouched_trail_verifies(imported: Engine) -> None:
    result = _verify(imported)
    assert result.ok
    assert result.entries == 23  # one per row the import created (2 condition versions too)
    assert len(result.head_hash) == 64


def test_an_edited_entry_is_found(imported: Engine) -> None:
    with imported.begin() as connection:
        connection.execute(
            text('UPDATE audit_log SET new_value = \'{"name":"Evil Corp"}\' WHERE seq = 1')
        )
    result = _verify(imported)
    assert (result.ok, result.broken_at) == (False, 1)
    assert "edited" in (result.reason or "")


def test_an_edited_and_rehashed_entry_breaks_the_next_link(imported: Engine) -> None:
    with imported.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET entry_hash = :h WHERE seq = 5"), {"h": "f" * 64}
        )
    result = _verify(imported)
    assert result.broken_at == 5  # its own hash no longer matches either
    with imported.begin() as connection:
        connection.execute(
            text("UPDATE audit_log SET prev_hash = :h WHERE seq = 6"), {"h": "f" * 64}
        )
    assert _verify(imported).broken_at == 5


def test_a_deleted_entry_is_found(imported: Engine) -> None:
    with imported.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 10"))
    result = _verify(imported)
    assert (result.ok, result.broken_at) == (False, 10)
    assert "deleted" in (result.reason or "")


def test_deleting_the_newest_entry_is_found_by_the_head(imported: Engine) -> None:
    with imported.begin() as connection:
        connection.execute(text("DELETE FROM audit_log WHERE seq = 23"))
    result = _verify(imported)
    assert not result.ok
    assert result.broken_at == 23
