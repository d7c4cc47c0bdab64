"""The ingest spool: a write-ahead log of line-protocol records in segment files.

A reading is acked to the broker only once it is in here and fsynced, so a crash at any
moment loses nothing: what was acked is on disk, what was not is redelivered by the broker.
Each record is one MQTT message's lines, framed as `<length, crc32, line count>` + bytes;
a torn record at the tail (crash mid-append) fails its length or checksum and is cut off
at open, which is safe because its message was never acked. A checkpoint file says how
far the writer has delivered to InfluxDB; replay after a crash starts there, and the writer
leaves out the readings InfluxDB already has, so replay changes nothing stored.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final

import orjson

__all__ = ["Position", "Spool", "SpoolBatch"]

log = logging.getLogger(__name__)

_HEADER: Final = struct.Struct("<III")
_SUFFIX: Final = ".seg"


@dataclass(frozen=True, slots=True, order=True)
class Position:
    segment: int
    offset: int


@dataclass(frozen=True, slots=True)
class SpoolBatch:
    """Records read from the spool, up to `end`; `corrupt` holds bytes that failed their
    checksum (a damaged disk, never a crash), which the writer dead-letters.

    Records stay bytes, as InfluxDB takes them: only a refused batch is split into lines.
    """

    records: list[bytes]
    line_count: int
    end: Position
    nbytes: int
    corrupt: bytes = b""

    @property
    def body(self) -> bytes:
        return b"\n".join(self.records)

    @property
    def lines(self) -> list[str]:
        return self.body.decode("utf-8").split("\n") if self.records else []


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    """Append side (the committer) and read side (the writer) of one spool directory.

    Not thread-safe per side: one appender and one reader, which may run in different
    threads because they touch different files and only exchange `Position`s.
    """

    def __init__(self, directory: Path, *, segment_bytes: int, max_bytes: int) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._checkpoint_path = directory / "checkpoint"
        self._checkpoint = self._load_checkpoint()
        segments = self._segments()
        for stale in (n for n in segments if n < self._checkpoint.segment):
            self._segment_path(stale).unlink()
        last = max(segments, default=self._checkpoint.segment)
        last = max(last, self._checkpoint.segment)
        self._active_number = last
        self._active: BinaryIO = self._open_for_append(last)
        self._synced_end = Position(last, self._active.tell())
        self._written_end = self._synced_end
        self._read_pos = self._checkpoint
        self._reader: BinaryIO | None = None
        self._reader_number = -1
        # Counted, not stat()ed: the reader deletes segments while the appender grows them.
        self._appended_bytes = (
            sum(self._segment_path(n).stat().st_size for n in self._segments())
            - self._checkpoint.offset
        )
        self._delivered_bytes = 0

    # -- paths and recovery -------------------------------------------------------------

    def _segment_path(self, number: int) -> Path:
        return self.directory / f"{number:020d}{_SUFFIX}"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob(f"*{_SUFFIX}"))

    def _load_checkpoint(self) -> Position:
        try:
            data = orjson.loads(self._checkpoint_path.read_bytes())
            return Position(int(data["segment"]), int(data["offset"]))
        except FileNotFoundError:
            return Position(0, 0)

    def _open_for_append(self, number: int) -> BinaryIO:
        path = self._segment_path(number)
        valid = self._valid_length(path)
        handle = path.open("ab")
        if handle.tell() != valid:
            log.warning(
                "spool: cutting torn tail segment=%s from=%d to=%d", path.name, handle.tell(), valid
            )
            handle.truncate(valid)
            handle.seek(valid)
            os.fsync(handle.fileno())
        _fsync_directory(self.directory)
        return handle

    @staticmethod
    def _valid_length(path: Path) -> int:
        if not path.exists():
            return 0
        offset = 0
        with path.open("rb") as handle:
            while True:
                header = handle.read(_HEADER.size)
                if len(header) < _HEADER.size:
                    return offset
                length, crc, _ = _HEADER.unpack(header)
                payload = handle.read(length)
                if len(payload) < length or zlib.crc32(payload) != crc:
                    return offset
                offset += _HEADER.size + length

    # -- append side ----------------------------------------------------------------------

    def append(self, records: Sequence[Sequence[str]]) -> None:
        """Append one record per message; durable only after `sync`."""
        chunks: list[bytes] = []
        for lines in records:
            payload = "\n".join(lines).encode("utf-8")
            chunks.append(_HEADER.pack(len(payload), zlib.crc32(payload), len(lines)))
            chunks.append(payload)
        data = b"".join(chunks)
        self._active.write(data)
        self._appended_bytes += len(data)
        if self._active.tell() >= self.segment_bytes:
            self._rotate()
        self._written_end = Position(self._active_number, self._active.tell())

    def _rotate(self) -> None:
        self._active.flush()
        os.fsync(self._active.fileno())
        self._active.close()
        self._active_number += 1
        self._active = self._open_for_append(self._active_number)

    def sync(self) -> None:
        """One fsync for everything appended since the last one (group commit)."""
        self._active.flush()
        os.fsync(self._active.fileno())
        self._synced_end = self._written_end

    @property
    def synced_end(self) -> Position:
        return self._synced_end

    @property
    def depth_bytes(self) -> int:
        """Bytes appended but not yet delivered to InfluxDB."""
        return self._appended_bytes - self._delivered_bytes

    @property
    def is_full(self) -> bool:
        return self.depth_bytes >= self.max_bytes

    def close(self) -> None:
        if self._active.closed:
            return
        self.sync()
        self._active.close()
        if self._reader is not None:
            self._reader.close()

    # -- read side ------------------------------------------------------------------------

    def read_batch(self, max_lines: int) -> SpoolBatch | None:
        """The next records after what was read, up to `max_lines` lines, or None if none."""
        end = self._synced_end
        records: list[bytes] = []
        line_count = 0
        position = self._read_pos
        nbytes = 0
        while position < end and line_count < max_lines:
            if self._reader_number != position.segment:
                self._open_reader(position.segment)
            assert self._reader is not None
            segment_end = end.offset if position.segment == end.segment else None
            if segment_end is not None and position.offset >= segment_end:
                break
            self._reader.seek(position.offset)
            header = self._reader.read(_HEADER.size)
            if len(header) < _HEADER.size:
                position = Position(position.segment + 1, 0)
                continue
            length, crc, count = _HEADER.unpack(header)
            payload = self._reader.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                self._reader.seek(position.offset)
                rest = self._reader.read()
                log.error(
                    "spool: checksum failure segment=%d offset=%d bytes=%d",
                    position.segment,
                    position.offset,
                    len(rest),
                )
                after = Position(position.segment + 1, 0)
                self._read_pos = after
                return SpoolBatch(records, line_count, after, nbytes + len(rest), corrupt=rest)
            records.append(payload)
            line_count += count
            nbytes += _HEADER.size + length
            position = Position(position.segment, position.offset + _HEADER.size + length)
        if position == self._read_pos:
            return None
        self._read_pos = position
        return SpoolBatch(records, line_count, position, nbytes)

    def _open_reader(self, number: int) -> None:
        if self._reader is not None:
            self._reader.close()
        self._reader = self._segment_path(number).open("rb")
        self._reader_number = number

    def rewind(self) -> None:
        """Read again from the checkpoint: a batch that was read but not delivered."""
        self._read_pos = self._checkpoint

    def commit(self, batch: SpoolBatch) -> None:
        """Record that `batch` and all before it is in InfluxDB; drop used segments."""
        position = batch.end
        tmp = self._checkpoint_path.with_suffix(".tmp")
        with tmp.open("wb") as handle:
            handle.write(orjson.dumps({"segment": position.segment, "offset": position.offset}))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._checkpoint_path)
        _fsync_directory(self.directory)
        for number in range(self._checkpoint.segment, position.segment):
            if number != self._active_number:
                self._segment_path(number).unlink(missing_ok=True)
        self._checkpoint = position
        self._delivered_bytes += batch.nbytes
