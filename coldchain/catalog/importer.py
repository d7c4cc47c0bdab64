"""`coldchain catalog import FLEET.yaml`: the fleet file into the catalog, in one transaction.

The import is an upsert: what the file names is created or brought up to date (each change
audited with old and new values), what it does not name is left alone (the catalog is
history; a batch's record must outlive its line in a file). Re-importing the same file
changes nothing. Every problem, in the file or against the record, is collected first and
reported together as one `ConfigError` naming line and field; then nothing is written.
One exception to "left alone": a sponsor's `contacts`, when the file gives them, are all
of its contacts, so one the file no longer lists is removed (audited) and stops hearing
about the sponsor's deviations.

A product's storage condition is versioned (`coldchain.catalog.conditions`): a new product
gets its first version in force since 1970-01-01 (it has always had its label condition,
and the placements imported with it may lie in the past); a changed condition gets a new
version in force from the import, so the past is still judged by the limits of its time.
Alarm profiles of products and units are versioned the same way (`_profiles`,
coldchain/catalog/profiles.py); changing one, or giving one to a product or unit recorded
before, is a change of record that needs a reason.

Creating things needs no reason; changing the record does (21 CFR 11.10(e), EU GMP Annex 11
§9): an import that changes an existing product's storage condition, closes a recorded
placement or changes a user's role, sponsor or sites is refused with `ReasonRequired`
(every such change listed, nothing written) unless it is given a `reason`, which the audit
entry of each of those changes then carries as `"reason"`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from coldchain.catalog.audit import append_audit
from coldchain.catalog.audit_review import changes_in_words
from coldchain.catalog.budget import add_carried_in, budget_entries
from coldchain.catalog.calibration import import_certificates
from coldchain.catalog.conditions import SINCE_EVER, condition_fields
from coldchain.catalog.errors import CatalogConflict, ReasonRequired
from coldchain.catalog.placements import (
    Place,
    find_overlap,
    find_unsplit_overlap,
    place_name,
    placement_fields,
)
from coldchain.catalog.profiles import (
    latest_version,
    profile_fields,
    profile_fields_of,
    recorded_owners,
)
from coldchain.catalog.rota import Rota, load_rota, replace_rota
from coldchain.catalog.schema import (
    AlarmProfileRow,
    Base,
    BatchRow,
    LoggerRow,
    PlacementRow,
    ProductConditionRow,
    ProductRow,
    SensorRow,
    ShipmentRow,
    SiteRow,
    SponsorContactRow,
    SponsorRow,
    StorageUnitRow,
    UserRow,
)
from coldchain.catalog.store import catalog_session
from coldchain.catalog.users import upsert_user
from coldchain.errors import ConfigError
from coldchain.fleet import (
    Batch,
    Fleet,
    Placement,
    Product,
    Sensor,
    SponsorContacts,
    StabilityBudget,
    describe_location,
    fleet_problems,
    load_fleet,
    moment_utc,
)
from coldchain.judgement.budget import Band, bands_json
from coldchain.security.redact import redact_text
from coldchain.times import rfc3339, utc

__all__ = ["ImportReport", "import_fleet", "import_fleet_model", "storage_label"]

RowT = TypeVar("RowT", bound=Base)
ItemT = TypeVar("ItemT")
Describe = Callable[[tuple[int | str, ...]], str]
# (what, objects done, objects in the file): `coldchain catalog import`'s progress bar, for
# a fleet of thousands of units takes tens of seconds.
Progress = Callable[[str, int, int | None], None]


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did, per entity type ("sponsor", "unit", "placement", ...)."""

    created: Mapping[str, int]
    updated: Mapping[str, int]

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        if not self.changed:
            return "catalog already up to date: nothing changed"
        parts = [f"created {n} {kind}" for kind, n in sorted(self.created.items())]
        parts += [f"updated {n} {kind}" for kind, n in sorted(self.updated.items())]
        return "; ".join(parts)


