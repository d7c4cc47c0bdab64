"""Request and response bodies, split by direction (`…Public` out, the rest in), as in
the FastAPI full-stack template's models.py. Times are RFC 3339 in UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from coldchain.catalog.credentials import MIN_PASSWORD_LENGTH
from coldchain.wire import ID_PATTERN

__all__ = [
    "AlertAcknowledge",
    "AlertClose",
    "AlertDetailPublic",
    "AlertHistoryPublic",
    "AlertPublic",
    "BatchDetailPublic",
    "BatchPublic",
    "BudgetBandPublic",
    "BudgetPublic",
    "DeviationAgree",
    "DeviationAssess",
    "DeviationDispute",
    "DeviationEventPublic",
    "DeviationFindingPublic",
    "DeviationOpen",
    "DeviationPublic",
    "DevicePublic",
    "FindingPublic",
    "FindingsPublic",
    "HealthPublic",
    "HistoryPublic",
    "HistorySegmentPublic",
    "HistorySeriesPublic",
    "LimitSpanPublic",
    "LimitsPublic",
    "LivePlacePublic",
    "LivePublic",
    "LocationPublic",
    "MePublic",
    "MetricsPublic",
    "PasswordChange",
    "PlaceDetailPublic",
    "PlacementPublic",
    "ProductPublic",
    "ReleaseDecide",
    "ReleasePublic",
    "SensorLivePublic",
    "SignaturePublic",
    "SpanPublic",
    "TokenPublic",
]

#: "fault": the sensor's latest reading is not a temperature (an error code, a value outside
#: the probe's range) or an open sensor-fault alert is on it; its temperature is then unknown.
Status = Literal["ok", "warning", "alarm", "no_data", "fault", "awaiting_upload"]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class TokenPublic(_Out):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token stops working")


class PasswordChange(BaseModel):
    """A user's own password change (the same minimum length as `coldchain user add`)."""

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=MIN_PASSWORD_LENGTH, max_length=1024)


class MePublic(_Out):
    user_id: str
    role: str
    sponsor: str | None
    sites: list[str]
    name: str | None = None


class BudgetBandPublic(_Out):
    """Up to `hours` cumulative with the product in [min_c, max_c] outside its range."""

    min_c: float
    max_c: float
    hours: float


class BudgetPublic(_Out):
    """A product's stability budget. `max_c`, `hours`, `min_c`: the old single form (null
    when the budget is given as bands); `bands`: every budget as its bands, lowest first
    (the single form is one band); `freeze_c` and `freeze_events` (allowed): null when
    freezing is not counted."""

    max_c: float | None
    hours: float | None
    min_c: float | None
    bands: list[BudgetBandPublic]
    freeze_c: float | None
    freeze_events: int | None


class ProductPublic(_Out):
    id: str
    sponsor: str
    name: str | None
    min_c: float
    max_c: float
    alarm_delay_min: float
    label: str
    budget: BudgetPublic | None


class BatchPublic(_Out):
    id: str
    product: str
    sponsor: str


class PlacementPublic(_Out):
    batch: str
    product: str
    unit: str | None = Field(description='"SITE/UNIT" when in a storage unit')
    shipment: str | None
    start: datetime
    end: datetime | None


class BatchDetailPublic(BatchPublic):
    placements: list[PlacementPublic]


class DevicePublic(_Out):
    site: str
    source: str
    device: str
    sensors: list[str]
    log_interval_s: int


class LocationPublic(_Out):
    kind: Literal["unit", "shipment"]
    id: str
    site: str
    name: str | None
    devices: list[DevicePublic]


class SpanPublic(_Out):
    start: datetime
    end: datetime | None


class PlaceDetailPublic(_Out):
    location: LocationPublic
    placements: list[PlacementPublic]
    visible_windows: list[SpanPublic] | None = Field(
        description="when the viewer may see this place's readings; null: always"
    )


class LimitsPublic(_Out):
    min_c: float
    max_c: float
    label: str
    products: list[str]


