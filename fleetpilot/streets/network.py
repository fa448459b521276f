"""Street lines → street segments split at intersections, with class, one-way and speed limit.

Pure functions (no I/O). An intersection is a vertex shared by two or more lines, or where a
line ends: OSM ways share their nodes' exact coordinates, and noded GIS centre lines share
their end points, so vertices are matched on coordinates rounded to 1e-7° (~1 cm), OSM's
own precision. A segment is the part of one line between two such vertices.

Speed limits: the line's ``maxspeed`` when it parses ("50", "30 mph", "50;40" → the lowest),
else ``DEFAULT_SPEED_KMH`` of its class. The defaults are urban limits common in Europe and
North America (documented in docs/streets.md); a city with other defaults passes its own.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from fleetpilot.analytics.geo import step_metres

if TYPE_CHECKING:
    from fleetpilot.streets.restrictions import Turn

# Classes a refuse truck drives on (OSM highway=*; GIS layers use the same words or map to them).
DRIVABLE = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "road",
)
# km/h when a line has no usable maxspeed.
DEFAULT_SPEED_KMH = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 50.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 40.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 40.0,
    "residential": 30.0,
    "living_street": 20.0,
    "service": 20.0,
    "road": 30.0,
}
ONE_WAY_CLASSES = frozenset({"motorway", "motorway_link"})  # one-way unless tagged otherwise
MPH_KMH = 1.609344
GRID = 1e7  # vertex matching: 1e-7 degrees


@dataclass(frozen=True)
class Line:
    """One input line (an OSM way or a GIS feature) with the tags that matter."""

    source_id: str  # OSM way id or the feature's id; part of each segment id
    coords: np.ndarray  # (n, 2) lon, lat
    road_class: str
    name: str | None = None
    oneway: str | None = None  # OSM oneway=* value ("yes", "-1", "no", …) or a GIS flag
    maxspeed: str | None = None
    roundabout: bool = False


@dataclass(frozen=True)
class Segment:
    segment_id: str
    name: str | None
    road_class: str
    speed_limit_kmh: float
    one_way: bool
    coords: np.ndarray  # (n, 2) lon, lat, in the direction of travel when one-way

    def geojson(self) -> dict:
        return {"type": "LineString", "coordinates": [[round(x, 7), round(y, 7)] for x, y in self.coords.tolist()]}


def parse_maxspeed(value: str | None) -> float | None:
    """OSM maxspeed in km/h: "50", "30 mph", "50;40" (the lowest); None for "none", "walk",
    country codes such as "FI:urban" and anything else that is not a number."""
    if not value:
        return None
    speeds = []
    for part in str(value).split(";"):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*", part)
        if m:
            speed = float(m.group(1)) * (MPH_KMH if m.group(2) == "mph" else 1.0)
            if speed > 0:
                speeds.append(speed)
    return min(speeds) if speeds else None


def one_way(line: Line) -> tuple[bool, bool]:
    """(one-way, drawn against the direction of travel)."""
    tag = (line.oneway or "").strip().lower()
    if tag in ("-1", "reverse"):
        return True, True
    if tag in ("yes", "true", "1", "ft", "f"):
        return True, False
    if tag in ("tf", "t"):  # GIS "to-from" digitising
        return True, True
    if tag in ("no", "false", "0", "b", "both"):
        return False, False
    return line.road_class in ONE_WAY_CLASSES or line.roundabout, False


def _keys(coords: np.ndarray) -> np.ndarray:
    q = np.round(coords * GRID).astype(np.int64)
    return q[:, 0] * 4_000_000_000 + q[:, 1]  # lon, lat in 1e-7° fit: |lat| ≤ 9e8 < 2e9


def split(lines: list[Line], defaults: dict[str, float] = DEFAULT_SPEED_KMH) -> list[Segment]:
    """Drivable lines split at every intersection, one Segment per piece (zero-length pieces dropped).

    Segment ids are stable across re-imports: the line's id plus a hash of the piece's two end
    vertices, so an unchanged street keeps its ids and a changed one gets new ones.
    """
    kept = [ln for ln in lines if ln.road_class in defaults and len(ln.coords) >= 2]
    if not kept:
        return []
    keys = [_keys(ln.coords) for ln in kept]
    # How many lines touch each vertex (a closed line touches its start once).
    per_line = [np.unique(k) for k in keys]
    every, counts = np.unique(np.concatenate(per_line), return_counts=True)
    shared = set(every[counts >= 2].tolist())
    segments = []
    for ln, k in zip(kept, keys):
        cut = [0] + [i for i in range(1, len(k) - 1) if int(k[i]) in shared] + [len(k) - 1]
        oneway, reverse = one_way(ln)
        limit = parse_maxspeed(ln.maxspeed) or defaults[ln.road_class]
        for a, b in zip(cut[:-1], cut[1:]):
            coords = ln.coords[a : b + 1]
            keep = np.concatenate([[True], np.any(np.diff(coords, axis=0) != 0, axis=1)])
            coords = coords[keep]
            if len(coords) < 2:
                continue
            if reverse:
                coords = coords[::-1]
            ends = f"{int(k[a])}:{int(k[b])}"
            digest = hashlib.blake2b(ends.encode(), digest_size=4).hexdigest()
            segments.append(
                Segment(f"{ln.source_id}-{digest}", ln.name, ln.road_class, float(limit), oneway, coords.copy())
            )
    return _unique(segments)


def _unique(segments: list[Segment]) -> list[Segment]:
    """A line that passes the same two vertices twice yields one id twice; number the repeats."""
    seen: dict[str, int] = {}
    out = []
    for s in segments:
        n = seen.get(s.segment_id, 0)
        seen[s.segment_id] = n + 1
        out.append(
            s
            if n == 0
            else Segment(f"{s.segment_id}-{n}", s.name, s.road_class, s.speed_limit_kmh, s.one_way, s.coords)
        )
    return out


def lengths_m(segments: list[Segment]) -> np.ndarray:
    """Haversine length of each segment, metres."""
    out = np.empty(len(segments))
    for i, s in enumerate(segments):
        out[i] = float(np.sum(step_metres(s.coords[:, 0], s.coords[:, 1])))
    return out


def layer_geojson(segments: list[Segment], turns: Sequence[Turn] = ()) -> dict:
    """The segments as a GeoJSON street layer: the shape of city.geojson's streets (docs/protocol.md),
    which `fleetsim --streets` drives on; with the file's forbidden `turns` as the /city layer
    gives them (Points at the via node, decision 0030), which the simulator obeys."""
    signs = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [t.via_lon, t.via_lat]},
            "properties": {
                "kind": "turn_restriction",
                "restriction": t.restriction,
                "from_segment_ids": [t.from_segment_id],
                "forbidden_to": [t.to_segment_id],
                "source": t.source,
            },
        }
        for t in turns
    ]
    return {
        "type": "FeatureCollection",
        "features": signs
        + [
            {
                "type": "Feature",
                "geometry": s.geojson(),
                "properties": {
                    "kind": "street",
                    "segment_id": s.segment_id,
                    "name": s.name,
                    "road_class": s.road_class,
                    "speed_limit_kmh": s.speed_limit_kmh,
                    "one_way": s.one_way,
                },
            }
            for s in segments
        ],
    }
