"""/city: the base map layer (streets, facilities, turn restrictions) for every signed-in role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from fleetpilot.api.city import service
from fleetpilot.api.compression import GZIP_MIN_BYTES
from fleetpilot.api.deps import REFUSALS, Allowed, Conn
from fleetpilot.api.geojson import FeatureCollection
from fleetpilot.api.policy import Capability

router = APIRouter(tags=["city"], responses=REFUSALS)
# The browser keeps the layer (in its own cache only: private) across tabs and days, and asks
# again on every use (no-cache), so the gate still decides each time; unchanged, the answer is
# a 304 without the body (2.7 MB of JSON for the bench month's 8 731 streets, 276 kB gzipped).
CACHE_CONTROL = "private, no-cache"


# The GZip middleware leaves a response that already has a Content-Encoding as it is, and adds
# Vary to the others of its minimum size: the answers it does not see get it here.
GZIPPED = {"Content-Encoding": "gzip"}
VARY = {"Vary": "Accept-Encoding"}


def _accepts_gzip(accept_encoding: str | None) -> bool:
    """The GZip middleware's own test, so that every answer of the app is judged alike."""
    return "gzip" in (accept_encoding or "")


def _matches(if_none_match: str | None, etag: str) -> bool:
    """If-None-Match holds the tag (weak comparison, as RFC 9110 asks for this header) or *."""
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


@router.get(
    "/city",
    response_model=FeatureCollection,
    responses={304: {"description": "unchanged since the version whose ETag was sent in If-None-Match"}},
)
async def city(
    _: Allowed(Capability.SIGNED_IN),
    conn: Conn,
    if_none_match: Annotated[str | None, Header()] = None,
    accept_encoding: Annotated[str | None, Header()] = None,
) -> Response:
    """Street segments (LineStrings), facilities (Polygons) and turn restrictions (Points at the via
    node, ``kind: turn_restriction``): not personal data. Carries an
    ETag; send it back in If-None-Match for a 304 while the city is unchanged. Gzip-compressed
    when asked (Accept-Encoding), from bytes compressed once per version."""
    layer = await service.city_layer(conn)
    # (A layer smaller than the middleware's minimum is sent as it is, as any small answer.)
    zipped = len(layer.body) >= GZIP_MIN_BYTES and _accepts_gzip(accept_encoding)
    etag = layer.gzip_etag if zipped else layer.etag
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if _matches(if_none_match, etag):
        return Response(status_code=304, headers={**headers, **VARY})
    if zipped:
        body = await service.gzipped(layer)
        return Response(body, media_type="application/json", headers={**headers, **VARY, **GZIPPED})
    return Response(layer.body, media_type="application/json", headers=headers)  # Vary: the middleware's
