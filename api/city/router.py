"""/city: the base map layer (streets and facilities) for every signed-in role."""
from __future__ import annotations

from fastapi import APIRouter

from fleetpilot.api.city import service
from fleetpilot.api.deps import Allowed, Conn, REFUSALS
from fleetpilot.api.geojson import FeatureCollection
from fleetpilot.api.policy import Capability

router = APIRouter(tags=["city"], responses=REFUSALS)


@router.get("/city", response_model=FeatureCollection)
async def city(_: Allowed(Capability.SIGNED_IN), conn: Conn) -> dict:
    """Street segments (LineStrings) and facilities (Polygons): not personal data."""
    return await service.city_layer(conn)
