"""Hotspot places from scored units: the city's streets in the rollup's local frame (kept per
city version), and the grouping and naming of ``fleetpilot.analytics.places`` applied to grid
cells or street segments. Used by the hotspot endpoints and by the known-hotspot list, so the
data officer's page, the supervisor's and the driver's badge say the same name.

Only units the caller may release come in (each a sum over its k-visible weeks, decision
0004); a place's figures are sums of those, its outline the union of theirs, its name from
the public street layer, so a place reveals nothing its units do not.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
import numpy as np
import shapely
from shapely.geometry import box, mapping
from shapely.ops import nearest_points, unary_union

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.hotspots import Grid
from fleetpilot.analytics.places import PlaceParams, Streets, group_cells, group_segments, significance_words, summarise
from fleetpilot.rollup import geojson

STREETS = "SELECT segment_id, name, geometry::text AS g FROM street_segments ORDER BY segment_id"
# The streets' version (migration 0008: set by every write to the city); the count and
# max(xmin) are the fallback of a database without that migration.
CITY_VERSION = """
SELECT coalesce((SELECT value FROM fleetpilot_meta WHERE key = 'city_version'),
                (SELECT count(*) || ',' || coalesce(max(xmin::text::bigint), 0) FROM street_segments))
"""
FDR = 0.05  # false discovery rate of both tests (Gi* for cells, Poisson exceedance for segments)
FRAME = "SELECT value FROM fleetpilot_meta WHERE key = 'analytics_frame'"  # fleetpilot.rollup.job.FRAME_KEY
# What the events are, in the words of a sentence about a place.
EVENT_WORDS = {
    "harsh_brake": "hard brakes",
    "harsh_accel": "hard accelerations",
    "harsh_corner": "sharp corners",
    "speeding": "speeding moments",
}


@dataclass(frozen=True)
class CityStreets:
    version: str
    frame: LocalFrame
    index: dict[str, int]  # segment_id → position
    lines_m: np.ndarray  # LineStrings in the frame's metres
    streets: Streets


@dataclass(frozen=True)
class PlaceRecord:
    """A hotspot place ready to be sent: units by id, geometry in degrees (GeoJSON)."""

    place_id: str
    name: str
    streets: list[str]
    units: list[str]
    geometry: dict
    lon: float
    lat: float
    events: int
    passes: int
    expected: float
    rate_per_1000: float
    rate_low_per_1000: float
    rate_high_per_1000: float
    fleet_rate_per_1000: float
    ratio: float
    ratio_low: float
    ratio_high: float
    q: float
    significance: str


_cached: list[CityStreets] = []


async def city_streets(conn: asyncpg.Connection) -> CityStreets | None:
    """The streets for naming places, read again only when the city or the frame changed."""
    version = await conn.fetchval(CITY_VERSION)
    stored = await conn.fetchval(FRAME)
    if _cached and _cached[0].version == f"{version}|{stored}":
        return _cached[0]
    rows = await conn.fetch(STREETS)
    if not rows:
        return None
    lines = geojson.parsed([r["g"] for r in rows])
    if stored:
        frame = LocalFrame(*(float(v) for v in stored.split(",")))
    else:  # no rollup yet: a frame around the streets (the rollup would fix the same one)
        coords = shapely.get_coordinates(lines)
        frame = LocalFrame.around(coords[:, 0], coords[:, 1])
    lines_m = shapely.transform(lines, lambda c: _to_xy(frame, c))
    city = CityStreets(
        version=f"{version}|{stored}",
        frame=frame,
        index={r["segment_id"]: i for i, r in enumerate(rows)},
        lines_m=lines_m,
        streets=Streets([r["name"] for r in rows], list(lines_m)),
    )
    _cached[:] = [city]
    return city


def cell_places(
    city: CityStreets | None,
    grid: Grid,
    cells: np.ndarray,
    events: np.ndarray,
    passes: np.ndarray,
    q: np.ndarray,
    significant: np.ndarray,
    fleet_rate: float | None,
    kind: str,
    fdr: float,
) -> tuple[list[PlaceRecord], np.ndarray]:
    """Places of touching significant cells whose own rate is above the fleet's; and per cell
    the index of its place or -1. Gi* flags a neighbourhood, so the cells around a dangerous
    corner are significant too, with no event or an ordinary rate of their own: they are
    no part of the place."""
    if fleet_rate is None:
        return [], np.full(len(cells), -1)
    events = np.asarray(events, dtype=np.float64)
    above = events > np.asarray(passes, dtype=np.float64) * fleet_rate
    labels = group_cells(cells, np.asarray(significant, dtype=bool) & above)
    x, y = grid.frame.to_xy(*grid.centre(np.asarray(cells, dtype=np.int64)))
    half = grid.cell_m / 2
    # Centres back on the exact lattice, so neighbouring squares share their edges.
    x = np.round((np.asarray(x, np.float64) - half) / grid.cell_m) * grid.cell_m + half
    y = np.round((np.asarray(y, np.float64) - half) / grid.cell_m) * grid.cell_m + half

    def area(members: np.ndarray):
        return unary_union([box(x[i] - half, y[i] - half, x[i] + half, y[i] + half) for i in members])

    ids = [str(c) for c in np.asarray(cells).tolist()]
    return _records(city, grid.frame, "cell", ids, labels, events, passes, q, fleet_rate, kind, fdr, area)


def segment_places(
    city: CityStreets | None,
    segment_ids: list[str],
    events: np.ndarray,
    passes: np.ndarray,
    q: np.ndarray,
    significant: np.ndarray,
    fleet_rate: float | None,
    kind: str,
    fdr: float,
) -> tuple[list[PlaceRecord], np.ndarray]:
    """Places of significant segments that meet end to end; per segment its place or -1."""
    significant = np.asarray(significant, dtype=bool)
    if city is None or fleet_rate is None:
        return [], np.full(len(segment_ids), -1)
    known = np.array([s in city.index for s in segment_ids], dtype=bool)
    lines = [city.lines_m[city.index[s]] if k else None for s, k in zip(segment_ids, known)]
    ends = np.array(
        [[line.coords[0], line.coords[-1]] if line is not None else [[np.nan] * 2] * 2 for line in lines],
        dtype=np.float64,
    ).reshape(-1, 2, 2)
    labels = group_segments(np.nan_to_num(ends, nan=1e12), significant & known)

    def area(members: np.ndarray):
        return unary_union([lines[i] for i in members])

    return _records(city, city.frame, "segment", segment_ids, labels, events, passes, q, fleet_rate, kind, fdr, area)


def _records(city, frame, level, ids, labels, events, passes, q, fleet_rate, kind, fdr, area):
    found = summarise(labels, events, passes, q, fleet_rate)
    place_of = np.full(len(ids), -1)
    records = []
    for n, place in enumerate(found):
        place_of[place.members] = n
        shape = area(place.members)
        name, streets = city.streets.name(shape, PlaceParams()) if city else (f"{level} {ids[place.members[0]]}", [])
        # A label point on the place: for lines the point nearest their middle (shapely's
        # representative point of a line is an end of it), for areas one inside.
        point = shape.representative_point() if shape.area > 0 else nearest_points(shape, shape.centroid)[0]
        lon, lat = frame.to_lonlat(np.array([point.x]), np.array([point.y]))
        outline = shapely.transform(shape, lambda c: _to_lonlat(frame, c))
        records.append(
            PlaceRecord(
                place_id=f"{level}:{min(ids[i] for i in place.members)}",
                name=name,
                streets=streets,
                units=[ids[i] for i in place.members],
                geometry=mapping(shapely.set_precision(outline, 1e-7)),
                lon=round(float(lon[0]), 7),
                lat=round(float(lat[0]), 7),
                events=place.events,
                passes=place.passes,
                expected=place.expected,
                rate_per_1000=1000 * place.rate,
                rate_low_per_1000=1000 * place.rate_low,
                rate_high_per_1000=1000 * place.rate_high,
                fleet_rate_per_1000=1000 * place.fleet_rate,
                ratio=place.ratio,
                ratio_low=place.ratio_low,
                ratio_high=place.ratio_high,
                q=place.q,
                significance=significance_words(
                    place.events, place.expected, place.q, fdr, EVENT_WORDS.get(kind, "events")
                ),
            )
        )
    _disambiguate(records)
    return records, place_of


def _disambiguate(records: list[PlaceRecord]) -> None:
    """Two places of one name (two blocks of a long street) are told apart by a number."""
    seen: dict[str, int] = {}
    for i, r in enumerate(records):
        seen[r.name] = seen.get(r.name, 0) + 1
        if seen[r.name] > 1:
            records[i] = PlaceRecord(**{**r.__dict__, "name": f"{r.name} ({seen[r.name]})"})


def _to_xy(frame: LocalFrame, coords: np.ndarray) -> np.ndarray:
    x, y = frame.to_xy(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y]).astype(np.float64)


def _to_lonlat(frame: LocalFrame, coords: np.ndarray) -> np.ndarray:
    lon, lat = frame.to_lonlat(coords[:, 0], coords[:, 1])
    return np.column_stack([lon, lat]).astype(np.float64)
