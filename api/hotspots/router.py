"""/hotspots: exposure-normalised safety hotspots per street segment or grid cell."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from fleetpilot.api import policy
from fleetpilot.api.deps import REFUSALS, Allowed, Conn, DayRange
from fleetpilot.api.hotspots import service
from fleetpilot.api.hotspots.schemas import CellKind, Hotspots, MinLevel, SegmentKind
from fleetpilot.api.policy import Capability

router = APIRouter(prefix="/hotspots", tags=["hotspots"], responses=REFUSALS)
Hotspot = Allowed(Capability.HOTSPOTS)
MinPasses = Annotated[
    int | None,
    Query(
        ge=1,
        le=1_000_000,
        description="units passed fewer times are not tested (default: "
        f"{service.DEFAULT_MIN_PASSES['segment']} for segments, {service.DEFAULT_MIN_PASSES['cell']} for cells)",
    ),
]
Listed = Annotated[
    MinLevel,
    Query(
        description="list all tested units, only those above the fleet's level (z > 0), or only significant ones; "
        "scores are computed over all tested units either way"
    ),
]


def _json(body: str) -> Response:
    """The service's JSON as is (its schema is the response_model): FastAPI would dump and
    re-validate thousands of units first."""
    return Response(body, media_type="application/json")


@router.get("/segments", response_model=Hotspots)
async def segments(
    access: Hotspot,
    conn: Conn,
    days: DayRange,
    kind: SegmentKind = "harsh_brake",
    min_passes: MinPasses = None,
    min_level: Listed = "all",
) -> Response:
    """Street segments by events per pass against the fleet's rate, with FDR-controlled significance."""
    scope = await policy.aggregate_scope(conn, access, days)
    return _json(await service.hotspots_json(conn, scope, "segment", kind, min_passes, min_level))


@router.get("/cells", response_model=Hotspots)
async def cells(
    access: Hotspot,
    conn: Conn,
    days: DayRange,
    kind: CellKind = "harsh_brake",
    min_passes: MinPasses = None,
    min_level: Listed = "all",
) -> Response:
    """Grid cells by events per pass against the fleet's rate, with FDR-controlled significance."""
    scope = await policy.aggregate_scope(conn, access, days)
    return _json(await service.hotspots_json(conn, scope, "cell", kind, min_passes, min_level))
