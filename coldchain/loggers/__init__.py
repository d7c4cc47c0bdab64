"""USB logger exports (docs/design.md §2 backfill): parse a device's own file, refuse damaged ones.

One module per export format behind the small `LoggerFormat` interface (`sniff`, `parse`);
`parse_logger_file` picks the format or refuses the file with the line and the reason.
"""

from __future__ import annotations

from coldchain.loggers.errors import LoggerFileError
from coldchain.loggers.formats import FORMATS, parse_logger_file, parse_logger_text
from coldchain.loggers.model import (
    AlarmDirection,
    AlarmMode,
    AlarmRule,
    DailyAlarm,
    DailySummary,
    LoggedReading,
    LoggerFile,
    LoggerFormat,
    MissingReading,
    RunEvent,
    RunSummary,
    SensorTimeout,
)

__all__ = [
    "FORMATS",
    "AlarmDirection",
    "AlarmMode",
    "AlarmRule",
    "DailyAlarm",
    "DailySummary",
    "LoggedReading",
    "LoggerFile",
    "LoggerFileError",
    "LoggerFormat",
    "MissingReading",
    "RunEvent",
    "RunSummary",
    "SensorTimeout",
    "parse_logger_file",
    "parse_logger_text",
]
