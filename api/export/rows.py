"""Readings as lines of text, a chunk at a time, for the CSV and JSON formats.

Millions of rows rule out building each one in Python. Every row is written into one byte
matrix: constant text, UTC and local time at fixed columns, then the temperature, Python's
`repr` of each distinct value in the chunk (a probe logs few), with its note (whether it is
a valid reading depends on the value alone, coldchain.judgement.validity) and the row's
end, padded with NUL bytes to the longest. numpy gives each matrix row as bytes without
its trailing NULs, so one join makes the text.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from api.export.timefmt import LOCAL_WIDTH, UTC_WIDTH, write_local, write_utc

__all__ = ["reading_rows"]


def _temperatures(
    temps: npt.NDArray[np.float64], note: Callable[[float], bytes], tail: bytes
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.intp]]:
    """A table of repr(t) + note(t) + tail, NUL-padded, one row per distinct value (by bit
    pattern, so -0.0 stays itself), and each reading's row in it."""
    distinct, which = np.unique(temps.view(np.int64), return_inverse=True)
    words = [repr(t).encode() + note(t) + tail for t in distinct.view(np.float64).tolist()]
    width = max(map(len, words))
    table = np.frombuffer(b"".join(w.ljust(width, b"\0") for w in words), dtype=np.uint8)
    return table.reshape(len(words), width), which


def reading_rows(
    times: npt.NDArray[np.int64],
    temps: npt.NDArray[np.float64],
    zone: str,
    *,
    head: bytes,
    mid: bytes,
    sep: bytes,
    tail: bytes,
    note: Callable[[float], bytes],
) -> bytes:
    """Each reading as head, UTC time, mid, local time in `zone`, sep, repr(temperature),
    note(temperature), tail (which must not end in NUL)."""
    if times.size == 0:
        return b""
    table, which = _temperatures(temps, note, tail)
    marks = np.cumsum([len(head), UTC_WIDTH, len(mid), LOCAL_WIDTH, len(sep), table.shape[1]])
    grid = np.empty((times.size, int(marks[-1])), dtype=np.uint8)
    grid[:, : marks[0]] = np.frombuffer(head, dtype=np.uint8)
    write_utc(times, grid[:, marks[0] : marks[1]])
    grid[:, marks[1] : marks[2]] = np.frombuffer(mid, dtype=np.uint8)
    write_local(times, zone, grid[:, marks[2] : marks[3]])
    grid[:, marks[3] : marks[4]] = np.frombuffer(sep, dtype=np.uint8)
    grid[:, marks[4] :] = table[which]
    rows: list[bytes] = grid.view(f"S{grid.shape[1]}").ravel().tolist()
    return b"".join(rows)
