"""A running process's memory, as the benchmarks report it for the services they start."""

from __future__ import annotations

from pathlib import Path

__all__ = ["rss_kib"]


def rss_kib(pid: int) -> tuple[int, int]:
    """(current RSS, peak RSS) of a process in KiB, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
