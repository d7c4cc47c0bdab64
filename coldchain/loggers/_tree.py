"""The indented `Key: value, Key: value` tree that Berlinger devices write, read strictly.

The export is a tree by indentation (one space per level), each line one or more
`key: value` pairs separated by ", ", and tab-separated tables under `Marker:` / `Data:`.
Everything a line says is kept with its line number, so that every refusal can name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Final

from coldchain.loggers.errors import LoggerFileError

__all__ = ["Node", "parse_number", "parse_timestamp", "parse_tree", "split_lines"]

_NUMBER: Final = re.compile(r"[+-]?\d+(\.\d+)?")
_INTEGER: Final = re.compile(r"[+-]?\d+")
_DAY: Final = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOCK: Final = re.compile(r"\d{2}:\d{2}")
_STAMP: Final = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")


def split_lines(text: str) -> list[str]:
    """The file's lines without their ends (CRLF as written, LF if a copy was converted)."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


@dataclass(slots=True)
class Node:
    """One line of the tree, its pairs, its children and (for tables) its tab rows.

    Attributes:
        key: the line's first key ("Min T" in "Min T: +4.0, TS Min T: 00:42").
        fields: every pair on the line, in order.
        line: 1-based line number.
        children: the more indented lines below it.
        rows: the tab-separated rows below a table heading, with their line numbers.
    """

    key: str
    fields: dict[str, str]
    line: int
    indent: int
    children: list[Node] = field(default_factory=list)
    rows: list[tuple[int, list[str]]] = field(default_factory=list)

    def find(self, key: str) -> Node | None:
        return next((c for c in self.children if c.key == key), None)

    def child(self, key: str) -> Node:
        found = self.find(key)
        if found is None:
            raise LoggerFileError(f"'{self.key}:' has no '{key}:' entry", line=self.line)
        return found

    def numbered(self) -> list[tuple[int, Node]]:
        """The children named by a number ("0:", "1:", ...), with that number."""
        return [(int(c.key), c) for c in self.children if _INTEGER.fullmatch(c.key)]

    def value(self, key: str) -> str:
        """The value of the child line `key: value`."""
        return self.child(key).text(key)

    def text(self, key: str) -> str:
        if key not in self.fields:
            raise LoggerFileError(f"'{self.key}' line has no '{key}:' field", line=self.line)
        return self.fields[key]

    def number(self, key: str) -> float:
        return parse_number(self.text(key), key, self.line)

    def integer(self, key: str) -> int:
        value = self.text(key)
        if _INTEGER.fullmatch(value) is None:
            raise LoggerFileError(f"{key}: expected a whole number, got {value!r}", line=self.line)
        return int(value)

    def timestamp(self, key: str) -> datetime | None:
        """A `yyyy-MM-dd hh:mm` field; None when the device left it empty."""
        value = self.text(key)
        return parse_timestamp(value, key, self.line) if value else None

    def day(self, key: str) -> date:
        value = self.text(key)
        if _DAY.fullmatch(value) is None:
            raise LoggerFileError(f"{key}: expected yyyy-MM-dd, got {value!r}", line=self.line)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise LoggerFileError(f"{key}: no such day {value!r}", line=self.line) from None

    def time_on(self, key: str, day: date) -> datetime:
        """A `hh:mm` field, on `day`."""
        value = self.text(key)
        if _CLOCK.fullmatch(value) is None:
            raise LoggerFileError(f"{key}: expected hh:mm, got {value!r}", line=self.line)
        try:
            return datetime.combine(day, time.fromisoformat(value))
        except ValueError:
            raise LoggerFileError(f"{key}: no such time {value!r}", line=self.line) from None


def parse_number(value: str, key: str, line: int) -> float:
    """A decimal as the devices print it (`+8.0`, `-16.8`, `83.0`); no NaN, no exponent."""
    if _NUMBER.fullmatch(value) is None:
        raise LoggerFileError(f"{key}: expected a number, got {value!r}", line=line)
    return float(value)


def parse_timestamp(value: str, key: str, line: int) -> datetime:
    """A `yyyy-MM-dd hh:mm` device-clock time, naive."""
    if _STAMP.fullmatch(value) is None:
        raise LoggerFileError(f"{key}: expected yyyy-MM-dd hh:mm, got {value!r}", line=line)
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M")
    except ValueError:
        raise LoggerFileError(f"{key}: no such time {value!r}", line=line) from None


def _pairs(body: str, line: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    for piece in body.split(", "):
        key, colon, value = piece.partition(":")
        if not colon or not key or key != key.strip():
            raise LoggerFileError(f"expected 'key: value', got {piece!r}", line=line)
        if key in fields:
            raise LoggerFileError(f"field '{key}' appears twice on the line", line=line)
        fields[key] = value.strip()
    return fields


def parse_tree(lines: list[str], first: int = 0, stop: int | None = None) -> Node:
    """Read `lines[first:stop]` into a tree under a synthetic root (line numbers 1-based)."""
    root = Node(key="", fields={}, line=first, indent=-1)
    stack = [root]
    last = len(lines) if stop is None else stop
    for index in range(first, last):
        text, number = lines[index], index + 1
        if text.startswith("\t"):
            table = stack[1] if len(stack) > 1 else None
            if table is None or table.key not in ("Data", "Marker") or len(stack) != 2:
                raise LoggerFileError("a tab-separated row outside 'Data:'/'Marker:'", line=number)
            table.rows.append((number, text.split("\t")[1:]))
            continue
        body = text.lstrip(" ")
        if not body:
            raise LoggerFileError("empty line inside the export", line=number)
        indent = len(text) - len(body)
        while stack[-1].indent >= indent:
            stack.pop()
        if indent > stack[-1].indent + 1:
            raise LoggerFileError(
                f"indented {indent} spaces under a line indented {stack[-1].indent}", line=number
            )
        fields = _pairs(body, number)
        node = Node(key=next(iter(fields)), fields=fields, line=number, indent=indent)
        stack[-1].children.append(node)
        stack.append(node)
    return root
