"""/ingest/traccar and /ingest/owntracks: thin — authenticate the token, hand the body to
the ingest pipeline, answer after the commit (docs/trackers.md)."""

from __future__ import annotations

import base64
import binascii

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import generate_latest

from fleetpilot.api.policy import Capability, gate
from fleetpilot.db.connect import resolve_database_url
from fleetpilot.ingest.http import UNAVAILABLE, HttpIngest

router = APIRouter(prefix="/ingest", tags=["trackers"])
MAX_BODY_BYTES = 1024 * 1024  # far above any one position; the pipeline dead-letters > 256 KiB
REFUSED = {
    401: {"description": "no token, or a malformed, unknown, revoked or other dialect's token; nothing stored"},
    413: {"description": "body over 1 MiB; nothing stored"},
    503: {"description": "the database is unavailable; nothing acknowledged, retry (Traccar does)"},
}


def _ingest(request: Request) -> HttpIngest:
    state = request.app.state
    if getattr(state, "trackers", None) is None:
        settings = state.settings
        state.trackers = HttpIngest(resolve_database_url(settings), settings.city)
    return state.trackers


def _credential(request: Request) -> str | None:
    """The token from ``Authorization: Bearer <token>`` or Basic auth's password (OwnTracks'
    HTTP mode has username/password fields and sends Basic)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return password or None
    return None


async def _body(request: Request) -> bytes:
    """The body, read up to MAX_BODY_BYTES: a chunked upload without Content-Length is cut off
    there, not held in memory whole."""
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "body over 1 MiB")
        parts.append(chunk)
    return b"".join(parts)


async def _receive(request: Request, dialect: str) -> str:
    ingest = _ingest(request)
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "body over 1 MiB")
    credential = _credential(request)
    try:
        holder = await ingest.holder(credential, dialect) if credential else None
    except UNAVAILABLE:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database unavailable; retry") from None
    if holder is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "a valid token is needed", headers={"WWW-Authenticate": "Bearer"}
        )
    payload = await _body(request)
    try:
        return await ingest.ingest(dialect, holder.external_id, payload, f"http:{request.url.path}")
    except UNAVAILABLE:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "database unavailable; retry") from None


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
