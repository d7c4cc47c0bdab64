"""The fleet file (docs/design.md §10): the one YAML description of sponsors, sites, units,
products, batches, shipments and placements, read by the simulators and the catalog.

Keys of §10 are relied on by scripts outside the repository: add keys, never rename.
Unknown keys are refused (a typo must not pass silently), except under `simulation:`,
which belongs to the simulators and which the catalog ignores.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from pathlib import Path
from typing import Any, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from coldchain.errors import ConfigError
from coldchain.wire import ID_PATTERN

__all__ = [
    "Batch",
    "Fleet",
    "Logger",
    "Placement",
    "Product",
    "Role",
    "Sensor",
    "Shipment",
    "Site",
    "Sponsor",
    "StabilityBudget",
    "StorageCondition",
    "StorageUnit",
    "UnitKind",
    "User",
    "describe_location",
    "load_fleet",
]

_ID = Field(pattern=f"^{ID_PATTERN.pattern}$")


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


class Sponsor(_Strict):
    id: str = _ID
    name: str


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


class Sensor(_Strict):
    id: str = _ID
    calibration_due: date | None = None


class StorageUnit(_Strict):
    id: str = _ID
    kind: UnitKind
    setpoint_c: float
    log_interval_s: int = Field(default=60, gt=0)
    sensors: list[Sensor] = Field(min_length=1)
    name: str | None = None
    simulation: dict[str, Any] | None = None


class Site(_Strict):
    id: str = _ID
    timezone: str = "UTC"
    units: list[StorageUnit] = Field(default_factory=list)
    name: str | None = None


class StabilityBudget(_Strict):
    """Cumulative time the product may spend out of its range, up to `max_c`."""

    max_c: float
    hours: float = Field(ge=0)
    min_c: float | None = None


class StorageCondition(_Strict):
    min_c: float
    max_c: float
    alarm_delay_min: float = Field(default=30, ge=0)
    budget: StabilityBudget | None = None
    label: str | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_c >= self.max_c:
            raise ValueError(f"min_c {self.min_c} must be below max_c {self.max_c}")
        return self


class Product(_Strict):
    id: str = _ID
    sponsor: str
    storage: StorageCondition
    name: str | None = None
    mkt_delta_h_kj_per_mol: float = Field(default=83.144, gt=0)


class Batch(_Strict):
    id: str = _ID
    product: str


class Logger(_Strict):
    id: str = _ID
    sensors: list[Sensor] = Field(min_length=1)
    log_interval_s: int = Field(default=600, gt=0)


class Shipment(_Strict):
    id: str = _ID
    origin: str
    destination: str
    loggers: list[Logger] = Field(min_length=1)
    simulation: dict[str, Any] | None = None


class Placement(_Strict):
    """Batch `batch` was in `unit` ("SITE/UNIT") or `shipment` from `from_` to `to`."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    batch: str
    unit: str | None = None
    shipment: str | None = None
    from_: datetime = Field(alias="from")
    to: datetime | None = None

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
        return Fleet.model_validate(raw)
    except ValidationError as exc:
        messages = []
        for error in exc.errors():
            loc = tuple(p for p in error["loc"] if isinstance(p, int | str))
            messages.append(f"{path}: {describe_location(tree, loc)}: {error['msg']}")
        raise ConfigError("\n".join(messages)) from None
