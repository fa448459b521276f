"""/complaints (supervisors), /complaints.csv (the 311 team's file), /complaints/tally (per
route and week, released as every aggregate) and /me/complaints (a crew member's own route,
answered in their favour).

The evidence names routes, segments, trucks and days, never a person. The supervisor reads
the queue with the SHIFT_LOOKUP capability (which shift a vehicle drove at a time, no people);
a crew member sees only the complaints that the record answered "serviced" for a shift they
crewed — the tracking protected them. All reads go through service.read_evidence.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from fleetpilot.api import policy
from fleetpilot.api.complaints.service import Crew, Queue, Tally, read_evidence
from fleetpilot.api.deps import REFUSALS, Allowed, Conn, DayRange
from fleetpilot.api.ogc.params import city_time
from fleetpilot.api.policy import Capability
from fleetpilot.open311.evidence import Evidence
from fleetpilot.open311.notes import COLUMNS, clock, csv_row

router = APIRouter(tags=["311 complaints"], responses=REFUSALS)


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
    cause: str | None  # missed for this cause (the crew's, or a blocked-street hazard report): not a shortfall
    evidence_version: str
    suggested_reply: str


class TallyCell(BaseModel):
    route_id: str
    week_start: date
    released: bool  # False: fewer than k shifts or k drivers that week, so no count is shown
    complaints: int | None
    serviced: int | None
    missed: int | None  # missed without a cause: the crews' shortfall
    missed_with_cause: int | None = None  # missed for a cause the crew gave or a hazard report


class TallyOut(BaseModel):
    start: date
    end: date
    k_min_shifts: int
    k_min_people: int
    cells: list[TallyCell]


def _out(row) -> ComplaintOut:
    evidence = Evidence.from_row(row)
    data = dict(row) | {"collection_day": evidence.collection_day}
    return ComplaintOut(**data, evidence_version=evidence.version(), suggested_reply=evidence.reply(clock(city_time)))


Limit = Annotated[int, Query(ge=1, le=1000)]


@router.get("/api/v1/complaints", response_model=list[ComplaintOut])
async def queue(
    access: Allowed(Capability.SHIFT_LOOKUP), request: Request, conn: Conn, days: DayRange, limit: Limit = 200
):
    """The complaint queue with the record's evidence and a suggested reply (newest first)."""
    view = Queue(days, request.app.state.settings.timezone, limit)
    return [_out(r) for r in await read_evidence(conn, view)]


@router.get("/api/v1/complaints.csv", response_class=Response)
async def queue_csv(access: Allowed(Capability.SHIFT_LOOKUP), request: Request, conn: Conn, days: DayRange):
    """The queue as the 311 team's CSV (the same columns as `fleetpilot open311`)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    view = Queue(days, request.app.state.settings.timezone, 10_000)
    for row in await read_evidence(conn, view):
        writer.writerow(
            csv_row(Evidence.from_row(row), row["requested_at"], row["address"], row["lat"], row["lon"], city_time)
        )
    name = f"311-evidence_{days[0]}_{days[1]}.csv"
    return Response(
        out.getvalue(), media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/api/v1/complaints/tally", response_model=TallyOut)
async def tally(access: Allowed(Capability.EFFICIENCY), conn: Conn, days: DayRange):
    """Complaints per route and ISO week of the collection day, released as every aggregate:
    a week of a route with fewer than k shifts or k drivers shows no count."""
    scope = await policy.aggregate_scope(conn, access, days)
    rows = await read_evidence(conn, Tally(scope))
    return TallyOut(
        start=scope.start,
        end=scope.end,
        k_min_shifts=scope.k_shifts,
        k_min_people=scope.k_people,
        cells=[
            TallyCell(week_start=r["week"], **{k: r[k] for k in TallyCell.model_fields if k != "week_start"})
            for r in rows
        ],
    )


@router.get("/api/v1/me/complaints", response_model=list[ComplaintOut])
async def mine(access: Allowed(Capability.OWN_DATA), conn: Conn, limit: Limit = 200):
    """Complaints about my own shifts that the record answered in my favour (collected)."""
    return [_out(r) for r in await read_evidence(conn, Crew(policy.own_person(access), limit))]
