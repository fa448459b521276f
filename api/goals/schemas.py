"""Request and response bodies of /goals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class GoalIn(BaseModel):
    kpi: str = Field(max_length=64, description="a key of the catalogue (GET /goals/catalogue)")
    title: str = Field(min_length=3, max_length=200)
    definition: str = Field(min_length=10, max_length=2000, description="what the city means by this goal, in words")
    baseline_from: date = Field(description="first local day of the baseline period")
    baseline_to: date = Field(description="local day after the baseline period")
    target: float = Field(allow_inf_nan=False)
    direction: Literal["at_least", "at_most"]
    department: str = Field(min_length=2, max_length=120, description="the department that owns the goal")
    retired: bool = Field(default=False, description="true: the goal no longer counts (its history stays)")


class Kpi(BaseModel):
    key: str
    title: str
    unit: str
    definition: str
    better: str


class Goal(BaseModel):
    goal_id: str
    version: int
    kpi: str
    title: str
    definition: str
    baseline_from: date
    baseline_to: date
    target: float
    direction: str
    department: str
    retired: bool
    created_at: datetime
    created_by: str
    history: list[dict[str, Any]] = Field(description="every version's target, direction, time and author")


class Saved(BaseModel):
    goal_id: str
    version: int


class Scorecard(BaseModel):
    start: date = Field(description="first local day (a Monday)")
    end: date = Field(description="local day after the last (a Monday)")
    timezone: str
    k_shifts: int
    k_people: int
    cells: int = Field(description="(route, week) groups of shifts in the period")
    withheld_cells: int = Field(description="groups withheld: fewer than k shifts or k drivers")
    goals: list[dict[str, Any]]
