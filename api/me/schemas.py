"""Bodies of a driver's own-data endpoints (trends, access log)."""
from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel


class Period(BaseModel):
    """One ISO week (or the baseline) of my own shifts. Rates are None without distance or time."""

    week: date | None  # Monday of the week; None for the baseline
    shifts: int
    hours_on_duty: float
    distance_km: float
    safety_events: int
    safety_events_per_100_km: float | None
    idle_share: float | None   # idle time / time on duty
    break_minutes_per_shift: float | None
    coverage_mean: float | None


class Trends(BaseModel):
    """My weeks against my own past only (never against other people)."""

    weeks: list[Period]
    baseline: Period | None  # all weeks before the latest one, taken together
    latest_vs_baseline: dict[str, float]  # latest week minus baseline, per rate


class AccessEntry(BaseModel):
    at: datetime
    actor: str | None   # username of who opened my data
    actor_role: str
    action: str
    shift_id: str | None
    purpose: str | None


class AccessLog(BaseModel):
    entries: list[AccessEntry]
    total: int
