"""/complaints (supervisors) and /me/complaints (a crew member's own route, answered in their favour).

The evidence names routes, segments, trucks and days, never a person. The supervisor reads
the queue with the SHIFT_LOOKUP capability (which shift a vehicle drove at a time, no people);
a crew member sees only the complaints that the record answered "serviced" for a shift they
crewed — the tracking protected them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from fleetpilot.api import policy
from fleetpilot.api.deps import REFUSALS, Allowed, Conn, DayRange
from fleetpilot.api.ogc.params import city_time
from fleetpilot.api.policy import Capability
from fleetpilot.open311.evidence import Evidence

router = APIRouter(tags=["311 complaints"], responses=REFUSALS)
COLUMNS = """
c.service_request_id, c.status, c.requested_at, c.address, c.lon, c.lat, c.outside_city, c.outside_pilot,
c.times_reopened, c.verdict, c.segment_id, c.route_id, c.vehicle_id, c.collection_day, c.passed_at, c.stopped_s,
c.before_complaint
"""
QUEUE = f"""
SELECT {COLUMNS} FROM complaints c
WHERE c.requested_at >= $1::date AND c.requested_at < $2::date
ORDER BY c.requested_at DESC LIMIT $3
"""
# Serviced complaints about a shift this person crewed (vehicle, route and day of the evidence).
MINE = f"""
SELECT {COLUMNS} FROM complaints c
WHERE c.verdict = 'serviced' AND EXISTS (
    SELECT 1 FROM shift_metrics m JOIN shift_crew sc ON sc.shift_id = m.shift_id
    WHERE sc.person_id = $1 AND m.vehicle_id = c.vehicle_id AND m.route_id = c.route_id AND m.day = c.collection_day
)
ORDER BY c.requested_at DESC LIMIT $2
"""


class ComplaintOut(BaseModel):
    service_request_id: str
    status: str | None
    requested_at: datetime
    address: str | None
    lon: float | None
    lat: float | None
    outside_city: bool
    outside_pilot: bool
    times_reopened: int
    verdict: str | None
    segment_id: str | None
    route_id: str | None
    vehicle_id: str | None
    collection_day: str | None
    passed_at: datetime | None
    stopped_s: float | None
    before_complaint: bool | None
    suggested_reply: str


def _out(row) -> ComplaintOut:
    data = dict(row)
    data["collection_day"] = data["collection_day"] and data["collection_day"].isoformat()
    evidence = Evidence(
        data["service_request_id"],
        data["verdict"] or "no_segment",
        data["segment_id"],
        data["route_id"],
        data["vehicle_id"],
        data["collection_day"],
        data["passed_at"],
        data["stopped_s"],
        data["before_complaint"],
    )
    return ComplaintOut(**data, suggested_reply=evidence.reply(lambda t: city_time(t)[11:]))


Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/api/v1/complaints", response_model=list[ComplaintOut])
async def queue(access: Allowed(Capability.SHIFT_LOOKUP), conn: Conn, days: DayRange, limit: Limit = 200):
    """The complaint queue with the record's evidence and a suggested reply (newest first)."""
    return [_out(r) for r in await conn.fetch(QUEUE, days[0], days[1], limit)]


@router.get("/api/v1/me/complaints", response_model=list[ComplaintOut])
async def mine(access: Allowed(Capability.OWN_DATA), conn: Conn, limit: Limit = 200):
    """Complaints about my own shifts that the record answered in my favour (collected)."""
    me = policy.own_person(access)
    return [_out(r) for r in await conn.fetch(MINE, me.person_id, limit)]
