"""Recent readings of every sensor in one pair of numpy ring buffers (time, value), so the
trend rules (rate of change, forecast) have their window without a Python object per reading."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["History", "Rings"]

#: (event times ms, values °C) of a sensor's recent readings since a moment, oldest first.
History = Callable[[int], tuple[np.ndarray, np.ndarray]]


class Rings:
    """`slots` most recent readings per sensor row; rows grow with the sensor table."""

    def __init__(self, slots: int = 32, capacity: int = 1024) -> None:
        self.slots = slots
        self.ts_ms = np.full((capacity, slots), -1, dtype=np.int64)
        self.values_c = np.zeros((capacity, slots), dtype=np.float64)
        self.head = np.zeros(capacity, dtype=np.int64)  # next slot to write

    def grow(self, capacity: int) -> None:
        old = len(self.head)
        if capacity <= old:
            return
        ts_ms = np.full((capacity, self.slots), -1, dtype=np.int64)
        values_c = np.zeros((capacity, self.slots), dtype=np.float64)
        head = np.zeros(capacity, dtype=np.int64)
        ts_ms[:old], values_c[:old], head[:old] = self.ts_ms, self.values_c, self.head
        self.ts_ms, self.values_c, self.head = ts_ms, values_c, head

    def append(self, row: int, ts_ms: int, value_c: float) -> None:
        slot = int(self.head[row]) % self.slots
        self.ts_ms[row, slot] = ts_ms
        self.values_c[row, slot] = value_c
        self.head[row] += 1

    def append_sorted(
        self, rows: np.ndarray, ts_ms: np.ndarray, values_c: np.ndarray, rank: np.ndarray
    ) -> None:
        """Bulk append; `rows` grouped and time-ordered, `rank` = position within its group."""
        slot = (self.head[rows] + rank) % self.slots
        self.ts_ms[rows, slot] = ts_ms
        self.values_c[rows, slot] = values_c
        np.add.at(self.head, rows, 1)

    def window(self, row: int, since_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """Readings with time >= since_ms, oldest first."""
        order = np.argsort(self.ts_ms[row], kind="stable")
        ts_ms, values_c = self.ts_ms[row][order], self.values_c[row][order]
        keep = ts_ms >= max(since_ms, 0)
        return ts_ms[keep], values_c[keep]

    def row(self, row: int) -> tuple[list[int], list[float], int]:
        """A row as JSON-able lists (times, values, head): the state file's "ring"."""
        return self.ts_ms[row].tolist(), self.values_c[row].tolist(), int(self.head[row])

    def load_row(self, row: int, ts_ms: list[int], values_c: list[float], head: int) -> None:
        self.ts_ms[row], self.values_c[row], self.head[row] = ts_ms, values_c, head
