"""A reading that comes twice within one batch: what InfluxDB cannot tell ingest, since
neither copy is stored yet (the stored case runs on a real influxd in
tests/integration/test_ingest.py)."""

from __future__ import annotations

from coldchain.lineprotocol import reading_line
from coldchain.models import Reading, SourceKind
from ingest.duplicates import BatchReadings


def _line(temp_c: float, received_ms: int, *, seq: int = 7, rh: float | None = None) -> str:
    reading = Reading(
        site="BSL",
        source=SourceKind.UNIT,
        device="U1",
        sensor="p1",
        ts_ms=1_763_800_000_000,
        temp_c=temp_c,
        seq=seq,
        rh=rh,
    )
    return reading_line(reading, received_ms)


STATUS = "device_status,device=U1,site=BSL,source=unit battery_pct=80 1763800000000"


def test_a_reading_twice_in_a_batch_is_written_once_as_first_received_and_counted() -> None:
    first, again = _line(5.1, 1000, rh=40.0), _line(5.1, 2000, seq=8, rh=40.0)
    checked = BatchReadings("\n".join([first, STATUS, again])).sort_out([])
    assert checked.lines == [first, STATUS]
    assert checked.duplicates == 1
    assert checked.conflicts == []


def test_a_reading_twice_in_a_batch_with_another_value_keeps_the_first_and_is_a_conflict() -> None:
    first, other = _line(5.1, 1000), _line(7.3, 2000)
    checked = BatchReadings(f"{first}\n{other}").sort_out([])
    assert checked.lines == [first]
    assert checked.duplicates == 0
    [conflict] = checked.conflicts
    assert conflict.line == other
    assert conflict.reason == (
        "conflict: reading at 2025-11-22T08:26:40.000+00:00 of "
        "reading,device=U1,sensor=p1,site=BSL,source=unit: earlier in the batch temp_c=5.1, "
        "received temp_c=7.3; not written"
    )


def test_a_batch_without_repeats_or_stored_readings_goes_out_as_it_is() -> None:
    checked = BatchReadings(f"{_line(5.1, 1000)}\n{STATUS}").sort_out([])
    assert checked.lines is None
    assert (checked.duplicates, checked.conflicts) == (0, [])
