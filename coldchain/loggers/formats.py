"""The known export formats, and the one entry point that picks among them."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from coldchain.loggers.berlinger import BerlingerFormat
from coldchain.loggers.errors import LoggerFileError
from coldchain.loggers.model import LoggerFile, LoggerFormat

__all__ = ["FORMATS", "parse_logger_file", "parse_logger_text"]

#: Tried in order; a new format (LogTag, ELPRO text export) is one module and one entry here.
FORMATS: Final[tuple[LoggerFormat, ...]] = (BerlingerFormat(),)

#: Logger exports are a few hundred kB; anything far larger is not one of them.
MAX_FILE_BYTES: Final = 16 * 1024 * 1024


def parse_logger_text(text: str) -> LoggerFile:
    """Parse an export already read as text (its SHA-256 is that of its UTF-8 bytes)."""
    for fmt in FORMATS:
        if fmt.sniff(text):
            return fmt.parse(text)
    first = next((line for line in text.splitlines() if line.strip()), "")
    known = ", ".join(fmt.name for fmt in FORMATS)
    raise LoggerFileError(
        f"unknown logger export format (known: {known}); first line is {first[:80]!r}", line=1
    )


def parse_logger_file(path: str | Path) -> LoggerFile:
    """Read and parse a logger export, or raise `LoggerFileError` naming the file and line.

    The bytes are decoded strictly (the devices write ASCII) and with line endings kept,
    so that the SHA-256 recorded for the import is that of the file exactly as received.
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LoggerFileError(f"{size} bytes: too large for a logger export", path=str(p))
        data = p.read_bytes()
    except OSError as exc:
        raise LoggerFileError(f"cannot read: {exc.strerror or exc}", path=str(p)) from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LoggerFileError(
            f"not a text export: byte 0x{data[exc.start]:02x} at offset {exc.start} is not UTF-8",
            line=line,
            path=str(p),
        ) from exc
    try:
        return parse_logger_text(text)
    except LoggerFileError as exc:
        raise exc.at(str(p)) from None
