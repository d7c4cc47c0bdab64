"""`coldchain up` moves the demo's story to the simulated history: placements from
`simulation.story_start` on by one amount, earlier ones (the past it refers to) kept."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from coldchain import times
from coldchain.errors import ConfigError
from coldchain.fleet import load_fleet
from simulators.plan import build_plan
from simulators.story import rebase_story, story_start_ms

DEMO = Path(__file__).resolve().parents[3] / "deploy" / "demo" / "fleet.yaml"
START_MS = times.to_ms(datetime(2026, 12, 5, 6, 17, tzinfo=UTC))
MINUTE_MS = 60_000


def _starts(path: Path) -> dict[tuple[str, str], tuple[int, int | None]]:
    return {
        (p.batch, p.unit or p.shipment or ""): (
            times.to_ms(p.from_),
            None if p.to is None else times.to_ms(p.to),
        )
        for p in load_fleet(path).placements
    }


def test_rebase_moves_the_story_placements_and_keeps_the_past(tmp_path: Path) -> None:
    moved = tmp_path / "demo-fleet.yaml"
    rebase_story(DEMO, moved, START_MS)
    assert story_start_ms(load_fleet(moved)) == START_MS
    shift = START_MS - (story_start_ms(load_fleet(DEMO)) or 0)
    before, after = _starts(DEMO), _starts(moved)
    assert after[("LOT-0001", "BSL/FRIDGE-01")] == (START_MS + 5 * MINUTE_MS, None)
    assert after[("LOT-0005", "SHP-100")][0] == START_MS + 17 * 60 * MINUTE_MS
    for key, (start, end) in before.items():
        if key[0] == "LOT-0006":  # shipped in 2022, before the story: where it was
            assert after[key] == (start, end)
        else:
            assert after[key] == (start + shift, None if end is None else end + shift)


def test_rebase_refuses_a_placement_that_straddles_the_story_start(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEMO.read_text())
    raw["placements"][-1]["to"] = "2026-01-02T00:00:00Z"  # LOT-0006 from 2022 into the story
    source = tmp_path / "fleet.yaml"
    source.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(
        ConfigError, match=r"placements\[6\]: starts before simulation\.story_start"
    ):
        rebase_story(source, tmp_path / "moved.yaml", START_MS)
    assert not (tmp_path / "moved.yaml").exists()


def test_a_fleet_without_a_story_is_not_moved(tmp_path: Path) -> None:
    raw = yaml.safe_load(DEMO.read_text())
    del raw["simulation"]["story_start"]
    source = tmp_path / "fleet.yaml"
    source.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert story_start_ms(load_fleet(source)) is None
    with pytest.raises(ConfigError, match=r"simulation\.story_start: needed"):
        rebase_story(source, tmp_path / "moved.yaml", START_MS)


def test_a_shipment_whose_logger_file_is_imported_is_not_simulated() -> None:
    plan = build_plan(load_fleet(DEMO), START_MS, START_MS + 60 * MINUTE_MS)
    assert [s.shipment for s in plan.shipments] == ["SHP-100", "SHP-200"]  # not SHP-050
