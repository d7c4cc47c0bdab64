"""The detector's state on disk: one SQLite file in the data dir, a JSON row per sensor.

Written in the group-commit step after the alert changes are in the catalog and before the
MQTT messages are acked (synchronous=FULL: the commit is on disk when it returns), so a
kill -9 at any point leaves either the state before the batch (the broker resends it; alert
ids are deterministic, so nothing is raised twice) or the state after it.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson

from alerting.errors import StateStoreError

__all__ = ["StateStore"]


class StateStore:
    """Usage:
    store = StateStore(data_dir / "detector" / "state.sqlite3")
    detector.restore(store.load(), now_ms)
    store.save(detector.snapshot())
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS sensor_state (key TEXT PRIMARY KEY, state BLOB)"
            )
        except (OSError, sqlite3.Error) as exc:
            raise StateStoreError(f"detector state {path}: {exc}") from exc

    def load(self) -> list[dict[str, Any]]:
        try:
            rows = self._db.execute("SELECT state FROM sensor_state").fetchall()
        except sqlite3.Error as exc:
            raise StateStoreError(f"detector state {self.path}: {exc}") from exc
        return [orjson.loads(blob) for (blob,) in rows]

    def save(self, states: dict[str, dict[str, Any]]) -> None:
        """Write the changed sensors in one transaction (one fsync)."""
        if not states:
            return
        rows = [
            (key, orjson.dumps(raw, option=orjson.OPT_SERIALIZE_NUMPY))
            for key, raw in states.items()
        ]
        try:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO sensor_state (key, state) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET state = excluded.state",
                rows,
            )
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            self._db.execute("ROLLBACK")
            raise StateStoreError(f"detector state {self.path}: {exc}") from exc

    def close(self) -> None:
        self._db.close()
