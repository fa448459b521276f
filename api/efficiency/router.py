"""Route efficiency over time and per-segment coverage (aggregates, k-suppressed)."""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from fleetpilot.api import policy
from fleetpilot.api.deps import REFUSALS, Allowed, Conn, DayRange
from fleetpilot.api.efficiency import service
from fleetpilot.api.efficiency.schemas import Bucket, RouteEfficiency, RouteSegmentsCoverage
from fleetpilot.api.errors import UnknownRoute
from fleetpilot.api.policy import Capability

router = APIRouter(tags=["efficiency"], responses=REFUSALS)
Efficiency = Allowed(Capability.EFFICIENCY)
RouteId = Annotated[str, Path(max_length=64)]
BucketQuery = Annotated[Bucket, Query(description="group shifts by ISO week or by month (the weeks starting in it)")]
UNKNOWN = {404: {"description": "no such route"}}


def _json(body) -> Response:
    """orjson bytes of the service's dicts (their schema is the route's response_model)."""
    return Response(orjson.dumps(body), media_type="application/json")


def _role(access: policy.Access) -> str:
    """Kept answers are per role (decision 0043): one role's answer is never handed to another."""
    return access.principal.role if access.principal else policy.ANONYMOUS


@router.get("/efficiency/routes", response_model=list[RouteEfficiency])
async def all_routes(access: Efficiency, conn: Conn, days: DayRange, bucket: BucketQuery = "week") -> Response:
    """Every route with shifts in [from, to): efficiency per period and over the whole range."""
    scope = await policy.aggregate_scope(conn, access, days)
    return _json(await service.efficiency(conn, scope, bucket))


@router.get("/routes/{route_id}/efficiency", response_model=RouteEfficiency, responses=UNKNOWN)
async def route_efficiency(
    access: Efficiency, conn: Conn, route_id: RouteId, days: DayRange, bucket: BucketQuery = "week"
) -> Response:
    """Coverage, missed segments, deadhead, idle, dwell and turnaround of one route over time."""
    scope = await policy.aggregate_scope(conn, access, days)
    try:
        text = await service.KEPT_AGGREGATES.efficiency(conn, _role(access), scope, route_id, bucket)
        return Response(text, media_type="application/json")
    except UnknownRoute:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such route") from None


@router.get("/routes/{route_id}/coverage", response_model=RouteSegmentsCoverage, responses=UNKNOWN)
async def route_coverage(access: Efficiency, conn: Conn, route_id: RouteId, days: DayRange) -> Response:
    """How often each planned segment of the route's current plan was driven in [from, to)."""
    scope = await policy.aggregate_scope(conn, access, days)
    try:
        text = await service.KEPT_AGGREGATES.coverage(conn, _role(access), scope, route_id)
        return Response(text, media_type="application/json")
    except UnknownRoute:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such route") from None
