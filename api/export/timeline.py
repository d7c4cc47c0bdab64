"""The batch timeline (docs/design.md §11): how the placements of a batch follow one another,
so that what is judged is the product's own path, not each place on its own.

- A placement is followed by the placements that start first at or after its end. Where
  they start at its very end, the batch was *handed over* (fridge until 08:00, truck from
  08:00): an excursion still running at the hand-over goes on in the next place.
- Where they start later, the time between is a *custody gap* (nothing records where the
  product was) and nothing is carried across it. A placement that another one already
  hands over to is not reached across a gap: the part that ended earlier left the chain.
- Placements that overlap are different parts of a split lot in different places at once:
  each concurrent chain is a path of its own. A path is a sequence of placements from one
  that nothing precedes to one that nothing follows; a split lot has several, and its
  figures are those of the worst (summary.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.export.record import PlacementInfo

__all__ = [
    "CUSTODY_GAP",
    "END_OF_RECORD",
    "HAND_OVER",
    "ONGOING",
    "CustodyGap",
    "Timeline",
    "build_timeline",
]

#: How a placement's readings end: the batch went on to the next place at once, went on
#: after a custody gap, left the record (nothing follows), or is still there (the record
#: ends at its generation time).
HAND_OVER, CUSTODY_GAP, END_OF_RECORD, ONGOING = (
    "hand-over",
    "custody gap",
    "end of record",
    "ongoing",
)


@dataclass(frozen=True, slots=True)
class CustodyGap:
    """No placement of the batch's part between `before` ending and `after` starting."""

    before: PlacementInfo
    after: PlacementInfo

    @property
    def start_ms(self) -> int:
        return self.before.until_ms

    @property
    def end_ms(self) -> int:
        return self.after.start_ms


@dataclass(frozen=True, slots=True)
class Timeline:
    """The placements' order and links.

    Attributes:
        handed_from: for each placement index, the placements that hand over to it.
        exits: for each placement index, how its readings end (`HAND_OVER`, ...).
        paths: placement indices of each path, in time order.
    """

    handed_from: dict[int, tuple[int, ...]]
    exits: dict[int, str]
    custody_gaps: tuple[CustodyGap, ...]
    paths: tuple[tuple[int, ...], ...]


def _key(p: PlacementInfo) -> tuple[int, int, int]:
    return (p.start_ms, p.until_ms, p.placement_id)


def build_timeline(placements: Sequence[PlacementInfo]) -> Timeline:
    """Links and paths of `placements` (any order)."""
    ordered = sorted(placements, key=_key)
    nexts: dict[int, list[PlacementInfo]] = {}
    handed_from: dict[int, list[int]] = {p.index: [] for p in ordered}
    for p in ordered:
        later = [q for q in ordered if _key(q) > _key(p) and q.start_ms >= p.until_ms]
        first = min((q.start_ms for q in later), default=None)
        nexts[p.index] = [q for q in later if q.start_ms == first] if p.end is not None else []
        if first == p.until_ms:
            for q in nexts[p.index]:
                handed_from[q.index].append(p.index)
    exits: dict[int, str] = {}
    gaps: list[CustodyGap] = []
    for p in ordered:
        if p.end is None:
            exits[p.index] = ONGOING
        elif nexts[p.index] and nexts[p.index][0].start_ms == p.until_ms:
            exits[p.index] = HAND_OVER
        else:
            # Across a gap only to placements nothing hands over to: those already reached
            # are the path of another part, and this part left the record.
            nexts[p.index] = [q for q in nexts[p.index] if not handed_from[q.index]]
            gaps.extend(CustodyGap(p, q) for q in nexts[p.index])
            exits[p.index] = CUSTODY_GAP if nexts[p.index] else END_OF_RECORD
    reached = {q.index for qs in nexts.values() for q in qs}
    paths: list[tuple[int, ...]] = []

    def walk(path: tuple[int, ...]) -> None:
        following = nexts[path[-1]]
        if not following:
            paths.append(path)
        for q in following:
            walk((*path, q.index))

    for p in ordered:
        if p.index not in reached:
            walk((p.index,))
    return Timeline(
        handed_from={k: tuple(v) for k, v in handed_from.items()},
        exits=exits,
        custody_gaps=tuple(gaps),
        paths=tuple(paths),
    )
