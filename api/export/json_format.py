"""The JSON export: the CSV's content, structured, written as a stream.

    {"format": "coldchain-batch-record", "header": {...},
     "placements": [{..., "alarm_limits": [...],
                     "sensors": [{..., "readings": [[utc, local, temp_c], ...]}]}],
     "summary": {...}
    ,"deviations": [...], "release": {...} | null, "signatures": [...],
     "integrity": {...}}            <- the signer's trailer closes the object

Readings are arrays `[time_utc, time_local, temp_c]` rather than objects: a year of
1-minute readings is half a million per probe, and the keys would triple the size. A
reading that is not a temperature (coldchain.judgement.validity: an error code, a value
the probe cannot measure) has a fourth element, why it is invalid:
`[time_utc, time_local, 85.0, "error code 85 °C"]`. A valid reading taken at or after the
due date of its probe's certificate in force (#22) has a fifth, the mark, its fourth being
null: `[time_utc, time_local, 5.1, null, "past calibration due 2027-03-01"]`; an invalid
one keeps its four (api/export/calibration.py: the count `past_due_readings` is of these).

`alarm_limits` (#22): the limits each placement was alarmed by, per version in force over
it (document.alarm_limits_dicts: range, the alarm profile's warning limits, delays above
and below, critical limits, latching).

`deviations`, `release` and `signatures` (the signature manifest, each with the content it
signed and its seal: document.manifest_dict) stand on a line of their own, the body's only
line break, so `coldchain verify` finds them without parsing the readings (esignatures.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import orjson

from api.export.document import (
    ExportMeta,
    alarm_limits_dicts,
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


def _note(validity: ReadingValidity, mark: str | None) -> Callable[[float], bytes]:
    """A reading's fourth element: the reason it is invalid; for a temperature nothing, or
    null and the chunk's calibration `mark` as a fifth."""
    valid = b"" if mark is None else b",null," + orjson.dumps(mark)

    def note(value: float) -> bytes:
        reason = validity.reason(value)
        return valid if reason is None else b"," + orjson.dumps(reason)

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
            info["alarm_limits"] = alarm_limits_dicts(record, event.placement)
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
                note=_note(event.validity, event.calibration_mark),
            )
            yield rows[1:] if first_chunk else rows  # the first row has no comma before it
            first_chunk = False
        elif isinstance(event, SensorEnd | PlacementEnd):
            yield b"]}"  # closes "readings" and the sensor, or "sensors" and the placement
        elif isinstance(event, RecordEnd):
            yield ('],"summary":' + _dump(summary_dict(event.report))).encode()
            yield manifest_line("json", manifest_dict(record))
