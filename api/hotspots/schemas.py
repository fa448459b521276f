"""Bodies of the hotspot endpoints."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel

Level = Literal["segment", "cell"]
SegmentKind = Literal["harsh_brake", "speeding"]
CellKind = Literal["harsh_brake", "harsh_accel", "harsh_corner", "speeding"]
# Which tested units are listed: all, those above the fleet's level (z > 0), or significant ones.
MinLevel = Literal["all", "elevated", "significant"]


class HotspotUnit(BaseModel):
    unit_id: str  # street segment id, or grid cell id as text
    name: str | None  # street name (segments)
    geometry: dict[str, Any] | None  # segment LineString, or cell square (Polygon)
    lon: float | None  # cell centre (cells)
    lat: float | None
    passes: int  # exposure: entries of a truck into the unit
    events: int
    rate_per_1000: float  # events per 1000 passes
    expected: float | None  # segments: events expected at the reference rate
    z: float  # cells: Getis-Ord Gi*; segments: Poisson standardised excess
    p: float
    q: float  # Benjamini–Hochberg adjusted p
    significant: bool
    cluster: int | None  # cells: connected hotspot cells share a number
    place_id: str | None  # the hotspot place the unit belongs to (see places)


class HotspotPlace(BaseModel):
    """Touching significant units with events, merged and named by their streets."""

    place_id: str  # "cell:<smallest cell id>" or "segment:<smallest segment id>"
    name: str  # "Madison Terrace at Austin Court", from the city's street names
    streets: list[str]  # the named streets through it, longest first
    units: list[str]  # its cells or segments (ids as in units)
    geometry: dict[str, Any]  # outline of its cells (Polygon/MultiPolygon) or its segments' lines
    lon: float  # a point inside it (for a label)
    lat: float
    events: int
    passes: int
    expected: float  # events the fleet's rate predicts for its passes
    rate_per_1000: float
    rate_low_per_1000: float  # exact Poisson 95 % interval of the rate
    rate_high_per_1000: float
    fleet_rate_per_1000: float
    ratio: float  # its rate over the fleet's
    ratio_low: float  # the interval over the fleet's rate
    ratio_high: float
    q: float  # the smallest q of its units
    significance: str  # the evidence in words


class Hotspots(BaseModel):
    level: Level
    kind: str
    method: str  # gi_star (cells) or poisson_exceedance (segments)
    start: date
    end: date
    k_min_shifts: int
    k_min_people: int
    min_passes: int  # units passed fewer times are not tested
    cell_m: float | None  # cell edge in metres (cells)
    reference_rate_per_1000: float | None  # over the tested units' visible weeks
    suppressed_units: int  # units without a week of ≥ k shifts and ≥ k people, left out
    suppressed_cells: int  # (unit, ISO week) cells below k, in no figure
    tested_units: int  # visible units passed at least min_passes times
    min_level: MinLevel  # units below this level are tested but not listed
    fdr: float  # the false discovery rate significance is controlled at
    places: list[HotspotPlace]  # most significant first; every tested unit counts, whatever min_level
    units: list[HotspotUnit]  # most significant first
