"""Drains the spool into InfluxDB in writes of `batch_lines`, retrying while InfluxDB is down.

What is read from the spool first loses what InfluxDB already holds (`ingest.duplicates`):
a re-sent reading, or a batch replayed after a crash, leaves the stored points as they are;
one with other values is written as a `reading_conflict` point instead (`ingest.conflicts`),
after the batch and before the spool's checkpoint moves.
That read-back costs InfluxDB per series asked about, plus a sort of each series it holds
in memory out of order (two workers writing one device), whatever the number of lines, so
with a backlog one read-back covers several writes. What InfluxDB then refuses (a 4xx) is
split in halves until the refused lines are found, and only those go to the dead letters
with the server's message: one bad line must not take 4,999 good ones with it. Rewriting
the good halves is harmless: InfluxDB may have taken them, and they are the same lines.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from coldchain.errors import DatabaseNotFound, StoreRejected, StoreUnavailable
from coldchain.influx import InfluxClient
from coldchain.measurements import READING_CONFLICT
from coldchain.times import now_ms
from ingest.conflicts import conflict_lines
from ingest.dead_letters import DeadLetter, DeadLetterStore, Stage
from ingest.downsampler import DirtyHours, touched_hours
from ingest.duplicates import (
    NOTHING_LEFT_OUT,
    Checked,
    Conflict,
    ReadbackRefused,
    check_stored,
)
from ingest.metrics import IngestMetrics
from ingest.spool import Spool, SpoolBatch

__all__ = ["SpoolWriter"]

log = logging.getLogger(__name__)

_MAX_BACKOFF_S = 10.0
# Writes of `batch_lines` per read-back of what is stored, when the spool holds that much.
_WRITES_PER_READBACK = 4

_T = TypeVar("_T")


class SpoolWriter:
    def __init__(
        self,
        spool: Spool,
        influx: InfluxClient,
        dead_letters: DeadLetterStore,
        metrics: IngestMetrics,
        *,
        batch_lines: int,
        dirty: DirtyHours | None = None,
    ) -> None:
        """`dirty`: where the hours of written readings are marked for the downsampler."""
        self._dirty = dirty
        self._spool = spool
        self._influx = influx
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._batch_lines = batch_lines
        self._unchecked = False
        self.appended = asyncio.Event()
        self.delivered = asyncio.Event()

    async def run(self) -> None:
        """Deliver forever; cancelled between batches or mid-retry, it loses nothing,
        since the checkpoint only moves after InfluxDB has the batch."""
        while True:
            delivered = await self.deliver_available()
            if not delivered:
                self.appended.clear()
                await self.appended.wait()

    async def deliver_available(self) -> int:
        """Deliver what the spool holds now; returns the number of lines delivered."""
        total = 0
        most = self._batch_lines * _WRITES_PER_READBACK
        while batch := await asyncio.to_thread(self._spool.read_batch, most):
            try:
                await self._deliver(batch)
            except BaseException:
                self._spool.rewind()
                raise
            await asyncio.to_thread(self._spool.commit, batch)
            self._metrics.spool_depth_bytes = self._spool.depth_bytes
            self.delivered.set()
            total += batch.line_count
        return total

    async def _deliver(self, batch: SpoolBatch) -> None:
        if batch.corrupt:
            await self._dead_letter(
                "spool", "spool record failed its checksum (disk damage)", batch.corrupt
            )
        if not batch.records:
            return
        text = batch.body.decode()
        checked = await self._retrying(lambda: self._check(text), batch.line_count)
        self._metrics.duplicates += checked.duplicates
        if checked.conflicts:
            await self._dead_letter_conflicts(checked.conflicts)
        touched = touched_hours(text) if self._dirty is not None else set()
        # Marked before the write, so a crash after it still recomputes the buckets; and
        # after it, so a recompute that ran before the readings landed is run again.
        await self._mark(touched)
        await self._write_checked(batch, checked)
        await self._mark(touched)

    async def _mark(self, touched: set[tuple[int, str]]) -> None:
        if self._dirty is not None and touched:
            await asyncio.to_thread(self._dirty.mark, touched)

    async def _write_checked(self, batch: SpoolBatch, checked: Checked) -> None:
        if checked.lines is None and batch.line_count <= self._batch_lines:
            try:
                await self._retrying(
                    lambda: self._write(batch.body, batch.line_count), batch.line_count
                )
            except StoreRejected:
                await self._write_or_split(batch.lines)
            return
        lines = batch.lines if checked.lines is None else checked.lines
        for start in range(0, len(lines), self._batch_lines):
            await self._write_or_split(lines[start : start + self._batch_lines])
        # Before the checkpoint moves: durable in the spool until InfluxDB has them.
        points = conflict_lines(checked.conflicts)
        for start in range(0, len(points), self._batch_lines):
            await self._write_or_split(points[start : start + self._batch_lines], precision="ns")

    async def _check(self, text: str) -> Checked:
        started = time.perf_counter()
        try:
            checked = await check_stored(self._influx, text)
        except ReadbackRefused as exc:
            if not self._unchecked:
                log.warning(
                    "ingest: InfluxDB refuses the read-back of stored readings (%s): writing "
                    "without it, so a re-sent reading overwrites the stored one; grant the "
                    "ingest user READ on the database",
                    exc,
                )
                self._unchecked = True
            return NOTHING_LEFT_OUT
        self._unchecked = False
        self._metrics.record_readback((time.perf_counter() - started) * 1000)
        return checked

    async def _write_or_split(self, lines: list[str], *, precision: str = "ms") -> None:
        try:
            body = "\n".join(lines).encode()
            await self._retrying(lambda: self._write(body, len(lines), precision), len(lines))
        except StoreRejected as exc:
            if len(lines) == 1:
                await self._dead_letter("store", exc.server_message, lines[0].encode())
                return
            middle = len(lines) // 2
            await self._write_or_split(lines[:middle], precision=precision)
            await self._write_or_split(lines[middle:], precision=precision)

    async def _write(self, body: bytes, line_count: int, precision: str = "ms") -> None:
        started = time.perf_counter()
        await self._influx.write_body(body, precision=precision)
        self._metrics.record_write(line_count, (time.perf_counter() - started) * 1000)

    async def _retrying(self, action: Callable[[], Awaitable[_T]], line_count: int) -> _T:
        delay = 0.1
        while True:
            try:
                result = await action()
            except StoreUnavailable as exc:
                self._metrics.influx_up = False
                self._metrics.write_retries += 1
                log.warning(
                    "ingest: InfluxDB unavailable, keeping %d lines in the spool "
                    "(spool_bytes=%d retry_in=%.1fs): %s",
                    line_count,
                    self._spool.depth_bytes,
                    delay,
                    exc,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_BACKOFF_S)
                if isinstance(exc, DatabaseNotFound):
                    await self._recreate_database()
                continue
            self._metrics.influx_up = True
            return result

    async def _recreate_database(self) -> None:
        try:
            await self._influx.create_database()
            log.warning(
                "ingest: database %s was missing and has been created", self._influx.database
            )
        except (StoreUnavailable, StoreRejected) as exc:
            log.warning("ingest: cannot create database %s: %s", self._influx.database, exc)

    async def _dead_letter_conflicts(self, conflicts: list[Conflict]) -> None:
        """All of a batch's conflicts in one append (one fsync, not one each: a gateway
        re-sending a day with other values must not slow ingest down to the disk's
        fsync rate), and one log line."""
        now = now_ms()
        letters = [DeadLetter(now, "conflict", "", c.reason, c.line.encode()) for c in conflicts]
        await asyncio.to_thread(self._dead_letters.append, letters)
        self._metrics.dead_letters += len(letters)
        self._metrics.conflicts += len(letters)
        log.warning(
            "ingest: dead letters stage=conflict count=%d (kept as stored, written as %s); "
            "first: %s",
            len(letters),
            READING_CONFLICT,
            conflicts[0].reason,
        )

    async def _dead_letter(self, stage: Stage, reason: str, payload: bytes) -> None:
        letter = DeadLetter(now_ms(), stage, "", reason, payload)
        await asyncio.to_thread(self._dead_letters.append, [letter])
        self._metrics.dead_letters += 1
        log.warning("ingest: dead letter stage=%s reason=%s bytes=%d", stage, reason, len(payload))
