"""/ingest/traccar and /ingest/owntracks: thin — authenticate the token, hand the body to
the ingest pipeline, answer after the commit (docs/trackers.md). In the app, POSTs to both
are answered by `lean.IngestDoors` before routing (decision 0026); these routes document the
doors, carry their policy gate, and share its `receive_message`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import generate_latest

from fleetpilot.api.policy import Capability, gate
from fleetpilot.api.trackers.lean import TOO_LARGE, Refused, receive_message, trackers
from fleetpilot.ingest.http import HttpIngest

router = APIRouter(prefix="/ingest", tags=["trackers"])
REFUSED = {
    401: {"description": "no token, or a malformed, unknown, revoked or other dialect's token; nothing stored"},
    413: {"description": "body over 1 MiB; nothing stored"},
    503: {"description": "the database is unavailable; nothing acknowledged, retry (Traccar does)"},
}


def _ingest(request: Request) -> HttpIngest:
    return trackers(request.app)


async def _receive(request: Request, dialect: str) -> str:
    """The routed door (used where `IngestDoors` is not in front, e.g. a bare router): the same
    checks and answers as the lean one, through Starlette's request."""

    async def read_body(limit: int) -> bytes:
        parts, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TOO_LARGE
            parts.append(chunk)
        return b"".join(parts)

    try:
        return await receive_message(
            _ingest(request),
            dialect,
            request.url.path,
            request.headers.get("content-length"),
            request.headers.get("authorization"),
            read_body,
        )
    except Refused as refused:
        raise HTTPException(refused.status, refused.detail, headers=dict(_text(refused.headers))) from None


def _text(headers: tuple) -> list[tuple[str, str]]:
    return [(k.decode(), v.decode()) for k, v in headers]


@router.post("/traccar", responses=REFUSED, dependencies=[Depends(gate(Capability.DEVICE_INGEST))])
async def traccar(request: Request) -> JSONResponse:
    """Traccar's ``forward.type=json`` / ``event.forward.url`` target: one PositionData or
    EventData per request, token in ``forward.header: Authorization: Bearer fpt_…``. 200
    once committed — also for a dead-lettered message (it is handled; retrying cannot help)."""
    return JSONResponse({"outcome": await _receive(request, "traccar")})


@router.post("/owntracks", responses=REFUSED, dependencies=[Depends(gate(Capability.DEVICE_INGEST))])
async def owntracks(request: Request) -> JSONResponse:
    """OwnTracks' HTTP mode: one message per request, token as the password (Basic) or Bearer.
    The app expects a JSON array back (messages for the phone): always empty here."""
    await _receive(request, "owntracks")
    return JSONResponse([])


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(gate(Capability.PUBLIC))])
async def metrics(request: Request) -> Response:
    """Prometheus counters of this API process's HTTP ingest (per process: scrape each)."""
    return Response(generate_latest(_ingest(request).metrics.registry), media_type="text/plain; version=0.0.4")
