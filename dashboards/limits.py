"""Alert and action limits of each storage unit, taken from the fleet file at build time.

Grafana cannot ask the catalog what is stored where, so limits are baked into the dashboard
JSON when it is built. The rules are the domain's (docs/design.md §11,
`coldchain.judgement.limits`), the same the detector alarms by: the action limits are the
`strictest` storage condition of the products placed in the unit, the alert limits lie the
`warning_band_c` of `alert_margin_c` inside them (the detector's warning limits), and a unit
with nothing placed in it falls back to its kind's `KIND_DEFAULT_RANGES`. Same fleet file,
same limits, same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from coldchain.config import Settings
from coldchain.fleet import Fleet, Product
from coldchain.judgement.limits import KIND_DEFAULT_RANGES, Limits, strictest, warning_band_c

__all__ = ["DEFAULT_ALERT_MARGIN_C", "UnitLimits", "threshold_steps", "unit_limits"]

#: The detector's warning margin (`Settings.detect_warning_margin_c`), so that by default the
#: dashboards' alert limits are the detector's warning limits.
DEFAULT_ALERT_MARGIN_C: Final[float] = Settings.model_fields["detect_warning_margin_c"].default


@dataclass(frozen=True, slots=True)
class _Condition:
    """A fleet product's storage condition as `coldchain.judgement.limits.strictest` reads it."""

    id: str
    min_c: float
    max_c: float
    alarm_delay_min: float

    @classmethod
    def of(cls, product: Product) -> _Condition:
        storage = product.storage
        return cls(product.id, storage.min_c, storage.max_c, storage.alarm_delay_min)


@dataclass(frozen=True, slots=True)
class UnitLimits:
    """Limits of one unit.

    Attributes:
        site, unit: fleet ids.
        action_min_c, action_max_c: out of the labelled range: act (the product is at risk).
        alert_min_c, alert_max_c: nearing the range: look.
        source: `products VAX-1 + ...` or `kind refrigerator` (which rule gave the limits).
    """

    site: str
    unit: str
    action_min_c: float
    action_max_c: float
    alert_min_c: float
    alert_max_c: float
    source: str

    @property
    def name(self) -> str:
        """`SITE/UNIT`, the display name the dashboards give the unit's series."""
        return f"{self.site}/{self.unit}"


def unit_limits(fleet: Fleet, alert_margin_c: float = DEFAULT_ALERT_MARGIN_C) -> list[UnitLimits]:
    """Limits of every unit of the fleet, sorted by site and unit."""
    products = {p.id: _Condition.of(p) for p in fleet.products}
    batch_product = {b.id: b.product for b in fleet.batches}
    placed: dict[str, set[str]] = {}
    for placement in fleet.placements:
        if placement.unit is not None and placement.batch in batch_product:
            placed.setdefault(placement.unit, set()).add(batch_product[placement.batch])
    result = []
    for site in sorted(fleet.sites, key=lambda s: s.id):
        for unit in sorted(site.units, key=lambda u: u.id):
            stored = [products[p] for p in sorted(placed.get(f"{site.id}/{unit.id}", set()))]
            if stored:
                limits = strictest(stored)
            else:
                low, high = KIND_DEFAULT_RANGES[unit.kind.value]
                limits = Limits(low, high, 0, f"kind {unit.kind.value}")
            source = limits.label
            if limits.low_c >= limits.high_c:
                # Products that cannot share a unit (the detector alarms on every reading):
                # the chart shows the widest of their ranges rather than no green at all.
                limits = Limits(
                    min(p.min_c for p in stored),
                    max(p.max_c for p in stored),
                    limits.alarm_delay_ms,
                    limits.label,
                )
                source += " (conflicting ranges)"
            band = warning_band_c(limits, alert_margin_c)
            result.append(
                UnitLimits(
                    site.id,
                    unit.id,
                    limits.low_c,
                    limits.high_c,
                    limits.low_c + band,
                    limits.high_c - band,
                    source,
                )
            )
    return result


def threshold_steps(limits: UnitLimits) -> list[tuple[float | None, str]]:
    """Grafana threshold steps, low to high: red below the action minimum, orange below the
    alert minimum, green inside, orange from the alert maximum, red from the action maximum.

    Grafana colours a value with the last step whose value it meets or exceeds; the first
    step's value is null (minus infinity).
    """
    return [
        (None, "red"),
        (limits.action_min_c, "orange"),
        (limits.alert_min_c, "green"),
        (limits.alert_max_c, "orange"),
        (limits.action_max_c, "red"),
    ]
