"""The JSON export: the CSV's content, structured, written as a stream.

    {"format": "coldchain-batch-record", "header": {...},
     "placements": [{..., "sensors": [{..., "readings": [[utc, local, temp_c], ...]}]}],
     "summary": {...}
    ,"deviations": [...], "release": {...} | null, "signatures": [...],
     "integrity": {...}}            <- the signer's trailer closes the object

Readings are arrays `[time_utc, time_local, temp_c]` rather than objects: a year of
1-minute readings is half a million per probe, and the keys would triple the size. A
reading that is not a temperature (coldchain.judgement.validity: an error code, a value
the probe cannot measure) has a fourth element, why it is invalid:
`[time_utc, time_local, 85.0, "error code 85 °C"]`.

`deviations`, `release` and `signatures` (the signature manifest, each with the content it
signed and its seal: document.manifest_dict) stand on a line of their own, the body's only
line break, so `coldchain verify` finds them without parsing the readings (esignatures.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import orjson

from api.export.document import (
    ExportMeta,
    header_dict,
    manifest_dict,
    placement_dict,
    sensor_dict,
    summary_dict,
)
from api.export.esignatures import manifest_line
from api.export.record import BatchRecord
from api.export.rows import reading_rows
from api.export.walk import (
    Event,
    PlacementBegin,
    PlacementEnd,
    Readings,
    RecordEnd,
    SensorBegin,
    SensorEnd,
)
from coldchain.judgement.validity import ReadingValidity

__all__ = ["render_json"]


def _dump(value: object) -> str:
    return orjson.dumps(value).decode()


def _invalid_note(validity: ReadingValidity) -> Callable[[float], bytes]:
    """A reading's fourth element: the reason it is invalid; nothing for a temperature."""

    def note(value: float) -> bytes:
        reason = validity.reason(value)
        return b"" if reason is None else b"," + orjson.dumps(reason)

    return note


async def render_json(
    record: BatchRecord, meta: ExportMeta, events: AsyncIterator[Event]
) -> AsyncIterator[bytes]:
    """The JSON body without its closing `}`: the signer's trailer adds `"integrity"` and it."""
    yield (
        '{"format":"coldchain-batch-record","header":'
        + _dump(header_dict(record, meta))
        + ',"placements":['
    ).encode()
    first_placement = True
    first_sensor = True
    first_chunk = True
    async for event in events:
        if isinstance(event, PlacementBegin):
            info = placement_dict(event.placement)
            info.pop("sensors")
            head = "" if first_placement else ","
            first_placement, first_sensor = False, True
            yield (head + _dump(info)[:-1] + ',"sensors":[').encode()
        elif isinstance(event, SensorBegin):
            head = "" if first_sensor else ","
            first_sensor, first_chunk = False, True
            sensor = sensor_dict(event.sensor, event.placement.timezone)
            yield (head + _dump(sensor)[:-1] + ',"readings":[').encode()
        elif isinstance(event, Readings):
            rows = reading_rows(
                event.times,
                event.temps,
                event.placement.timezone,
                head=b',["',
                mid=b'","',
                sep=b'",',
                tail=b"]",
                note=_invalid_note(event.validity),
            )
            yield rows[1:] if first_chunk else rows  # the first row has no comma before it
            first_chunk = False
        elif isinstance(event, SensorEnd | PlacementEnd):
            yield b"]}"  # closes "readings" and the sensor, or "sensors" and the placement
        elif isinstance(event, RecordEnd):
            yield ('],"summary":' + _dump(summary_dict(event.report))).encode()
            yield manifest_line("json", manifest_dict(record))
