"""Dead letters: what ingest could not accept, kept with its raw bytes and the reason.

A file store in the data dir (one JSON line each, a file per UTC day), fsynced before the
message is acked, so ingest depends on nothing but its own disk to keep a promise of "never
a silent drop". An operator reads them with `coldchain deadletters list`.

An oversize payload keeps only its first `PREFIX_BYTES` with its size and SHA-256
(`DeadLetter.truncated`): the broker refuses messages past its `message_size_limit`, so a
letter is at most that large. The store itself is not capped: a letter may hold readings
InfluxDB refused, and dropping one would be a loss; `dead_letters` in the metrics is what
an operator watches (docs/operations.md).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import orjson

from coldchain.times import from_ms

__all__ = ["PREFIX_BYTES", "DeadLetter", "DeadLetterStore", "Stage"]

# What an oversize payload keeps: enough to see what the gateway sent.
PREFIX_BYTES = 4096

Stage = Literal["decode", "store", "conflict", "spool"]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why a message or a line was refused, with the bytes exactly as they arrived.

    `stage` says where: "decode" (the wire format), "store" (InfluxDB refused the line),
    "conflict" (InfluxDB holds the reading with other values, which are kept), "spool" (a
    damaged spool record). For a payload kept only in part (`truncated`), `size` and
    `sha256` describe the whole payload as it arrived; otherwise they are None.
    """

    time_ms: int
    stage: Stage
    topic: str
    reason: str
    payload: bytes
    size: int | None = None
    sha256: str | None = None

    @classmethod
    def truncated(
        cls, time_ms: int, stage: Stage, topic: str, reason: str, payload: bytes
    ) -> DeadLetter:
        """Keep only the first `PREFIX_BYTES` of `payload`, with its size and SHA-256."""
        sha256 = hashlib.sha256(payload).hexdigest()
        return cls(
            time_ms,
            stage,
            topic,
            f"{reason}; kept the first {min(len(payload), PREFIX_BYTES)} bytes, sha256={sha256}",
            payload[:PREFIX_BYTES],
            size=len(payload),
            sha256=sha256,
        )

    def to_json(self) -> bytes:
        data: dict[str, object] = {
            "time": from_ms(self.time_ms).isoformat(),
            "time_ms": self.time_ms,
            "stage": self.stage,
            "topic": self.topic,
            "reason": self.reason,
            "payload_b64": base64.b64encode(self.payload).decode("ascii"),
        }
        if self.size is not None:
            data["payload_size"] = self.size
            data["payload_sha256"] = self.sha256
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, line: bytes) -> DeadLetter:
        data = orjson.loads(line)
        return cls(
            time_ms=int(data["time_ms"]),
            stage=data["stage"],
            topic=data["topic"],
            reason=data["reason"],
            payload=base64.b64decode(data["payload_b64"]),
            size=data.get("payload_size"),
            sha256=data.get("payload_sha256"),
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
