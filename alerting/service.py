"""The detector service: MQTT readings → evaluation → catalog + state (durable) → ack.

Group commit as in ingest: every delivery that arrived since the last commit is evaluated
together; the alert changes go into the catalog (with their outbox rows) in one transaction,
then the detector state into its SQLite file, and only then are the messages acked. While
the catalog is down the changes are retried and nothing is acked, so the broker keeps the
readings (persistent session, Receive Maximum) and no alert is lost or doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import UTC, datetime

from alerting.alert_store import (
    NotifyConfig,
    count_pending,
    escalate_due,
    write_changes,
    write_peaks,
)
from alerting.calibration_check import calibration_changes
from alerting.channels import EmailChannel, MqttChannel, WebhookChannel
from alerting.channels.base import Channel
from alerting.conditions import load_timeline
from alerting.config import DetectorConfig
from alerting.detector import Detector
from alerting.dispatcher import Dispatcher
from alerting.episodes import AlertChange
from alerting.metrics import DetectorMetrics
from alerting.state_store import StateStore
from alerting.timeline import ConditionTimeline
from coldchain import times
from coldchain.catalog import (
    CatalogUnavailable,
    create_catalog_engine,
    upgrade_catalog,
)
from coldchain.catalog.audit import catalog_revision
from coldchain.config import Settings
from coldchain.errors import PayloadError
from coldchain.influx import InfluxClient
from coldchain.models import DeviceStatus, Reading
from coldchain.mqtt import Delivery, MqttSubscriber
from coldchain.pipeline_metrics import publish_metrics
from coldchain.wire import (
    announces_catalog_change,
    decode_readings,
    decode_status,
    parse_topic,
    site_filters,
)

__all__ = ["DetectorService", "run_detector"]

log = logging.getLogger(__name__)


def build_channels(settings: Settings, subscriber: MqttSubscriber) -> dict[str, Channel]:
    channels: dict[str, Channel] = {
        "mqtt": MqttChannel(subscriber, timeout_s=settings.notify_timeout_s),
        "webhook": WebhookChannel(
            settings.notify_webhook_secret, timeout_s=settings.notify_timeout_s
        ),
    }
    if settings.notify_smtp_host:
        channels["email"] = EmailChannel(
            settings.notify_smtp_host,
            settings.notify_smtp_port,
            settings.notify_smtp_from,
            username=settings.notify_smtp_username,
            password=settings.notify_smtp_password,
            starttls=settings.notify_smtp_starttls,
            implicit_tls=settings.notify_smtp_implicit_tls,
            ca_file=settings.notify_smtp_ca_file,
            timeout_s=settings.notify_timeout_s,
        )
    return channels


class DetectorService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg = DetectorConfig.from_settings(settings)
        self.notify = NotifyConfig.from_settings(settings)
        self.engine = create_catalog_engine(settings.resolved_catalog_url)
        self.store = StateStore(
            settings.data_dir / "detector" / f"{settings.detect_client_id}.sqlite3"
        )
        self.stopping = asyncio.Event()
        self.sites = tuple(settings.detect_sites)
        self.subscriber = MqttSubscriber(
            settings.mqtt,
            settings.detect_client_id,
            site_filters(self.sites),
            receive_maximum=settings.detect_receive_maximum,
        )
        self.dispatcher = Dispatcher(
            self.engine,
            build_channels(settings, self.subscriber),
            retry_max_s=settings.notify_retry_max_s,
            sites=self.sites,
        )
        self.detector: Detector | None = None
        self.metrics = DetectorMetrics(worker=settings.detect_client_id, sites=self.sites)
        self.influx = InfluxClient.for_settings(settings)
        # payloads over ingest_max_payload_bytes skipped unread (logged with this total)
        self.oversize_skipped = 0
        # The peak last written per open alert (`_raise_peaks`).
        self._peaks: dict[str, float] = {}
        # the catalog revision (audit head) the loaded timeline reflects; None: unknown
        self.loaded_revision: int | None = None

    def _load_timeline(self) -> ConditionTimeline:
        # The revision first: a change committed while loading makes the next check reload.
        revision = catalog_revision(self.engine)
        timeline = load_timeline(self.engine, self.cfg.default_alarm_delay_ms)
        self.loaded_revision = revision
        return timeline.for_sites(self.sites)

    async def _start_detector(self) -> Detector:
        await asyncio.to_thread(upgrade_catalog, self.engine)
        timeline = await asyncio.to_thread(self._load_timeline)
        detector = Detector(self.cfg, timeline)
        now = times.now_ms()
        saved = await asyncio.to_thread(self.store.load)
        detector.restore(saved, now)
        detector.register_catalog(now)
        log.info(
            "detect: starting sensors=%d restored=%d client=%s sites=%s broker=%s",
            len(detector.sensors),
            len(saved),
            self.settings.detect_client_id,
            ",".join(self.sites) or "all",
            self.settings.mqtt,
        )
        return detector

    async def run(self) -> None:
        detector = self.detector = await self._start_detector()
        subscriber = self.subscriber
        try:
            async with subscriber, asyncio.TaskGroup() as tasks:
                dispatch = tasks.create_task(self.dispatcher.run(), name="outbox")
                escalate = tasks.create_task(self._escalate_forever(), name="escalation")
                calibration = tasks.create_task(
                    self._check_calibration_forever(detector), name="calibration"
                )
                report = tasks.create_task(self._report_forever(), name="metrics")
                await self._evaluate_until_stopped(subscriber, detector)
                dispatch.cancel()
                escalate.cancel()
                calibration.cancel()
                report.cancel()
        finally:
            await self.dispatcher.close()
            await self.influx.aclose()
            self.store.close()
            self.engine.dispose()
            log.info("detect: stopped client=%s", self.settings.detect_client_id)

    async def _escalate_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.detect_tick_s)
            try:
                moved = await asyncio.to_thread(
                    escalate_due, self.engine, self.notify, datetime.now(UTC), self.sites
                )
            except CatalogUnavailable as exc:
                log.warning("detect: escalation skipped, catalog unavailable: %s", exc)
                continue
            for alert_id in moved:
                log.info("detect: escalated alert=%s", alert_id)
            if moved:
                self.dispatcher.wake()

    async def _check_calibration_forever(self, detector: Detector) -> None:
        """`calibration_due` alerts of this partition's probes (calibration_check.py), at
        start and every `detect_catalog_refresh_s`, on the calibrations the catalog refresh
        loaded; a catalog that does not answer only delays them to the next round."""
        while True:
            now = times.now_ms()
            changes = calibration_changes(
                detector.sensors.timeline.calibrations,
                now,
                self.settings.detect_calibration_warn_days,
                detector.sensors.timeline.removed,
            )
            try:
                applied = await asyncio.to_thread(write_changes, self.engine, changes, self.notify)
            except CatalogUnavailable as exc:
                log.warning("detect: calibration check skipped, catalog unavailable: %s", exc)
            else:
                if applied:
                    log.info("detect: calibration alerts changed=%d", applied)
                    self.dispatcher.wake()
            await asyncio.sleep(self.settings.detect_catalog_refresh_s)

    async def _report_forever(self) -> None:
        """Counters and alert display points; InfluxDB being down never holds up alerts."""
        outbox = asyncio.create_task(self._count_outbox_forever())
        try:
            await publish_metrics(
                service="detector",
                worker=self.metrics.worker,
                snapshot=self.metrics.snapshot,
                data_dir=self.settings.data_dir,
                influx=self.influx,
                interval_s=self.settings.metrics_interval_s,
                display_lines=self.metrics.take_display_lines,
            )
        finally:
            outbox.cancel()

    async def _count_outbox_forever(self) -> None:
        while True:
            try:
                self.metrics.outbox_depth = await asyncio.to_thread(
                    count_pending, self.engine, self.sites
                )
            except CatalogUnavailable as exc:
                log.warning("detect: outbox not counted, catalog unavailable: %s", exc)
            await asyncio.sleep(self.settings.metrics_interval_s)

    async def _evaluate_until_stopped(self, subscriber: MqttSubscriber, detector: Detector) -> None:
        tick_ms = round(self.settings.detect_tick_s * 1000)
        refresh_ms = round(self.settings.detect_catalog_refresh_s * 1000)
        last_tick = last_refresh = times.now_ms()
        while not self.stopping.is_set():
            deliveries: list[Delivery] = []
            with contextlib.suppress(TimeoutError):
                deliveries = await asyncio.wait_for(subscriber.take(), tick_ms / 1000)
            now = times.now_ms()
            readable = self._within_size_limit(deliveries)
            if any(announces_catalog_change(d.payload) for d in readable):
                self.metrics.catalog_announcements += 1
                if await self._catalog_changed():
                    last_refresh = await self._refresh_announced(detector, last_refresh)
                    now = times.now_ms()
            readings, statuses = self._decode(readable)
            newest = max((r.ts_ms for r in readings), default=None)
            self.metrics.record_batch(newest, now, len(readings))
            changes = detector.process(readings, now)
            for status in statuses:
                changes += detector.process_status(status, now)
            if now - last_tick >= tick_ms:
                changes += detector.tick(now)
                last_tick = now
            if now - last_refresh >= refresh_ms:
                await self._refresh(detector, now)
                last_refresh = now
            await self._commit(changes, detector)
            subscriber.ack(deliveries)

    def _within_size_limit(self, deliveries: list[Delivery]) -> list[Delivery]:
        """Leave out, unparsed, payloads over `ingest_max_payload_bytes` (ingest keeps
        their dead letter; the broker refuses them already unless configured otherwise).
        They are still acked with the rest."""
        limit = self.settings.ingest_max_payload_bytes
        readable = []
        for d in deliveries:
            if len(d.payload) > limit:
                self.oversize_skipped += 1
                log.warning(
                    "detect: skipped payload topic=%s reason=payload too large (%d bytes > %d) "
                    "skipped_total=%d",
                    d.topic,
                    len(d.payload),
                    limit,
                    self.oversize_skipped,
                )
            else:
                readable.append(d)
        return readable

    def _decode(self, deliveries: list[Delivery]) -> tuple[list[Reading], list[DeviceStatus]]:
        readings: list[Reading] = []
        statuses: list[DeviceStatus] = []
        for d in deliveries:
            try:
                topic = parse_topic(d.topic)
                if topic.source == "gateway":
                    continue
                if topic.kind == "readings":
                    readings += decode_readings(topic, d.payload)
                else:
                    statuses.append(decode_status(topic, d.payload))
            except PayloadError as exc:
                # ingest keeps the dead letter; the detector only skips what it cannot read
                log.warning("detect: skipped payload topic=%s reason=%s", d.topic, exc)
        return readings, statuses

    async def _catalog_changed(self) -> bool:
        """Whether the catalog moved on since the timeline was loaded. Any gateway can
        announce a change; only a real one (a logger import stores the device's rules,
        audited, before it publishes) is worth a reload, so a flood of announcements costs
        one one-row read per batch, never a reload."""
        try:
            revision = await asyncio.to_thread(catalog_revision, self.engine)
        except CatalogUnavailable as exc:
            # like a failed refresh: keep the cached catalog (an import cannot store its
            # rules either); the periodic refresh catches up
            log.warning("detect: catalog revision unreadable, keeping the cached one: %s", exc)
            return False
        return revision != self.loaded_revision

    async def _refresh_announced(self, detector: Detector, last_refresh: int) -> int:
        """Reload the catalog before evaluating readings whose sender just changed it (a
        logger import that stored the device's rules): at most once per
        `detect_catalog_reload_min_s`, waiting rather than skipping, so those readings are
        still judged by the new rules."""
        min_ms = round(self.settings.detect_catalog_reload_min_s * 1000)
        wait_ms = last_refresh + min_ms - times.now_ms()
        if wait_ms > 0:
            await asyncio.sleep(wait_ms / 1000)
        now = times.now_ms()
        await self._refresh(detector, now)
        self.metrics.catalog_reloads_announced += 1
        log.info(
            "detect: catalog reloaded, announced by a readings message revision=%s",
            self.loaded_revision,
        )
        return now

    async def _refresh(self, detector: Detector, now: int) -> None:
        try:
            timeline = await asyncio.to_thread(self._load_timeline)
        except CatalogUnavailable as exc:
            log.warning("detect: catalog refresh failed, keeping the cached one: %s", exc)
            return
        detector.set_timeline(timeline, now)

    async def _commit(self, changes: list[AlertChange], detector: Detector) -> None:
        """Alerts into the catalog (retried until it answers), then state, then the caller acks."""
        delay = 0.2
        while changes:
            try:
                await asyncio.to_thread(write_changes, self.engine, changes, self.notify)
                break
            except CatalogUnavailable as exc:
                log.warning(
                    "detect: catalog unavailable, holding %d alert changes: %s retry_in=%.1fs",
                    len(changes),
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        for ch in changes:
            site, _source, device, sensor = ch.key
            log.info(
                "detect: alert state=%s id=%s kind=%s severity=%s site=%s device=%s sensor=%s "
                "start_ms=%d end_ms=%s retrospective=%s",
                ch.state,
                ch.alert_id,
                ch.kind,
                ch.severity,
                site,
                device,
                sensor,
                ch.start_ms,
                ch.end_ms,
                ch.retrospective,
            )
        self.metrics.record_changes(changes)
        await self._raise_peaks(changes, detector)
        snapshot = detector.snapshot()
        if snapshot:
            await asyncio.to_thread(self.store.save, snapshot)
        if changes:
            self.dispatcher.wake()

    async def _raise_peaks(self, changes: list[AlertChange], detector: Detector) -> None:
        """An open alert's peak as its condition grows (it was opened with the peak of its
        first readings beyond the limit): written when it moved, not at every reading. A
        catalog that does not answer only delays it: resolving writes the final peak."""
        for ch in changes:
            if ch.state == "open" and ch.peak_c is not None:
                self._peaks[ch.alert_id] = ch.peak_c
            else:
                self._peaks.pop(ch.alert_id, None)
        moved = {
            alert_id: peak
            for alert_id, peak in detector.open_peaks().items()
            if self._peaks.get(alert_id) != peak
        }
        if not moved:
            return
        try:
            await asyncio.to_thread(write_peaks, self.engine, moved)
        except CatalogUnavailable as exc:
            log.warning("detect: catalog unavailable, open alerts' peaks wait: %s", exc)
            return
        self._peaks.update(moved)


async def run_detector(settings: Settings) -> None:
    """Run until SIGTERM or SIGINT."""
    service = DetectorService(settings)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.stopping.set)
    await service.run()
