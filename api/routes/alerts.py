"""Alerts: list and filter, read one with its history, acknowledge (warehouse operator)
with a comment, close (QA) with a root cause, an electronic signature with the password
entered again. Changes are audited by the catalog."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime

from api.access import AlertFilter
from api.convert import alert_detail_public, alert_public
from api.deps import AccessDep, StateDep
from api.routes.deviations import signing
from api.routes.params import AlertIdPath
from api.schemas import AlertAcknowledge, AlertClose, AlertDetailPublic, AlertPublic

__all__ = ["router"]

router = APIRouter(prefix="/alerts", tags=["alerts"])

_Id = Annotated[str | None, Query(max_length=64)]


@router.get("", response_model=list[AlertPublic])
async def list_alerts(
    access: AccessDep,
    state: Annotated[Literal["open", "acknowledged", "resolved", "closed"] | None, Query()] = None,
    severity: Annotated[Literal["warning", "alarm"] | None, Query()] = None,
    kind: Annotated[
        Literal[
            "excursion",
            "missing_data",
            "sensor_fault",
            "low_battery",
            "rate_of_change",
            "forecast",
            "budget",
            "calibration_due",
        ]
        | None,
        Query(),
    ] = None,
    site: _Id = None,
    device: _Id = None,
    since: Annotated[
        AwareDatetime | None, Query(description="only alerts still going on at or after this")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[AlertPublic]:
    """Alerts the viewer may see, newest first, with the §9 alert fields."""
    filters = AlertFilter(
        state=state, severity=severity, kind=kind, site=site, device=device, since=since
    )
    return [alert_public(a) for a in await access.alerts(filters, limit=limit)]


@router.get("/{alert_id}", response_model=AlertDetailPublic)
async def get_alert(access: AccessDep, alert_id: AlertIdPath) -> AlertDetailPublic:
    return alert_detail_public(await access.alert(alert_id))


@router.post("/{alert_id}/acknowledge", response_model=AlertDetailPublic)
async def acknowledge(
    access: AccessDep, alert_id: AlertIdPath, body: AlertAcknowledge
) -> AlertDetailPublic:
    """Acknowledge an open alert with a comment (warehouse operator, admin): stops its
    escalation. 409 unless the alert is open."""
    return alert_detail_public(await access.acknowledge(alert_id, comment=body.comment))


@router.post("/{alert_id}/close", response_model=AlertDetailPublic)
async def close(
    state: StateDep,
    request: Request,
    access: AccessDep,
    alert_id: AlertIdPath,
    body: AlertClose,
) -> AlertDetailPublic:
    """Close a resolved alert with its root cause: QA signs it (`approved`) with the
    password entered again; an admin signs nothing. 409 unless resolved; 403 for another
    role or a wrong password (audited)."""
    await access.alert(alert_id)  # 404 before 403: roles do not reveal ids
    async with signing(
        state,
        request,
        access,
        subject="alert_closure",
        subject_id=alert_id,
        meaning="approved",
    ):
        closed = await access.close(
            alert_id,
            root_cause=body.root_cause,
            comment=body.comment,
            password=body.password,
            timezone=body.timezone or "UTC",
        )
    return alert_detail_public(closed)
