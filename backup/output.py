"""Files written into a backup directory: owner-only, hashed while written, fsynced.

A backup holds password hashes (the catalog) and the export signing key, so every file is
created 0600 in a 0700 directory, never wider even for a moment. Hashing the bytes as they
go to disk, instead of reading each file back, keeps a multi-gigabyte export to one pass.
gzip members are written with mtime 0 and no file name, so the same data always gives the
same digest and no path ends up inside the archive.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from backup.manifest import FileEntry

__all__ = ["BackupFile", "fsync_directory", "open_output", "private_directory"]


def private_directory(path: Path) -> None:
    """Create `path` and its missing parents with mode 0700."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)


def fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _HashingSink:
    """The raw file under an optional gzip stream: counts and hashes what reaches disk."""

    def __init__(self, handle: BinaryIO) -> None:
        self.handle = handle
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.handle.write(data)

    def flush(self) -> None:
        self.handle.flush()


class BackupFile:
    """One file of a backup being written; `entry` is its manifest line once closed.

    Usage:
        with open_output(root, "catalog/01-sponsors.jsonl.gz", compress=True) as out:
            out.write(b'{"id": "ACME"}\\n')
        files.append(out.entry)
    """

    def __init__(self, root: Path, relative: str, *, compress: bool) -> None:
        self.relative = relative
        self.path = root / relative
        private_directory(self.path.parent)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._raw: BinaryIO = os.fdopen(fd, "wb")
        self._sink = _HashingSink(self._raw)
        self._gzip = (
            gzip.GzipFile(filename="", fileobj=self._sink, mode="wb", mtime=0) if compress else None
        )
        self._entry: FileEntry | None = None

    def write(self, data: bytes) -> None:
        if self._gzip is not None:
            self._gzip.write(data)
        else:
            self._sink.write(data)

    def close(self) -> FileEntry:
        """Finish the gzip stream, fsync the file and its folder, return its entry."""
        if self._entry is None:
            if self._gzip is not None:
                self._gzip.close()
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            fsync_directory(self.path.parent)
            self._entry = FileEntry(
                path=self.relative, sha256=self._sink.digest.hexdigest(), bytes=self._sink.size
            )
        return self._entry

    def abandon(self) -> None:
        """Close without caring for the content (the backup failed and is removed)."""
        if self._gzip is not None:
            self._gzip.close()
        self._raw.close()

    @property
    def entry(self) -> FileEntry:
        if self._entry is None:
            raise RuntimeError(f"{self.relative}: still open")
        return self._entry


@contextmanager
def open_output(root: Path, relative: str, *, compress: bool) -> Iterator[BackupFile]:
    """A new file `relative` (POSIX path) under the backup directory `root`."""
    out = BackupFile(root, relative, compress=compress)
    try:
        yield out
    except BaseException:
        out.abandon()
        raise
    out.close()
