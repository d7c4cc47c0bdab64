"""A `coldchain` service as a child process with its own log: what lets a test stop it,
kill -9 it and start it again the way systemd would, and read what it said."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

__all__ = ["REPO", "ServiceProcess", "wait_until"]

REPO = Path(__file__).resolve().parents[2]


def wait_until(
    condition: Callable[[], object], timeout_s: float, what: str, interval_s: float = 0.2
) -> None:
    """Poll `condition` until it is true (truthy); fail the test naming `what` otherwise."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


class ServiceProcess:
    """The process part of a service under test; a subclass says which verb and options.

    Attributes that subclasses provide: `data_dir` (the service's own folder),
    `process` (None until started), `starts` (how often it was started).
    """

    data_dir: Path
    process: subprocess.Popen[bytes] | None
    starts: int

    @property
    def log_path(self) -> Path:
        raise NotImplementedError

    def arguments(self) -> Sequence[str]:
        """The verb and its options after `coldchain`."""
        raise NotImplementedError

    def environment(self) -> Mapping[str, str]:
        """Settings given to the process beyond this one's environment."""
        raise NotImplementedError

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def start(self, wait_connected: bool = True) -> None:
        """Start it; with `wait_connected`, until its MQTT subscriber says it connected."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONPATH": str(REPO), **self.environment()}
        connects_before = self.log_text().count("mqtt: connected")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "cli.main", *self.arguments()],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=REPO,
            )
        self.starts += 1
        if wait_connected:
            wait_until(
                lambda: self.log_text().count("mqtt: connected") > connects_before,
                30,
                f"{self.log_path.stem} to connect:\n{self.log_text()[-3000:]}",
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill9(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout_s: float = 30) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)
