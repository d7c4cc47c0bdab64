"""Path parameters shared by the routers: fleet-file ids (docs/design.md §9), checked against
the wire format's id pattern so nothing odd reaches a query."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from coldchain.wire import ID_PATTERN

__all__ = ["AlertIdPath", "BatchPath", "ProductPath", "ShipmentPath", "SitePath", "UnitPath"]

_ANCHORED = f"^{ID_PATTERN.pattern}$"

ProductPath = Annotated[str, Path(pattern=_ANCHORED, max_length=64, description="product id")]
BatchPath = Annotated[str, Path(pattern=_ANCHORED, max_length=64, description="batch (lot) id")]
SitePath = Annotated[str, Path(pattern=_ANCHORED, max_length=64, description="site id")]
UnitPath = Annotated[str, Path(pattern=_ANCHORED, max_length=64, description="unit id")]
ShipmentPath = Annotated[str, Path(pattern=_ANCHORED, max_length=64, description="shipment id")]
AlertIdPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")]
