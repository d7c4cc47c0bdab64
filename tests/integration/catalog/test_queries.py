"""The catalog's queries, each with the tenant scoping the API relies on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from coldchain.catalog import (
    CatalogConflict,
    CatalogNotFound,
    Viewer,
    batches_for_sponsor,
    catalog_session,
    chain_of_custody,
    import_fleet,
    move_batch,
    place_batch,
    products_for_sponsor,
    storage_condition_for_sensor,
    stored_in_unit,
    visible_sponsors_for_unit,
    where_is_batch,
)

ALICE = Viewer("alice", "sponsor_viewer", sponsor="ACME")
OMAR = Viewer("omar", "warehouse_operator", sites=frozenset({"BSL"}))
LYS_OPERATOR = Viewer("lea", "warehouse_operator", sites=frozenset({"LYS"}))
QA = Viewer("quinn", "qa")


def t(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.fixture
def session(engine: Engine, fleet_file: Path) -> Iterator[Session]:
    import_fleet(engine, fleet_file, actor="test")
    with catalog_session(engine) as session:
        yield session


def test_where_is_batch_now_and_then(session: Session) -> None:
    (now,) = where_is_batch(session, batch="LOT-0001", viewer=QA)
    assert (now.shipment, now.unit, now.end) == ("SHP-100", None, None)
    (then,) = where_is_batch(session, batch="LOT-0001", viewer=QA, at=t(3))
    assert then.unit == "BSL/FRIDGE-01"
    assert then.sponsor == "ACME"
    # The move instant belongs to the next place: intervals are half-open.
    (at_move,) = where_is_batch(
        session, batch="LOT-0001", viewer=None, at=datetime(2026, 11, 10, 8, tzinfo=UTC)
    )
    assert at_move.shipment == "SHP-100"


def test_where_is_batch_answers_not_found_for_another_sponsors_batch(session: Session) -> None:
    with pytest.raises(CatalogNotFound):
        where_is_batch(session, batch="LOT-0002", viewer=ALICE)
    with pytest.raises(CatalogNotFound):
        where_is_batch(session, batch="NO-SUCH-LOT", viewer=QA)
    assert where_is_batch(session, batch="LOT-0001", viewer=ALICE)


def test_stored_in_unit_between_two_times(session: Session) -> None:
    views = stored_in_unit(session, site="BSL", unit="FRIDGE-01", start=t(1), end=t(6), viewer=QA)
    assert [v.batch for v in views] == ["LOT-0001", "LOT-0002"]
    later = stored_in_unit(session, site="BSL", unit="FRIDGE-01", start=t(11), end=t(12), viewer=QA)
    assert [v.batch for v in later] == ["LOT-0002"]
    mine = stored_in_unit(session, site="BSL", unit="FRIDGE-01", start=t(1), end=t(6), viewer=ALICE)
    assert [v.batch for v in mine] == ["LOT-0001"]


def test_visible_sponsors_for_unit_follow_what_is_stored(session: Session) -> None:
    fridge = {"site": "BSL", "unit": "FRIDGE-01"}
    assert visible_sponsors_for_unit(session, **fridge, at=t(3), viewer=QA) == {"ACME"}
    assert visible_sponsors_for_unit(session, **fridge, at=t(6), viewer=QA) == {"ACME", "GLOBEX"}
    assert visible_sponsors_for_unit(session, **fridge, at=t(12), viewer=OMAR) == {"GLOBEX"}
    # A sponsor viewer only ever learns about their own sponsor.
    assert visible_sponsors_for_unit(session, **fridge, at=t(6), viewer=ALICE) == {"ACME"}
    assert visible_sponsors_for_unit(session, **fridge, at=t(12), viewer=ALICE) == frozenset()


def test_units_outside_the_viewers_scope_are_not_found(session: Session) -> None:
    with pytest.raises(CatalogNotFound):
        visible_sponsors_for_unit(
            session, site="BSL", unit="FRIDGE-01", at=t(6), viewer=LYS_OPERATOR
        )
    with pytest.raises(CatalogNotFound):  # nothing of ACME's was ever in the cold room
        stored_in_unit(session, site="LYS", unit="ROOM-01", start=t(1), end=t(9), viewer=ALICE)


def test_storage_condition_is_the_strictest_of_what_is_in_the_unit(session: Session) -> None:
    sensor = {"site": "BSL", "source": "unit", "device": "FRIDGE-01", "sensor": "p1"}
    alone = storage_condition_for_sensor(session, **sensor, at=t(3))
    assert alone is not None
    assert (alone.min_c, alone.max_c, alone.alarm_delay_min) == (2.0, 8.0, 30.0)
    assert alone.products == ("VAX-1",)
    both = storage_condition_for_sensor(session, **sensor, at=t(6))
    assert both is not None
    assert (both.min_c, both.max_c, both.alarm_delay_min) == (3.0, 7.0, 15.0)
    assert both.budget is not None
    assert (both.budget.max_c, both.budget.hours) == (20.0, 12.0)
    assert both.products == ("BIO-7", "VAX-1")
    assert not both.conflicting
    assert (
        storage_condition_for_sensor(session, **sensor, at=datetime(2026, 10, 1, tzinfo=UTC))
        is None
    )


def test_storage_condition_of_a_shipment_logger(session: Session) -> None:
    logger = {"site": "BSL", "source": "logger", "device": "LOG-100", "sensor": "p1"}
    condition = storage_condition_for_sensor(session, **logger, at=t(11))
    assert condition is not None
    assert condition.products == ("VAX-1",)
    with pytest.raises(CatalogNotFound):
        storage_condition_for_sensor(session, **{**logger, "sensor": "p9"}, at=t(11))


def test_products_and_batches_for_sponsor_are_scoped(session: Session) -> None:
    assert [p.id for p in products_for_sponsor(session, sponsor="ACME", viewer=ALICE)] == ["VAX-1"]
    assert [b.id for b in batches_for_sponsor(session, sponsor="GLOBEX", viewer=QA)] == ["LOT-0002"]
    with pytest.raises(CatalogNotFound):
        products_for_sponsor(session, sponsor="GLOBEX", viewer=ALICE)
    with pytest.raises(CatalogNotFound):
        batches_for_sponsor(session, sponsor="GLOBEX", viewer=ALICE)
    # Operators see what was ever placed at their sites: LYS saw nothing of GLOBEX.
    assert products_for_sponsor(session, sponsor="GLOBEX", viewer=LYS_OPERATOR) == []
    assert [b.id for b in batches_for_sponsor(session, sponsor="ACME", viewer=LYS_OPERATOR)] == [
        "LOT-0001"
    ]
    product = products_for_sponsor(session, sponsor="ACME", viewer=OMAR)[0]
    assert product.label == "2–8 °C; up to 24 h cumulative at ≤ 25 °C"
    assert product.mkt_delta_h_kj_per_mol == 83.144


def test_overlapping_placement_is_refused(session: Session) -> None:
    with pytest.raises(CatalogConflict, match="overlaps"):
        place_batch(
            session, batch="LOT-0001", unit="BSL/FRIDGE-01", start=t(9), end=t(12), actor="test"
        )
    # Back to back is fine (a split over two places: tests/integration/catalog/test_placements).
    place_batch(
        session, batch="LOT-0001", unit="BSL/FRIDGE-01", start=t(1, 6), end=t(1, 8), actor="test"
    )


def test_a_move_closes_the_open_placement_and_keeps_it(session: Session) -> None:
    move_batch(session, batch="LOT-0002", to_unit="LYS/ROOM-01", at=t(20), actor="test")
    history = chain_of_custody(session, batch="LOT-0002", viewer=QA)
    assert [(v.unit, v.end) for v in history] == [("BSL/FRIDGE-01", t(20)), ("LYS/ROOM-01", None)]
    from coldchain.catalog import close_placement

    with pytest.raises(CatalogConflict, match="never overwritten"):
        close_placement(session, placement_id=history[0].placement_id, at=t(21), actor="test")
