"""Bodies of a driver's own-data endpoints (trends, access log, the plan of my route)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel

from fleetpilot.api.geojson import FeatureCollection


class Week(BaseModel):
    """One ISO week of my own shifts. Safety rates are per 100 km with exact 95 % Poisson
    intervals; the baseline is my own preceding weeks pooled (never other people)."""

    week: date  # Monday
    shifts: int
    hours_on_duty: float
    distance_km: float
    safety_events: int
    per_100km: float | None
    low: float | None
    high: float | None
    baseline_per_100km: float | None
    baseline_low: float | None
    baseline_high: float | None
    change: str  # fewer | more | no clear change | not enough history
    idle_share: float | None  # idle time / time on duty, over shifts with a rollup
    break_minutes_per_shift: float | None
    coverage_mean: float | None


class Trends(BaseModel):
    baseline_weeks: int
    weeks: list[Week]


class AccessEntry(BaseModel):
    at: datetime
    actor: str | None  # username of who opened my data
    actor_role: str
    action: str
    shift_id: str | None
    purpose: str | None


class AccessLog(BaseModel):
    entries: list[AccessEntry]
    total: int


class PlanStreet(BaseModel):
    """A street of my route's plan (a service segment), in driving order."""

    position: int | None  # 1-based in the plan that applies (None: removed)
    segment_id: str
    name: str | None
    change: Literal["added", "moved", "same", "removed"]  # against the version I drove last
    was_position: int | None  # 1-based in the version I drove last (None: not in it)


class MyPlan(BaseModel):
    """The plan that applies to my route today, and what changed since the version I drove last."""

    route_id: str
    route_name: str
    today: date  # the city's local day
    version: int
    effective_from: date | None  # None: applies from the start
    saved_at: datetime
    reason: str | None  # the supervisor's note saved with the version
    compared_with: int | None  # the version of my route I drove last (None: none other than this)
    drove_on: date | None  # the local day I last drove that version
    stops: int
    streets: list[PlanStreet]  # in driving order
    removed: list[PlanStreet]  # streets of the version I drove that are no longer on the route
    next_version: int | None  # a newer version saved to apply from a later day
    next_from: date | None
    map: FeatureCollection  # the plan's segments (and the removed ones), properties segment_id, name, seq, change
