"""What a USB logger's own export says, parsed: readings, alarm rules, the device's summaries.

Every format (Berlinger Fridge-tag / Q-tag today; LogTag, ELPRO later) parses into the same
frozen `LoggerFile`, so the importer, the detector's agreement tests and the QA export never
look at a format's text. Times are the device's naive local clock, exactly as printed: the
file carries no offset, and how the clock is read (the site's zone, or a fixed offset the
log proves, timebase.py) is decided only by whoever publishes the readings
(`coldchain logger import`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol

__all__ = [
    "AlarmDirection",
    "AlarmMode",
    "AlarmRule",
    "DailyAlarm",
    "DailySummary",
    "LoggedReading",
    "LoggerFile",
    "LoggerFormat",
    "MissingReading",
    "RunEvent",
    "RunSummary",
    "SensorTimeout",
]

AlarmDirection = Literal["high", "low"]
#: consecutive: one uninterrupted excursion must last `delay_min`; cumulative: the
#: minutes out of range add up over the whole run (Q-tag) until they reach `delay_min`.
AlarmMode = Literal["consecutive", "cumulative"]


@dataclass(frozen=True, slots=True)
class AlarmRule:
    """One alarm the device was configured with (`Conf:` → `Alarm:`).

    Attributes:
        number: the device's own alarm number (Fridge-tag 0 = cold, 1 = hot; Q-tag 1..5).
        direction: "high" fires above `limit_c`, "low" below it.
        limit_c: the threshold, °C; a reading equal to it is in range.
        delay_min: how long the temperature must be out of range before the alarm fires.
        mode: "consecutive" or "cumulative" (see `AlarmMode`).
        origin: the device's name for the rule, e.g. "Q-tag CLm doc LR RCPJ00010 alarm 1";
            kept in the catalog so an imported rule says where it came from.
    """

    number: int
    direction: AlarmDirection
    limit_c: float
    delay_min: float
    mode: AlarmMode
    origin: str

    def params(self) -> dict[str, Any]:
        """The rule as `alert_rules.params_json` of kind "excursion" (the detector's contract)."""
        return {
            "direction": self.direction,
            "limit_c": self.limit_c,
            "delay_min": self.delay_min,
            "mode": self.mode,
            "origin": self.origin,
        }


@dataclass(frozen=True, slots=True)
class LoggedReading:
    """One row of the device's log.

    Attributes:
        local_time: the device clock, naive (no offset in the file).
        temp_c: the logged temperature, °C (the device's 0.1 °C resolution).
        row: 0-based index of the row among all log rows, missing ones included: stable
            across re-imports of the same file, hence the wire `seq`.
        line: 1-based line number in the file, for messages.
        flagged: the device marked the row out of limits (`x`).
    """

    local_time: datetime
    temp_c: float
    row: int
    line: int
    flagged: bool = False


@dataclass(frozen=True, slots=True)
class MissingReading:
    """A log row without a value (`--.-`: sensor not connected or timed out)."""

    local_time: datetime
    row: int
    line: int


@dataclass(frozen=True, slots=True)
class DailyAlarm:
    """One alarm's record for one day (Fridge-tag `Hist:` → `Alarm:`).

    Attributes:
        number: the alarm number, as in `AlarmRule.number`.
        minutes: `t Acc`, minutes out of range that day.
        triggered_at: `TS A` on that day (00:00 = already in alarm at midnight), or None.
        ambient_c: `T Amb` (Ultra Low only), or None.
    """

    number: int
    minutes: int
    triggered_at: datetime | None = None
    ambient_c: float | None = None


@dataclass(frozen=True, slots=True)
class SensorTimeout:
    """Minutes a sensor did not answer on one day (`Int/Ext Sensor timeout`)."""

    sensor: str
    minutes: int
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class DailySummary:
    """The device's own summary of one local day (Fridge-tag `Hist:`)."""

    day: date
    min_c: float
    min_at: datetime
    max_c: float
    max_at: datetime
    mean_c: float
    alarms: tuple[DailyAlarm, ...]
    timeouts: tuple[SensorTimeout, ...] = ()
    events: int = 0
    line: int = 0

    def alarm(self, number: int) -> DailyAlarm | None:
        return next((a for a in self.alarms if a.number == number), None)


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One alarm event of a run (Q-tag `Res:` → `Alarm:`).

    Attributes:
        number: the alarm rule's number.
        start: `TS S`, when the temperature first left the range.
        minutes: `t A`, minutes out of range counted by the device.
        triggered_at: `TS A`, when the alarm fired.
        end: `TS E`; None when the excursion was still open at stop, or when the device
            does not report an end (cumulative rules: see `end_reported`).
        end_reported: the line has a `TS E` field at all (consecutive rules do).
        extreme_c, extreme_at: `T M` / `TS M`, the worst value (from the device's internal
            samples, which are denser than its log) when reported.
    """

    number: int
    start: datetime
    minutes: int
    triggered_at: datetime | None
    end: datetime | None = None
    end_reported: bool = False
    extreme_c: float | None = None
    extreme_at: datetime | None = None

    @property
    def open(self) -> bool:
        return self.end_reported and self.end is None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """The device's own summary of a run (Q-tag `Res:`); values as the device printed them."""

    started_at: datetime | None
    stopped_at: datetime | None
    min_c: float
    min_at: datetime
    max_c: float
    max_at: datetime
    mean_c: float
    mkt_c: float
    mkt_delta_h_kj_per_mol: float
    run_number: int | None
    events: tuple[RunEvent, ...]


@dataclass(frozen=True, slots=True)
class LoggerFile:
    """A parsed logger export.

    Attributes:
        format: the parser that read it ("berlinger").
        device_model: as the device names itself ("Q-tag CLm doc LR", "Q-tag Fridge-tag 2 L").
        serial: the device serial number.
        firmware: the firmware version string.
        log_interval_min: minutes between log rows; None for devices without a log
            (Fridge-tag 2 keeps daily summaries only).
        rules: the alarm rules the device applied (disabled ones left out).
        readings: the log rows with a value, in file (= time) order.
        missing: the log rows without a value.
        daily: the device's daily summaries, oldest day first (empty for run devices).
        run: the device's run summary (Q-tag), else None.
        activated_at: `TS Actv`, when the device was activated.
        created_at: when the device wrote the report, if it says.
        sha256: hex SHA-256 of the file's bytes (CRLF line ends, as the device writes
            them): the identity of an import.
        signature: how the file's authenticity was established, for the record (e.g. the
            device certificate that signed it), or None for a format without one.
        notes: irregularities the device itself wrote and signed (e.g. a gap in its log):
            kept and shown, not grounds for refusal. The import adds how it read the
            device's clock when the log spans a DST change (timebase.py).
        clock_utc_offset_min: the UTC offset, in minutes, the file states its clock kept
            throughout, for formats that state one; None when the file does not (no
            Berlinger export does: their `Zone:` field is undocumented, see timebase.py).
    """

    format: str
    device_model: str
    serial: str
    firmware: str
    log_interval_min: int | None
    rules: tuple[AlarmRule, ...]
    readings: tuple[LoggedReading, ...]
    missing: tuple[MissingReading, ...]
    daily: tuple[DailySummary, ...]
    run: RunSummary | None
    activated_at: datetime | None
    created_at: datetime | None
    sha256: str
    signature: str | None = None
    notes: tuple[str, ...] = ()
    clock_utc_offset_min: int | None = None

    def rule(self, number: int) -> AlarmRule | None:
        return next((r for r in self.rules if r.number == number), None)


class LoggerFormat(Protocol):
    """One export format: recognise it cheaply, then parse it fully or refuse it.

    `sniff` looks at the first lines only and must not raise; `parse` raises
    `LoggerFileError` (line and reason) for anything it cannot vouch for.
    """

    name: str

    def sniff(self, text: str) -> bool: ...

    def parse(self, text: str) -> LoggerFile: ...
