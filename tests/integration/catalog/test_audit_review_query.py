"""`review_audit`: the audit entries of a span, of one actor, about one batch, each with its
reason for change and what changed in words; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from coldchain.catalog import append_audit, catalog_session, import_fleet
from coldchain.catalog.audit_review import review_audit
from tests.support.catalog import FLEET_YAML

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
OPEN_STAY = '{batch: LOT-0002, unit: BSL/FRIDGE-01, from: "2026-11-05T00:00:00+01:00"}'
CLOSED_STAY = OPEN_STAY[:-1] + ', to: "2026-11-20T00:00:00Z"}'


def _at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture
def trail(engine: Engine, fleet_file: Path) -> Engine:
    """The fleet imported now; then, at T0 + 1 h … 4 h, entries about lots that the review
    must tell apart: LOT-0002 named as a value, LOT-00021 (a longer id) and LOT-0002 in
    prose only."""
    import_fleet(engine, fleet_file, actor="test")
    fleet_file.write_text(FLEET_YAML.replace(OPEN_STAY, CLOSED_STAY), encoding="utf-8")
    import_fleet(engine, fleet_file, actor="omar", reason="moved to LYS")
    with catalog_session(engine) as session:
        append_audit(
            session,
            actor="quinn",
            action="export",
            entity="batch",
            entity_id="LOT-0002",
            new={"format": "pdf", "key_id": "00ff"},
            at=_at(1),
        )
        append_audit(
            session,
            actor="omar",
            action="acknowledge",
            entity="alert",
            entity_id="AL-1",
            old={"state": "open", "comment": None},
            new={"state": "acknowledged", "comment": "LOT-0002 on hold", "batch": "LOT-00021"},
            at=_at(2),
        )
        append_audit(
            session,
            actor="quinn",
            action="open",
            entity="deviation",
            entity_id="DEV-1",
            new={"batch": "LOT-0002", "kind": "excursion"},
            at=_at(3),
        )
    return engine


def _review(engine: Engine, **filters: object) -> list[tuple[str, str, str]]:
    span = {"start": _at(0), "end": _at(24)} | filters
    with catalog_session(engine) as session:
        review = review_audit(session, **span)  # type: ignore[arg-type]
    return [(e.action, e.entity, e.entity_id) for e in review.entries]


def test_a_span_holds_the_entries_from_its_start_up_to_its_end(trail: Engine) -> None:
    assert _review(trail) == [
        ("export", "batch", "LOT-0002"),
        ("acknowledge", "alert", "AL-1"),
        ("open", "deviation", "DEV-1"),
    ]
    assert _review(trail, start=_at(1), end=_at(3)) == [
        ("export", "batch", "LOT-0002"),
        ("acknowledge", "alert", "AL-1"),
    ]


def test_an_actor_filter_keeps_only_that_actors_entries(trail: Engine) -> None:
    assert _review(trail, actor="quinn") == [
        ("export", "batch", "LOT-0002"),
        ("open", "deviation", "DEV-1"),
    ]


def test_a_batch_filter_keeps_the_batch_its_placements_exports_and_entries_naming_it(
    trail: Engine,
) -> None:
    now = datetime.now(UTC)
    everything = {"start": _at(0), "end": now + timedelta(minutes=1)}
    assert _review(trail, batch="LOT-0002", **everything) == [
        ("create", "batch", "LOT-0002"),
        ("create", "placement", "3"),
        ("close", "placement", "3"),  # its JSON says only {"to": …}: found by placement id
        ("export", "batch", "LOT-0002"),
        ("open", "deviation", "DEV-1"),
    ]  # not AL-1: its JSON names LOT-00021, and LOT-0002 only in prose


def test_each_entry_carries_its_reason_and_what_changed_in_words(trail: Engine) -> None:
    with catalog_session(trail) as session:
        review = review_audit(
            session, start=_at(0), end=datetime.now(UTC) + timedelta(minutes=1), actor="omar"
        )
    close, acknowledge = review.entries
    assert (close.action, close.reason) == ("close", "moved to LYS")
    assert close.changed == "to none → 2026-11-20T00:00:00+00:00"
    assert acknowledge.reason is None
    assert acknowledge.changed == (  # in the canonical JSON's order of keys
        "batch=LOT-00021, comment none → LOT-0002 on hold, state open → acknowledged"
    )
    assert acknowledge.at == _at(2)


def test_a_review_longer_than_its_limit_says_it_was_cut(trail: Engine) -> None:
    with catalog_session(trail) as session:
        cut = review_audit(session, start=_at(0), end=_at(24), limit=2)
        whole = review_audit(session, start=_at(0), end=_at(24), limit=3)
    assert ([e.seq for e in cut.entries], cut.truncated) == (
        [e.seq for e in whole.entries][:2],
        True,
    )
    assert not whole.truncated


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (_at(2), _at(2), "must be after"),
        (_at(2), _at(1), "must be after"),
        (_at(0).replace(tzinfo=None), _at(1), "offset"),
    ],
)
def test_a_span_that_is_empty_backwards_or_naive_is_refused(
    engine: Engine, start: datetime, end: datetime, message: str
) -> None:
    with catalog_session(engine) as session, pytest.raises(ValueError, match=message):
        review_audit(session, start=start, end=end)
