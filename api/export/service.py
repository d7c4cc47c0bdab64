"""`export_batch`: the signed batch record as a stream of bytes, recorded in the audit trail.

This is the function the CLI (`coldchain export`) and the API endpoint
(`GET /v1/batches/{id}/export?format=csv|json|pdf`) call. The body is hashed as it is
produced; when it is complete, the export is written to the audit trail (who, what,
when, digest) and only then is the signature trailer yielded. An export that failed or
was abandoned half-way therefore has no trailer (it does not verify) and no audit entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

from sqlalchemy import Engine

from api.export.csv_format import render_csv
from api.export.document import ExportMeta, software_version
from api.export.errors import ExportForbidden, ExportFormatError
from api.export.findings import describe
from api.export.json_format import render_json
from api.export.record import BatchRecord, load_batch_record
from api.export.signing import ExportSigner, trailer
from api.export.walk import Event, Readings, RecordEnd, Rules, walk_record
from coldchain.catalog import Viewer, append_audit, catalog_session
from coldchain.config import Settings
from coldchain.influx import InfluxClient

__all__ = ["FORMATS", "MEDIA_TYPES", "ExportDone", "export_batch"]

log = logging.getLogger(__name__)

FORMATS = ("csv", "json", "pdf")
MEDIA_TYPES = {"csv": "text/csv", "json": "application/json", "pdf": "application/pdf"}
_EXPORTERS = ("qa", "admin", "sponsor_viewer")

Renderer = Callable[[BatchRecord, ExportMeta, AsyncIterator[Event]], AsyncIterator[bytes]]
# (what, readings read so far, readings the placements expect): the CLI's progress bar.
Progress = Callable[[str, int, int | None], None]
CHART_BUCKETS = 600  # per placement and probe in the PDF's charts (min and max kept)


def _render_pdf(
    record: BatchRecord, meta: ExportMeta, events: AsyncIterator[Event]
) -> AsyncIterator[bytes]:
    # Imported on demand: matplotlib and reportlab are large, and CSV/JSON exports (and
    # `verify`) should not carry them in memory or in start-up time.
    from api.export.pdf_format import render_pdf

    return render_pdf(record, meta, events)


_RENDERERS: dict[str, Renderer] = {"csv": render_csv, "json": render_json, "pdf": _render_pdf}


class ExportDone:
    """Filled in when an export stream completes, for callers that report on it.

    Attributes:
        sha256: digest of the body (what the trailer and the audit entry carry).
        audit_seq: the audit entry's number.
        verdict: the record's screen (findings.py); findings: one line per finding.
        readings: how many readings the record holds (valid or not).
    """

    def __init__(self) -> None:
        self.sha256: str | None = None
        self.audit_seq: int | None = None
        self.verdict: str | None = None
        self.findings: tuple[str, ...] = ()
        self.readings = 0


async def export_batch(
    batch_id: str,
    fmt: str,
    *,
    influx: InfluxClient,
    catalog_engine: Engine,
    signer: ExportSigner,
    actor: str,
    viewer: Viewer | None = None,
    now: datetime | None = None,
    done: ExportDone | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> AsyncIterator[bytes]:
    """The signed export of batch `batch_id` in `fmt`, chunk by chunk.

    Args:
        viewer: who asks (API); None for trusted callers such as the CLI run by QA. QA and
            admins may export any batch, a sponsor viewer only their own sponsor's.
        actor: the name the audit trail records.
        now: the generation time (tests pin it); an open placement's record ends here.
        done: receives the digest and audit entry number once the stream is complete.
        settings: where the excursion and reading-validity rules are configured, as for the
            detector (`detect_hysteresis_c`, `detect_clear_after_min`,
            `detect_error_values_c`, the probe range); None reads them from the environment.
        progress: told after each chunk of readings how many were read of how many the
            placements expect (a long record takes tens of seconds).

    Raises:
        ExportFormatError: `fmt` is not csv, json or pdf.
        ExportForbidden: a warehouse operator (or any other role) asked.
        CatalogNotFound: unknown batch, or another sponsor's.
        StoreUnavailable, StoreRejected: InfluxDB failed mid-export (no trailer was sent).
    """
    if fmt not in _RENDERERS:
        raise ExportFormatError(f"format: expected one of {', '.join(FORMATS)}, got {fmt!r}")
    if viewer is not None and viewer.role not in _EXPORTERS:
        raise ExportForbidden(
            f"user {viewer.user_id!r} ({viewer.role}) may not export batch records: "
            "QA and the batch's sponsor may"
        )
    generated = (now or datetime.now(UTC)).astimezone(UTC)
    record = await asyncio.to_thread(
        load_batch_record, catalog_engine, batch=batch_id, viewer=viewer, now=generated
    )
    meta = ExportMeta(fmt=fmt, actor=actor, generated_at=generated, software=software_version())
    rules = Rules.from_settings(settings if settings is not None else Settings())
    events = _noting(
        walk_record(
            record, influx, rules=rules, chart_buckets=CHART_BUCKETS if fmt == "pdf" else 0
        ),
        done,
        progress,
        _expected_readings(record),
    )
    hasher = hashlib.sha256()
    size = 0
    async for chunk in _RENDERERS[fmt](record, meta, events):
        hasher.update(chunk)
        size += len(chunk)
        yield chunk
    digest = hasher.hexdigest()
    signature = signer.sign(fmt, digest)
    seq = await asyncio.to_thread(
        _audit,
        catalog_engine,
        record=record,
        meta=meta,
        digest=digest,
        size=size,
        key_id=signer.key_id,
    )
    log.info(
        "export batch=%s format=%s actor=%s sha256=%s bytes=%d audit_seq=%d",
        batch_id,
        fmt,
        actor,
        digest,
        size,
        seq,
    )
    if done is not None:
        done.sha256, done.audit_seq = digest, seq
    yield trailer(fmt, digest, signature, signer.key_id)


async def _noting(
    events: AsyncIterator[Event],
    done: ExportDone | None,
    progress: Progress | None,
    expected: int,
) -> AsyncIterator[Event]:
    """Pass the events through, counting readings and keeping the verdict and findings for
    `done`."""
    readings = 0
    async for event in events:
        if isinstance(event, Readings):
            readings += len(event.times)
            if progress is not None:
                progress("readings", readings, expected)
        elif done is not None and isinstance(event, RecordEnd):
            done.readings = readings
            done.verdict = event.report.verdict
            done.findings = tuple(describe(f) for f in event.report.findings)
        yield event


def _expected_readings(record: BatchRecord) -> int:
    """Readings the record should hold: each probe's fitted span over its log interval."""
    return sum(
        math.ceil((end - start) / (sensor.log_interval_s * 1000))
        for placement in record.placements
        for sensor in placement.sensors
        for start, end in [placement.fitted_ms(sensor)]
    )


def _audit(
    engine: Engine, *, record: BatchRecord, meta: ExportMeta, digest: str, size: int, key_id: str
) -> int:
    """One audit entry per export: who, which batch and format, when, the digest."""
    with catalog_session(engine) as session:
        entry = append_audit(
            session,
            actor=meta.actor,
            action="export",
            entity="batch",
            entity_id=record.batch,
            new={
                "format": meta.fmt,
                "sha256": digest,
                "body_bytes": size,
                "key_id": key_id,
                "generated_at": meta.generated_at,
                "placements": len(record.placements),
                "software": meta.software,
            },
        )
        return entry.seq
