"""A batch is in two places at once only as a recorded split: both placements carry a
`quantity`. Otherwise (a forgotten close looks just like a split) the fleet import and
`place_batch` refuse it, naming both placements."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from coldchain.catalog import (
    CatalogConflict,
    catalog_session,
    close_placement,
    import_fleet,
    move_batch,
    place_batch,
)
from coldchain.catalog.schema import AuditEntryRow, Base, PlacementRow
from coldchain.errors import ConfigError
from tests.support.catalog import FLEET_YAML

RULE = (
    "a batch is in two places at once only as a split, with a `quantity` on both placements "
    "(else end the earlier one with `to`)"
)


def t(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def _rows(engine: Engine) -> int:
    with catalog_session(engine) as session:
        return sum(
            session.execute(select(func.count()).select_from(table)).scalar_one()
            for table in Base.metadata.tables.values()
        )


def _placements(engine: Engine, batch: str) -> list[tuple[str | None, int | None]]:
    with catalog_session(engine) as session:
        rows = session.execute(
            select(PlacementRow).where(PlacementRow.batch_id == batch).order_by(PlacementRow.id)
        ).scalars()
        return [(r.shipment_id or str(r.unit_id), r.quantity) for r in rows]


# --- the fleet import -------------------------------------------------------------------

FORGOTTEN_CLOSE = FLEET_YAML.replace(
    '  - {batch: LOT-0001, unit: BSL/FRIDGE-01, from: "2026-11-01T08:00:00Z", '
    'to: "2026-11-10T08:00:00Z"}\n',
    '  - {batch: LOT-0001, unit: BSL/FRIDGE-01, from: "2026-11-01T08:00:00Z"}\n',
)

SPLIT = FLEET_YAML.replace(
    '  - {batch: LOT-0001, unit: BSL/FRIDGE-01, from: "2026-11-01T08:00:00Z", '
    'to: "2026-11-10T08:00:00Z"}\n'
    '  - {batch: LOT-0001, shipment: SHP-100, from: "2026-11-10T08:00:00Z"}\n',
    '  - {batch: LOT-0001, unit: BSL/FRIDGE-01, from: "2026-11-01T08:00:00Z", quantity: 60}\n'
    '  - {batch: LOT-0001, shipment: SHP-100, from: "2026-11-10T08:00:00Z", quantity: 40}\n',
)


def test_a_forgotten_close_is_refused_naming_both_placements_and_nothing_is_written(
    engine: Engine, tmp_path: Path
) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(FORGOTTEN_CLOSE)
    with pytest.raises(ConfigError) as caught:
        import_fleet(engine, path, actor="test")
    assert str(caught.value) == (
        f"{path}: line 36: placements.1: batch LOT-0001 in shipment SHP-100 from "
        "2026-11-10T08:00:00.000Z to open overlaps its placement in unit BSL/FRIDGE-01 from "
        f"2026-11-01T08:00:00.000Z to open (line 35: placements.0): {RULE}"
    )
    assert _rows(engine) == 0


def test_a_split_with_quantities_on_both_is_recorded(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(SPLIT)
    report = import_fleet(engine, path, actor="test")
    assert report.created["placement"] == 3
    assert [q for _, q in _placements(engine, "LOT-0001")] == [60, 40]
    with catalog_session(engine) as session:
        entries = session.execute(
            select(AuditEntryRow.new_value).where(AuditEntryRow.entity == "placement")
        ).scalars()
        quantities = [json.loads(e or "{}").get("quantity") for e in entries]
    assert quantities == [60, 40, None]  # the whole LOT-0002's entry reads as it always did
    assert not import_fleet(engine, path, actor="test").changed


def test_a_quantity_on_one_side_only_is_no_split(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(SPLIT.replace(", quantity: 60}", "}"))
    with pytest.raises(ConfigError) as caught:
        import_fleet(engine, path, actor="test")
    assert str(caught.value) == (
        f"{path}: line 36: placements.1: batch LOT-0001 in shipment SHP-100 from "
        "2026-11-10T08:00:00.000Z to open overlaps its placement in unit BSL/FRIDGE-01 from "
        f"2026-11-01T08:00:00.000Z to open (line 35: placements.0): {RULE}"
    )
    assert _rows(engine) == 0


def test_a_placement_overlapping_the_record_elsewhere_is_refused(
    engine: Engine, tmp_path: Path
) -> None:
    """The first file leaves LOT-0002 in the fridge; the next one sends it on a shipment
    without ending its stay there."""
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET_YAML)
    import_fleet(engine, path, actor="test")
    before = _rows(engine)
    with catalog_session(engine) as session:
        fridge_id = session.execute(
            select(PlacementRow.id).where(PlacementRow.batch_id == "LOT-0002")
        ).scalar_one()
    path.write_text(
        FLEET_YAML + '  - {batch: LOT-0002, shipment: SHP-100, from: "2026-11-20T08:00:00Z"}\n'
    )
    with pytest.raises(ConfigError) as caught:
        import_fleet(engine, path, actor="test")
    assert str(caught.value) == (
        f"{path}: line 38: placements.3: batch LOT-0002 in shipment SHP-100 from "
        "2026-11-20T08:00:00.000Z to open overlaps its placement in unit BSL/FRIDGE-01 from "
        f"2026-11-04T23:00:00.000Z to open (recorded placement {fridge_id}): {RULE}"
    )
    assert _rows(engine) == before
    # Ending the stay in the same file makes it a move.
    path.write_text(
        FLEET_YAML.replace(
            'from: "2026-11-05T00:00:00+01:00"}',
            'from: "2026-11-05T00:00:00+01:00", to: "2026-11-20T08:00:00Z"}',
        )
        + '  - {batch: LOT-0002, shipment: SHP-100, from: "2026-11-20T08:00:00Z"}\n'
    )
    report = import_fleet(engine, path, actor="test", reason="shipped to LYS")
    assert (report.updated["placement"], report.created["placement"]) == (1, 1)


def test_a_recorded_quantity_is_never_rewritten(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(SPLIT)
    import_fleet(engine, path, actor="test")
    path.write_text(SPLIT.replace("quantity: 40", "quantity: 45"))
    with pytest.raises(ConfigError) as caught:
        import_fleet(engine, path, actor="test")
    assert str(caught.value) == (
        f"{path}: line 36: placements.1.quantity: recorded quantity 40, the file says 45: "
        "placements are recorded, never overwritten"
    )
    path.write_text(FLEET_YAML)  # the whole batch, where the record has a part
    with pytest.raises(ConfigError) as caught:
        import_fleet(engine, path, actor="test")
    assert (
        f"{path}: line 35: placements.0.quantity: recorded quantity 60, the file says none "
        "(the whole batch): placements are recorded, never overwritten"
    ) in str(caught.value)


def test_overlap_within_the_file_is_refused_for_every_pair(engine: Engine, tmp_path: Path) -> None:
    """Three places at once: the second and third each name the first."""
    path = tmp_path / "fleet.yaml"
    path.write_text(
        FORGOTTEN_CLOSE
        + '  - {batch: LOT-0001, unit: LYS/ROOM-01, from: "2026-11-12T00:00:00Z", '
        + 'to: "2026-11-13T00:00:00Z", quantity: 5}\n'
    )
    with pytest.raises(ConfigError) as caught:
        import_fleet(engine, path, actor="test")
    lines = str(caught.value).splitlines()
    assert [line.split(": batch")[0] for line in lines] == [
        f"{path}: line 36: placements.1",
        f"{path}: line 38: placements.3",
    ]
    assert lines[1].endswith(
        "overlaps its placement in unit BSL/FRIDGE-01 from 2026-11-01T08:00:00.000Z to open "
        f"(line 35: placements.0): {RULE}"
    )


# --- place_batch and move_batch ---------------------------------------------------------


@pytest.fixture
def session(engine: Engine, fleet_file: Path) -> Iterator[Session]:
    import_fleet(engine, fleet_file, actor="test")
    with catalog_session(engine) as session:
        yield session


def _id(session: Session, batch: str, start: datetime) -> int:
    return session.execute(
        select(PlacementRow.id).where(
            PlacementRow.batch_id == batch, PlacementRow.start_at == start
        )
    ).scalar_one()


def test_place_batch_refuses_a_second_place_without_a_split(session: Session) -> None:
    fridge = _id(session, "LOT-0002", datetime(2026, 11, 4, 23, tzinfo=UTC))
    with pytest.raises(CatalogConflict) as caught:
        place_batch(session, batch="LOT-0002", shipment="SHP-100", start=t(20), actor="omar")
    assert str(caught.value) == (
        "placement of 'LOT-0002' in shipment SHP-100 from 2026-11-20T12:00:00.000Z to open "
        f"overlaps placement {fridge} in unit BSL/FRIDGE-01 from 2026-11-04T23:00:00.000Z to "
        "open: a batch is in two places at once only as a split, with a quantity on both "
        "placements"
    )
    # Even with a quantity of its own: the recorded stay is the whole batch.
    with pytest.raises(CatalogConflict, match="with a quantity on both placements"):
        place_batch(
            session,
            batch="LOT-0002",
            shipment="SHP-100",
            start=t(20),
            quantity=10,
            actor="omar",
        )
    # Back to back elsewhere is a move, not an overlap.
    close_placement(session, placement_id=fridge, at=t(20), actor="omar")
    place_batch(session, batch="LOT-0002", shipment="SHP-100", start=t(20), actor="omar")


def test_place_batch_records_a_split_with_quantities(session: Session) -> None:
    close_placement(
        session, placement_id=_id(session, "LOT-0001", t(10, 8)), at=t(20), actor="omar"
    )
    first = place_batch(
        session, batch="LOT-0001", unit="LYS/ROOM-01", start=t(20), quantity=30, actor="omar"
    )
    second = place_batch(
        session, batch="LOT-0001", shipment="SHP-100", start=t(20), quantity=70, actor="omar"
    )
    rows = [session.get(PlacementRow, i) for i in (first, second)]
    assert [r.quantity for r in rows if r is not None] == [30, 70]
    # A third place for the whole batch is refused, naming the first part it meets.
    with pytest.raises(CatalogConflict, match=rf"overlaps placement {first} in unit LYS/ROOM-01"):
        place_batch(session, batch="LOT-0001", unit="BSL/FRIDGE-01", start=t(21), actor="omar")


@pytest.mark.parametrize("quantity", [0, -5, True, 2.5, "40"])
def test_place_batch_refuses_a_quantity_that_is_not_a_positive_integer(
    session: Session, quantity: object
) -> None:
    with pytest.raises(CatalogConflict) as caught:
        place_batch(
            session,
            batch="LOT-0002",
            unit="LYS/ROOM-01",
            start=t(1),
            end=t(2),
            quantity=quantity,  # type: ignore[arg-type]
            actor="omar",
        )
    assert str(caught.value) == (
        f"placement of 'LOT-0002': quantity {quantity!r} is not a positive integer"
    )


def test_move_batch_keeps_the_moved_parts_quantity(session: Session) -> None:
    close_placement(
        session, placement_id=_id(session, "LOT-0001", t(10, 8)), at=t(20), actor="omar"
    )
    place_batch(
        session, batch="LOT-0001", unit="LYS/ROOM-01", start=t(20), quantity=30, actor="omar"
    )
    moved = move_batch(session, batch="LOT-0001", to_unit="BSL/FRIDGE-01", at=t(22), actor="omar")
    row = session.get(PlacementRow, moved)
    assert row is not None
    assert row.quantity == 30
