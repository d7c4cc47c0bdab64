"""The catalog's tables (docs/design.md §3) as SQLAlchemy 2 typed declarative classes.

Fleet-file ids (sponsors, users, sites, products, batches, shipments) are the primary keys,
because every other part of the system names things by them (docs/design.md §9). Units, sensors
and loggers are only unique within their parent, so they get a surrogate integer key and a
unique (parent, code) pair. Every time is UTC and timezone-aware in Python (`UtcDateTime`).
The Alembic migrations under `migrations/` create exactly these tables; a test compares them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ALERT_KINDS",
    "ALERT_STATES",
    "DEVIATION_STATES",
    "IMPACTS",
    "MEANINGS",
    "ROLES",
    "UNIT_KINDS",
    "AlarmProfileRow",
    "AlertHistoryRow",
    "AlertRow",
    "AlertRuleRow",
    "ApiTokenRow",
    "AuditEntryRow",
    "AuditHeadRow",
    "Base",
    "BatchRow",
    "CalibrationCertificateRow",
    "CarriedInRow",
    "DeadLetterRow",
    "DeviationFindingRow",
    "DeviationHistoryRow",
    "DeviationRow",
    "GatewayRow",
    "LoggerReportRow",
    "LoggerRow",
    "OnCallContactRow",
    "OnCallRotaRow",
    "OnCallShiftRow",
    "OutboxRow",
    "PlacementRow",
    "ProductConditionRow",
    "ProductRow",
    "ReleaseDecisionRow",
    "SensorRow",
    "ShipmentRow",
    "SignatureRow",
    "SiteRow",
    "SponsorContactRow",
    "SponsorRow",
    "StorageUnitRow",
    "TorEntryRow",
    "UserRow",
    "UserSiteRow",
    "UtcDateTime",
]

ROLES = ("sponsor_viewer", "warehouse_operator", "qa", "admin")
UNIT_KINDS = ("refrigerator", "freezer", "ultra_low", "cold_room", "crt")
ALERT_KINDS = (
    "excursion",
    "missing_data",
    "sensor_fault",
    "low_battery",
    "rate_of_change",
    "forecast",
    # Added by migration 0008 (#22): a batch's stability budget consumed past a threshold,
    # a probe's calibration due (warning ahead of the date, alarm at it).
    "budget",
    "calibration_due",
)
ALERT_STATES = ("open", "acknowledged", "resolved", "closed")
DEVIATION_STATES = ("open", "assessed", "agreed", "disputed", "closed")
IMPACTS = ("none", "minor", "major")
#: What an electronic signature means (21 CFR 11.50(a)(3)).
MEANINGS = ("authored", "reviewed", "approved", "rejected")

# Named constraints, so later migrations can drop or alter them on SQLite (batch mode)
# and PostgreSQL alike; Alembic's docs recommend a naming convention for exactly this.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that refuses naive datetimes and always comes back aware, in UTC.

    SQLite has no time zone type and hands back naive values; PostgreSQL answers in the
    session's zone. Storing UTC everywhere and converting at this one seam keeps the
    comparisons in queries (`start_at <= :t`) correct on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()}: the catalog stores UTC only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), date: Date()}


class SponsorRow(Base):
    __tablename__ = "sponsors"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class SiteRow(Base):
    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64))


class UserRow(Base):
    """A person or script; `password_hash` is argon2, never set by the fleet file."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_one_of("role", ROLES), name="role"),
        CheckConstraint("role != 'sponsor_viewer' OR sponsor_id IS NOT NULL", name="sponsor"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    sponsor_id: Mapped[str | None] = mapped_column(ForeignKey("sponsors.id"))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    #: Login tokens issued before this moment are void (logout, password change).
    sessions_valid_from: Mapped[datetime | None]


class UserSiteRow(Base):
    """The sites a warehouse operator works at (their tenant scope)."""

    __tablename__ = "user_sites"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)


