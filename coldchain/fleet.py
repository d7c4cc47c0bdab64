"""The fleet file (docs/design.md §10): the one YAML description of sponsors, sites, units,
products, batches, shipments and placements, read by the simulators and the catalog.

Keys of §10 are relied on by scripts outside the repository: add keys, never rename.
Unknown keys are refused (a typo must not pass silently), except under `simulation:`,
which belongs to the simulators and which the catalog ignores.

Most problems are found by the models; those that need a site's time zone (a sensor's
`installed`/`removed` given as a date) by `fleet_problems`, which `load_fleet` and the
catalog import both run. Whether a batch is in two places at once without a split (see
`Placement.quantity`) is the catalog import's check, against the file and the record alike.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import math
import re
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, Final, Self
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from coldchain.errors import ConfigError
from coldchain.judgement.budget import legacy_band
from coldchain.security.redact import redact_text
from coldchain.wire import ID_PATTERN

__all__ = [
    "WEEKDAYS",
    "AlarmBand",
    "AlarmProfile",
    "Batch",
    "BudgetBand",
    "CalibrationCertificate",
    "CarriedIn",
    "Fleet",
    "Loc",
    "Logger",
    "Moment",
    "OnCall",
    "OnCallContact",
    "OnCallShift",
    "Placement",
    "Product",
    "Role",
    "Sensor",
    "Shipment",
    "Site",
    "Sponsor",
    "SponsorContacts",
    "StabilityBudget",
    "StorageCondition",
    "StorageUnit",
    "UnitKind",
    "User",
    "describe_location",
    "fleet_problems",
    "load_fleet",
    "moment_utc",
    "sensor_time_zones",
]

_ID = Field(pattern=f"^{ID_PATTERN.pattern}$")

Loc = tuple[int | str, ...]
"""Where a value sits in the file, e.g. ("placements", 3, "to")."""


def _moment(value: object) -> date | datetime:
    """A date (2026-11-05) or an RFC 3339 time with its offset; anything else is refused.

    Written out because pydantic's `datetime | date` takes the text "2026-11-05" for a
    naive midnight and the number 5 for a time in 1970.
    """
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # refused below, with the expected forms
            value = (date if len(value) == 10 else datetime).fromisoformat(value)
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError("needs a time zone offset or Z (or give a date)")
        return value
    if isinstance(value, date):
        return value
    raise ValueError(
        "expected a date (2026-11-05) or an RFC 3339 time with its offset "
        "(2026-11-05T08:00:00+01:00)"
    )


Moment = Annotated[date | datetime, BeforeValidator(_moment)]
"""A fleet file moment: an aware datetime, or a date meaning midnight at the site."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Role(enum.StrEnum):
    SPONSOR_VIEWER = "sponsor_viewer"
    WAREHOUSE_OPERATOR = "warehouse_operator"
    QA = "qa"
    ADMIN = "admin"


class UnitKind(enum.StrEnum):
    REFRIGERATOR = "refrigerator"
    FREEZER = "freezer"
    ULTRA_LOW = "ultra_low"
    COLD_ROOM = "cold_room"
    CRT = "crt"


