"""Alert and action limits of each storage unit, taken from the fleet file at build time.

Grafana cannot ask the catalog what is stored where, so limits are baked into the dashboard
JSON when it is built: the action limits are the strictest storage condition of the products
placed in the unit (max of minima, min of maxima, as `storage_condition_for_sensor` does in
the catalog), the alert limits lie `alert_margin_c` inside them (an early warning before the
product is out of its labelled range). A unit with nothing placed in it falls back to the
usual range of its kind. Same fleet file, same limits, same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from coldchain.fleet import Fleet, UnitKind

__all__ = ["DEFAULT_ALERT_MARGIN_C", "KIND_RANGES", "UnitLimits", "threshold_steps", "unit_limits"]

DEFAULT_ALERT_MARGIN_C: Final = 0.5

# Usual labelled ranges (USP <659> storage terms; freezer and ultra-low as commonly labelled).
KIND_RANGES: Final[dict[UnitKind, tuple[float, float]]] = {
    UnitKind.REFRIGERATOR: (2.0, 8.0),
    UnitKind.COLD_ROOM: (2.0, 8.0),
    UnitKind.FREEZER: (-25.0, -15.0),
    UnitKind.ULTRA_LOW: (-90.0, -60.0),
    UnitKind.CRT: (15.0, 25.0),
}


@dataclass(frozen=True, slots=True)
class UnitLimits:
    """Limits of one unit.

    Attributes:
        site, unit: fleet ids.
        action_min_c, action_max_c: out of the labelled range: act (the product is at risk).
        alert_min_c, alert_max_c: nearing the range: look.
        source: `products VAX-1, ...` or `kind refrigerator` (which rule gave the limits).
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
    products = {p.id: p for p in fleet.products}
    batch_product = {b.id: b.product for b in fleet.batches}
    placed: dict[str, set[str]] = {}
    for placement in fleet.placements:
        if placement.unit is not None and placement.batch in batch_product:
            placed.setdefault(placement.unit, set()).add(batch_product[placement.batch])
    result = []
    for site in sorted(fleet.sites, key=lambda s: s.id):
        for unit in sorted(site.units, key=lambda u: u.id):
            ids = sorted(placed.get(f"{site.id}/{unit.id}", set()))
            if ids:
                low = max(products[p].storage.min_c for p in ids)
                high = min(products[p].storage.max_c for p in ids)
                source = "products " + ", ".join(ids)
            else:
                low, high = KIND_RANGES[unit.kind]
                source = f"kind {unit.kind.value}"
            if low >= high:  # products that cannot share a unit: show the widest of them
                low = min(products[p].storage.min_c for p in ids)
                high = max(products[p].storage.max_c for p in ids)
                source += " (conflicting ranges)"
            margin = min(alert_margin_c, (high - low) / 4)
            result.append(
                UnitLimits(site.id, unit.id, low, high, low + margin, high - margin, source)
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