class AlertPublic(_Out):
    """The alert event of docs/design.md §9, plus `source`, `updated_at` and `detail`."""

    alert_id: str
    kind: str
    severity: str
    state: str
    site: str
    device: str
    sensor: str
    start: datetime
    end: datetime | None
    peak_c: float | None
    retrospective: bool
    source: str
    updated_at: datetime
    detail: dict[str, Any]


class AlertHistoryPublic(_Out):
    state: str
    at: datetime
    actor: str | None = None
    comment: str | None = None
    root_cause: str | None = None


class AlertDetailPublic(AlertPublic):
    history: list[AlertHistoryPublic]


class _Signing(BaseModel):
    """What every electronic signature asks of the signer at that moment: the password
    again (a login token alone never signs) and, optionally, the zone of the local time
    the signature shows beside UTC."""

    password: str = Field(
        min_length=1, max_length=1024, description="the signer's password, entered again"
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA time zone of the signature's local time (default UTC)",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone (e.g. Europe/Zurich)") from None
        return value


class AlertAcknowledge(BaseModel):
    comment: str = Field(min_length=1, max_length=2000, description="what was seen or done")


class AlertClose(_Signing):
    """QA closes a resolved alert: an electronic signature (meaning `approved`) of the
    alert, its root cause and comment."""

    root_cause: str = Field(min_length=1, max_length=2000, pattern=r"\S")
    comment: str | None = Field(default=None, max_length=2000)


class SensorLivePublic(_Out):
    device: str
    sensor: str
    ts: datetime | None = Field(description="event time of the latest reading")
    temp_c: float | None = Field(
        description="the latest reading; null without one or when it is not a temperature"
    )
    status: Status
    fault: str | None = Field(
        default=None,
        description="why the probe is not measuring: its latest reading is not a temperature "
        '(e.g. "error code 85 °C"; then temp_c is null) or a sensor-fault alert is open',
    )


class LivePlacePublic(_Out):
    location: LocationPublic
    batches: list[str]
    products: list[str]
    limits: LimitsPublic | None
    since: datetime | None = Field(description="readings before this are not shown to you")
    status: Status
    sensors: list[SensorLivePublic]
    alerts: list[AlertPublic]
    spark: list[tuple[int, float]] | None = Field(
        default=None, description="[t_ms, mean °C] of the last hours, when asked for"
    )
    timezone: str = Field(
        default="UTC",
        description="IANA time zone of the place's site (a shipment: its origin's), the "
        "zone its local times are shown in",
    )


class LivePublic(_Out):
    generated_at: datetime
    places: list[LivePlacePublic]


class HistorySeriesPublic(_Out):
    location: str
    site: str
    source: str
    device: str
    sensor: str
    points: list[tuple[int, float, float, float]] = Field(
        description="[bucket start t_ms, min °C, max °C, mean °C]"
    )
    late: list[int] = Field(
        default_factory=list,
        description="bucket starts (t_ms) holding a reading received more than "
        "`api_history_late_s` after the bucket ended (a backfill); raw buckets only, "
        "as downsampled series keep no arrival time",
    )


class LimitSpanPublic(_Out):
    start: datetime
    end: datetime | None
    min_c: float
    max_c: float
    label: str


class HistorySegmentPublic(_Out):
    location: str
    batch: str | None
    windows: list[SpanPublic]
    limits: list[LimitSpanPublic]


class HistoryPublic(_Out):
    start: datetime
    end: datetime
    resolution: str = Field(description="raw, 1m, 15m or 1h: the series the buckets come from")
    bucket_ms: int
    segments: list[HistorySegmentPublic]
    series: list[HistorySeriesPublic]


class HealthPublic(_Out):
    status: Literal["ok", "degraded"]
    influx: bool
    catalog: bool


class MetricsPublic(_Out):
    services: dict[str, dict[str, Any]] = Field(
        description="the latest counters each service published, by file name"
    )
    spool_depth_bytes: int | None
    lag_s: float | None = Field(description="now minus the newest reading's event time")
    stale: list[str] = Field(description="services whose counters are older than expected")
    sites_without_detector: list[str] | None = Field(
        default=None,
        description="catalog sites no reporting detector watches (partitions by site); "
        "null when the catalog cannot be read",
    )


_BatchId = Annotated[
    str, Field(pattern=f"^{ID_PATTERN.pattern}$", max_length=64, description="batch (lot) id")
]
_Text = Annotated[str, Field(min_length=1, max_length=4000, pattern=r"\S")]
_Note = Annotated[str | None, Field(max_length=4000)]


class DeviationOpen(BaseModel):
    """QA opens a deviation on findings of the batch record, named by their ids."""

    batch: _BatchId
    finding_ids: list[str] = Field(
        min_length=1,
        max_length=100,
        description="ids of open findings of the record (GET /v1/batches/{batch}/findings)",
    )
    title: str = Field(min_length=1, max_length=500, pattern=r"\S")


class DeviationAssess(_Signing):
    """CMO QA's product-impact assessment, signed `authored`."""

    reason: _Text
    stability_reference: str | None = Field(default=None, max_length=500)
    impact: Literal["none", "minor", "major"]


class DeviationAgree(_Signing):
    """The batch's sponsor agrees with the assessment (signed `approved`)."""

    comment: _Note = None


class DeviationDispute(_Signing):
    """The batch's sponsor disputes the assessment (signed `rejected`), saying why: a
    blank comment is refused by the catalog with a sentence (409)."""

    comment: _Note


class ReleaseDecide(_Signing):
    """QA's decision on the batch's temperature record, signed."""

    decision: Literal["released", "rejected"]
    comment: _Note = None


class SignaturePublic(_Out):
    """An electronic signature as stored (never a password); `valid`: its content hashes
    to its digest and its seal covers its fields."""

    id: int
    subject: str
    subject_id: str
    batch: str | None
    user_id: str
    printed_name: str
    role: str
    meaning: str
    signed_at: datetime
    local_time: str
    timezone: str
    content_sha256: str
    seal: str
    valid: bool


class DeviationFindingPublic(_Out):
    """A finding the deviation covers, by id and the span covered."""

    id: str
    kind: str
    where: str
    start: datetime | None
    end: datetime | None
    alert: str | None


class DeviationEventPublic(_Out):
    at: datetime
    state: str
    actor: str
    comment: str | None
    signature: int | None


class DeviationPublic(_Out):
    id: int
    number: str = Field(description='how people name it: "DEV-12"')
    batch: str
    state: Literal["open", "assessed", "agreed", "disputed", "closed"]
    title: str
    opened_at: datetime
    opened_by: str = Field(description='a user id, or "system" when its finding appeared')
    reason: str | None
    stability_reference: str | None
    impact: str | None
    sponsor_comment: str | None
    updated_at: datetime
    findings: list[DeviationFindingPublic]
    history: list[DeviationEventPublic]
    signatures: list[SignaturePublic]


class ReleasePublic(_Out):
    batch: str
    decision: Literal["released", "rejected"]
    comment: str | None
    decided_at: datetime
    decided_by: str
    signature: SignaturePublic


class FindingPublic(_Out):
    """A finding of the record; the keys its kind needs (api/export/findings.py) follow."""

    model_config = ConfigDict(frozen=True, extra="allow")

    id: str
    kind: str
    start: datetime | None
    end: datetime | None
    where: str
    state: Literal["open", "cleared", "context", "ongoing"]
    deviation: str | None = Field(description="the deviation that covers it, e.g. DEV-3")
    timezone: str = Field(description="IANA time zone of its place")


class FindingsPublic(_Out):
    """The batch record's automated screen as the viewer may read it, and its release."""

    batch: str
    verdict: Literal["incomplete", "open findings", "no open findings"]
    screen: str
    generated_at: datetime
    findings: list[FindingPublic]
    release: ReleasePublic | None
