"""Dead letters: what ingest could not accept, kept with its raw bytes and the reason.

A file store in the data dir (one JSON line each, a file per UTC day), fsynced before the
message is acked, so ingest depends on nothing but its own disk to keep a promise of "never
a silent drop". An operator reads them with `coldchain deadletters list`.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from coldchain.times import from_ms

__all__ = ["DeadLetter", "DeadLetterStore", "Stage"]

Stage = Literal["decode", "store", "conflict", "spool"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why a message or a line was refused, with the bytes exactly as they arrived.

    `stage` says where: "decode" (the wire format), "store" (InfluxDB refused the line),
    "conflict" (InfluxDB holds the reading with other values, which are kept), "spool" (a
    damaged spool record).
    """

    time_ms: int
    stage: Stage
    topic: str
    reason: str
    payload: bytes

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "time": from_ms(self.time_ms).isoformat(),
                "time_ms": self.time_ms,
                "stage": self.stage,
                "topic": self.topic,
                "reason": self.reason,
                "payload_b64": base64.b64encode(self.payload).decode("ascii"),
            }
        )

    @classmethod
    def from_json(cls, line: bytes) -> DeadLetter:
        data = orjson.loads(line)
        return cls(
            time_ms=int(data["time_ms"]),
            stage=data["stage"],
            topic=data["topic"],
            reason=data["reason"],
            payload=base64.b64decode(data["payload_b64"]),
        )


class DeadLetterStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def append(self, letters: Sequence[DeadLetter]) -> None:
        """Append and fsync; blocking, so callers run it in a thread."""
        if not letters:
            return
        by_day: dict[str, list[bytes]] = {}
        for letter in letters:
            day = from_ms(letter.time_ms).strftime("%Y-%m-%d")
            by_day.setdefault(day, []).append(letter.to_json() + b"\n")
        for day, lines in by_day.items():
            with (self.directory / f"{day}.jsonl").open("ab") as handle:
                handle.write(b"".join(lines))
                handle.flush()
                os.fsync(handle.fileno())
        self.count += len(letters)

    def read(self) -> Iterator[DeadLetter]:
        for path in sorted(self.directory.glob("*.jsonl")):
            with path.open("rb") as handle:
                for line in handle:
                    if line.strip():
                        yield DeadLetter.from_json(line)
