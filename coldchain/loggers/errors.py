"""Why a logger export was refused.

ColdchainError
└── LoggerFileError   the file is not a format we know, or not intact: refuse it whole
"""

from __future__ import annotations

from coldchain.errors import ColdchainError

__all__ = ["LoggerFileError"]


class LoggerFileError(ColdchainError):
    """A logger export that is refused: unknown format, damaged, truncated or edited.

    Nothing of a refused file is published or recorded: a partial import would put a
    record on file that the device never made.

    Attributes:
        line: 1-based line number the reason refers to, or None for the file as a whole.
        reason: what is wrong, naming the field and the value.
        path: the file, when known.
    """

    def __init__(self, reason: str, *, line: int | None = None, path: str | None = None) -> None:
        self.line = line
        self.reason = reason
        self.path = path
        super().__init__(self._text())

    def _text(self) -> str:
        where = self.path or "logger file"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.reason}"

    def at(self, path: str) -> LoggerFileError:
        """The same error, naming the file."""
        return LoggerFileError(self.reason, line=self.line, path=path)
