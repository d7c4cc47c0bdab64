"""The manifest of a backup (`manifest.json`): what is in it, where from, and each file's
SHA-256, so a restore can refuse a damaged backup before it writes anything.

It is written last, atomically (temporary name, fsync, rename), followed by `SHA256SUMS`
(every file and the manifest itself, in `sha256sum -c` format): a directory without both is
a backup that did not finish, and a damaged manifest is caught before its counts are
trusted. It names its sources without passwords. The digests detect damage (a bad disk, a
truncated copy, an edited file); they do not stop someone who can rewrite the files and
both lists, so keep backups where only operators can write.
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from backup.errors import BackupDamaged, BackupIncompatible
from coldchain.security.secrets import write_private_file

__all__ = [
    "FORMAT",
    "MANIFEST_NAME",
    "SUMS_NAME",
    "VERSION",
    "AuditState",
    "CatalogSection",
    "ContinuousQuery",
    "DataFile",
    "DataSection",
    "FileEntry",
    "InfluxSection",
    "Manifest",
    "RetentionPolicy",
    "SeriesDump",
    "Sources",
    "TableDump",
    "read_manifest",
    "redact_url",
    "sha256_file",
    "verify_files",
    "write_manifest",
]

FORMAT: Final = "coldchain-backup"
VERSION: Final = 1
MANIFEST_NAME: Final = "manifest.json"
SUMS_NAME: Final = "SHA256SUMS"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CHUNK: Final = 1 << 20


def redact_url(url: str) -> str:
    """`url` without its password (the user name stays: it says which account was used)."""
    parts = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    netloc = f"{user}@{hostport}" if user else hostport
    return urlunsplit(parts._replace(netloc=netloc))


def _safe_relative(value: str) -> str:
    """A POSIX path that stays inside the folder it is relative to (a manifest is input)."""
    path = PurePosixPath(value)
    if (
        not value
        or path.is_absolute()
        or "\\" in value
        or any(p in ("", ".", "..") for p in path.parts)
    ):
        raise ValueError(f"expected a relative path inside the backup, got {value!r}")
    if path.as_posix() != value:
        raise ValueError(f"expected a normalised path, got {value!r}")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileEntry(_Model):
    """One file of the backup: its path relative to the backup folder, digest and size."""

    path: str
    sha256: str
    bytes: int = Field(ge=0)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _safe_relative(value)

    @field_validator("sha256")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not _SHA256.match(value):
            raise ValueError(f"expected 64 lower-case hex digits, got {value!r}")
        return value


class Sources(_Model):
    """Where the backup was taken from; URLs carry no password."""

    catalog_url: str
    influx_url: str
    influx_database: str
    data_dir: str


class TableDump(_Model):
    table: str
    rows: int = Field(ge=0)
    file: str


class AuditState(_Model):
    """The audit chain as `verify_audit_chain` saw it inside the dump's transaction."""

    entries: int = Field(ge=0)
    head_hash: str
    broken_at: int | None = None


class CatalogSection(_Model):
    """Tables in foreign-key order (parents first), as they are loaded back."""

    revision: str
    dialect: str
    tables: list[TableDump]
    audit: AuditState


class RetentionPolicy(_Model):
    """As SHOW RETENTION POLICIES prints it (durations in Go syntax, `0s` = forever)."""

    name: str
    duration: str
    shard_group_duration: str
    replication: int = Field(ge=1)
    default: bool


class ContinuousQuery(_Model):
    name: str
    query: str


class SeriesDump(_Model):
    """Every point of one measurement in one retention policy, as gzip line protocol."""

    retention_policy: str
    measurement: str
    points: int = Field(ge=0)
    first_ns: int | None = None
    last_ns: int | None = None
    file: str


class InfluxSection(_Model):
    database: str
    retention_policies: list[RetentionPolicy]
    continuous_queries: list[ContinuousQuery]
    series: list[SeriesDump]


class DataFile(_Model):
    """A file from the data dir: `file` in the backup goes back to `path` with `mode`."""

    file: str
    path: str
    mode: int = Field(ge=0, le=0o777)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return _safe_relative(value)


class DataSection(_Model):
    areas: list[str]
    files: list[DataFile]

    @model_validator(mode="after")
    def _inside_areas(self) -> DataSection:
        for item in self.files:
            if PurePosixPath(item.path).parts[0] not in self.areas:
                raise ValueError(f"data file {item.path!r} is outside the areas {self.areas}")
        return self


