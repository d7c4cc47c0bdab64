"""The manifest: sources without passwords, paths that stay inside the backup, and every
kind of damage refused with the file named."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from pydantic import ValidationError

from backup import BackupDamaged, BackupIncompatible
from backup.manifest import (
    MANIFEST_NAME,
    SUMS_NAME,
    AuditState,
    CatalogSection,
    DataFile,
    DataSection,
    FileEntry,
    InfluxSection,
    Manifest,
    Sources,
    TableDump,
    read_manifest,
    redact_url,
    sha256_file,
    verify_files,
    write_manifest,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://ingest:" + "pw-123@influx:8086", "http://ingest@influx:8086"),
        (
            "postgresql+psycopg://cc:" + "s3cr:et@[::1]:5432/cat",
            "postgresql+psycopg://cc@[::1]:5432/cat",
        ),
        ("https://:token@influx/", "https://influx/"),
        ("http://127.0.0.1:8086", "http://127.0.0.1:8086"),
        (
            "sqlite:////var/lib/coldchain/catalog.sqlite3",
            "sqlite:////var/lib/coldchain/catalog.sqlite3",
        ),
    ],
)
def test_redact_url_keeps_the_user_and_drops_the_password(url: str, expected: str) -> None:
    assert redact_url(url) == expected


@pytest.mark.parametrize("path", ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\\b", "a/"])
def test_a_path_outside_the_backup_is_refused(path: str) -> None:
    with pytest.raises(ValidationError, match="path"):
        FileEntry(path=path, sha256="0" * 64, bytes=0)


def test_a_data_file_outside_the_areas_is_refused() -> None:
    with pytest.raises(ValidationError, match="outside the areas"):
        DataSection(areas=["keys"], files=[DataFile(file="data/x", path="secrets/x", mode=0o600)])


def _backup(directory: Path) -> Manifest:
    """A small but complete backup: one catalog file, written as the service writes it."""
    directory.mkdir()
    (directory / "catalog").mkdir()
    table = directory / "catalog" / "00-sponsors.jsonl.gz"
    table.write_bytes(b"rows")
    digest, size = sha256_file(table)
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    manifest = Manifest(
        format="coldchain-backup",
        version=1,
        created_at=now,
        completed_at=now,
        coldchain_version="0.1.0",
        sources=Sources(
            catalog_url="sqlite:///c", influx_url="http://i", influx_database="cc", data_dir="/v"
        ),
        catalog=CatalogSection(
            revision="0003",
            dialect="sqlite",
            tables=[TableDump(table="sponsors", rows=1, file="catalog/00-sponsors.jsonl.gz")],
            audit=AuditState(entries=0, head_hash="0" * 64),
        ),
        influx=InfluxSection(
            database="cc", retention_policies=[], continuous_queries=[], series=[]
        ),
        data=DataSection(areas=["keys"], files=[]),
        files=[FileEntry(path="catalog/00-sponsors.jsonl.gz", sha256=digest, bytes=size)],
    )
    write_manifest(directory, manifest)
    return manifest


def test_written_manifest_reads_back_and_sha256sum_agrees(tmp_path: Path) -> None:
    written = _backup(tmp_path / "b")
    assert read_manifest(tmp_path / "b") == written
    verify_files(tmp_path / "b", written)
    assert oct((tmp_path / "b" / MANIFEST_NAME).stat().st_mode & 0o777) == "0o600"
    if shutil.which("sha256sum"):
        checked = subprocess.run(
            ["sha256sum", "-c", SUMS_NAME],
            cwd=tmp_path / "b",
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_changed_file_is_named(tmp_path: Path) -> None:
    manifest = _backup(tmp_path / "b")
    (tmp_path / "b" / "catalog" / "00-sponsors.jsonl.gz").write_bytes(b"rowz")
    with pytest.raises(BackupDamaged, match=r"^catalog/00-sponsors.jsonl.gz: damaged or altered"):
        verify_files(tmp_path / "b", manifest)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    manifest = _backup(tmp_path / "b")
    (tmp_path / "b" / "catalog" / "00-sponsors.jsonl.gz").unlink()
    with pytest.raises(BackupDamaged, match=r"00-sponsors\.jsonl\.gz: missing"):
        verify_files(tmp_path / "b", manifest)


def test_a_symlink_out_of_the_backup_is_refused(tmp_path: Path) -> None:
    manifest = _backup(tmp_path / "b")
    table = tmp_path / "b" / "catalog" / "00-sponsors.jsonl.gz"
    outside = tmp_path / "elsewhere"
    outside.write_bytes(table.read_bytes())
    table.unlink()
    os.symlink(outside, table)
    with pytest.raises(BackupDamaged, match="points outside the backup"):
        verify_files(tmp_path / "b", manifest)


def test_an_unfinished_backup_is_refused(tmp_path: Path) -> None:
    _backup(tmp_path / "b")
    (tmp_path / "b" / SUMS_NAME).unlink()
    with pytest.raises(BackupDamaged, match=r"SHA256SUMS missing .*did not finish"):
        read_manifest(tmp_path / "b")
    with pytest.raises(BackupDamaged, match=r"manifest\.json missing"):
        read_manifest(tmp_path / "nothing-here")


def test_an_edited_manifest_is_refused(tmp_path: Path) -> None:
    _backup(tmp_path / "b")
    path = tmp_path / "b" / MANIFEST_NAME
    path.write_bytes(path.read_bytes().replace(b'"rows": 1', b'"rows": 2'))
    with pytest.raises(BackupDamaged, match=r"manifest\.json: damaged or altered"):
        read_manifest(tmp_path / "b")


def _rewrite(directory: Path, change: dict[str, object]) -> None:
    """Edit the manifest and its digest consistently, as a newer coldchain would write it."""
    path = directory / MANIFEST_NAME
    text = orjson.dumps(orjson.loads(path.read_bytes()) | change)
    path.write_bytes(text)
    digest, _ = sha256_file(path)
    (directory / SUMS_NAME).write_text(f"{digest}  {MANIFEST_NAME}\n")


def test_a_newer_format_version_is_incompatible(tmp_path: Path) -> None:
    _backup(tmp_path / "b")
    _rewrite(tmp_path / "b", {"version": 2})
    with pytest.raises(BackupIncompatible, match="format version 2"):
        read_manifest(tmp_path / "b")


def test_an_invalid_manifest_says_where(tmp_path: Path) -> None:
    _backup(tmp_path / "b")
    _rewrite(
        tmp_path / "b", {"files": [{"path": "../../etc/passwd", "sha256": "0" * 64, "bytes": 1}]}
    )
    with pytest.raises(BackupDamaged, match=r"files\.0\.path"):
        read_manifest(tmp_path / "b")
