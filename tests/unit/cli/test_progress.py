"""cli/progress.py: the tracker long verbs report through stays cheap however often it is
called, and draws nothing when nobody watches a terminal."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator

import pytest
from rich.console import Console
from rich.progress import Progress

from cli.progress import Tracker, progress_on_stderr


def _progress(*, terminal: bool, screen: io.StringIO | None = None) -> Progress:
    console = Console(
        file=screen or io.StringIO(), force_terminal=terminal, force_interactive=terminal
    )
    return Progress(console=console, auto_refresh=False, disable=not console.is_interactive)


def test_a_step_is_redrawn_at_most_every_100_ms_but_always_at_its_end() -> None:
    progress = _progress(terminal=True)
    tracker = Tracker(progress)
    with progress:
        tracker("readings", 1, 10)
        tracker("readings", 2, 10)  # within 100 ms of the first: skipped
        (task,) = progress.tasks
        assert task.completed == 1
        tracker("readings", 10, 10)
        assert task.completed == 10


def test_a_new_step_is_shown_at_once_on_the_same_line() -> None:
    progress = _progress(terminal=True)
    tracker = Tracker(progress)
    with progress:
        tracker("data dir", 0, None)
        tracker("catalog", 0, None)
        (task,) = progress.tasks
        assert (task.description, task.total) == ("catalog", None)


def test_without_a_terminal_nothing_is_tracked() -> None:
    screen = io.StringIO()
    progress = _progress(terminal=False, screen=screen)
    tracker = Tracker(progress)
    with progress:
        tracker("readings", 1, 10)
    assert progress.tasks == []
    assert screen.getvalue() == ""


@pytest.fixture
def logged_to(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """A terminal the root logger writes to, as `coldchain` sets it up (the test makes it
    sys.stderr itself: pytest's capture resets sys.stderr between setup and call)."""
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    screen = io.StringIO()
    handler = logging.StreamHandler(screen)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield screen
    finally:
        root.removeHandler(handler)


def test_a_log_line_written_while_the_bar_is_drawn_replaces_the_bar_not_joins_it(
    logged_to: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stderr", logged_to)
    with progress_on_stderr() as tracker:
        tracker("readings", 1, 2)
        logging.getLogger("test").warning("a log line")
    # The bar's line is erased (\r, erase line) before the log line; the bar comes back below.
    assert "\r\x1b[2Ka log line\n" in logged_to.getvalue()
    # and once the bar is gone, the log writes to the terminal itself again.
    assert any(
        isinstance(handler, logging.StreamHandler) and handler.stream is logged_to
        for handler in logging.getLogger().handlers
    )