class ApiTokenRow(Base):
    """An API token, kept only as its SHA-256: the token itself is shown once, at creation."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]


class StorageUnitRow(Base):
    __tablename__ = "storage_units"
    __table_args__ = (
        UniqueConstraint("site_id", "code"),
        CheckConstraint(_one_of("kind", UNIT_KINDS), name="kind"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    setpoint_c: Mapped[float] = mapped_column(Float)
    log_interval_s: Mapped[int] = mapped_column(Integer)


class ShipmentRow(Base):
    __tablename__ = "shipments"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    origin_site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    destination_site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))


class LoggerRow(Base):
    """A shipment's data logger; it publishes under the origin site (docs/design.md §10)."""

    __tablename__ = "loggers"
    __table_args__ = (UniqueConstraint("shipment_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shipment_id: Mapped[str] = mapped_column(ForeignKey("shipments.id"))
    code: Mapped[str] = mapped_column(String(64), index=True)
    log_interval_s: Mapped[int] = mapped_column(Integer)
    # Added by migration 0005: a logger that records to memory and is read out at the
    # destination (USB); nothing arrives while it travels ("awaiting upload").
    offline: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class SensorRow(Base):
    """A probe in a storage unit or a logger (exactly one of the two)."""

    __tablename__ = "sensors"
    __table_args__ = (
        # NULLs are distinct in unique constraints, so each pair only binds its own kind.
        UniqueConstraint("unit_id", "code"),
        UniqueConstraint("logger_id", "code"),
        CheckConstraint("(unit_id IS NULL) != (logger_id IS NULL)", name="one_device"),
        CheckConstraint(
            "installed_at IS NULL OR removed_at IS NULL OR removed_at > installed_at",
            name="installed",
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("storage_units.id"))
    logger_id: Mapped[int | None] = mapped_column(ForeignKey("loggers.id"))
    code: Mapped[str] = mapped_column(String(64))
    calibration_due: Mapped[date | None]
    # Added by migration 0005: when the probe was fitted and taken out (None: always, still);
    # `coldchain.catalog.conditions.installed_span` answers for a span.
    installed_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]


class CalibrationCertificateRow(Base):
    """A probe's calibration certificate (migration 0010): recorded once, never rewritten;
    a later one supersedes it from its `calibrated_at` (`coldchain.catalog.calibration`).
    The dates are the certificate's; `calibrated_at`/`due_at` the same midnights at the
    probe's site, in UTC, as the rules compare them. `offset_c`: the correction to add to
    readings (None: none)."""

    __tablename__ = "calibration_certificates"
    __table_args__ = (
        UniqueConstraint("sensor_id", "certificate"),
        CheckConstraint("due_on > calibrated_on", name="due"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sensor_id: Mapped[int] = mapped_column(ForeignKey("sensors.id"))
    certificate: Mapped[str] = mapped_column(String(64))
    lab: Mapped[str] = mapped_column(String(200))
    calibrated_on: Mapped[date]
    due_on: Mapped[date]
    calibrated_at: Mapped[datetime]
    due_at: Mapped[datetime]
    offset_c: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(64))


class ProductRow(Base):
    """A product and its labelled storage condition, stability budget and MKT parameter.

    The condition columns hold the version in force now; `product_conditions` keeps every
    version with the moment it took effect, for judging the past (migration 0005).
    """

    __tablename__ = "products"
    __table_args__ = (CheckConstraint("min_c < max_c", name="range"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    sponsor_id: Mapped[str] = mapped_column(ForeignKey("sponsors.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    min_c: Mapped[float] = mapped_column(Float)
    max_c: Mapped[float] = mapped_column(Float)
    alarm_delay_min: Mapped[float] = mapped_column(Float)
    budget_max_c: Mapped[float | None] = mapped_column(Float)
    budget_min_c: Mapped[float | None] = mapped_column(Float)
    budget_hours: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(400))
    mkt_delta_h_kj_per_mol: Mapped[float] = mapped_column(Float)
    # Added by migration 0009 (#22): the budget as bands (JSON list of {min_c, max_c, hours};
    # the old columns stay and say the same for the old single form), freezing.
    budget_bands_json: Mapped[str | None] = mapped_column(Text)
    freeze_c: Mapped[float | None] = mapped_column(Float)
    freeze_events: Mapped[int | None] = mapped_column(Integer)


class AlarmProfileRow(Base):
    """One version of an alarm profile (migration 0011, #22) of a product or a storage unit
    (exactly one), in force from `valid_from` until the next version of the same owner's.
    Versions are only ever added, like `product_conditions`; a profile removed from the
    fleet file is a version with every field empty (coldchain/catalog/profiles.py)."""

    __tablename__ = "alarm_profiles"
    __table_args__ = (CheckConstraint("(product_id IS NULL) <> (unit_id IS NULL)", name="owner"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("storage_units.id"), index=True)
    valid_from: Mapped[datetime]
    warning_low_c: Mapped[float | None] = mapped_column(Float)
    warning_high_c: Mapped[float | None] = mapped_column(Float)
    high_delay_min: Mapped[float | None] = mapped_column(Float)
    low_delay_min: Mapped[float | None] = mapped_column(Float)
    critical_low_c: Mapped[float | None] = mapped_column(Float)
    critical_high_c: Mapped[float | None] = mapped_column(Float)
    latching: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[datetime]


class ProductConditionRow(Base):
    """One version of a product's storage condition, in force from `valid_from` until the
    next version's (migration 0005). Versions are only ever added: a later change of the
    limits must not rewrite how the past is judged. The first is in force from 1970-01-01
    (a product has always had its label condition); `recorded_at` is when it was written."""

    __tablename__ = "product_conditions"
    __table_args__ = (
        UniqueConstraint("product_id", "valid_from"),
        CheckConstraint("min_c < max_c", name="range"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"))
    valid_from: Mapped[datetime]
    min_c: Mapped[float] = mapped_column(Float)
    max_c: Mapped[float] = mapped_column(Float)
    alarm_delay_min: Mapped[float] = mapped_column(Float)
    budget_max_c: Mapped[float | None] = mapped_column(Float)
    budget_min_c: Mapped[float | None] = mapped_column(Float)
    budget_hours: Mapped[float | None] = mapped_column(Float)
    label: Mapped[str] = mapped_column(String(400))
    recorded_at: Mapped[datetime]
    # Added by migration 0009 (#22), versioned with the rest of the condition.
    budget_bands_json: Mapped[str | None] = mapped_column(Text)
    freeze_c: Mapped[float | None] = mapped_column(Float)
    freeze_events: Mapped[int | None] = mapped_column(Integer)


class BatchRow(Base):
    __tablename__ = "batches"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id"), index=True)


class PlacementRow(Base):
    """Batch B was in unit U or shipment S from `start_at` to `end_at` (None: still there).

    Rows are never rewritten: the only change allowed is closing an open one (a move).
    `quantity` (units of the batch there, migration 0005) marks a part of a split batch: a
    batch is in two places at once only when both placements carry one.
    """

    __tablename__ = "placements"
    __table_args__ = (
        CheckConstraint("(unit_id IS NULL) != (shipment_id IS NULL)", name="one_place"),
        CheckConstraint("end_at IS NULL OR end_at > start_at", name="ordered"),
        CheckConstraint("quantity IS NULL OR quantity > 0", name="quantity"),
        Index("ix_placements_unit_time", "unit_id", "start_at"),
        Index("ix_placements_shipment_time", "shipment_id", "start_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("storage_units.id"))
    shipment_id: Mapped[str | None] = mapped_column(ForeignKey("shipments.id"))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime | None]
    recorded_at: Mapped[datetime]
    quantity: Mapped[int | None] = mapped_column(Integer)


class AlertRuleRow(Base):
    """A detector rule beyond the product's own limits (`params` as the rule's kind reads them)."""

    __tablename__ = "alert_rules"
    __table_args__ = (CheckConstraint(_one_of("kind", ALERT_KINDS), name="kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("storage_units.id"))
    params_json: Mapped[str] = mapped_column(Text, default="{}")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Added by migration 0004: a shipment's own rules, e.g. the alarm settings
    # of the USB logger that travelled with it, imported with its report.
    shipment_id: Mapped[str | None] = mapped_column(ForeignKey("shipments.id"))


class AlertRow(Base):
    """One alert, shaped like the MQTT alert event of docs/design.md §9."""

    __tablename__ = "alerts"
    __table_args__ = (
        CheckConstraint(_one_of("kind", ALERT_KINDS), name="kind"),
        CheckConstraint(_one_of("state", ALERT_STATES), name="state"),
        CheckConstraint("severity IN ('warning', 'alarm')", name="severity"),
        Index("ix_alerts_sensor", "site_id", "device", "sensor", "start_at"),
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    site_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(64))
    sensor: Mapped[str] = mapped_column(String(64))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime | None]
    peak_c: Mapped[float | None] = mapped_column(Float)
    retrospective: Mapped[bool] = mapped_column(Boolean, default=False)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id"))
    updated_at: Mapped[datetime]
    # Added by migration 0002: escalation along the contact chain, and what the
    # detector saw (limit, direction, reason) as JSON for people and exports.
    escalation_level: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_escalation_at: Mapped[datetime | None]
    detail_json: Mapped[str | None] = mapped_column(Text)


class AlertHistoryRow(Base):
    """Each state change of an alert: who, when, comment, root cause (on close)."""

    __tablename__ = "alert_history"
    __table_args__ = (CheckConstraint(_one_of("state", ALERT_STATES), name="state"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), index=True)
    at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    root_cause: Mapped[str | None] = mapped_column(Text)


class OutboxRow(Base):
    """A notification waiting to be delivered (webhook, e-mail, MQTT), retried with backoff."""

    __tablename__ = "notification_outbox"
    __table_args__ = (
        CheckConstraint("channel IN ('webhook', 'email', 'mqtt')", name="channel"),
        Index("ix_outbox_due", "delivered_at", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str | None] = mapped_column(ForeignKey("alerts.id"))
    channel: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(400))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    # Added by migration 0002: one row per (alert, state, channel, destination, level), so a
    # replayed state change cannot notify twice.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)


class DeadLetterRow(Base):
    """A message that could not be accepted, with its raw bytes (docs/design.md §4)."""

    __tablename__ = "dead_letters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(index=True)
    stage: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str | None] = mapped_column(String(400))
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)


class AuditEntryRow(Base):
    """One append-only audit entry; `entry_hash` covers every column and `prev_hash`.

    `old_value` and `new_value` are stored as the canonical JSON text that was hashed, so
    verification re-hashes exactly what is stored (no float or key-order round trip).
    """

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # Indexed by migration 0007: QA reviews the trail by span (`coldchain audit review`).
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(200))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditHeadRow(Base):
    """The last entry's number and hash, one row; appenders lock it, and it reveals a
    truncated tail, which the chain alone cannot (deleting the newest entries leaves a
    valid chain)."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    entry_hash: Mapped[str] = mapped_column(String(64))


class GatewayRow(Base):
    """A gateway's MQTT account (migration 0003): one per (site, gateway), never
    deleted; `revoked_at` set when it may no longer connect. `password_hash` is mosquitto's
    `$7$` PBKDF2 hash of a random password shown once; the broker's password file is
    regenerated from these rows."""

    __tablename__ = "gateways"
    __table_args__ = (UniqueConstraint("site_id", "gateway"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    gateway: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(200), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class LoggerReportRow(Base):
    """A USB logger's own export, imported (migration 0004): which shipment or
    unit and sensor its readings were published for, and what the device itself said
    (daily or run summary, alarm record, alarm rules) as JSON, for the QA export to show
    beside our figures. `file_sha256` is unique per target, so a re-import is a no-op."""

    __tablename__ = "logger_reports"
    __table_args__ = (
        # NULLs are distinct in unique constraints, so each pair only binds its own kind.
        UniqueConstraint("shipment_id", "file_sha256"),
        UniqueConstraint("unit_id", "file_sha256"),
        CheckConstraint("(shipment_id IS NULL) != (unit_id IS NULL)", name="one_target"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shipment_id: Mapped[str | None] = mapped_column(ForeignKey("shipments.id"))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("storage_units.id"))
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    source: Mapped[str] = mapped_column(String(16))
    device: Mapped[str] = mapped_column(String(64))
    sensor: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(32))
    device_model: Mapped[str] = mapped_column(String(200))
    serial: Mapped[str] = mapped_column(String(64))
    file_sha256: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(400))
    timezone: Mapped[str] = mapped_column(String(64))
    log_interval_s: Mapped[int | None] = mapped_column(Integer)
    readings: Mapped[int] = mapped_column(Integer)
    first_reading_at: Mapped[datetime | None]
    last_reading_at: Mapped[datetime | None]
    imported_at: Mapped[datetime]
    imported_by: Mapped[str] = mapped_column(String(64))
    summary_json: Mapped[str] = mapped_column(Text)
    events_json: Mapped[str] = mapped_column(Text)
    rules_json: Mapped[str] = mapped_column(Text)


class SponsorContactRow(Base):
    """Where a sponsor wants to hear about deviations on its products (migration 0007)."""

    __tablename__ = "sponsor_contacts"
    __table_args__ = (
        UniqueConstraint("sponsor_id", "channel", "destination"),
        CheckConstraint("channel IN ('webhook', 'email')", name="channel"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sponsor_id: Mapped[str] = mapped_column(ForeignKey("sponsors.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(400))


class DeviationRow(Base):
    """A deviation of a batch (migration 0007): the findings it covers, the CMO's product
    impact assessment and the sponsor's decision, moving open -> assessed -> agreed or
    disputed -> closed (coldchain/catalog/deviations.py)."""

    __tablename__ = "deviations"
    __table_args__ = (
        CheckConstraint(_one_of("state", DEVIATION_STATES), name="state"),
        CheckConstraint(f"impact IS NULL OR {_one_of('impact', IMPACTS)}", name="impact"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(400))
    opened_at: Mapped[datetime]
    opened_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    stability_reference: Mapped[str | None] = mapped_column(Text)
    impact: Mapped[str | None] = mapped_column(String(16))
    sponsor_comment: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class DeviationFindingRow(Base):
    """A finding a deviation covers: its id and the exact span covered. A finding that
    grows past the span (late readings) is no longer covered."""

    __tablename__ = "deviation_findings"
    __table_args__ = (UniqueConstraint("deviation_id", "finding_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deviation_id: Mapped[int] = mapped_column(ForeignKey("deviations.id"), index=True)
    finding_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    place: Mapped[str] = mapped_column(String(400))
    start_at: Mapped[datetime | None]
    end_at: Mapped[datetime | None]
    alert_id: Mapped[str | None] = mapped_column(String(64))


class DeviationHistoryRow(Base):
    """Each state change of a deviation: who, when, the comment, the signature if signed."""

    __tablename__ = "deviation_history"
    __table_args__ = (CheckConstraint(_one_of("state", DEVIATION_STATES), name="state"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deviation_id: Mapped[int] = mapped_column(ForeignKey("deviations.id"), index=True)
    at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    signature_id: Mapped[int | None] = mapped_column(ForeignKey("signatures.id"))


class SignatureRow(Base):
    """An electronic signature (21 CFR 11.50, 11.70): who (printed name, role), when (UTC,
    and local time in `timezone`), what it means, and the SHA-256 of exactly what was signed
    (`content`, canonical JSON, kept so anyone can re-hash it). `seal` is the SHA-256 over
    all of these, so editing any field of a stored signature shows."""

    __tablename__ = "signatures"
    __table_args__ = (
        CheckConstraint(_one_of("meaning", MEANINGS), name="meaning"),
        Index("ix_signatures_subject", "subject", "subject_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[str | None] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    printed_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    meaning: Mapped[str] = mapped_column(String(16))
    signed_at: Mapped[datetime]
    local_time: Mapped[str] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64))
    content: Mapped[str] = mapped_column(Text)
    content_sha256: Mapped[str] = mapped_column(String(64))
    seal: Mapped[str] = mapped_column(String(64))


class ReleaseDecisionRow(Base):
    """QA's signed decision on a batch's temperature record: `released` or `rejected`."""

    __tablename__ = "release_decisions"
    __table_args__ = (CheckConstraint("decision IN ('released', 'rejected')", name="decision"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime]
    decided_by: Mapped[str] = mapped_column(String(64))
    signature_id: Mapped[int] = mapped_column(ForeignKey("signatures.id"))


class TorEntryRow(Base):
    """Time out of refrigeration recorded by hand (migration 0009, #22): the batch was out
    from `start_at` to `end_at`, at most `max_c`. Never rewritten: a correction is a new
    entry naming the one it voids (`voids_id`), with its reason (coldchain/catalog/budget.py)."""

    __tablename__ = "tor_entries"
    __table_args__ = (CheckConstraint("end_at > start_at", name="ordered"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    max_c: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]
    voids_id: Mapped[int | None] = mapped_column(ForeignKey("tor_entries.id"), unique=True)


class CarriedInRow(Base):
    """Budget consumed before the batch reached this site (migration 0009, #22): `hours` in
    the band [band_min_c, band_max_c) and freeze events, with where the figure comes from."""

    __tablename__ = "budget_carried_in"
    __table_args__ = (
        CheckConstraint("band_min_c < band_max_c", name="band"),
        CheckConstraint("hours >= 0 AND freeze_events >= 0", name="amounts"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    batch_id: Mapped[str] = mapped_column(ForeignKey("batches.id"), index=True)
    band_min_c: Mapped[float] = mapped_column(Float)
    band_max_c: Mapped[float] = mapped_column(Float)
    hours: Mapped[float] = mapped_column(Float)
    freeze_events: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    recorded_by: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]


class OnCallRotaRow(Base):
    """A site's on-call rota (migration 0012): how long an alarm may stay unacknowledged
    before the next contact of the shift in force is called (coldchain/catalog/rota.py)."""

    __tablename__ = "oncall_rotas"
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    escalate_after_min: Mapped[float] = mapped_column(Float)


class OnCallShiftRow(Base):
    """One shift of a site's rota, in the file's order (the first in force wins): absolute
    (`starts_at`..`ends_at`) or weekly (`weekdays` "mon,tue", `day_from`..`day_to` "HH:MM"
    in the site's zone, overnight when `day_to` <= `day_from`)."""

    __tablename__ = "oncall_shifts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("oncall_rotas.site_id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    weekdays: Mapped[str | None] = mapped_column(String(32))
    day_from: Mapped[str | None] = mapped_column(String(5))
    day_to: Mapped[str | None] = mapped_column(String(5))


class OnCallContactRow(Base):
    """The contact called at escalation `level` of a shift: a person and one channel."""

    __tablename__ = "oncall_contacts"
    __table_args__ = (
        UniqueConstraint("shift_id", "level"),
        CheckConstraint("channel IN ('webhook', 'email')", name="channel"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("oncall_shifts.id"), index=True)
    level: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    destination: Mapped[str] = mapped_column(String(400))
