"""The ingest service: MQTT -> validate -> spool (fsync) -> ack; spool -> InfluxDB.

Group commit: the committer takes every message that arrived since its last fsync, turns
each into lines or a dead letter, appends them, fsyncs once, and only then acks them all.
A full spool stops the acks, and with them the broker (MQTT 5 Receive Maximum): it never
drops. The bound is checked before each group, so the spool exceeds it by at most one group
(Receive Maximum messages). SIGTERM stops taking messages, acks what is durable,
disconnects, then gives the writer a few seconds to drain; what is left stays in the spool
for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from coldchain.config import Settings
from coldchain.errors import PayloadError, StoreError
from coldchain.influx import InfluxClient
from coldchain.judgement.validity import ReadingValidity
from coldchain.mqtt import Delivery, MqttSubscriber
from coldchain.wire import READINGS_FILTER, STATUS_FILTER
from ingest.dead_letters import DeadLetter, DeadLetterStore
from ingest.decode import DecodePolicy, PayloadTooLarge, decode_message
from ingest.downsampler import DirtyHours, Downsampler
from ingest.metrics import IngestMetrics, report_metrics
from ingest.spool import Spool
from ingest.writer import SpoolWriter

__all__ = ["IngestService", "run_ingest", "subscription_filters"]

log = logging.getLogger(__name__)

_DRAIN_ON_STOP_S = 5.0
_SPOOL_WARN_SHARE = 0.8


def subscription_filters(shared_group: str | None) -> list[str]:
    filters = [READINGS_FILTER, STATUS_FILTER]
    if shared_group:
        return [f"$share/{shared_group}/{f}" for f in filters]
    return filters


class IngestService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        data_dir = settings.data_dir
        worker = settings.ingest_client_id
        self.metrics = IngestMetrics(worker=worker)
        self.spool = Spool(
            data_dir / "spool" / worker,
            segment_bytes=settings.spool_segment_bytes,
            max_bytes=settings.spool_max_bytes,
        )
        self.dead_letters = DeadLetterStore(data_dir / "dead-letters")
        self.influx = InfluxClient.for_settings(settings)
        # Beside the spool, not in it: the spool reads every file in its folder as a segment.
        self.dirty = DirtyHours(data_dir / "downsample" / f"{worker}.journal")
        self.downsampler = Downsampler(
            self.influx,
            self.dirty,
            self.metrics,
            validity=ReadingValidity.from_settings(settings),
            period_s=settings.ingest_downsample_period_s,
            wide_devices=settings.ingest_downsample_wide_devices,
        )
        self.writer = SpoolWriter(
            self.spool,
            self.influx,
            self.dead_letters,
            self.metrics,
            batch_lines=settings.influx_batch_lines,
            dirty=self.dirty,
        )
        self.policy = DecodePolicy(
            max_payload_bytes=settings.ingest_max_payload_bytes,
            max_future_skew_ms=int(settings.ingest_max_future_skew_s * 1000),
        )
        self.stopping = asyncio.Event()
        self._spool_warned = False

    async def run(self) -> None:
        subscriber = MqttSubscriber(
            self.settings.mqtt,
            self.settings.ingest_client_id,
            subscription_filters(self.settings.ingest_shared_group),
            receive_maximum=self.settings.ingest_receive_maximum,
        )
        log.info(
            # The client's repr, not the URL: a URL may carry a password.
            "ingest: starting worker=%s broker=%s influx=%r spool_bytes=%d",
            self.settings.ingest_client_id,
            self.settings.mqtt,
            self.influx,
            self.spool.depth_bytes,
        )
        try:
            async with self.influx, subscriber:
                await self._ensure_database()
                async with asyncio.TaskGroup() as tasks:
                    writer = tasks.create_task(self.writer.run(), name="spool-writer")
                    downsampler = tasks.create_task(self.downsampler.run(), name="downsampler")
                    reporter = tasks.create_task(
                        report_metrics(
                            self.metrics,
                            self.settings.data_dir,
                            self.influx,
                            self.settings.metrics_interval_s,
                        ),
                        name="metrics",
                    )
                    await self._commit_until_stopped(subscriber)
                    reporter.cancel()
                    await self._drain_then_stop(writer)
                    downsampler.cancel()
        finally:
            self.spool.close()
            self.dirty.close()
            log.info(
                "ingest: stopped worker=%s spool_bytes=%d",
                self.settings.ingest_client_id,
                self.spool.depth_bytes,
            )

    async def _ensure_database(self) -> None:
        # Not fatal: the writer keeps retrying (and re-creating) while InfluxDB is down.
        with contextlib.suppress(StoreError):
            await self.influx.create_database()

    async def _drain_then_stop(self, writer: asyncio.Task[None]) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wait_spool_empty(), _DRAIN_ON_STOP_S)
        writer.cancel()

    async def _wait_spool_empty(self) -> None:
        while self.spool.depth_bytes > 0:
            self.writer.delivered.clear()
            await self.writer.delivered.wait()

    async def _commit_until_stopped(self, subscriber: MqttSubscriber) -> None:
        stop = asyncio.create_task(self.stopping.wait())
        try:
            while not self.stopping.is_set():
                await self._wait_for_spool_room()
                # At most one Receive Maximum per group, whatever the broker sends: the spool
                # bound then holds to within one group even if a broker over-delivers.
                take = asyncio.create_task(subscriber.take(self.settings.ingest_receive_maximum))
                await asyncio.wait({take, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not take.done():
                    take.cancel()
                    break
                await self._commit(take.result(), subscriber)
                self.metrics.broker_connects = subscriber.connects
        finally:
            stop.cancel()

    async def _wait_for_spool_room(self) -> None:
        depth, bound = self.spool.depth_bytes, self.spool.max_bytes
        if depth >= _SPOOL_WARN_SHARE * bound and not self._spool_warned:
            log.warning("ingest: spool at %d of %d bytes; InfluxDB is not keeping up", depth, bound)
            self._spool_warned = True
        elif depth < _SPOOL_WARN_SHARE * bound:
            self._spool_warned = False
        while self.spool.is_full and not self.stopping.is_set():
            log.error(
                "ingest: spool full (%d bytes): not acking, the broker holds the rest",
                self.spool.depth_bytes,
            )
            self.writer.delivered.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.writer.delivered.wait(), 5)

    async def _commit(self, deliveries: list[Delivery], subscriber: MqttSubscriber) -> None:
        records: list[list[str]] = []
        letters: list[DeadLetter] = []
        for delivery in deliveries:
            try:
                decoded = decode_message(
                    delivery.topic, delivery.payload, delivery.received_ms, self.policy
                )
            except PayloadError as exc:
                # Too large: only a prefix with its size and SHA-256, never the whole payload.
                keep = DeadLetter.truncated if isinstance(exc, PayloadTooLarge) else DeadLetter
                letters.append(
                    keep(delivery.received_ms, "decode", delivery.topic, str(exc), delivery.payload)
                )
                log.warning("ingest: dead letter topic=%s reason=%s", delivery.topic, exc)
                continue
            records.append(decoded.lines)
            self.metrics.readings_received += decoded.readings
        self.metrics.messages_received += len(deliveries)
        if records:
            await asyncio.to_thread(self._append_durably, records)
        if letters:
            await asyncio.to_thread(self.dead_letters.append, letters)
            self.metrics.dead_letters += len(letters)
        subscriber.ack(deliveries)
        self.metrics.spool_depth_bytes = self.spool.depth_bytes
        self.writer.appended.set()

    def _append_durably(self, records: list[list[str]]) -> None:
        self.spool.append(records)
        self.spool.sync()


async def run_ingest(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    service = IngestService(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stopping.set)
    await service.run()
