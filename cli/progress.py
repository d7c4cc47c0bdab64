"""Progress of a long verb on stderr, and the one-line summary that ends it on stdout.

The bar is drawn only when stderr is an interactive terminal: scripts, CI logs and piped
output see no control characters, only the verbs' own lines (docs/design.md §9). The work
reports through a plain callable `(what, done, total)` (`Tracker`), so the services that do
it (api/export, backup, coldchain.catalog, logger_import) need nothing from the CLI.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = ["Tracker", "progress_on_stderr"]

# Redrawing is not free: a caller may report every chunk of a multi-million-reading export.
_REDRAW_EVERY_S: Final = 0.1


class Tracker:
    """Called by the work as it goes: `tracker(what, done, total)`, `total` None if unknown.

    A change of `what` starts the next step on the same line; within a step, updates are
    passed on at most every 100 ms (and always the last one), so reporting is cheap
    however often it is called.
    """

    def __init__(self, progress: Progress) -> None:
        self._progress = progress
        self._task: TaskID | None = None
        self._what: str | None = None
        self._shown = 0.0
        self.started = time.monotonic()

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def __call__(self, what: str, done: int, total: int | None) -> None:
        if self._progress.disable:
            return
        now = time.monotonic()
        if what == self._what and done != total and now - self._shown < _REDRAW_EVERY_S:
            return
        self._shown = now
        if self._task is None:
            self._task = self._progress.add_task(what, total=total, completed=done)
        else:
            self._progress.update(
                self._task, description=what, total=total, completed=done, refresh=True
            )
        self._what = what


@contextmanager
def progress_on_stderr() -> Iterator[Tracker]:
    """A tracker drawing one transient progress line on stderr while the block runs; a
    no-op when stderr is not an interactive terminal (TTY_COMPATIBLE=1 or FORCE_COLOR force
    one, as rich reads them)."""
    console = Console(stderr=True)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_interactive,
    )
    with progress, _logs_above_the_bar():
        yield Tracker(progress)


@contextmanager
def _logs_above_the_bar() -> Iterator[None]:
    """While the bar is drawn, the log lines meant for stderr (the verbs log at INFO) go
    through rich's proxy of stderr, which prints them above the bar instead of across it
    (no proxy when the bar is not drawn: then nothing changes)."""
    proxy = sys.stderr
    raw = getattr(proxy, "rich_proxied_file", None)
    handlers = [
        handler
        for handler in logging.getLogger().handlers
        if isinstance(handler, logging.StreamHandler) and raw is not None and handler.stream is raw
    ]
    if not handlers:
        yield
        return
    for handler in handlers:
        handler.setStream(proxy)
    try:
        yield
    finally:
        for handler in handlers:
            handler.setStream(raw)
