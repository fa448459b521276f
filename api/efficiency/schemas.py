"""Bodies of the efficiency endpoints. Shares are 0..1; durations are per shift unless named."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel

# No daily bucket: days inside a shown week would let hidden days be recovered by subtraction
# (docs/decisions/0004); a month holds the ISO weeks that start in it.
Bucket = Literal["week", "month"]


class Efficiency(BaseModel):
    """One group of shifts of a route, from its (route, ISO week) cells that reach k shifts and
    k people only. When `suppressed`, no cell of the group did and every figure is null (the
    values never left the database)."""

    period_start: date | None  # None for the whole range
    suppressed: bool
    shifts: int | None
    coverage_mean: float | None  # share of planned service segments driven
    distance_km_per_shift: float | None
    deadhead_share: float | None  # deadhead distance / distance
    collection_h_per_shift: float | None
    idle_min_per_shift: float | None
    facility_min_per_shift: float | None
    dwell_mean_s: float | None
    turnaround_mean_s: float | None


class MissedSegment(BaseModel):
    segment_id: str
    shifts_missed: int
    share: float  # of the range's shifts


class RouteEfficiency(BaseModel):
    route_id: str
    start: date
    end: date
    bucket: Bucket
    k_min_shifts: int
    k_min_people: int
    periods: list[Efficiency]
    whole_range: Efficiency
    missed_segments: list[MissedSegment]  # empty when the whole range is suppressed


class SegmentCoverage(BaseModel):
    """How often one planned segment of the route was driven over the visible shifts of the range."""

    seq: int
    segment_id: str
    name: str | None
    service: bool
    shifts: int
    missed: int  # shifts that missed it without a cause: the crews' shortfall
    no_data: int = 0  # shifts with no data in the segment's service window: neither driven nor missed
    caused: int = 0  # shifts that missed it for a cause (crew's, or a blocked-street hazard report)
    causes: dict[str, int] = {}  # those shifts per cause (never who gave it)
    coverage: float | None  # share of the shifts with data and without a cause that drove it; None when none


class RouteSegmentsCoverage(BaseModel):
    route_id: str
    version: int
    start: date
    end: date
    suppressed: bool
    segments: list[SegmentCoverage]
