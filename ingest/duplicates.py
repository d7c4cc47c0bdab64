"""Leaving out of a batch the readings InfluxDB already holds, so a re-send changes nothing.

InfluxDB takes a point written again (same series and time) as an update of its fields: a
gateway's retry or a logger's second upload would replace the stored `received_ms`, the
time the reading first arrived, and a re-send with another value would replace the value.
So before writing a batch the writer asks, in one request of one statement per device over
the device's span in the batch, what is stored. A reading stored with the same measured values
(`temp_c`, `rh`) is a duplicate: left out and counted. One stored with other values is a
conflict: never overwritten, its line is dead-lettered with both values. The same holds
between the lines of one batch (a re-send right behind its original): the first is written.
`seq` is not compared: it numbers a device's messages (a logger's rows), and two exports of
one logger may number the same reading differently.

This runs for every batch: InfluxDB's cost is per series asked about, and ingest's per
line, so the batch is matched as text and split into lines only where readings repeat.

Two workers that get the same reading within one write of each other can both find it
missing and both write it; the later `received_ms` is then the one kept.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from coldchain.errors import StoreRejected, StoreUnavailable
from coldchain.influx import InfluxClient, Series, quote_identifier, tags_condition
from coldchain.measurements import READING
from coldchain.times import from_ms

__all__ = [
    "BatchReadings",
    "Checked",
    "Conflict",
    "ReadbackRefused",
    "check_stored",
    "device_of",
    "reading_keys",
]

_MEASUREMENT: Final = READING
_PREFIX: Final = _MEASUREMENT + ","
# What a reading measured; the other fields say when it arrived and its place in a series.
_MEASURED: Final = ("temp_c", "rh")
# The tag that tells a device's series apart; the others name the device.
_SERIES_TAG: Final = "sensor"

_Values = dict[str, float]
_Device = tuple[tuple[str, str], ...]
# A reading as its line spells it: (series key, time). Ids match
# `coldchain.wire.ID_PATTERN` and reading fields are numbers, so no part holds a space.
_Key = tuple[str, str]
_READING_KEY: Final = re.compile(rf"^({_PREFIX}[^ ]+) [^ ]+ ([0-9]+)$", re.MULTILINE)


class ReadbackRefused(Exception):
    """InfluxDB refuses ingest's user the read-back (a user granted WRITE only)."""


@dataclass(frozen=True, slots=True)
class Conflict:
    """A refused reading line, why, and the measured values InfluxDB holds for it (what
    the `reading_conflict` point keeps beside the refused ones: `ingest.conflicts`)."""

    line: str
    reason: str
    held: dict[str, float]


@dataclass(frozen=True, slots=True)
class Checked:
    """A batch less what is stored. `lines` is None when nothing was left out, so the
    writer sends the batch's bytes as they are."""

    lines: list[str] | None
    duplicates: int
    conflicts: list[Conflict]


NOTHING_LEFT_OUT: Final = Checked(None, 0, [])


@lru_cache(maxsize=65536)
def reading_keys(text: str) -> list[_Key]:
    """(series key, time ms) of each reading line of a batch's text."""
    keys: list[_Key] = _READING_KEY.findall(text)
    return keys


def device_of(series: str) -> _Device:
    """The device's tags of a series key. Ids match `coldchain.wire.ID_PATTERN`, so
    nothing in a key is escaped."""
    pairs = (part.partition("=") for part in series.split(",")[1:])
    return tuple((key, value) for key, _, value in pairs if key != _SERIES_TAG)


@lru_cache(maxsize=65536)
def _series_key(tags: tuple[tuple[str, str], ...]) -> str:
    """The key `coldchain.lineprotocol` writes for these tags (sorted, as it sorts them)."""
    return ",".join([_MEASUREMENT, *(f"{key}={value}" for key, value in sorted(tags) if value)])


def _values(fields: str) -> _Values:
    """What a reading line measured; readings hold numbers only."""
    values: _Values = {}
    for part in fields.split(","):
        name, _, raw = part.partition("=")
        if name in _MEASURED:
            values[name] = float(raw)
    return values


