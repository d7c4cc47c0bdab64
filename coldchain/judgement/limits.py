"""What a sensor must hold at a moment: the limits of a storage condition, how the products
sharing a place combine, the warning band inside them, and the ranges an empty unit falls
back to by kind. The detector, the batch record, the live view and the dashboards all take
these from here (docs/design.md §11), so a tile, a chart line and an alarm never disagree."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

__all__ = [
    "KIND_DEFAULT_RANGES",
    "LIMIT_ALERT_KINDS",
    "MINUTE_MS",
    "NO_LIMITS",
    "Limits",
    "Severity",
    "StorageCondition",
    "alert_range",
    "alert_share",
    "own_limits",
    "severity_of",
    "strictest",
    "warning_band_c",
]

#: The detector counts time in ms; delays and rates are set and shown in minutes.
MINUTE_MS: Final = 60_000

#: Limits of an empty storage unit, by kind: what the unit is built to hold (USP <659>
#: "refrigerator" 2–8 °C, "freezer" −25…−15 °C; common ultra-low and CRT practice). Used only
#: when nothing is stored in the unit; a stored product's labelled condition always wins.
KIND_DEFAULT_RANGES: Final[dict[str, tuple[float, float]]] = {
    "refrigerator": (2.0, 8.0),
    "cold_room": (2.0, 8.0),
    "freezer": (-25.0, -15.0),
    "ultra_low": (-90.0, -60.0),
    "crt": (15.0, 25.0),
}


@dataclass(frozen=True, slots=True)
class Limits:
    """What a sensor must hold at a moment: the action range [low_c, high_c] and how long a
    value may be beyond it before the alert (the alarm delay; for the alert limits of
    `DetectorConfig.warning_limits`, the warning delay); `label` says where they came from
    (products, or a unit kind's default).

    The rest is an alarm profile's (coldchain.judgement.profiles.apply_profile; the
    defaults: none): `high_delay_ms`/`low_delay_ms` the delay above/below the range (None:
    `alarm_delay_ms`), `warning_low_c`/`warning_high_c` the alert limits (None: the warning
    band, `alert_range`), `critical_low_c`/`critical_high_c` limits beyond which a reading
    alarms at once, `latching` an alarm that stays until acknowledged."""

    low_c: float
    high_c: float
    alarm_delay_ms: int
    label: str
    high_delay_ms: int | None = None
    low_delay_ms: int | None = None
    warning_low_c: float | None = None
    warning_high_c: float | None = None
    critical_low_c: float = -math.inf
    critical_high_c: float = math.inf
    latching: bool = False

    @property
    def span_c(self) -> float:
        return self.high_c - self.low_c

    def direction(self, value_c: float) -> int:
        """+1 above the range, -1 below it, 0 inside; a value equal to a limit is inside."""
        return 1 if value_c > self.high_c else -1 if value_c < self.low_c else 0

    def delay_ms(self, direction: int) -> int:
        """How long a value may be beyond the range on that side (+1 above, -1 below)."""
        own = self.high_delay_ms if direction > 0 else self.low_delay_ms
        return self.alarm_delay_ms if own is None else own

    def critical(self, value_c: float) -> bool:
        """Beyond a critical limit: the reading alarms at once, whatever the delay."""
        return value_c < self.critical_low_c or value_c > self.critical_high_c


#: A sensor that must hold nothing (a logger on a shelf, a sensor the catalog does not know).
NO_LIMITS: Final = Limits(-math.inf, math.inf, 0, "none")


class StorageCondition(Protocol):
    """A product's labelled storage condition, as the catalog rows and views both carry it."""

    @property
    def id(self) -> str: ...
    @property
    def min_c(self) -> float: ...
    @property
    def max_c(self) -> float: ...
    @property
    def alarm_delay_min(self) -> float: ...


def own_limits(product: StorageCondition) -> Limits:
    """A product's own limits, by which its batch record judges it wherever it is."""
    return Limits(
        product.min_c,
        product.max_c,
        round(product.alarm_delay_min * MINUTE_MS),
        f"product {product.id}",
    )


def strictest(products: Sequence[StorageCondition], label_prefix: str = "products ") -> Limits:
    """The limits a place holding all of `products` must keep: the highest minimum, the lowest
    maximum and the shortest alarm delay. The unit's own alarm follows these, so that no
    product in it goes unwatched; each product's batch record still judges by its own."""
    if not products:
        raise ValueError("strictest: expected at least one product")
    return Limits(
        low_c=max(p.min_c for p in products),
        high_c=min(p.max_c for p in products),
        alarm_delay_ms=round(min(p.alarm_delay_min for p in products) * MINUTE_MS),
        label=label_prefix + " + ".join(sorted(p.id for p in products)),
    )


def warning_band_c(limits: Limits, margin_c: float) -> float:
    """How far inside the range the alert (warning) limits lie: `margin_c`, but never more than
    a quarter of the range, so a narrow range keeps a band where all is well."""
    if not math.isfinite(limits.span_c):
        return 0.0
    return max(0.0, min(margin_c, limits.span_c / 4))


def alert_range(limits: Limits, margin_c: float) -> tuple[float, float]:
    """The alert (warning) limits: an alarm profile's where it sets them, else the range less
    its `warning_band_c` on that side."""
    band = warning_band_c(limits, margin_c)
    low = limits.low_c + band if limits.warning_low_c is None else limits.warning_low_c
    high = limits.high_c - band if limits.warning_high_c is None else limits.warning_high_c
    return low, high


Severity = Literal["alarm", "warning"]

#: Alerts raised against a place's limits (not the probe's or the device's): in a shared
#: unit they may have been raised under another product's stricter limits.
LIMIT_ALERT_KINDS: Final = frozenset({"excursion", "forecast"})


def severity_of(value_c: float, limits: Limits, margin_c: float) -> Severity | None:
    """How a value stands against `limits`: beyond the range, alarm; beyond the alert limits
    (the range less its `warning_band_c`), warning; else None. This is also how far an alert
    raised in a shared unit concerns one product: by where its peak went against that
    product's own limits, whatever the limits it was raised under."""
    if limits.direction(value_c) != 0:
        return "alarm"
    low, high = alert_range(limits, margin_c)
    return "warning" if not low <= value_c <= high else None


def alert_share(
    limits: Limits,
    *,
    kind: str,
    severity: Severity,
    peak_c: float | None,
    limit_c: float | None,
    margin_c: float,
) -> Severity | None:
    """How much an alert counts for a product held to `limits`; None: not at all.

    In a shared unit a limit alert (excursion, forecast) is raised under the strictest limits
    of the products there. `limit_c` is the limit it was raised at: one that lies strictly
    inside this product's range is another product's, stricter; such an alert concerns this
    product only as far as its peak went against this product's own limits (`severity_of`),
    never more than its own severity. An alert raised at this product's own limit (or a
    looser one) counts as raised, whatever its peak: a forecast's peak is still in range by
    nature, and it is this product's limit it is heading for. Alerts about the device, and
    alerts that name no limit (raised before alerts named one), count as raised, or by peak."""
    if kind not in LIMIT_ALERT_KINDS or peak_c is None:
        return severity
    if limit_c is not None and not limits.low_c < limit_c < limits.high_c:
        return severity
    judged = severity_of(peak_c, limits, margin_c)
    if judged is None:
        return None
    return "warning" if judged == "warning" else severity
