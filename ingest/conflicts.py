"""A refused re-send as a point of its own (`reading_conflict`), written with its batch.

The dead letter keeps the refused line on ingest's disk, which the API and the exporter
do not read (another host in compose); the batch record and QA must still see that
someone tried to change a stored reading. So each conflict also goes to InfluxDB, written
right after the batch it came in and before the spool's checkpoint moves past that batch:
a conflict is retried while InfluxDB is down and replayed after a crash like any reading.
A replay writes the same point again (same series, time and fields), so it is never
counted twice. If InfluxDB refuses the point itself (a 4xx), it becomes a `store` dead
letter next to the `conflict` one, which stays the record.

The point is the refused line under another measurement name, with the stored values as
`stored_temp_c` / `stored_rh` and the refused line's SHA-256 as `line_sha256` (a field: it
names the dead letter). Its series is the reading's, so a gateway re-sending a million
readings with other values adds points, not a million series to InfluxDB's index. Two
different re-sends of one reading must not overwrite each other, so the point's time is
the reading's millisecond plus a nanosecond offset taken from that digest: at millisecond
precision, which is all any reader asks for, it is the reading's time (two re-sends of
one reading share an offset once in a million pairs; their dead letters keep both).
Nothing that reads `reading` (charts, history, detector, exports' readings) sees it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

from coldchain.lineprotocol import format_float
from coldchain.measurements import READING, READING_CONFLICT
from ingest.duplicates import Conflict

__all__ = ["LINE_DIGEST", "STORED_PREFIX", "conflict_line", "conflict_lines"]

#: The field that holds the refused line's SHA-256 (the dead letter's payload).
LINE_DIGEST: Final = "line_sha256"
#: Prefix of the fields that hold what InfluxDB kept.
STORED_PREFIX: Final = "stored_"

_PREFIX: Final = READING + ","
_NS_PER_MS: Final = 1_000_000


def conflict_line(conflict: Conflict) -> str:
    """The `reading_conflict` line of a refused reading line (`Conflict.line`), its time
    in nanoseconds (write it with precision `ns`)."""
    line = conflict.line
    if not line.startswith(_PREFIX):
        raise ValueError(f"not a reading line: {line[:80]!r}")
    series, fields, time_ms = line.rsplit(" ", 2)
    digest = hashlib.sha256(line.encode()).hexdigest()
    stored = "".join(
        f",{STORED_PREFIX}{name}={format_float(value)}"
        for name, value in sorted(conflict.held.items())
    )
    time_ns = int(time_ms) * _NS_PER_MS + int(digest, 16) % _NS_PER_MS
    tags = series[len(READING) :]
    return f'{READING_CONFLICT}{tags} {fields}{stored},{LINE_DIGEST}="{digest}" {time_ns}'


def conflict_lines(conflicts: Iterable[Conflict]) -> list[str]:
    return [conflict_line(c) for c in conflicts]
