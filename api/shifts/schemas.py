"""Bodies of the shift endpoints. Distances in km, durations in seconds, times in UTC."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fleetpilot.api.geojson import FeatureCollection


class ShiftSummary(BaseModel):
    shift_id: str
    vehicle_id: str
    route_id: str | None
    starts_at: datetime
    ends_at: datetime
    distance_km: float | None  # None until the rollup job has processed the shift
    coverage: float | None  # share (0..1) of the planned service segments driven
    safety_events: int


class ShiftPage(BaseModel):
    shifts: list[ShiftSummary]
    total: int


class BreakRecord(BaseModel):
    """A break the crew took: first to last position of it."""

    starts_at: datetime
    ends_at: datetime
    facility_id: str | None  # the break room, or None for a stop of 15 min or more elsewhere


class FacilityVisit(BaseModel):
    """A stay inside a transfer-station or landfill geofence (gate to gate)."""

    facility_id: str
    facility_type: str
    arrived_at: datetime
    departed_at: datetime
    queue_s: float  # waiting in line before tipping: first stop to leaving the last place in the line


class ShiftDetails(BaseModel):
    """Further per-shift figures of the rollup job (docs/analytics.md): the crew record
    (breaks, facility visits with queue times, longest stretch without a break) and more.
    Shifts rolled up before a figure existed lack it; other keys may appear."""

    model_config = ConfigDict(extra="allow")

    no_data_s: float | None = None
    trips: int | None = None
    stops_per_hour: float | None = None
    coverage_by_length: float | None = None
    breaks: list[BreakRecord] = []
    facility_visits: list[FacilityVisit] = []
    longest_without_break_s: float | None = None  # the longest stretch of work without a 15 min rest


class ShiftStop(BaseModel):
    """A stop of the truck outside facilities (a bin stop, mostly), for the map."""

    lon: float
    lat: float
    arrived_at: datetime
    dwell_s: float


class ShiftMetrics(BaseModel):
    computed_at: datetime
    fixes: int
    distance_km: float
    on_route_km: float | None
    deadhead_km: float | None
    collection_s: float | None
    deadhead_s: float | None
    facility_s: float | None
    break_s: float | None
    idle_s: float | None
    stops: int | None
    dwell_mean_s: float | None
    turnaround_s: float | None
    coverage: float | None
    missed_segments: list[str]
    no_data_segments: list[str] = []  # unknown: their service window fell in a data gap
    details: ShiftDetails


class SafetyEvent(BaseModel):
    ts: datetime
    kind: str
    source: str  # device | derived | both
    lon: float
    lat: float
    magnitude: float | None
    speed_before_mps: float | None
    speed_after_mps: float | None
    # What was around: segment (segment_id, street), speed limit, stop, turn... and `hotspot`:
    # whether that segment is currently a significant fleet hotspot of this kind, and
    # `hotspot_place`: the name of its place ("Madison Terrace at Austin Court").
    context: dict[str, Any]


class Delay(BaseModel):
    """Time lost to causes outside the crew's control."""

    kind: str
    seconds: float
    explanation: str


class ShiftDetail(BaseModel):
    shift_id: str
    vehicle_id: str
    route_id: str | None
    route_version: int | None
    starts_at: datetime
    ends_at: datetime
    duration_s: float
    metrics: ShiftMetrics | None
    stops: list[ShiftStop]  # empty until the rollup job has processed the shift
    events: list[SafetyEvent]
    delays: list[Delay]
    opened_for_purpose: str | None  # set when someone other than the crew opened it


class ShiftRef(BaseModel):
    """A shift found by vehicle and time: no people, no metrics."""

    shift_id: str
    vehicle_id: str
    route_id: str | None
    starts_at: datetime
    ends_at: datetime


class PurposeIn(BaseModel):
    purpose: str = Field(
        min_length=1,
        max_length=500,
        description="why this individual access is needed, e.g. 'incident 2024-113: complaint about blocked driveway'",
    )


class OpenedShift(BaseModel):
    shift: ShiftDetail
    track: FeatureCollection