def storage_label(product: Product) -> str:
    """The human label of a storage condition, e.g. "2–8 °C; up to 24 h cumulative at ≤ 25 °C"."""
    storage = product.storage
    if storage.label:
        return storage.label
    label = f"{storage.min_c:g}–{storage.max_c:g} °C"
    budget = storage.budget
    if isinstance(budget, list):
        bands = ", ".join(
            f"{b.hours:g} h at {b.min_c:g}–{b.max_c:g} °C" for b in storage.budget_bands or ()
        )
        label += f"; up to {bands} cumulative" if bands else ""
    elif budget is not None:
        bound = f"≤ {budget.max_c:g} °C"
        if budget.min_c is not None:
            bound = f"{budget.min_c:g}–{budget.max_c:g} °C"
        label += f"; up to {budget.hours:g} h cumulative at {bound}"
    return label


def import_fleet(
    engine: Engine,
    path: Path,
    *,
    actor: str,
    reason: str | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Load `path` and import it; `ConfigError` (line and field) if the file or record refuse.
    `progress` hears each of the file's objects (sponsor, site, unit, user, product, batch,
    shipment, placement) as it is written. `reason`: why the record changes (module doc).

    Raises:
        ConfigError: the file is invalid or contradicts the recorded chain of custody.
        ReasonRequired: the import changes the record and no `reason` was given.
        CatalogError: the database failed; the transaction was rolled back.
    """
    fleet = load_fleet(path)
    lines = _Lines(path)
    with catalog_session(engine) as session:
        return import_fleet_model(
            session,
            fleet,
            actor=actor,
            reason=reason,
            where=lambda loc: f"{path}: {lines.describe(loc)}",
            cite=lines.describe,
            progress=progress,
        )


def import_fleet_model(
    session: Session,
    fleet: Fleet,
    *,
    actor: str,
    reason: str | None = None,
    where: Describe | None = None,
    cite: Describe | None = None,
    progress: Progress | None = None,
) -> ImportReport:
    """Import an already parsed fleet in the caller's transaction (which must roll back on error).

    `where(loc)` turns a location like ("placements", 3, "to") into "line 41: placements.3.to";
    `cite(loc)` names another place of the same file inside a message (default: `where`).
    """
    describe: Describe = where or (lambda loc: ".".join(str(p) for p in loc))
    problems = [f"{describe(loc)}: {text}" for loc, text in fleet_problems(fleet)]
    if problems:
        raise ConfigError("\n".join(problems))
    job = _Import(session, actor, progress, _objects(fleet), reason)
    problems = job.write(fleet, describe)
    problems += job.write_placements(fleet, describe, cite or describe)
    if problems:
        # Raising inside the caller's transaction rolls back everything written above.
        raise ConfigError("\n".join(problems))
    if job.unreasoned:
        raise ReasonRequired(job.unreasoned)
    return ImportReport(dict(job.created), dict(job.updated))


def _objects(fleet: Fleet) -> int:
    """The objects of the file whose import the progress counts."""
    return sum(
        (
            len(fleet.sponsors),
            len(fleet.sites),
            sum(len(site.units) for site in fleet.sites),
            len(fleet.users),
            len(fleet.products),
            len(fleet.batches),
            len(fleet.shipments),
            len(fleet.placements),
        )
    )


class _Import:
    def __init__(
        self,
        session: Session,
        actor: str,
        progress: Progress | None,
        objects: int,
        reason: str | None,
    ) -> None:
        self.session = session
        self.actor = actor
        self.reason = reason.strip() if reason and reason.strip() else None
        # Changes of record made without a reason: the import is refused if any.
        self.unreasoned: list[str] = []
        self.progress = progress
        self.objects = objects
        self.done = 0
        self.created: Counter[str] = Counter()
        self.updated: Counter[str] = Counter()
        self.units: dict[str, int] = {}
        self.zones: dict[str, str] = {}
        # One moment for the whole import: every condition it changes takes effect together.
        self.now = datetime.now(UTC)

    def _each(self, items: Iterable[ItemT]) -> Iterator[ItemT]:
        """`items`, each counted as done once the loop's body is through with it."""
        for item in items:
            yield item
            self._tick()

    def _tick(self) -> None:
        self.done += 1
        if self.progress is not None:
            self.progress("fleet objects", self.done, self.objects)

    def reasoned(self, change: str) -> dict[str, str]:
        """What an audit entry of `change` (a change of record) adds: the reason, or
        nothing, with the change noted as unreasoned (the import will be refused)."""
        if self.reason is None:
            self.unreasoned.append(change)
            return {}
        return {"reason": self.reason}

    def upsert(
        self,
        model: type[RowT],
        key: Any,
        entity: str,
        entity_id: str,
        fields: dict[str, Any],
        because: Mapping[str, str] | None = None,
    ) -> RowT:
        """Create or update one row from `fields`, auditing exactly what changed (an
        update's entry with `because`, a reasoned change's reason)."""
        row = self.session.get(model, key)
        return self._apply(row, model, entity, entity_id, fields, key=key, because=because)

    def _apply(
        self,
        row: RowT | None,
        model: type[RowT],
        entity: str,
        entity_id: str,
        fields: dict[str, Any],
        key: Any = None,
        because: Mapping[str, str] | None = None,
    ) -> RowT:
        if row is None:
            row = model(**({"id": key} if key is not None else {}), **fields)
            self.session.add(row)
            self.session.flush()
            self._audit("create", entity, entity_id, None, fields)
            return row
        old = {name: getattr(row, name) for name in fields if getattr(row, name) != fields[name]}
        if old:
            for name in old:
                setattr(row, name, fields[name])
            self.session.flush()
            new = {k: fields[k] for k in old}
            self._audit("update", entity, entity_id, old, {**new, **(because or {})})
        return row

    def _audit(
        self, action: str, entity: str, entity_id: str, old: Any, new: dict[str, Any]
    ) -> None:
        (self.created if action == "create" else self.updated)[entity] += 1
        append_audit(
            self.session,
            actor=self.actor,
            action=action,
            entity=entity,
            entity_id=entity_id,
            old=old,
            new=new,
        )

    def write(self, fleet: Fleet, describe: Describe) -> list[str]:
        """Upsert everything but placements, parents first; problems with the record."""
        problems: list[str] = []
        owners = recorded_owners(self.session)  # before this import: whose profile is news
        for sponsor in self._each(fleet.sponsors):
            self.upsert(SponsorRow, sponsor.id, "sponsor", sponsor.id, {"name": sponsor.name})
            if sponsor.contacts is not None:
                self._contacts(sponsor.id, sponsor.contacts)
        self.zones = {site.id: site.timezone for site in fleet.sites}
        for site in self._each(fleet.sites):
            fields = {"name": site.name, "timezone": site.timezone}
            self.upsert(SiteRow, site.id, "site", site.id, fields)
            if site.oncall is not None:
                self._rota(site.id, Rota.from_fleet(site.oncall, site.timezone))
            for unit in self._each(site.units):
                self._unit(site.id, unit)
        for user in self._each(fleet.users):
            existed = self.session.get(UserRow, user.id) is not None
            try:
                changed = upsert_user(
                    self.session,
                    user_id=user.id,
                    role=user.role.value,
                    actor=self.actor,
                    sponsor=user.sponsor,
                    sites=user.sites,
                    name=user.name,
                    reason=self.reason,
                )
            except ReasonRequired as exc:
                self.unreasoned.extend(exc.changes)  # nothing written for this user
                continue
            if changed:
                (self.updated if existed else self.created)["user"] += 1
        for i, product in self._each(enumerate(fleet.products)):
            problem = self._product(product)
            if problem is not None:
                problems.append(f"{describe(('products', i, 'storage'))}: {problem}")
        for i, batch in self._each(enumerate(fleet.batches)):
            recorded = self.session.get(BatchRow, batch.id)
            if recorded is not None and recorded.product_id != batch.product:
                # A lot is of one product for life; relabelling it would rewrite history.
                problems.append(
                    f"{describe(('batches', i, 'product'))}: batch {batch.id} is recorded as "
                    f"{recorded.product_id}, the file says {batch.product}"
                )
                continue
            self.upsert(BatchRow, batch.id, "batch", batch.id, {"product_id": batch.product})
            problems.extend(
                f"{describe(('batches', i, 'carried_in', j))}: {problem}"
                for j, problem in self._carried_in(batch)
            )
        for shipment in self._each(fleet.shipments):
            fields = {
                "origin_site_id": shipment.origin,
                "destination_site_id": shipment.destination,
            }
            self.upsert(ShipmentRow, shipment.id, "shipment", shipment.id, fields)
            for logger in shipment.loggers:
                self._logger(shipment.id, shipment.origin, logger)
        # Calibration certificates (#22), once every probe they belong to is recorded.
        certificates, refused = import_certificates(
            self.session, fleet, describe, actor=self.actor, at=self.now
        )
        if certificates:
            self.created["calibration certificate"] += certificates
        problems += refused
        problems += self._profiles(fleet, describe, owners)
        return problems

    def _profiles(self, fleet: Fleet, describe: Describe, owners: set[str]) -> list[str]:
        """Version the alarm profiles the file gives (#22): a new owner's first version is
        in force since ever, a change from this import on, with a reason (as conditions);
        `owners`: the owners recorded before this import (`recorded_owners`)."""
        problems: list[str] = []
        wanted = [
            (("products", i, "alarm_profile"), f"product {p.id}", p.alarm_profile, p.id, None)
            for i, p in enumerate(fleet.products)
        ] + [
            (
                ("sites", i, "units", j, "alarm_profile"),
                f"unit {site.id}/{unit.id}",
                unit.alarm_profile,
                None,
                self.units[f"{site.id}/{unit.id}"],
            )
            for i, site in enumerate(fleet.sites)
            for j, unit in enumerate(site.units)
        ]
        for loc, owner, profile, product_id, unit_id in wanted:
            if profile is None:
                continue  # not named: left alone (`alarm_profile: {}` takes one away)
            fields = profile_fields(profile)
            latest = latest_version(self.session, product_id=product_id, unit_id=unit_id)
            before = None if latest is None else profile_fields_of(latest)
            if before == fields or (before is None and fields == profile_fields(None)):
                continue
            if latest is not None and latest.valid_from >= self.now:
                problems.append(
                    f"{describe(loc)}: the recorded alarm profile of {owner} is in force from "
                    f"{rfc3339(latest.valid_from)}, not before this import: is the clock behind?"
                )
                continue
            because: dict[str, str] = {}
            valid_from = SINCE_EVER
            if owner in owners:
                valid_from = self.now
                moved = changes_in_words(before or profile_fields(None), fields)
                because = self.reasoned(f"{owner}: alarm profile {moved}")
            row = AlarmProfileRow(
                product_id=product_id,
                unit_id=unit_id,
                valid_from=valid_from,
                recorded_at=self.now,
                **fields,
            )
            self.session.add(row)
            self.session.flush()
            self._audit(
                "create",
                "alarm_profile",
                str(row.id),
                None,
                {"owner": owner, "valid_from": valid_from, **fields, **because},
            )
        return problems

    def _carried_in(self, batch: Batch) -> Iterator[tuple[int, str]]:
        """Record the batch's carried-in amounts the catalog does not hold yet (the same
        band, hours, freeze events and source: re-importing adds nothing); (index, problem)
        for an amount its product's budget has no band for."""
        recorded = {
            (c.band_min_c, c.band_max_c, c.hours, c.freeze_events, c.source)
            for c in budget_entries(self.session, batch.id).carried_in
        }
        for j, amount in enumerate(batch.carried_in):
            key = (amount.min_c, amount.max_c, amount.hours, amount.freeze_events, amount.source)
            if key in recorded:
                continue
            try:
                add_carried_in(
                    self.session,
                    batch.id,
                    band_min_c=amount.min_c,
                    band_max_c=amount.max_c,
                    hours=amount.hours,
                    freeze_events=amount.freeze_events,
                    source=amount.source,
                    actor=self.actor,
                    now=self.now,
                )
            except CatalogConflict as exc:
                yield j, str(exc)
                continue
            self.created["carried_in"] += 1

    def _contacts(self, sponsor_id: str, contacts: SponsorContacts) -> None:
        """Make the sponsor's recorded contacts exactly the file's: a contact the file no
        longer lists is removed (it must stop hearing about the sponsor's deviations), a new
        one added; each audited with its destination redacted (a hook's URL may carry its
        token)."""
        wanted = contacts.destinations()
        recorded = (
            self.session.execute(
                select(SponsorContactRow)
                .where(SponsorContactRow.sponsor_id == sponsor_id)
                .order_by(SponsorContactRow.id)
            )
            .scalars()
            .all()
        )
        kept: set[tuple[str, str]] = set()
        for row in recorded:
            contact = (row.channel, row.destination)
            if contact in wanted:
                kept.add(contact)
                continue
            self.session.delete(row)
            self._audit("delete", "sponsor_contact", sponsor_id, _contact(*contact), {})
        for contact in wanted:
            if contact not in kept:
                channel, destination = contact
                self.session.add(
                    SponsorContactRow(
                        sponsor_id=sponsor_id, channel=channel, destination=destination
                    )
                )
                self._audit("create", "sponsor_contact", sponsor_id, None, _contact(*contact))
        self.session.flush()

    def _rota(self, site_id: str, rota: Rota) -> None:
        """Make the site's recorded rota exactly the file's (the file's `oncall` is all of
        it), audited as one document, old and new; unchanged, nothing is written."""
        recorded = load_rota(self.session, site_id)
        if recorded is not None and (recorded.escalate_after, recorded.shifts) == (
            rota.escalate_after,
            rota.shifts,
        ):
            return
        replace_rota(self.session, site_id, rota)
        old = None if recorded is None else recorded.document()
        action = "create" if old is None else "update"
        self._audit(action, "oncall_rota", site_id, old, rota.document())

    def _product(self, product: Product) -> str | None:
        """Upsert the product and version its condition; a problem with the record, if any."""
        recorded = self.session.get(ProductRow, product.id)
        before = None if recorded is None else condition_fields(recorded)
        fields = _product_fields(product)
        because: dict[str, str] = {}
        if before is not None:
            moved = changes_in_words(before, {name: fields[name] for name in before})
            if moved:
                because = self.reasoned(f"product {product.id}: storage condition {moved}")
        row = self.upsert(ProductRow, product.id, "product", product.id, fields, because)
        after = condition_fields(row)
        latest = self.session.execute(
            select(ProductConditionRow)
            .where(ProductConditionRow.product_id == product.id)
            .order_by(ProductConditionRow.valid_from.desc())
            .limit(1)
        ).scalar_one_or_none()
        if latest is None:
            # New, or written before versions existed (the migration gives every product
            # one, so only a row inserted by hand): what it had is what it always had.
            self._version(product.id, SINCE_EVER, before or after)
            if before is None or before == after:
                return None
        elif condition_fields(latest) == after:
            return None
        elif latest.valid_from >= self.now:
            return (
                f"the recorded condition of {product.id} is in force from "
                f"{rfc3339(latest.valid_from)}, not before this import "
                f"({rfc3339(self.now)}): is the clock behind?"
            )
        self._version(product.id, self.now, after, because)
        return None

    def _version(
        self,
        product_id: str,
        valid_from: datetime,
        fields: dict[str, Any],
        because: Mapping[str, str] | None = None,
    ) -> None:
        row = ProductConditionRow(
            product_id=product_id, valid_from=valid_from, recorded_at=self.now, **fields
        )
        self.session.add(row)
        self.session.flush()
        self._audit(
            "create",
            "product_condition",
            str(row.id),
            None,
            {"product": product_id, "valid_from": valid_from, **fields, **(because or {})},
        )

    def _unit(self, site_id: str, unit: Any) -> None:
        name = f"{site_id}/{unit.id}"
        row = self.session.execute(
            select(StorageUnitRow).where(
                StorageUnitRow.site_id == site_id, StorageUnitRow.code == unit.id
            )
        ).scalar_one_or_none()
        fields = {
            "site_id": site_id,
            "code": unit.id,
            "name": unit.name,
            "kind": unit.kind.value,
            "setpoint_c": unit.setpoint_c,
            "log_interval_s": unit.log_interval_s,
        }
        row = self._apply(row, StorageUnitRow, "unit", name, fields)
        self.units[name] = row.id
        for sensor in unit.sensors:
            self._sensor(SensorRow.unit_id, row.id, f"{name}/{sensor.id}", sensor, site_id)

    def _logger(self, shipment_id: str, origin: str, logger: Any) -> None:
        name = f"{shipment_id}/{logger.id}"
        row = self.session.execute(
            select(LoggerRow).where(
                LoggerRow.shipment_id == shipment_id, LoggerRow.code == logger.id
            )
        ).scalar_one_or_none()
        fields = {
            "shipment_id": shipment_id,
            "code": logger.id,
            "log_interval_s": logger.log_interval_s,
            "offline": logger.offline,
        }
        row = self._apply(row, LoggerRow, "logger", name, fields)
        for sensor in logger.sensors:
            self._sensor(SensorRow.logger_id, row.id, f"{name}/{sensor.id}", sensor, origin)

    def _sensor(self, parent: Any, parent_id: int, name: str, sensor: Sensor, site_id: str) -> None:
        """A probe; a date it was installed or removed is midnight at `site_id`."""
        row = self.session.execute(
            select(SensorRow).where(parent == parent_id, SensorRow.code == sensor.id)
        ).scalar_one_or_none()
        zone = self.zones[site_id]  # the fleet model checked the site is in the file
        installed, removed = sensor.installed, sensor.removed
        fields = {
            parent.key: parent_id,
            "code": sensor.id,
            "calibration_due": sensor.calibration_due,
            "installed_at": None if installed is None else moment_utc(installed, zone),
            "removed_at": None if removed is None else moment_utc(removed, zone),
        }
        self._apply(row, SensorRow, "sensor", name, fields)

    def _place(self, placement: Placement) -> Place:
        if placement.unit is not None:
            # The fleet model checked that the unit is in the file, so `write` filled this.
            return self.units[placement.unit], None
        return None, placement.shipment

    def _recorded(self, placement: Placement) -> PlacementRow | None:
        unit_id, shipment_id = self._place(placement)
        place_column = (
            PlacementRow.unit_id == unit_id
            if unit_id is not None
            else PlacementRow.shipment_id == shipment_id
        )
        return self.session.execute(
            select(PlacementRow).where(
                PlacementRow.batch_id == placement.batch,
                place_column,
                PlacementRow.start_at == utc(placement.from_),
            )
        ).scalar_one_or_none()

    def write_placements(self, fleet: Fleet, describe: Describe, cite: Describe) -> list[str]:
        """Close what the file closes, then add what is new; the problems found on the way.

        Closing first lets a file that ends a placement and starts the next in the same
        place pass; inserting as we go makes later lines of the file meet earlier ones in
        the same overlap checks as the record.
        """
        problems: list[str] = []
        fresh: list[tuple[int, Placement]] = []
        for i, placement in enumerate(fleet.placements):
            end = _utc_or_none(placement)
            recorded = self._recorded(placement)
            if recorded is None:
                fresh.append((i, placement))
                continue
            if recorded.quantity != placement.quantity:
                problems.append(
                    f"{describe(('placements', i, 'quantity'))}: recorded quantity "
                    f"{_quantity(recorded.quantity)}, the file says "
                    f"{_quantity(placement.quantity)}: placements are recorded, never overwritten"
                )
            if recorded.end_at is None and end is not None:
                because = self.reasoned(
                    f"placement {recorded.id} of batch {placement.batch} in "
                    f"{place_name(self.session, recorded)} from {_iso(recorded.start_at)}: "
                    f"closed at {_iso(end)}"
                )
                recorded.end_at = end
                self.session.flush()
                self._audit(
                    "close", "placement", str(recorded.id), {"to": None}, {"to": end, **because}
                )
            elif recorded.end_at != end:
                problems.append(
                    f"{describe(('placements', i, 'to'))}: recorded end "
                    f"{_iso(recorded.end_at)}, the file says {_iso(end)}: "
                    "moves are recorded, never overwritten"
                )
            self._tick()  # a fresh placement is counted when the loop below adds it
        from_file: dict[int, int] = {}

        def other(row: PlacementRow) -> str:
            if row.id in from_file:
                return f"placements[{from_file[row.id]}]"
            return f"the recorded placement from {_iso(row.start_at)} to {_iso(row.end_at)}"

        for i, placement in self._each(fresh):
            place, start = self._place(placement), utc(placement.from_)
            end = _utc_or_none(placement)
            clash = find_overlap(
                self.session, batch=placement.batch, place=place, start=start, end=end
            )
            if clash is not None:
                problems.append(
                    f"{describe(('placements', i, 'from'))}: batch {placement.batch} "
                    f"would be in the same place twice at once: overlaps {other(clash)}"
                )
                continue
            elsewhere = find_unsplit_overlap(
                self.session,
                batch=placement.batch,
                place=place,
                start=start,
                end=end,
                quantity=placement.quantity,
            )
            if elsewhere is not None:
                problems.append(self._unsplit(i, placement, elsewhere, from_file, describe, cite))
                continue
            row = PlacementRow(
                batch_id=placement.batch,
                unit_id=place[0],
                shipment_id=place[1],
                start_at=start,
                end_at=end,
                recorded_at=datetime.now(UTC),
                quantity=placement.quantity,
            )
            self.session.add(row)
            self.session.flush()
            from_file[row.id] = i
            self._audit(
                "create", "placement", str(row.id), None, placement_fields(self.session, row)
            )
        return problems

    def _unsplit(
        self,
        i: int,
        placement: Placement,
        elsewhere: PlacementRow,
        from_file: dict[int, int],
        describe: Describe,
        cite: Describe,
    ) -> str:
        """The message for a batch in two places at once without a recorded split."""
        here = (
            f"unit {placement.unit}"
            if placement.unit is not None
            else f"shipment {placement.shipment}"
        )
        j = from_file.get(elsewhere.id)
        there = f"recorded placement {elsewhere.id}" if j is None else cite(("placements", j))
        return (
            f"{describe(('placements', i))}: batch {placement.batch} in {here} from "
            f"{_iso(utc(placement.from_))} to {_iso(_utc_or_none(placement))} overlaps its "
            f"placement in {place_name(self.session, elsewhere)} from "
            f"{_iso(elsewhere.start_at)} to {_iso(elsewhere.end_at)} ({there}): a batch is in "
            "two places at once only as a split, with a `quantity` on both placements "
            "(else end the earlier one with `to`)"
        )


