"""/live: the supervisor's map of vehicles on duty now."""

from __future__ import annotations

from fastapi import APIRouter

from fleetpilot.api import policy
from fleetpilot.api.deps import REFUSALS, Allowed, Conn
from fleetpilot.api.geojson import FeatureCollection
from fleetpilot.api.live import service
from fleetpilot.api.policy import Capability

router = APIRouter(prefix="/live", tags=["live"], responses=REFUSALS)


@router.get("/vehicles", response_model=FeatureCollection)
async def vehicles(access: Allowed(Capability.LIVE), conn: Conn) -> dict:
    """Latest position (at most a few minutes old) of every vehicle inside an on-duty shift."""
    return await service.on_duty_positions(conn, policy.live_scope(access))
