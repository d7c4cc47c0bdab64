"""The export signing key is never silently recreated (`ExportSigner.load_or_create` with
the catalog): a fresh install makes one; once the audit trail records an export, a missing
key is an error naming the files and the key id to restore, unless that key was retired on
purpose (its public key kept as `export-signing-KEYID.pub`). On SQLite and PostgreSQL, and
through `coldchain export`."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.export import ExportSigner
from api.export.signing import PRIVATE_KEY_NAME, PUBLIC_KEY_NAME
from cli.main import app
from coldchain.catalog import (
    append_audit,
    catalog_session,
    create_catalog_engine,
    import_fleet,
    upgrade_catalog,
)
from coldchain.errors import ConfigError


def _exported_with(engine: Engine, kid: str) -> int:
    """An export's audit entry, as `api.export.service` appends it; its number."""
    with catalog_session(engine) as session:
        entry = append_audit(
            session,
            actor="quinn",
            action="export",
            entity="batch",
            entity_id="LOT-0001",
            new={"format": "pdf", "sha256": "0" * 64, "key_id": kid},
        )
    return entry.seq


def test_a_fresh_install_makes_the_key(engine: Engine, tmp_path: Path) -> None:
    signer = ExportSigner.load_or_create(tmp_path, catalog=engine)
    assert (tmp_path / "keys" / PRIVATE_KEY_NAME).exists()
    assert ExportSigner.load_or_create(tmp_path, catalog=engine).key_id == signer.key_id


def test_a_lost_key_with_exports_signed_is_refused_naming_what_to_restore(
    engine: Engine, tmp_path: Path
) -> None:
    kid = ExportSigner.load_or_create(tmp_path, catalog=engine).key_id
    seq = _exported_with(engine, kid)
    keys = tmp_path / "keys"
    shutil.rmtree(keys)
    with pytest.raises(ConfigError) as refused:
        ExportSigner.load_or_create(tmp_path, catalog=engine)
    message = str(refused.value)
    assert f"the export signing key {keys / PRIVATE_KEY_NAME} is missing" in message
    assert f"the last (audit entry {seq}, " in message
    assert f"Restore {keys / PRIVATE_KEY_NAME} and {keys / PUBLIC_KEY_NAME} (key id {kid})" in (
        message
    )
    assert not keys.exists()  # no new key was made


def test_a_key_retired_on_purpose_makes_way_for_a_new_one(engine: Engine, tmp_path: Path) -> None:
    kid = ExportSigner.load_or_create(tmp_path, catalog=engine).key_id
    _exported_with(engine, kid)
    keys = tmp_path / "keys"
    (keys / PRIVATE_KEY_NAME).unlink()
    (keys / PUBLIC_KEY_NAME).rename(keys / f"export-signing-{kid}.pub")
    fresh = ExportSigner.load_or_create(tmp_path, catalog=engine)
    assert fresh.key_id != kid


def test_another_keys_public_half_does_not_retire_the_lost_one(
    engine: Engine, tmp_path: Path
) -> None:
    kid = ExportSigner.load_or_create(tmp_path, catalog=engine).key_id
    _exported_with(engine, kid)
    other = ExportSigner.load_or_create(tmp_path / "other")
    keys = tmp_path / "keys"
    (keys / PRIVATE_KEY_NAME).unlink()
    (keys / PUBLIC_KEY_NAME).unlink()
    shutil.copy(tmp_path / "other" / "keys" / PUBLIC_KEY_NAME, keys / f"export-signing-{kid}.pub")
    assert other.key_id != kid
    with pytest.raises(ConfigError, match=f"key id {kid}"):
        ExportSigner.load_or_create(tmp_path, catalog=engine)


def test_coldchain_export_with_a_lost_key_exits_2_and_writes_no_file(
    data_dir: Path, fleet_file: Path, tmp_path: Path
) -> None:
    engine = create_catalog_engine(f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    try:
        upgrade_catalog(engine)
        import_fleet(engine, fleet_file, actor="test")
        _exported_with(engine, "0123456789abcdef")
    finally:
        engine.dispose()
    out = tmp_path / "lot.csv"
    result = CliRunner().invoke(
        app, ["export", "LOT-0001", "-o", str(out), "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 2
    assert "refused: the export signing key" in result.stderr
    assert "(key id 0123456789abcdef)" in result.stderr
    assert not out.exists()
    assert not (data_dir / "keys" / PRIVATE_KEY_NAME).exists()
