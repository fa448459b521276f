"""Bodies of a driver's own-data endpoints (trends, access log)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel


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
