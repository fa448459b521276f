"""What a scenario or a question hands back: plain, JSON-ready records.

Every answer carries its inputs and the assumptions it rests on, so that the numbers are
never read without them. ``to_dict`` returns only JSON types (numbers rounded to what the
data supports is left to the reader; NaN becomes null).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import numpy as np

from fleetpilot.analytics.whatif.kpi import KPIS
from fleetpilot.analytics.whatif.uncertainty import Comparison

EPOCH = date(1970, 1, 1)


def iso_day(day: int) -> str:
    return (EPOCH + timedelta(days=int(day))).isoformat()


def jsonable(value):
    """Numpy scalars/arrays → Python; NaN/inf → None; recursively through dicts and lists."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: list[list]
    units: list[str] = field(default_factory=list)


@dataclass
class ScenarioResult:
    scenario: str
    title: str
    inputs: dict
    assumptions: list[str]
    factors: dict
    period: dict
    kpis: list[dict]
    uncertainty: dict
    tables: list[Table] = field(default_factory=list)
    charts: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def kpi(self, name: str) -> dict:
        return next(k for k in self.kpis if k["name"] == name)

    def to_dict(self) -> dict:
        return jsonable({"kind": "scenario", **asdict(self)})


@dataclass
class Answer:
    question: str
    title: str
    params: dict
    number: dict
    table: Table
    chart: dict
    assumptions: list[str]
    suppressed: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return jsonable({"kind": "question", **asdict(self)})


def kpi_records(comparison: Comparison, unmodelled: dict[str, str] | None = None) -> list[dict]:
    """One record per KPI; ``unmodelled`` maps KPI names the scenario holds fixed to the reason."""
    unmodelled = unmodelled or {}
    records = []
    for i, (name, unit) in enumerate(KPIS):
        records.append(
            {
                "name": name,
                "unit": unit,
                "baseline": float(comparison.baseline[i]),
                "scenario": float(comparison.scenario[i]),
                "delta": float(comparison.delta[i]),
                "delta_lo": float(comparison.lo[i]),
                "delta_hi": float(comparison.hi[i]),
                "modelled": name not in unmodelled,
                "note": unmodelled.get(name, ""),
            }
        )
    return records


def period_record(days: np.ndarray, shifts: int) -> dict:
    return {
        "days": int(len(days)),
        "shifts": int(shifts),
        "first_day": iso_day(days[0]) if len(days) else None,
        "last_day": iso_day(days[-1]) if len(days) else None,
    }
