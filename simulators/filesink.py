"""Readings to a file instead of MQTT: InfluxDB line protocol (the §3 schema, ms
precision, ready for `influx -import` or POST /write?precision=ms) or CSV.

Duplicate uploads are skipped (the same point twice adds nothing to a history); status
messages go to line protocol as `device_status` points and are left out of CSV.
"""

from __future__ import annotations

import csv
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Self

from coldchain.lineprotocol import reading_line, status_line
from simulators.outbound import Outbound, ReadingsMessage, StatusMessage

__all__ = ["CSV_HEADER", "FileFormat", "ReadingsFile"]

FileFormat = Literal["lp", "csv"]
CSV_HEADER = ("site", "source", "device", "sensor", "ts_ms", "temp_c", "seq", "received_ms")


class ReadingsFile:
    """Usage:
    with ReadingsFile(Path("history.lp"), "lp") as sink:
        sink.write(chunk.messages)
    """

    def __init__(self, path: Path, file_format: FileFormat) -> None:
        self.path = path
        self.format = file_format
        self.readings = 0
        self._file: IO[str] | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8", newline="")
        if self.format == "csv":
            csv.writer(self._file).writerow(CSV_HEADER)
        return self

    def write(self, messages: list[Outbound]) -> None:
        """Append the readings (and, for line protocol, statuses) of one chunk."""
        assert self._file is not None, "use ReadingsFile as a context manager"
        lines: list[str] = []
        for m in messages:
            if isinstance(m, ReadingsMessage) and not m.duplicate:
                self.readings += len(m.readings)
                if self.format == "lp":
                    lines += [reading_line(r, m.due_ms) for r in m.readings]
                else:
                    lines += [
                        f"{r.site},{r.source.value},{r.device},{r.sensor},{r.ts_ms},"
                        f"{r.temp_c},{r.seq},{m.due_ms}"
                        for r in m.readings
                    ]
            elif isinstance(m, StatusMessage) and self.format == "lp":
                lines.append(status_line(m.status))
        if lines:
            self._file.write("\n".join(lines) + "\n")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
