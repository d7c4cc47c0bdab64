"""Recent readings of every sensor in one pair of numpy ring buffers (time, value), so the
trend rules (rate of change, forecast) have their window without a Python object per reading."""

from __future__ import annotations

import numpy as np

__all__ = ["Rings"]


class Rings:
    """`slots` most recent readings per sensor row; rows grow with the sensor registry."""

    def __init__(self, slots: int = 32, capacity: int = 1024) -> None:
        self.slots = slots
        self.ts = np.full((capacity, slots), -1, dtype=np.int64)
        self.c = np.zeros((capacity, slots), dtype=np.float64)
        self.head = np.zeros(capacity, dtype=np.int64)  # next slot to write

    def grow(self, capacity: int) -> None:
        old = len(self.head)
        if capacity <= old:
            return
        ts = np.full((capacity, self.slots), -1, dtype=np.int64)
        c = np.zeros((capacity, self.slots), dtype=np.float64)
        head = np.zeros(capacity, dtype=np.int64)
        ts[:old], c[:old], head[:old] = self.ts, self.c, self.head
        self.ts, self.c, self.head = ts, c, head

    def append(self, row: int, ts: int, c: float) -> None:
        slot = int(self.head[row]) % self.slots
        self.ts[row, slot] = ts
        self.c[row, slot] = c
        self.head[row] += 1

    def append_sorted(
        self, rows: np.ndarray, ts: np.ndarray, c: np.ndarray, rank: np.ndarray
    ) -> None:
        """Bulk append; `rows` grouped and time-ordered, `rank` = position within its group."""
        slot = (self.head[rows] + rank) % self.slots
        self.ts[rows, slot] = ts
        self.c[rows, slot] = c
        np.add.at(self.head, rows, 1)

    def window(self, row: int, since_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """Readings with time >= since_ms, oldest first."""
        order = np.argsort(self.ts[row], kind="stable")
        ts, c = self.ts[row][order], self.c[row][order]
        keep = ts >= max(since_ms, 0)
        return ts[keep], c[keep]

    def row(self, row: int) -> tuple[list[int], list[float], int]:
        return self.ts[row].tolist(), self.c[row].tolist(), int(self.head[row])

    def load_row(self, row: int, ts: list[int], c: list[float], head: int) -> None:
        self.ts[row], self.c[row], self.head[row] = ts, c, head
