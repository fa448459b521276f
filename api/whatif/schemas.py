"""Request and response bodies of /whatif."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