def _text(values: _Values) -> str:
    return " ".join(f"{name}={values[name]!r}" for name in sorted(values))


@lru_cache(maxsize=65536)
def _select(device: _Device) -> str:
    """A device's statement up to its time range, built once per device."""
    match = tags_condition(device)
    fields = ", ".join(quote_identifier(name) for name in _MEASURED)
    return f"SELECT {fields} FROM {quote_identifier(_MEASUREMENT)} WHERE {match} AND "


def _stored(answers: list[list[Series]]) -> dict[_Key, _Values]:
    stored: dict[_Key, _Values] = {}
    for series in (s for answer in answers for s in answer):
        key = _series_key(tuple(series.tags.items()))
        columns = [(i, name) for i, name in enumerate(series.columns) if name in _MEASURED]
        for row in series.values:
            stored[(key, str(row[0]))] = {n: row[i] for i, n in columns if row[i] is not None}
    return stored


class BatchReadings:
    """The reading lines of a batch's text (lines joined by newlines), found by one regular
    expression for the question; split into lines only if something is left out."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._keys = reading_keys(text)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def statements(self) -> list[str]:
        """One statement per device that returns its stored readings over its span in
        the batch, each series apart (`GROUP BY *`)."""
        times: defaultdict[str, list[str]] = defaultdict(list)
        for series, time_ms in self._keys:
            times[series].append(time_ms)
        spans: dict[_Device, tuple[int, int]] = {}
        for series, texts in times.items():
            numbers = list(map(int, texts))
            low, high = min(numbers), max(numbers)
            device = device_of(series)
            if device in spans:
                low, high = min(low, spans[device][0]), max(high, spans[device][1])
            spans[device] = (low, high)
        return [
            f"{_select(device)}time >= {low}ms AND time <= {high}ms GROUP BY *"
            for device, (low, high) in spans.items()
        ]

    def sort_out(self, answers: list[list[Series]]) -> Checked:
        """The lines less the readings found in `answers` (the results of `statements`)
        and less the repeats within the batch."""
        stored = _stored(answers)
        if len(set(self._keys)) == len(self._keys) and stored.keys().isdisjoint(self._keys):
            return NOTHING_LEFT_OUT
        first: dict[_Key, str] = {}
        kept: list[str] = []
        duplicates = 0
        conflicts: list[Conflict] = []
        for line in self.text.split("\n"):
            if not line.startswith(_PREFIX):
                kept.append(line)
                continue
            series, fields, time_ms = line.rsplit(" ", 2)
            key = (series, time_ms)
            if key in stored:
                held, where = stored[key], "stored"
            elif key in first:
                held, where = _values(first[key]), "earlier in the batch"
            else:
                first[key] = fields
                kept.append(line)
                continue
            values = _values(fields)
            if values == held:
                duplicates += 1
                continue
            when = from_ms(int(time_ms)).isoformat(timespec="milliseconds")
            conflicts.append(
                Conflict(
                    line,
                    f"conflict: reading at {when} of {series}: {where} {_text(held)}, "
                    f"received {_text(values)}; not written",
                    held,
                )
            )
        return Checked(kept, duplicates, conflicts)


async def check_stored(influx: InfluxClient, text: str) -> Checked:
    """What of a batch (`text`: its lines joined by newlines) InfluxDB does not hold yet.

    Raises:
        StoreUnavailable: InfluxDB did not answer; ask again later.
        ReadbackRefused: ingest's InfluxDB user may not read.
    """
    batch = BatchReadings(text)
    if not batch:
        return NOTHING_LEFT_OUT
    try:
        answers = await influx.query_each(batch.statements())
    except StoreUnavailable as exc:
        if "requires READ" in str(exc):  # InfluxDB 1.x: HTTP 403 for a WRITE-only user
            raise ReadbackRefused(str(exc)) from exc
        raise
    except StoreRejected as exc:
        if not exc.server_message.startswith("database not found"):
            raise
        answers = []  # nothing stored yet; the write creates the database
    return batch.sort_out(answers)
