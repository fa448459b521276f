"""A driver's own trends, access log and full data export (/me/...)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import FileResponse, Response
from starlette.background import BackgroundTask

from fleetpilot.api import policy
from fleetpilot.api.deps import REFUSALS, Allowed, CityZone, Conn
from fleetpilot.api.me import export, plan
from fleetpilot.api.me.access_log import my_access_log
from fleetpilot.api.me.schemas import AccessLog, MyPlan, Trends
from fleetpilot.api.me.trends import TREND_ANSWERS
from fleetpilot.api.policy import Capability

router = APIRouter(prefix="/me", tags=["my data"], responses=REFUSALS)


@router.get("/trends", response_model=Trends)
async def trends(
    access: Allowed(Capability.OWN_DATA),
    conn: Conn,
    tz: CityZone,
    weeks: Annotated[int, Query(ge=2, le=104)] = 12,
) -> Response:
    """My weekly safety and workload figures against my own earlier weeks (the city's ISO weeks)."""
    return Response(
        await TREND_ANSWERS.answer(conn, policy.own_person(access), weeks, tz), media_type="application/json"
    )


@router.get("/plan", response_model=MyPlan, responses={404: {"description": "no shift on a route, or no plan applies"}})
async def my_plan(access: Allowed(Capability.OWN_DATA), conn: Conn, tz: CityZone) -> Response:
    """The plan of my route that applies today (streets in driving order, the map, the
    supervisor's reason) and what changed since the version I drove last."""
    try:
        return Response(
            await plan.PLAN_ANSWERS.answer(conn, policy.own_person(access), tz), media_type="application/json"
        )
    except plan.NoRoute as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None


@router.get("/access-log", response_model=AccessLog)
async def access_log(
    access: Allowed(Capability.OWN_DATA),
    conn: Conn,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> AccessLog:
    """Who opened my data, when and for what purpose."""
    return await my_access_log(conn, policy.own_person(access), limit, offset)


@router.get(
    "/export",
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "a zip of JSON, GeoJSON and CSV"}},
)
async def export_all(access: Allowed(Capability.OWN_DATA), conn: Conn, tz: CityZone) -> FileResponse:
    """Everything stored about me, in one download."""
    settings = await policy.privacy_settings(conn)
    archive = await export.export_my_data(conn, policy.own_person(access), settings["retention_days"], tz)
    return FileResponse(
        archive, media_type="application/zip", filename=archive.name, background=BackgroundTask(export.cleanup, archive)
    )
