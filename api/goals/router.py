"""/goals: the KPI catalogue, the pilot's goals (versioned, audited), the scorecard and its report."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response, status

from fleetpilot.api import policy
from fleetpilot.api.deps import REFUSALS, CityZone, Conn, DayRange
from fleetpilot.api.goals import report, service
from fleetpilot.api.goals.schemas import Goal, GoalIn, Kpi, Saved, Scorecard
from fleetpilot.api.policy import Access, Capability

REFUSED: dict[int | str, dict[str, Any]] = {code: dict(doc) for code, doc in REFUSALS.items()}
router = APIRouter(prefix="/goals", tags=["goals"], responses=REFUSED)
# Every role: fleet-wide figures, never a person.
Reader = Annotated[Access, Depends(policy.gate(Capability.GOALS))]
# Data officers and admins.
Writer = Annotated[Access, Depends(policy.gate(Capability.GOALS_WRITE))]
GoalId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{0,47}$")]


@router.get("/catalogue", response_model=list[Kpi])
async def catalogue(_: Reader) -> list[dict]:
    """The KPIs a goal can measure, each with its written definition."""
    return service.catalogue()


@router.get("", response_model=list[Goal])
async def goals(_: Reader, conn: Conn, retired: bool = False) -> list[dict]:
    """The current version of every goal, with the history of its targets."""
    return await service.list_goals(conn, retired)


@router.put("/{goal_id}", response_model=Saved, responses={422: {"description": "unknown KPI or bad period"}})
async def save(access: Writer, conn: Conn, goal_id: GoalId, body: GoalIn) -> Saved:
    """Define a goal, or change one: a new version, the earlier ones kept; audited."""
    assert access.principal is not None
    try:
        version = await service.save_goal(conn, service.GoalIn(goal_id=goal_id, **body.model_dump()), access.principal)
    except service.GoalError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return Saved(goal_id=goal_id, version=version)


@router.get("/scorecard", response_model=Scorecard)
async def scorecard(access: Reader, conn: Conn, days: DayRange, tz: CityZone) -> dict:
    """Weekly values of every goal over [from, to) (whole local ISO weeks) with 95 % intervals,
    baseline, target and verdict; computed from released (route, week) groups only."""
    scope = await policy.aggregate_scope(conn, access, days)
    return asdict(await service.scorecard(conn, scope, tz))


@router.get(
    "/report",
    response_class=Response,
    responses={200: {"content": {"text/html": {}, "application/pdf": {}}, "description": "the pilot report"}},
)
async def pilot_report(
    access: Reader,
    conn: Conn,
    days: DayRange,
    tz: CityZone,
    format: Annotated[report.Format, Query(description="html or pdf")] = "pdf",
) -> Response:
    """The pilot report over [from, to): goals against targets, the privacy record, method and
    limits, as HTML or PDF. No personal data."""
    scope = await policy.aggregate_scope(conn, access, days)
    body = await report.build(conn, scope, tz)
    if format == "html":
        return Response(body.html, media_type="text/html; charset=utf-8")
    name = f"fleetpilot-report-{scope.start}-{scope.end}.pdf"
    pdf = await report.to_pdf(body.html)
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