class Manifest(_Model):
    format: Literal["coldchain-backup"]
    version: int
    created_at: datetime
    completed_at: datetime
    coldchain_version: str
    sources: Sources
    catalog: CatalogSection
    influx: InfluxSection
    data: DataSection
    files: list[FileEntry]

    @model_validator(mode="after")
    def _files_listed(self) -> Manifest:
        paths = [entry.path for entry in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("files: a path is listed twice")
        if MANIFEST_NAME in paths:
            raise ValueError(f"files: {MANIFEST_NAME} cannot list itself")
        known = set(paths)
        named = [t.file for t in self.catalog.tables] + [s.file for s in self.influx.series]
        named += [d.file for d in self.data.files]
        missing = [name for name in named if name not in known]
        if missing:
            raise ValueError(f"files: {missing[0]!r} is used but has no digest")
        return self

    def file(self, path: str) -> FileEntry:
        return next(entry for entry in self.files if entry.path == path)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Write `manifest.json`, then `SHA256SUMS`, each atomically (0600): their presence
    means the backup is complete."""
    text = orjson.dumps(manifest.model_dump(mode="json"), option=orjson.OPT_INDENT_2) + b"\n"
    write_private_file(directory / MANIFEST_NAME, text)
    lines = [f"{entry.sha256}  {entry.path}\n" for entry in manifest.files]
    lines.append(f"{hashlib.sha256(text).hexdigest()}  {MANIFEST_NAME}\n")
    write_private_file(directory / SUMS_NAME, "".join(lines))


def _read_checked(directory: Path) -> bytes:
    """The manifest's bytes, after checking them against their line in `SHA256SUMS`."""
    path, sums = directory / MANIFEST_NAME, directory / SUMS_NAME
    try:
        text = path.read_bytes()
        listed = sums.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise BackupDamaged(
            f"{Path(str(exc.filename)).name} missing in {directory}: not a backup, or one "
            "that did not finish"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BackupDamaged(f"{directory}: unreadable: {exc}") from exc
    expected = next(
        (
            line.split("  ", 1)[0]
            for line in listed.splitlines()
            if line.endswith(f"  {MANIFEST_NAME}")
        ),
        None,
    )
    if expected is None:
        raise BackupDamaged(f"{SUMS_NAME}: has no line for {MANIFEST_NAME}")
    actual = hashlib.sha256(text).hexdigest()
    if actual != expected:
        raise BackupDamaged(
            f"{MANIFEST_NAME}: damaged or altered: SHA-256 {actual[:16]}…, "
            f"{SUMS_NAME} says {expected[:16]}…"
        )
    return text


def read_manifest(directory: Path) -> Manifest:
    """The manifest of the backup in `directory`, validated.

    Raises:
        BackupDamaged: missing, different from its digest in `SHA256SUMS`, not JSON, or
            not a valid manifest (the message says where).
        BackupIncompatible: another format or a version this coldchain does not know.
    """
    path = directory / MANIFEST_NAME
    try:
        raw: Any = orjson.loads(_read_checked(directory))
    except orjson.JSONDecodeError as exc:
        raise BackupDamaged(f"{path}: not JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise BackupIncompatible(f"{path}: not a {FORMAT} manifest")
    if raw.get("version") != VERSION:
        raise BackupIncompatible(
            f"{path}: format version {raw.get('version')!r}; this coldchain restores {VERSION}"
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "manifest"
        raise BackupDamaged(f"{path}: {where}: {first['msg']}") from None


def sha256_file(path: Path) -> tuple[str, int]:
    """(SHA-256 hex, size) of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def verify_files(directory: Path, manifest: Manifest) -> None:
    """Check every file the manifest lists against its size and SHA-256.

    Raises:
        BackupDamaged: naming the first file that is missing, not a regular file, or
            different from what was written.
    """
    root = directory.resolve()
    for entry in manifest.files:
        path = root / entry.path
        if path.is_symlink() or not path.resolve().is_relative_to(root):
            raise BackupDamaged(f"{entry.path}: points outside the backup; refusing it")
        try:
            digest, size = sha256_file(path)
        except FileNotFoundError:
            raise BackupDamaged(f"{entry.path}: missing from the backup") from None
        except OSError as exc:
            raise BackupDamaged(f"{entry.path}: unreadable: {exc.strerror}") from None
        if (digest, size) != (entry.sha256, entry.bytes):
            raise BackupDamaged(
                f"{entry.path}: damaged or altered: SHA-256 {digest[:16]}… ({size} bytes), "
                f"the manifest says {entry.sha256[:16]}… ({entry.bytes} bytes)"
            )
