"""Shift endpoints: a driver's own (/me/shifts) and purpose-bound access by others (/shifts)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Path, Query, Response

from fleetpilot.api import policy
from fleetpilot.api.deps import REFUSALS, UNREADABLE_BODY, Allowed, CityZone, Conn, DayRange
from fleetpilot.api.geojson import FeatureCollection
from fleetpilot.api.policy import Capability
from fleetpilot.api.shifts import service
from fleetpilot.api.shifts.schemas import OpenedShift, PurposeIn, ShiftDetail, ShiftPage, ShiftRef
from fleetpilot.localtime import day_bounds, zone

router = APIRouter(tags=["shifts"], responses=REFUSALS)
ShiftId = Annotated[str, Path(max_length=200)]
GEOJSON = "application/geo+json"
JSON = "application/json"


@router.get("/me/shifts", response_model=ShiftPage)
async def my_shifts(
    access: Allowed(Capability.OWN_DATA),
    conn: Conn,
    days: DayRange,
    tz: CityZone,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> Response:
    """My shifts that started in [from, to) (the city's local days), newest first."""
    me = policy.own_person(access)
    return Response(await service.list_own_shifts(conn, me, *day_bounds(*days, tz), limit, offset), media_type=JSON)


@router.get("/me/shifts/{shift_id}", response_model=ShiftDetail, responses={404: {"description": "not my shift"}})
async def my_shift(access: Allowed(Capability.OWN_DATA), conn: Conn, shift_id: ShiftId) -> Response:
    """One of my shifts: metrics, safety events with context, delays that were not my doing."""
    return Response(await service.own_shift_detail(conn, policy.own_person(access), shift_id), media_type=JSON)


@router.get(
    "/me/shifts/{shift_id}/track",
    response_model=FeatureCollection,
    responses={200: {"content": {GEOJSON: {}}}, 404: {"description": "not my shift"}},
)
async def my_shift_track(
    access: Allowed(Capability.OWN_DATA),
    conn: Conn,
    shift_id: ShiftId,
    detail: Annotated[Literal["simplified", "raw"], Query()] = "simplified",
) -> Response:
    """The route I drove, the planned segments (missed ones flagged) and events, as GeoJSON.
    The route is simplified (every position within `tolerance_m` of the line) or, with
    `detail=raw`, my raw positions (one every `step_s` seconds) while they are kept."""
    grant = await policy.own_shift(conn, policy.own_person(access), shift_id)
    return Response(await service.shift_track(conn, grant, raw=detail == "raw"), media_type=GEOJSON)


@router.get("/shifts", response_model=list[ShiftRef])
async def find_shifts(
    _: Allowed(Capability.SHIFT_LOOKUP),
    conn: Conn,
    tz: CityZone,
    vehicle_id: Annotated[str, Query(max_length=64)],
    at: datetime,
) -> list[ShiftRef]:
    """Which shift(s) a vehicle was on at a time (e.g. the time of an incident); no people are shown.
    A time without an offset is the city's local time."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone(tz))
    return await service.find_shifts(conn, vehicle_id, at)


@router.post(
    "/shifts/{shift_id}/open",
    response_model=OpenedShift,
    responses={
        **UNREADABLE_BODY,
        404: {"description": "no such shift"},
        422: {"description": "purpose missing or too vague"},
    },
)
async def open_shift(
    access: Allowed(Capability.SHIFT_FOR_PURPOSE), conn: Conn, shift_id: ShiftId, body: PurposeIn
) -> Response:
    """Open one shift of someone else for a stated purpose. Recorded in the audit log for each
    crew member, who sees it in their own access log."""
    grant = await policy.shift_for_purpose(conn, access, shift_id, body.purpose)
    detail = await service.shift_detail(conn, grant)
    track = await service.shift_track(conn, grant, raw=True)  # the audited look at the raw positions
    return Response(orjson.dumps({"shift": orjson.Fragment(detail), "track": orjson.Fragment(track)}), media_type=JSON)
