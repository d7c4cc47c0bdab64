"""The fleet file's budget keys (#22, docs/design.md §10): `storage.budget` as a list of
bands or the old single form, `freeze_c`/`freeze_events`, `batches[].carried_in`."""

from __future__ import annotations

from pathlib import Path

import pytest

from coldchain.errors import ConfigError
from coldchain.fleet import Fleet, load_fleet
from tests.unit.coldchain.test_fleet import DESIGN_EXAMPLE

OLD_STORAGE = """storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30,
              budget: {max_c: 25.0, hours: 24}}"""
BANDS_STORAGE = """storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30,
              budget: [{min_c: 8, max_c: 25, hours: 72}, {min_c: 0, max_c: 2, hours: 2}],
              freeze_c: 0.0}"""
CARRIED = (
    "batches: [{id: LOT-0001, product: VAX-1, carried_in: "
    "[{min_c: 8, max_c: 25, hours: 10.5, source: sponsor CoA 2026-11-02}]}]"
)


def _load(tmp_path: Path, storage: str = OLD_STORAGE, *, batches: str | None = None) -> Fleet:
    text = DESIGN_EXAMPLE.replace(OLD_STORAGE, storage)
    if batches is not None:
        text = text.replace("batches: [{id: LOT-0001, product: VAX-1}]", batches)
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return load_fleet(path)


def test_a_list_of_bands_with_freezing_loads_lowest_band_first(tmp_path: Path) -> None:
    fleet = _load(tmp_path, BANDS_STORAGE)
    storage = fleet.products[0].storage
    assert [(b.min_c, b.max_c, b.hours) for b in storage.budget_bands or ()] == [
        (0.0, 2.0, 2.0),
        (8.0, 25.0, 72.0),
    ]
    assert (storage.freeze_c, storage.freeze_allowed) == (0.0, 0)


def test_the_old_single_form_is_one_band_above_the_range(tmp_path: Path) -> None:
    storage = _load(tmp_path).products[0].storage
    assert [(b.min_c, b.max_c, b.hours) for b in storage.budget_bands or ()] == [(8.0, 25.0, 24.0)]
    assert storage.freeze_allowed is None


def test_carried_in_time_loads_with_its_source(tmp_path: Path) -> None:
    batch = _load(tmp_path, batches=CARRIED).batches[0]
    (carried,) = batch.carried_in
    assert (carried.min_c, carried.max_c, carried.hours, carried.freeze_events) == (8, 25, 10.5, 0)
    assert carried.source == "sponsor CoA 2026-11-02"


@pytest.mark.parametrize(
    ("storage", "batches", "message"),
    [
        (
            BANDS_STORAGE.replace("{min_c: 0, max_c: 2", "{min_c: 0, max_c: 9"),
            None,
            "budget bands 0–9 °C and 8–25 °C overlap",
        ),
        (BANDS_STORAGE.replace("min_c: 8, max_c: 25", "min_c: 25, max_c: 8"), None, "band min_c"),
        (
            OLD_STORAGE.replace("hours: 24}", "hours: 24}, freeze_events: 1"),
            None,
            "freeze_events needs freeze_c",
        ),
        (BANDS_STORAGE.replace("freeze_c: 0.0", "freeze_c: 3.0"), None, "must be below min_c"),
        (OLD_STORAGE, CARRIED.replace(", source: sponsor CoA 2026-11-02", ""), "source"),
        (OLD_STORAGE, CARRIED.replace("hours: 10.5", "hours: -1"), "hours"),
    ],
)
def test_bad_budget_keys_are_refused_naming_the_field(
    tmp_path: Path, storage: str, batches: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, storage, batches=batches)
