"""/me/hazards: a crew member reports hazards and follows them; /hazards: the city's list."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Response

from fleetpilot.api import policy
from fleetpilot.api.deps import REFUSALS, UNREADABLE_BODY, CityZone, Conn
from fleetpilot.api.hazards import service
from fleetpilot.api.hazards.schemas import (
    FixedHazard,
    FixedHazards,
    HazardList,
    MyReport,
    MyReports,
    NewReport,
    StatusChange,
)
from fleetpilot.api.policy import Access, Capability

# deps.Allowed spelled out, so mypy reads the parameters' type.
OwnData = Annotated[Access, Depends(policy.gate(Capability.OWN_DATA))]
CityList = Annotated[Access, Depends(policy.gate(Capability.HAZARDS))]
FixedList = Annotated[Access, Depends(policy.gate(Capability.HAZARDS_FIXED))]
Workflow = Annotated[Access, Depends(policy.gate(Capability.HAZARDS_WRITE))]
Responses = dict[int | str, dict[str, Any]]
ALREADY_FILED: Responses = {200: {"model": MyReport, "description": "already filed under this client_key"}}
REFUSED: Responses = {code: dict(body) for code, body in REFUSALS.items()}
UNREADABLE: Responses = {code: dict(body) for code, body in UNREADABLE_BODY.items()}

router = APIRouter(tags=["hazards"], responses=REFUSED)


@router.post(
    "/me/hazards",
    response_model=MyReport,
    status_code=201,
    responses={**ALREADY_FILED, 404: {"description": "shift_id is not a shift of yours"}, **UNREADABLE},
)
async def report_hazard(access: OwnData, conn: Conn, report: NewReport, response: Response) -> MyReport:
    """Report a hazard from the cab. Sent again with the same client_key (a phone that was
    offline retrying), it is stored once and answered 200 with the first report."""
    filed, new = await service.file_report(conn, policy.own_person(access), report)
    if not new:
        response.status_code = 200
    return filed


@router.get("/me/hazards", response_model=MyReports)
async def my_hazards(access: OwnData, conn: Conn) -> MyReports:
    """My hazard reports, newest first, each with the city's status of its hazard."""
    return MyReports(reports=await service.my_reports(conn, policy.own_person(access)))


@router.get("/hazards", response_model=HazardList)
async def city_hazards(access: CityList, conn: Conn, tz: CityZone) -> HazardList:
    """The city's hazard list: places and categories, never who reported. A hazard with fewer
    than k_min_people distinct reporters shows only place, category and parts of day. A fixed
    hazard on a street carries its before/after (`effect`), from released cells only."""
    k = await policy.live_k(conn, access)
    return HazardList(k_min_people=k[1], hazards=await service.city_list(conn, k, tz))


@router.get("/hazards/fixed", response_model=FixedHazards)
async def fixed_hazards(access: FixedList, conn: Conn, tz: CityZone) -> FixedHazards:
    """The city's fixed hazards for every crew's page and map: place, kind, what was done and
    when, and the before/after of hard braking there (`effect`; "not enough passes yet"
    until both periods hold enough passes). Never who reported."""
    k = await policy.live_k(conn, access)
    hazards = await service.city_list(conn, k, tz, fixed_only=True)
    return FixedHazards(hazards=[FixedHazard(**{f: h[f] for f in FixedHazard.model_fields}) for h in hazards])


@router.patch("/hazards/{hazard_id}", status_code=204, responses={404: {"description": "no such hazard"}, **UNREADABLE})
async def move_hazard(
    access: Workflow, conn: Conn, change: StatusChange, hazard_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    """Acknowledge a hazard, plan its fix, or mark it fixed (what was done, and the day)."""
    if not await service.set_status(conn, hazard_id, change):
        raise HTTPException(404, "no such hazard")
    return Response(status_code=204)
