"""/city: the base map layer (streets, facilities, turn restrictions) for every signed-in role."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Response

from fleetpilot.api.city import service
from fleetpilot.api.deps import REFUSALS, Allowed, Conn
from fleetpilot.api.geojson import FeatureCollection
from fleetpilot.api.policy import Capability

router = APIRouter(tags=["city"], responses=REFUSALS)
# The browser keeps the layer (in its own cache only: private) across tabs and days, and asks
# again on every use (no-cache), so the gate still decides each time; unchanged, the answer is
# a 304 without the ~140 kB body.
CACHE_CONTROL = "private, no-cache"


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
    _: Allowed(Capability.SIGNED_IN), conn: Conn, if_none_match: Annotated[str | None, Header()] = None
) -> Response:
    """Street segments (LineStrings), facilities (Polygons) and turn restrictions (Points at the via
    node, ``kind: turn_restriction``): not personal data. Carries an
    ETag; send it back in If-None-Match for a 304 while the city is unchanged."""
    layer = await service.city_layer(conn)
    headers = {"ETag": layer.etag, "Cache-Control": CACHE_CONTROL}
    if _matches(if_none_match, layer.etag):
        return Response(status_code=304, headers=headers)
    return Response(layer.body, media_type="application/json", headers=headers)