def _iso(moment: datetime | None) -> str:
    return "open" if moment is None else rfc3339(moment)


def _contact(channel: str, destination: str) -> dict[str, str]:
    """A sponsor contact as its audit entry shows it."""
    return {"channel": channel, "destination": redact_text(destination)}


def _quantity(quantity: int | None) -> str:
    return "none (the whole batch)" if quantity is None else str(quantity)


def _utc_or_none(placement: Placement) -> datetime | None:
    return None if placement.to is None else utc(placement.to)


def _product_fields(product: Product) -> dict[str, Any]:
    storage = product.storage
    # The old single form keeps its old columns; a list of bands goes to its own (#22).
    single = storage.budget if isinstance(storage.budget, StabilityBudget) else None
    listed = storage.budget if isinstance(storage.budget, list) else None
    return {
        "sponsor_id": product.sponsor,
        "name": product.name,
        "min_c": storage.min_c,
        "max_c": storage.max_c,
        "alarm_delay_min": storage.alarm_delay_min,
        "budget_max_c": None if single is None else single.max_c,
        "budget_min_c": None if single is None else single.min_c,
        "budget_hours": None if single is None else single.hours,
        "label": storage_label(product),
        "mkt_delta_h_kj_per_mol": product.mkt_delta_h_kj_per_mol,
        "budget_bands_json": None
        if listed is None
        else bands_json([Band(b.min_c, b.max_c, b.hours) for b in storage.budget_bands or ()]),
        "freeze_c": storage.freeze_c,
        "freeze_events": storage.freeze_events,
    }


class _Lines:
    """Line numbers of a YAML file's nodes, for messages that say where to look."""

    def __init__(self, path: Path) -> None:
        try:
            self.tree: yaml.Node | None = yaml.compose(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            self.tree = None

    def describe(self, loc: tuple[int | str, ...]) -> str:
        return describe_location(self.tree, loc)
