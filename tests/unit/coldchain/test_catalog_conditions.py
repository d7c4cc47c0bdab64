"""`installed_span` and `is_installed`: the part of a span a probe was fitted (half-open)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from coldchain.catalog.conditions import installed_span, is_installed
from coldchain.times import NaiveTimeError


@dataclass
class Probe:
    installed_at: datetime | None = None
    removed_at: datetime | None = None


def t(day: int) -> datetime:
    return datetime(2026, 11, day, tzinfo=UTC)


@pytest.mark.parametrize(
    ("probe", "start", "end", "expected"),
    [
        (Probe(), t(1), t(9), (t(1), t(9))),
        (Probe(), t(1), None, (t(1), None)),
        (Probe(installed_at=t(3)), t(1), t(9), (t(3), t(9))),
        (Probe(removed_at=t(5)), t(1), t(9), (t(1), t(5))),
        (Probe(removed_at=t(5)), t(1), None, (t(1), t(5))),
        (Probe(t(3), t(5)), t(1), t(9), (t(3), t(5))),
        (Probe(t(3), t(5)), t(4), t(9), (t(4), t(5))),
        (Probe(t(3), t(5)), t(5), t(9), None),  # removed as the span starts
        (Probe(t(3), t(5)), t(1), t(3), None),  # installed as the span ends
        (Probe(installed_at=t(3)), t(1), t(2), None),
        (Probe(), t(2), t(2), None),  # an empty span
    ],
)
def test_installed_span(
    probe: Probe,
    start: datetime,
    end: datetime | None,
    expected: tuple[datetime, datetime | None] | None,
) -> None:
    assert installed_span(probe, start, end) == expected


def test_is_installed_from_the_install_until_the_removal() -> None:
    probe = Probe(t(3), t(5))
    assert [is_installed(probe, t(day)) for day in (2, 3, 4, 5, 6)] == [
        False,
        True,
        True,
        False,
        False,
    ]
    assert is_installed(Probe(), t(1))


def test_naive_times_are_refused() -> None:
    with pytest.raises(NaiveTimeError):
        installed_span(Probe(), datetime(2026, 11, 1), None)
    with pytest.raises(NaiveTimeError):
        is_installed(Probe(), datetime(2026, 11, 1))
