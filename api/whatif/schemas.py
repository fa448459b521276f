"""Request and response bodies of /whatif."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class AskIn(BaseModel):
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="the scenario's or question's parameters; omitted ones take their defaults (see GET /whatif)",
    )


class ResultOut(BaseModel):
    result_id: str = Field(description="stable id: the same inputs on the same data give the same id")
    kind: str
    name: str
    inputs: dict[str, Any]
    data_fingerprint: str
    answer: dict[str, Any] = Field(description="number/KPIs, table(s), chart(s) (plotly JSON), assumptions, notes")
    compute_s: float
    created_at: datetime
    cached: bool = Field(description="true when this answer was stored before the request")
    link: str = Field(description="where the stored answer can be read again")


class ResultSummary(BaseModel):
    result_id: str
    kind: str
    name: str
    inputs: dict[str, Any]
    compute_s: float
    created_at: datetime


class Catalog(BaseModel):
    scenarios: list[dict[str, Any]]
    questions: list[dict[str, Any]]


class SessionIn(BaseModel):
    title: str = Field(min_length=3, max_length=200, description="e.g. 'Agency heads, spring 2027'")
    held_on: date = Field(description="the local day the session was held")


class SessionOut(BaseModel):
    session_id: int
    title: str
    held_on: date
    created_at: datetime
    created_by: str
    questions: int
    open: int


class SessionQuestionIn(BaseModel):
    text: str = Field(
        min_length=5, max_length=1000, description="the question as asked; about routes, streets, the fleet"
    )
    department: str = Field(min_length=2, max_length=120, description="the agency or department that asked")
    asked_at: datetime | None = Field(None, description="when it was asked (default: now)")


class TriageIn(BaseModel):
    triage: Literal["open", "answered", "needs_data", "out_of_scope"]
    result_id: str | None = Field(None, pattern="^[0-9a-f]{32}$", description="answered: the stored what-if answer")
    needs_data: str | None = Field(None, min_length=3, max_length=500, description="needs_data: which data")
    note: str | None = Field(None, max_length=1000)


class SessionDetail(BaseModel):
    session_id: int
    title: str
    held_on: date
    created_at: datetime
    created_by: str
    questions: list[dict[str, Any]]
