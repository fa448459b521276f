"""Bodies of the hazard endpoints: a crew member's own reports, and the city's list."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

Category = Literal[
    "dangerous_intersection",
    "blocked_street",
    "parked_cars",
    "low_branches_wires",
    "road_damage",
    "aggressive_traffic",
    "other",
]
Status = Literal["reported", "acknowledged", "fix_planned", "fixed"]
# The city's local time of day a report was made, in five bands (no date, no minute): all a
# supervisor learns of when a report below k reporters was made.
PartOfDay = Literal["night", "early morning", "morning", "afternoon", "evening"]


class NewReport(BaseModel):
    """One tap in the cab. client_key: made on the phone when the report is made, so a report
    queued without signal and sent again is stored once."""

    client_key: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    category: Category
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    located_by: Literal["position", "map"]
    note: str | None = Field(default=None, max_length=500)
    shift_id: str | None = Field(default=None, max_length=200)
    made_at: datetime | None = None  # when tapped (the phone's clock); now when absent


class MyReport(BaseModel):
    """A report as its reporter sees it, with the city's status of the hazard it is about."""

    report_id: int
    hazard_id: int
    category: Category
    lon: float
    lat: float
    street: str | None
    located_by: str
    note: str | None
    shift_id: str | None
    made_at: datetime
    status: Status
    fix_what: str | None = None
    fixed_on: date | None = None


class MyReports(BaseModel):
    reports: list[MyReport]


class Effect(BaseModel):
    """A fixed hazard's before/after: hard braking per pass on the place's streets (`streets`
    of them) in the whole city weeks [before_from, before_to) and [after_from, after_to) (the
    week of the fix left out), from released (segment, week) cells only. change, lo, hi:
    fractions (-0.6 = fell 60 %), null until both periods hold min_passes passes (`enough`)."""

    kind: Literal["harsh_brake"]
    streets: int
    before_from: date
    before_to: date
    after_from: date
    after_to: date
    passes_before: int
    events_before: int
    passes_after: int
    events_after: int
    min_passes: int
    enough: bool
    change: float | None
    lo: float | None
    hi: float | None
    level: float
    sentence: str


class Hazard(BaseModel):
    """One place and category on the city's list, never with a reporter. With fewer than
    k_min_people distinct reporters it shows only place, category and the parts of day the
    reports were made (reports and reporters are null)."""

    hazard_id: int
    category: Category
    place: str  # the street's name, or "near <lat>, <lon>" off the streets
    segment_id: str | None
    lon: float
    lat: float
    status: Status
    reports: int | None
    reporters: int | None
    parts_of_day: list[PartOfDay]
    fix_what: str | None = None
    fixed_on: date | None = None
    hotspot: str | None = None  # the statistical hotspot at the same street, by its place name
    effect: Effect | None = None  # a fixed hazard on a street: its before/after


class StatusChange(BaseModel):
    """A supervisor moves a hazard along; `fixed` needs what was done and the day."""

    status: Status
    fix_what: str | None = Field(default=None, min_length=3, max_length=300)
    fixed_on: date | None = None


class HazardList(BaseModel):
    k_min_people: int
    hazards: list[Hazard]


class FixedHazard(BaseModel):
    """A fixed hazard as every crew sees it on their page and map: the place, the kind, what
    the city did and when, and its before/after. Nothing about who reported it or when."""

    hazard_id: int
    category: Category
    place: str
    lon: float
    lat: float
    fix_what: str | None
    fixed_on: date | None
    effect: Effect | None


class FixedHazards(BaseModel):
    hazards: list[FixedHazard]
