"""The release recommendation QA confirms: release only with no unexplained excursion, the
stability budget kept and no unexplained gap; every reason against it is listed.

The recommendation is advice written into the record; the release decision and signature
stay with QA (the PDF leaves room for both).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from api.export.reconcile import ExcursionFinding, GapFinding
from api.export.summary import BudgetVerdict
from coldchain.times import from_ms

__all__ = ["Recommendation", "recommend"]

_EXAMPLES = 5  # reasons name this many cases each; the tables list all of them


@dataclass(frozen=True, slots=True)
class Recommendation:
    """`release` is True only when `reasons` is empty; `notes` never block a release."""

    release: bool
    reasons: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def verdict(self) -> str:
        return "RELEASE RECOMMENDED" if self.release else "RELEASE NOT RECOMMENDED"


def _utc(ms: float) -> str:
    return from_ms(round(ms)).isoformat(timespec="minutes").replace("+00:00", "Z")


def _listed(items: Sequence[object], describe: Callable[[object], str]) -> str:
    shown = "; ".join(describe(item) for item in items[:_EXAMPLES])
    more = len(items) - _EXAMPLES
    return shown + (f"; and {more} more (see the table)" if more > 0 else "")


def _excursion_text(item: object) -> str:
    assert isinstance(item, ExcursionFinding)
    if item.excursion is not None:
        exc = item.excursion
        text = (
            f"{item.sensor.label} {_utc(exc.start_ms)} to {_utc(exc.end_ms)}, "
            f"peak {exc.peak_c:g} °C"
        )
    else:
        assert item.alert is not None
        text = f"{item.sensor.label} alert {item.alert.id} from {item.alert.start.isoformat()}"
    return text


def _gap_text(item: object) -> str:
    assert isinstance(item, GapFinding)
    hours = item.gap.duration_ms / 3_600_000
    return (
        f"{item.sensor.label} {_utc(item.gap.start_ms)} to {_utc(item.gap.end_ms)} ({hours:.2f} h)"
    )


def recommend(
    *,
    excursions: Sequence[ExcursionFinding],
    gaps: Sequence[GapFinding],
    budget: BudgetVerdict,
    open_placement: bool,
    placements: int,
    unmonitored: Sequence[str] = (),
) -> Recommendation:
    """Weigh the findings into a recommendation with its reasons."""
    reasons: list[str] = []
    notes: list[str] = []
    if placements == 0:
        reasons.append("the batch has no placement: there is no temperature history")
    for place in unmonitored:
        reasons.append(f"placement {place} has no sensor in the catalog: no temperature record")
    unexplained = [f for f in excursions if f.counts and not f.explained]
    if unexplained:
        reasons.append(
            f"{len(unexplained)} excursion(s) not closed by QA with a root cause: "
            + _listed(unexplained, _excursion_text)
        )
    disagreeing = [f for f in excursions if f.disagrees]
    if disagreeing:
        kinds = sorted({f.agreement for f in disagreeing})
        reasons.append(
            f"{len(disagreeing)} excursion(s) where the detector and the readings disagree "
            f"({', '.join(kinds)}): " + _listed(disagreeing, _excursion_text)
        )
    reasons.extend(budget.reasons)
    open_gaps = [g for g in gaps if g.explained_by is None]
    if open_gaps:
        reasons.append(
            f"{len(open_gaps)} gap(s) in the record without a QA-closed missing-data alert: "
            + _listed(open_gaps, _gap_text)
        )
    brief = [f for f in excursions if not f.counts]
    if brief:
        notes.append(
            f"{len(brief)} brief excursion(s) shorter than the alarm delay; their time is "
            "charged to the stability budget"
        )
    explained = [f for f in excursions if f.counts and f.explained]
    if explained:
        notes.append(f"{len(explained)} excursion(s) closed by QA with a root cause")
    if open_placement:
        notes.append("the batch is still placed: the record ends at its generation time")
    return Recommendation(not reasons, tuple(reasons), tuple(notes))
