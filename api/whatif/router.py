"""/whatif: scenarios and questions over history for data officers, answers stored by id."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, status

from fleetpilot.analytics.whatif.privacy import Privacy
from fleetpilot.api import policy
from fleetpilot.api.deps import REFUSALS, Allowed, CityZone, Conn, DayRange
from fleetpilot.api.policy import Capability
from fleetpilot.api.whatif import service
from fleetpilot.api.whatif.schemas import AskIn, Catalog, ResultOut, ResultSummary

router = APIRouter(prefix="/whatif", tags=["whatif"], responses=REFUSALS)
WhatIf = Allowed(Capability.WHATIF)  # data officers only (policy.RULES)
RESULTS_PATH = "/api/v1/whatif/results/"


def _out(stored: service.Stored) -> ResultOut:
    return ResultOut(**dict(stored.__dict__.items()), link=RESULTS_PATH + stored.result_id)


async def _answer(access, conn, kind: service.Kind, name: str, body: AskIn, days, tz: str) -> ResultOut:
    scope = await policy.aggregate_scope(conn, access, days)
    try:
        stored = await service.answer(
            conn,
            kind,
            name,
            body.params,
            scope.start,
            scope.end,
            Privacy(scope.k_shifts, scope.k_people),
            tz,
            access.principal.user_id,
            released=await policy.released_shifts(conn, scope),
        )
    except service.WhatIfError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _out(stored)


@router.get("", response_model=Catalog)
async def catalog(_: WhatIf) -> Catalog:
    """Every scenario and question, with parameters, defaults and the method behind it."""
    return Catalog(**service.catalog())


@router.post("/scenarios/{name}", response_model=ResultOut, responses={422: {"description": "bad input or no data"}})
async def scenario(
    access: WhatIf,
    conn: Conn,
    name: Annotated[str, Path(max_length=64)],
    body: AskIn,
    days: DayRange,
    tz: CityZone,
) -> ResultOut:
    """Run a scenario over the shifts starting in [from, to): KPI deltas with intervals and assumptions."""
    return await _answer(access, conn, "scenario", name, body, days, tz)


@router.post(
    "/questions/{question_id}", response_model=ResultOut, responses={422: {"description": "bad input or no data"}}
)
async def question(
    access: WhatIf,
    conn: Conn,
    question_id: Annotated[str, Path(max_length=64)],
    body: AskIn,
    days: DayRange,
    tz: CityZone,
) -> ResultOut:
    """Answer a library question over [from, to): a number, a table and a chart, k-anonymous."""
    return await _answer(access, conn, "question", question_id, body, days, tz)


@router.get("/results", response_model=list[ResultSummary])
async def results(_: WhatIf, conn: Conn, limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[ResultSummary]:
    """The most recent stored answers."""
    return [ResultSummary(**r) for r in await service.recent(conn, limit)]


@router.get(
    "/results/{result_id}",
    response_model=ResultOut,
    responses={404: {"description": "no such answer"}, 410: {"description": "withdrawn: k or the data changed"}},
)
async def result(access: WhatIf, conn: Conn, result_id: Annotated[str, Path(pattern="^[0-9a-f]{32}$")]) -> ResultOut:
    """A stored answer, exactly as it was given (the shareable link), while the release rule,
    k and the period's data are as they were; otherwise it is withdrawn (410: ask again)."""
    stored = await service.get(conn, result_id)
    if stored is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such answer")
    why = await service.current(conn, stored, await policy.live_k(conn, access))
    if why is not None:
        raise HTTPException(status.HTTP_410_GONE, f"this answer was withdrawn: {why}; ask the question again")
    return _out(stored)