# local@domain.tld: no spaces, no second "@", no characters that end an address header
_EMAIL: Final = re.compile(
    r"^[^@\s<>()\[\],;:\"]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
# the width of sponsor_contacts.destination
_DESTINATION_MAX: Final = 400


def _email(value: str) -> str:
    if len(value) > _DESTINATION_MAX or not _EMAIL.match(value):
        raise ValueError(f"expected an e-mail address like qa@acme.example, got {value!r}")
    return value


def _webhook_url(value: str) -> str:
    """An http(s) URL with a host; shown redacted when refused (a hook's URL may carry
    its token)."""
    try:
        parts = urlsplit(value)
        fits = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        fits = False
    if (
        not fits
        or len(value) > _DESTINATION_MAX
        or any(c.isspace() or not c.isprintable() for c in value)
    ):
        raise ValueError(
            "expected an http(s) URL like https://acme.example/hooks/coldchain, "
            f"got {redact_text(repr(value))}"
        )
    return value


class SponsorContacts(_Strict):
    """Where a sponsor hears about deviations on its products (when one opens and when it
    is assessed: coldchain/catalog/sponsor_notices.py). The keys are the channels."""

    email: list[Annotated[str, AfterValidator(_email)]] = Field(default_factory=list)
    webhook: list[Annotated[str, AfterValidator(_webhook_url)]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _each_once(self) -> Self:
        seen: set[tuple[str, str]] = set()
        for channel, destination in self.destinations():
            if (channel, destination) in seen:
                raise ValueError(f"{channel}: {redact_text(destination)} is listed twice")
            seen.add((channel, destination))
        return self

    def destinations(self) -> list[tuple[str, str]]:
        """(channel, destination) of every contact, in the file's order."""
        return [("email", a) for a in self.email] + [("webhook", u) for u in self.webhook]


class Sponsor(_Strict):
    """`contacts`: absent, the recorded contacts stay as they are; given, they are the
    sponsor's contacts, all of them (one left out of the file is removed)."""

    id: str = _ID
    name: str
    contacts: SponsorContacts | None = None


class User(_Strict):
    id: str = _ID
    role: Role
    sponsor: str | None = None
    sites: list[str] = Field(default_factory=list)
    name: str | None = None

    @model_validator(mode="after")
    def _binding_fits_role(self) -> Self:
        if self.role is Role.SPONSOR_VIEWER and self.sponsor is None:
            raise ValueError("a sponsor_viewer needs `sponsor`")
        if self.role is Role.WAREHOUSE_OPERATOR and not self.sites:
            raise ValueError("a warehouse_operator needs `sites`")
        return self


class CalibrationCertificate(_Strict):
    """A probe's calibration certificate (#22): in force from `calibrated` until a later
    one supersedes it, due at `due` (dates: midnight at the probe's site); `offset_c`, the
    correction the lab gives, is added to the readings in force under it."""

    certificate: str = Field(min_length=1, max_length=64)
    lab: str = Field(min_length=1, max_length=200)
    calibrated: date
    due: date
    offset_c: float | None = None

    @model_validator(mode="after")
    def _due_after_calibrated(self) -> Self:
        if self.due <= self.calibrated:
            raise ValueError(f"due {self.due} must be after calibrated {self.calibrated}")
        return self


class Sensor(_Strict):
    """A probe. `installed`/`removed` bound when it measured (absent: always, still); a
    date means midnight in the site's time zone (for a logger, its shipment's origin).
    `calibration`: its certificates (#22); `calibration_due` alone is a due date without
    a certificate."""

    id: str = _ID
    calibration_due: date | None = None
    installed: Moment | None = None
    removed: Moment | None = None
    calibration: list[CalibrationCertificate] = Field(default_factory=list)

    @model_validator(mode="after")
    def _certificates_once(self) -> Self:
        ids = [c.certificate for c in self.calibration]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"calibration: certificate {', '.join(twice)} listed twice")
        return self


class AlarmBand(_Strict):
    """A pair of limits of an alarm profile (#22): `low_c` and/or `high_c`."""

    low_c: float | None = None
    high_c: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low_c is not None and self.high_c is not None and self.low_c >= self.high_c:
            raise ValueError(f"low_c {self.low_c:g} must be below high_c {self.high_c:g}")
        return self


class AlarmProfile(_Strict):
    """How a product's or a unit's alarm is set up (#22, docs/design.md §10): `warning` the
    alert limits (a warning beyond them), `high_delay_min`/`low_delay_min` the alarm delay
    above/below the range (default: the condition's `alarm_delay_min`, never longer),
    `critical` limits beyond which the first reading alarms, `latching` an alarm that stays
    until acknowledged. Where a product's and a unit's apply at once, the strictest of each
    field wins (coldchain.judgement.profiles.strictest_profile)."""

    warning: AlarmBand | None = None
    high_delay_min: float | None = Field(default=None, ge=0)
    low_delay_min: float | None = Field(default=None, ge=0)
    critical: AlarmBand | None = None
    latching: bool = False

    @model_validator(mode="after")
    def _critical_outside_warning(self) -> Self:
        warning, critical = self.warning or AlarmBand(), self.critical or AlarmBand()
        low, high = (warning.low_c, critical.low_c), (warning.high_c, critical.high_c)
        if low[0] is not None and low[1] is not None and low[1] >= low[0]:
            raise ValueError("critical.low_c must be below warning.low_c")
        if high[0] is not None and high[1] is not None and high[1] <= high[0]:
            raise ValueError("critical.high_c must be above warning.high_c")
        return self


class StorageUnit(_Strict):
    id: str = _ID
    kind: UnitKind
    setpoint_c: float
    log_interval_s: int = Field(default=60, gt=0)
    sensors: list[Sensor] = Field(min_length=1)
    name: str | None = None
    simulation: dict[str, Any] | None = None
    alarm_profile: AlarmProfile | None = None


WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK: Final = re.compile(r"^(?:[01]\d|2[0-3]):[0-5]\d$")


def _shift_bound(value: object) -> datetime | time:
    """A shift's `from`/`to`: "HH:MM" (a weekly shift, in the site's zone) or an RFC 3339
    time with its offset (an absolute shift). A date is refused: a shift starts at a time."""
    if isinstance(value, str) and _CLOCK.match(value):
        return time.fromisoformat(value)
    if isinstance(value, int):  # YAML reads an unquoted 18:00 as 1080 (base 60)
        raise ValueError('a time of day must be quoted, like "18:00"')
    moment = _moment(value)
    if not isinstance(moment, datetime):
        raise ValueError("a shift needs a time, not a date: give HH:MM or an RFC 3339 time")
    return moment


class OnCallContact(_Strict):
    """One link of a shift's escalation chain: a person and the one channel they are
    called on."""

    name: str = Field(min_length=1, max_length=200)
    email: Annotated[str, AfterValidator(_email)] | None = None
    webhook: Annotated[str, AfterValidator(_webhook_url)] | None = None

    @model_validator(mode="after")
    def _one_channel(self) -> Self:
        if (self.email is None) == (self.webhook is None):
            raise ValueError(f"{self.name}: give exactly one of email or webhook")
        return self


class OnCallShift(_Strict):
    """Who is called, in order, while the shift is in force: from `from` to `to` (absolute
    RFC 3339 times), or, with `weekdays`, every listed day from "HH:MM" to "HH:MM" in the
    site's zone (overnight into the next day when `to` is not after `from`)."""

    from_: Annotated[datetime | time, BeforeValidator(_shift_bound)] = Field(alias="from")
    to: Annotated[datetime | time, BeforeValidator(_shift_bound)]
    weekdays: list[str] | None = None
    chain: list[OnCallContact] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.weekdays is not None:
            unknown = [d for d in self.weekdays if d not in WEEKDAYS]
            if unknown or not self.weekdays:
                raise ValueError(f"weekdays: expected some of {', '.join(WEEKDAYS)}")
            if isinstance(self.from_, datetime) or isinstance(self.to, datetime):
                raise ValueError('a weekly shift runs from "HH:MM" to "HH:MM"')
            if self.from_ == self.to:
                raise ValueError("from and to are the same time of day")
        elif not (isinstance(self.from_, datetime) and isinstance(self.to, datetime)):
            raise ValueError('"HH:MM" needs weekdays; an absolute shift needs RFC 3339 times')
        elif self.to <= self.from_:
            raise ValueError(f"to {self.to.isoformat()} is not after from")
        return self


class OnCall(_Strict):
    """A site's on-call rota (coldchain/catalog/rota.py): an unacknowledged alarm goes to
    the next contact of the shift in force after `escalate_after_min`; outside every shift
    the global `notify_*` settings apply."""

    escalate_after_min: float = Field(gt=0)
    shifts: list[OnCallShift] = Field(default_factory=list)


class Site(_Strict):
    id: str = _ID
    timezone: str = "UTC"
    units: list[StorageUnit] = Field(default_factory=list)
    name: str | None = None
    oncall: OnCall | None = None


class StabilityBudget(_Strict):
    """Cumulative time the product may spend out of its range, up to `max_c`."""

    max_c: float
    hours: float = Field(ge=0)
    min_c: float | None = None


class BudgetBand(_Strict):
    """Up to `hours` cumulative with the product in [min_c, max_c) outside its range (#22)."""

    min_c: float
    max_c: float
    hours: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_c >= self.max_c:
            raise ValueError(f"band min_c {self.min_c} must be below max_c {self.max_c}")
        return self


class StorageCondition(_Strict):
    """`budget` is a list of bands, or the old single form (one band, `Budget.bands`);
    `freeze_c`: a reading at or below it is a freeze event, `freeze_events` of them allowed
    (0 when only `freeze_c` is given)."""

    min_c: float
    max_c: float
    alarm_delay_min: float = Field(default=30, ge=0)
    budget: StabilityBudget | list[BudgetBand] | None = None
    label: str | None = None
    freeze_c: float | None = None
    freeze_events: Annotated[int, Field(strict=True, ge=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_c >= self.max_c:
            raise ValueError(f"min_c {self.min_c} must be below max_c {self.max_c}")
        return self

    @model_validator(mode="after")
    def _budget_fits(self) -> Self:
        if isinstance(self.budget, list):
            bands = sorted(self.budget, key=lambda b: b.min_c)
            for low, high in itertools.pairwise(bands):
                if high.min_c < low.max_c:
                    raise ValueError(
                        f"budget bands {low.min_c:g}–{low.max_c:g} °C and "
                        f"{high.min_c:g}–{high.max_c:g} °C overlap"
                    )
        if self.freeze_events is not None and self.freeze_c is None:
            raise ValueError("freeze_events needs freeze_c (the temperature of a freeze event)")
        if self.freeze_c is not None and self.freeze_c >= self.min_c:
            raise ValueError(f"freeze_c {self.freeze_c:g} must be below min_c {self.min_c:g}")
        return self

    @property
    def budget_bands(self) -> list[BudgetBand] | None:
        """The budget as bands, lowest first (None: no budget, no excursion allowed)."""
        if self.budget is None:
            return None
        if isinstance(self.budget, list):
            return sorted(self.budget, key=lambda b: b.min_c)
        old = legacy_band(self.max_c, self.budget.max_c, self.budget.hours, self.budget.min_c)
        return [BudgetBand(min_c=old.min_c, max_c=old.max_c, hours=old.hours)]

    @property
    def freeze_allowed(self) -> int | None:
        if self.freeze_c is None:
            return None
        return 0 if self.freeze_events is None else self.freeze_events


class Product(_Strict):
    id: str = _ID
    sponsor: str
    storage: StorageCondition
    name: str | None = None
    mkt_delta_h_kj_per_mol: float = Field(default=83.144, gt=0)
    alarm_profile: AlarmProfile | None = None

    @model_validator(mode="after")
    def _profile_fits_the_range(self) -> Self:
        """The alert limits lie inside the range, the critical limits outside it."""
        profile, storage = self.alarm_profile, self.storage
        if profile is None:
            return self
        warning, critical = profile.warning or AlarmBand(), profile.critical or AlarmBand()
        low, high = storage.min_c, storage.max_c
        for name, value, lowest, highest in (
            ("warning.low_c", warning.low_c, low, high),
            ("warning.high_c", warning.high_c, low, high),
            ("critical.low_c", critical.low_c, -math.inf, low),
            ("critical.high_c", critical.high_c, high, math.inf),
        ):
            if value is not None and not lowest <= value <= highest:
                raise ValueError(
                    f"alarm_profile.{name} {value:g} does not fit the range "
                    f"{storage.min_c:g}–{storage.max_c:g} °C"
                )
        return self


class CarriedIn(_Strict):
    """Time the batch spent in [min_c, max_c) before it reached this site (#22), with where
    the figure comes from, e.g. "sponsor CoA 2026-11-02"."""

    min_c: float
    max_c: float
    hours: float = Field(ge=0)
    freeze_events: Annotated[int, Field(strict=True, ge=0)] = 0
    source: str = Field(min_length=1)


class Batch(_Strict):
    id: str = _ID
    product: str
    carried_in: list[CarriedIn] = Field(default_factory=list)


class Logger(_Strict):
    """A shipment's logger; `offline` when it records to memory and is read out at the
    destination (a USB logger such as a Berlinger Fridge-tag or Q-tag): nothing arrives
    while it travels, which is no missing data."""

    id: str = _ID
    sensors: list[Sensor] = Field(min_length=1)
    log_interval_s: int = Field(default=600, gt=0)
    offline: bool = Field(default=False, strict=True)


class Shipment(_Strict):
    id: str = _ID
    origin: str
    destination: str
    loggers: list[Logger] = Field(min_length=1)
    simulation: dict[str, Any] | None = None


class Placement(_Strict):
    """Batch `batch` was in `unit` ("SITE/UNIT") or `shipment` from `from_` to `to`.

    `quantity` (units of the batch in that place) records a split: a batch may be in two
    places at once only when both placements carry one (the catalog import checks that).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    batch: str
    unit: str | None = None
    shipment: str | None = None
    from_: datetime = Field(alias="from")
    to: datetime | None = None
    quantity: Annotated[int, Field(strict=True, gt=0)] | None = None

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.unit is None) == (self.shipment is None):
            raise ValueError("a placement names exactly one of `unit` or `shipment`")
        if self.unit is not None and self.unit.count("/") != 1:
            raise ValueError(f"unit: expected SITE/UNIT, got {self.unit!r}")
        for name, moment in (("from", self.from_), ("to", self.to)):
            if moment is not None and moment.tzinfo is None:
                raise ValueError(f"{name}: needs a time zone offset or Z")
        if self.to is not None and self.to <= self.from_:
            raise ValueError("to: must be after from")
        return self


class Fleet(_Strict):
    sponsors: list[Sponsor] = Field(default_factory=list)
    users: list[User] = Field(default_factory=list)
    sites: list[Site] = Field(default_factory=list)
    products: list[Product] = Field(default_factory=list)
    batches: list[Batch] = Field(default_factory=list)
    shipments: list[Shipment] = Field(default_factory=list)
    placements: list[Placement] = Field(default_factory=list)
    simulation: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        problems: list[str] = []
        sponsors = _unique(problems, "sponsors", [s.id for s in self.sponsors])
        sites = _unique(problems, "sites", [s.id for s in self.sites])
        products = _unique(problems, "products", [p.id for p in self.products])
        batches = _unique(problems, "batches", [b.id for b in self.batches])
        shipments = _unique(problems, "shipments", [s.id for s in self.shipments])
        _unique(problems, "users", [u.id for u in self.users])
        units = {f"{site.id}/{unit.id}" for site in self.sites for unit in site.units}
        for i, site in enumerate(self.sites):
            _unique(problems, f"sites[{i}].units", [u.id for u in site.units])
        for i, user in enumerate(self.users):
            if user.sponsor is not None and user.sponsor not in sponsors:
                problems.append(f"users[{i}].sponsor: unknown sponsor {user.sponsor!r}")
            problems += [
                f"users[{i}].sites: unknown site {s!r}" for s in user.sites if s not in sites
            ]
        for i, product in enumerate(self.products):
            if product.sponsor not in sponsors:
                problems.append(f"products[{i}].sponsor: unknown sponsor {product.sponsor!r}")
        for i, batch in enumerate(self.batches):
            if batch.product not in products:
                problems.append(f"batches[{i}].product: unknown product {batch.product!r}")
        for i, shipment in enumerate(self.shipments):
            for end in ("origin", "destination"):
                if getattr(shipment, end) not in sites:
                    problems.append(
                        f"shipments[{i}].{end}: unknown site {getattr(shipment, end)!r}"
                    )
        for i, placement in enumerate(self.placements):
            if placement.batch not in batches:
                problems.append(f"placements[{i}].batch: unknown batch {placement.batch!r}")
            if placement.unit is not None and placement.unit not in units:
                problems.append(f"placements[{i}].unit: unknown unit {placement.unit!r}")
            if placement.shipment is not None and placement.shipment not in shipments:
                problems.append(
                    f"placements[{i}].shipment: unknown shipment {placement.shipment!r}"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self


def moment_utc(value: date | datetime, timezone: str) -> datetime:
    """A fleet moment as an aware UTC datetime; a date is midnight in `timezone`.

    Raises:
        ZoneInfoNotFoundError: `timezone` is not an IANA zone (only asked for a date).
    """
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.combine(value, time(), tzinfo=ZoneInfo(timezone)).astimezone(UTC)


def sensor_time_zones(fleet: Fleet) -> list[tuple[Loc, str, Sensor]]:
    """Every sensor of the fleet with where it sits and the time zone its dates are read in:
    its site's for a unit's probe, its shipment's origin site's for a logger's."""
    zones = {site.id: site.timezone for site in fleet.sites}
    found: list[tuple[Loc, str, Sensor]] = []
    for i, site in enumerate(fleet.sites):
        for j, unit in enumerate(site.units):
            for k, sensor in enumerate(unit.sensors):
                found.append((("sites", i, "units", j, "sensors", k), site.timezone, sensor))
    for i, shipment in enumerate(fleet.shipments):
        zone = zones.get(shipment.origin, "UTC")
        for j, logger in enumerate(shipment.loggers):
            for k, sensor in enumerate(logger.sensors):
                found.append((("shipments", i, "loggers", j, "sensors", k), zone, sensor))
    return found


def fleet_problems(fleet: Fleet) -> list[tuple[Loc, str]]:
    """What the models cannot check alone, each with where it is: a sensor removed before it
    was installed (comparable only once a date is read in its site's time zone)."""
    problems: list[tuple[Loc, str]] = []
    for loc, zone, sensor in sensor_time_zones(fleet):
        installed, removed = sensor.installed, sensor.removed
        try:
            moments = [moment_utc(m, zone) for m in (installed, removed) if m is not None]
        except (ZoneInfoNotFoundError, ValueError):
            problems.append((loc, f"unknown time zone {zone!r} for the dates of {sensor.id}"))
            continue
        if installed is not None and removed is not None and moments[1] <= moments[0]:
            problems.append(
                (
                    (*loc, "removed"),
                    f"removed {removed.isoformat()} is not after installed {installed.isoformat()}",
                )
            )
    for i, site in enumerate(fleet.sites):
        if site.oncall is None or all(s.weekdays is None for s in site.oncall.shifts):
            continue
        try:
            ZoneInfo(site.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(
                (("sites", i, "timezone"), f"unknown time zone {site.timezone!r} for the rota")
            )
    return problems


def _unique(problems: list[str], where: str, ids: list[str]) -> set[str]:
    seen: set[str] = set()
    for item in ids:
        if item in seen:
            problems.append(f"{where}: duplicate id {item!r}")
        seen.add(item)
    return seen


def describe_location(tree: yaml.Node | None, loc: tuple[int | str, ...]) -> str:
    """`line N: a.0.b` for a field of a composed YAML tree (just the field where the tree
    does not reach that deep), so a message says where in the file to look."""
    field = ".".join(str(p) for p in loc) or "(top)"
    node, line = tree, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return field if line is None else f"line {line}: {field}"


def load_fleet(path: Path) -> Fleet:
    """Parse and check a fleet file; every problem is a `ConfigError` naming line and field."""
    try:
        text = path.read_text(encoding="utf-8")
        raw = yaml.safe_load(text)
        tree = yaml.compose(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top, got {type(raw).__name__}")
    try:
        fleet = Fleet.model_validate(raw)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if isinstance(p, int | str))
            messages.append(f"{path}: {describe_location(tree, loc)}: {error['msg']}")
        raise ConfigError("\n".join(messages)) from None
    problems = fleet_problems(fleet)
    if problems:
        raise ConfigError(
            "\n".join(f"{path}: {describe_location(tree, loc)}: {text}" for loc, text in problems)
        )
    return fleet
