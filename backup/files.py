"""The state the services keep in the data dir, copied into a backup and back.

Areas (what lives where, see each service):
- `keys/`: the export signing key pair and the API session key (0600; a lost signing key
  means no new export can be checked against the old public key);
- `spool/{worker}/`: ingest's write-ahead log: `checkpoint` and `*.seg` segments;
- `detector/{client}.sqlite3`: the detector's per-sensor state (SQLite, WAL);
- `dead-letters/*.jsonl`: what ingest refused, with the raw bytes.
The notification outbox and the catalog's dead-letter table live in the catalog, so the
catalog dump carries them. Not copied: `metrics/` (rewritten every few seconds),
`secrets/`, `tls/` and `broker/` (credentials of this installation, made again by
`coldchain up` or `coldchain broker config`), and the SQLite catalog file (dumped as rows).

Consistency while services run: SQLite files go through sqlite3's online backup API (a
consistent snapshot, WAL included; a byte copy of a WAL database can be torn); in a spool
the checkpoint is copied before the segments, so the copy replays from no later than it
should (InfluxDB overwrites what it already has, so replaying more is harmless), and a
record half-written at the tail fails its checksum and is cut off when the spool opens.
For a copy with nothing in flight, stop ingest and the detector first.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path, PurePosixPath
from typing import Final

from backup.errors import BackupError, TargetNotEmpty
from backup.manifest import DataFile, DataSection, FileEntry
from backup.output import fsync_directory, open_output, private_directory

__all__ = [
    "DATA_AREAS",
    "backup_data_dir",
    "data_dir_holdings",
    "restore_data_dir",
    "sqlite_snapshot",
]

DATA_AREAS: Final = ("keys", "spool", "detector", "dead-letters")
_SQLITE_SIDE_FILES: Final = ("-wal", "-shm", "-journal")
_TRANSIENT: Final = (*_SQLITE_SIDE_FILES, ".tmp")
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_CHUNK: Final = 1 << 20


def _area_files(data_dir: Path, area: str) -> list[Path]:
    """Regular files of one area, each folder's `checkpoint` before its other files."""
    root = data_dir / area
    if not root.is_dir():
        return []
    found = [
        path
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and not path.name.endswith(_TRANSIENT)
    ]
    return sorted(found, key=lambda p: (p.parent.parts, p.name != "checkpoint", p.name))


def _is_sqlite(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC


@contextmanager
def sqlite_snapshot(source: Path, target: Path) -> Iterator[Path]:
    """A consistent copy of the live SQLite database `source` at `target` (created 0600),
    removed with its side files when the block ends.

    sqlite3's online backup API copies the pages under one read lock (WAL content
    included) and retries while a writer holds the database, so writers wait only for
    the page copy, not for whatever is done with the copy afterwards.
    """
    private_directory(target.parent)
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        try:
            with (
                closing(sqlite3.connect(source)) as origin,
                closing(sqlite3.connect(target)) as copy,
            ):
                origin.backup(copy)
        except sqlite3.Error as exc:
            raise BackupError(f"{source}: cannot read the SQLite database: {exc}") from exc
        yield target
    finally:
        for leftover in (target, *(Path(f"{target}{s}") for s in _SQLITE_SIDE_FILES)):
            leftover.unlink(missing_ok=True)


def _copy_file(source: Path, root: Path, relative: str) -> FileEntry:
    with source.open("rb") as origin, open_output(root, relative, compress=False) as out:
        while chunk := origin.read(_CHUNK):
            out.write(chunk)
    return out.entry


def _copy_sqlite(source: Path, root: Path, relative: str) -> FileEntry:
    with sqlite_snapshot(source, root / f"{relative}.snapshot") as snapshot:
        return _copy_file(snapshot, root, relative)


def backup_data_dir(data_dir: Path, root: Path) -> tuple[DataSection, list[FileEntry]]:
    """Copy every area of `data_dir` into `root/data/`, recording each file's mode.

    Raises:
        BackupError: a SQLite state file that cannot be read.
        OSError: a file that cannot be read or written.
    """
    items: list[DataFile] = []
    entries: list[FileEntry] = []
    for area in DATA_AREAS:
        for path in _area_files(data_dir, area):
            relative = path.relative_to(data_dir).as_posix()
            target = f"data/{relative}"
            copy = _copy_sqlite if _is_sqlite(path) else _copy_file
            entries.append(copy(path, root, target))
            items.append(
                DataFile(file=target, path=relative, mode=stat.S_IMODE(path.stat().st_mode))
            )
    return DataSection(areas=list(DATA_AREAS), files=items), entries


def data_dir_holdings(data_dir: Path) -> str | None:
    """What the data dir's areas already hold, in words, or None when they hold nothing."""
    for area in DATA_AREAS:
        found = _area_files(data_dir, area)
        if found:
            return f"data dir {data_dir}: {area}/ already holds {found[0].relative_to(data_dir)}"
    return None


def _restore_file(source: Path, target: Path, mode: int) -> None:
    """Write `target` under a temporary name (0600 from the start), give it its recorded
    mode, fsync, rename: a key is never readable by others, not even half-written."""
    private_directory(target.parent)
    temporary = target.with_name(f".{target.name}.restore.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out, source.open("rb") as origin:
        shutil.copyfileobj(origin, out, _CHUNK)
        out.flush()
        os.fchmod(out.fileno(), mode)
        os.fsync(out.fileno())
    os.replace(temporary, target)
    fsync_directory(target.parent)


def restore_data_dir(root: Path, data_dir: Path, section: DataSection, *, replace: bool) -> int:
    """Put the backup's data-dir files back; `replace` first removes the areas' contents.

    Returns:
        The number of files written.

    Raises:
        TargetNotEmpty: an area holds a file and `replace` is False.
    """
    if replace:
        for area in DATA_AREAS:
            shutil.rmtree(data_dir / area, ignore_errors=True)
    elif (held := data_dir_holdings(data_dir)) is not None:
        raise TargetNotEmpty(held)
    for item in section.files:
        _restore_file(root / item.file, data_dir / PurePosixPath(item.path), item.mode)
    return len(section.files)
