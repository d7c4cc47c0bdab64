"""A fleet's story moved to a run's start: the demo's placements, written against
`simulation.story_start`, land where the simulated history begins.

A fleet file's placements are absolute (they are the catalog's record), while its faults
count from the run's start; a demo that simulates "the last day" needs both on one clock.
Placements before `story_start` stay where they are: they are the past the story refers
to (a batch shipped years ago whose logger file is imported).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from coldchain import times
from coldchain.errors import ConfigError
from coldchain.fleet import Fleet, Placement
from simulators.plan import fleet_simulation

__all__ = ["rebase_story", "story_start_ms"]


def story_start_ms(fleet: Fleet) -> int | None:
    """`simulation.story_start` in epoch ms; None for a fleet without a story."""
    start = fleet_simulation(fleet.simulation).story_start
    return None if start is None else times.to_ms(start)


def rebase_story(source: Path, target: Path, start_ms: int) -> None:
    """Write `source` to `target` with its story starting at `start_ms`: every placement
    from `story_start` onwards moved by the same amount, `story_start` set to the new start.

    Raises:
        ConfigError: the fleet has no `simulation.story_start`, or a placement starts before
            it and ends after it (it would belong to both the past and the story).
    """
    raw: dict[str, Any] = yaml.safe_load(source.read_text()) or {}
    simulation = raw.get("simulation") or {}
    story = fleet_simulation(simulation).story_start
    if story is None:
        raise ConfigError(f"{source}: simulation.story_start: needed to move the story")
    shift = times.from_ms(start_ms) - story
    for i, entry in enumerate(raw.get("placements") or []):
        try:
            placement = Placement.model_validate(entry)
        except ValidationError as exc:
            raise ConfigError(f"{source}: placements[{i}]: {exc}") from None
        if placement.from_ >= story:
            entry["from"] = times.rfc3339(placement.from_ + shift)
            if placement.to is not None:
                entry["to"] = times.rfc3339(placement.to + shift)
        elif placement.to is None or placement.to > story:
            raise ConfigError(
                f"{source}: placements[{i}]: starts before simulation.story_start and ends "
                "after it; a story's placements start at or after it"
            )
    simulation["story_start"] = times.rfc3339_ms(start_ms)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        f"# {source.name} with its story moved to start at {times.rfc3339_ms(start_ms)}\n"
        f"# (written by `coldchain up`; delete the data dir for a new story)\n"
        + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
    )
