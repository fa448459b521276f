"""/whatif: scenarios and questions over history for data officers, answers stored by id."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Response, status

from fleetpilot.api import policy
from fleetpilot.api.deps import REFUSALS, Allowed, CityZone, Conn, DayRange
from fleetpilot.api.policy import Capability
from fleetpilot.api.whatif import service, sessions
from fleetpilot.api.whatif.schemas import (
    AskIn,
    Catalog,
    ResultOut,
    ResultSummary,
    SessionDetail,
    SessionIn,
    SessionOut,
    SessionQuestionIn,
    TriageIn,
)

router = APIRouter(prefix="/whatif", tags=["whatif"], responses=REFUSALS)
WhatIf = Allowed(Capability.WHATIF)  # data officers only (policy.RULES)
_out = service.result_out


async def _answer(access, conn, kind: service.Kind, name: str, body: AskIn, days, tz: str) -> ResultOut:
    try:
        stored = await service.answer_in_scope(conn, access, kind, name, body.params, days, tz)
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
    why = await _withdrawn(conn, access, stored, await policy.live_k(conn, access))
    if why is not None:
        raise HTTPException(status.HTTP_410_GONE, f"this answer was withdrawn: {why}; ask the question again")
    return _out(stored)


async def _withdrawn(conn, access, stored: service.Stored, k: tuple[int, int]) -> str | None:
    """Why a stored answer may no longer be served (service.current), judged against the shifts
    its period releases now (its fingerprint is of those); None when it may."""
    released = None
    if stored.inputs.get("release") == service.RELEASE_RULE:
        days = (date.fromisoformat(stored.inputs["from"]), date.fromisoformat(stored.inputs["to"]))
        scope = await policy.aggregate_scope(conn, access, days)
        released = await policy.released_shifts(conn, scope, stored.inputs.get("tz", "UTC"))
    return await service.current(conn, stored, k, released)


# --- question sessions: agency heads' questions, recorded and triaged by the data officer ----

SESSION_404 = {404: {"description": "no such session or question"}}
SessionId = Annotated[int, Path(ge=1, le=2**62)]


async def _session(conn, access, session_id: int) -> dict:
    """The session with each answered question's stored answer, marked withdrawn — and without
    its figures — when the release rule, k or its data no longer give the same answer (as GET
    /results says 410)."""
    try:
        found = await sessions.session(conn, session_id)
    except sessions.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    k = await policy.live_k(conn, access)
    for q in found["questions"]:
        if q["triage"] == "answered" and not q["answer_withdrawn"]:
            stored = await service.get(conn, q["result_id"])
            q["answer_withdrawn"] = stored is None or await _withdrawn(conn, access, stored, k) is not None
        if q["answer_withdrawn"]:
            # A withdrawn answer leaves no figure: its parameters stay, its number and title go.
            q["answer_number"] = q["answer_title"] = None
    return found


@router.post("/sessions", response_model=SessionOut, status_code=status.HTTP_201_CREATED)
async def new_session(access: WhatIf, conn: Conn, body: SessionIn) -> SessionOut:
    """Open a question session (audited)."""
    return SessionOut(**await sessions.add_session(conn, access.principal, body.title, body.held_on))


@router.get("/sessions", response_model=list[SessionOut])
async def list_sessions(_: WhatIf, conn: Conn) -> list[SessionOut]:
    """Every session with its number of questions and how many are not yet triaged."""
    return [SessionOut(**s) for s in await sessions.sessions(conn)]


@router.get("/sessions/{session_id}", response_model=SessionDetail, responses=SESSION_404)
async def get_session(access: WhatIf, conn: Conn, session_id: SessionId) -> SessionDetail:
    """The session's questions with their triage and linked answers."""
    return SessionDetail(**await _session(conn, access, session_id))


@router.post(
    "/sessions/{session_id}/questions",
    status_code=status.HTTP_201_CREATED,
    responses={**SESSION_404, 422: {"description": "the question names a person"}},
)
async def add_question(_: WhatIf, conn: Conn, session_id: SessionId, body: SessionQuestionIn) -> dict:
    """Record a question as asked (text, department, when)."""
    try:
        qid = await sessions.add_question(conn, session_id, body.text, body.department, body.asked_at)
    except sessions.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except sessions.SessionError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return {"question_id": qid}


@router.put(
    "/sessions/{session_id}/questions/{question_id}/triage",
    responses={**SESSION_404, 422: {"description": "answered without a stored answer, or needs_data without which"}},
)
async def triage_question(
    access: WhatIf, conn: Conn, session_id: SessionId, question_id: SessionId, body: TriageIn
) -> dict:
    """Triage a question: answered (a stored answer), needs data we don't have (which), out of scope."""
    try:
        await sessions.triage(
            conn, access.principal, session_id, question_id, body.triage, body.result_id, body.needs_data, body.note
        )
    except sessions.NotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    except sessions.SessionError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return {"question_id": question_id, "triage": body.triage}


@router.get(
    "/sessions/{session_id}/export",
    response_class=Response,
    responses={**SESSION_404, 200: {"content": {"text/html": {}}, "description": "one document"}},
)
async def export_session(access: WhatIf, conn: Conn, session_id: SessionId) -> Response:
    """The session's question list and answers as one HTML document."""
    html = sessions.export_html(await _session(conn, access, session_id))
    name = f"whatif-session-{session_id}.html"
    return Response(
        html, media_type="text/html; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
