"""A history request asks only for what the store can hold: readings from 2000-01-01 up to
the future skew ingest accepts, over at most `api_history_max_span_days`; anything else is
a 400 that says which bound, before any query reaches InfluxDB."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support.api_world import World

pytestmark = pytest.mark.integration

API_SETTINGS = {"api_history_max_span_days": 400}
_HISTORY = "/v1/sites/BSL/units/FRIDGE-01/history"


def _history(world: World, start: str, end: str) -> tuple[int, str]:
    answer = world.client.get(
        _HISTORY, params={"from": start, "to": end}, headers=world.headers("quinn")
    )
    return answer.status_code, answer.text


@pytest.mark.parametrize(
    ("start", "end", "says"),
    [
        (
            "1970-01-02T00:00:00Z",
            "1970-01-03T00:00:00Z",
            "from: 1970-01-02T00:00:00+00:00 is outside",
        ),
        (
            "2150-01-01T00:00:00Z",
            "2150-01-02T00:00:00Z",
            "is outside what is stored, 2000-01-01 ..",
        ),
        ("2020-01-01T00:00:00Z", "2021-03-01T00:00:00Z", "spans 425 days; at most 400 per request"),
    ],
)
def test_a_range_the_store_cannot_hold_is_a_clear_400(
    world: World, start: str, end: str, says: str
) -> None:
    status, text = _history(world, start, end)
    assert status == 400, text
    assert says in text


def test_the_longest_range_allowed_is_answered(world: World) -> None:
    end = world.now
    status, text = _history(world, (end - timedelta(days=400)).isoformat(), end.isoformat())
    assert status == 200, text
