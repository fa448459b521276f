"""Bodies of the hotspot endpoints."""
from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel

Level = Literal["segment", "cell"]
SegmentKind = Literal["harsh_brake", "speeding"]
CellKind = Literal["harsh_brake", "harsh_accel", "harsh_corner", "speeding"]


class HotspotUnit(BaseModel):
    unit_id: str                       # segment id, or cell id as text
    name: str | None                   # street name for segments
    geometry: dict[str, Any] | None    # segment LineString; None for cells
    passes: int
    events: int
    rate_per_1000: float               # events per 1000 passes
    expected: float                    # events expected from passes at the reference rate
    z: float
    p: float
    q: float                           # Benjamini–Hochberg adjusted p
    significant: bool


class Hotspots(BaseModel):
    level: Level
    kind: str
    start: date
    end: date
    k_min_shifts: int
    k_min_people: int
    reference_rate_per_1000: float | None  # over the units shown
    suppressed_units: int                  # units with fewer than k shifts or people, left out
    units: list[HotspotUnit]               # most significant first
