"""The collections served at /ogc, one spec per layer.

Every aggregate layer is built by the same service function as the API endpoint it mirrors,
with the AggregateScope the policy module hands out, so the release rule of decision 0004
(figures only from (unit, ISO week) cells of at least k shifts and k people) holds here by
construction: a week or unit the API withholds is not a feature here either. Facilities and
route plans are the city's own plans, not personal data (the API shows them to every role
that may read plans).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from fleetpilot.api.city.service import FACILITIES
from fleetpilot.api.efficiency import service as efficiency
from fleetpilot.api.hotspots import service as hotspots
from fleetpilot.api.policy import AggregateScope, Capability
from fleetpilot.api.route_plans import service as route_plans

Feature = dict[str, Any]  # {"id", "geometry", "properties"}
Build = Callable[[asyncpg.Connection, AggregateScope | None], Awaitable[list[Feature]]]

# The current plan's segments of every route, for the geometry of route-level features.
PLAN_GEOMETRY = """
SELECT rs.route_id, rs.seq, rs.geometry
FROM route_segments rs JOIN routes r ON r.route_id = rs.route_id AND r.current_version = rs.version
ORDER BY rs.route_id, rs.seq
"""
ROUTE_IDS = "SELECT route_id FROM routes ORDER BY route_id"


@dataclass(frozen=True)
class Layer:
    id: str
    title: str
    description: str
    capability: Capability  # who may read it: the same rule as the API endpoint it mirrors
    temporal: bool  # built over a range of whole ISO weeks chosen by `datetime`
    geometry: str  # the geometry type of its features (for clients that ask first)
    build: Build
    mirrors: str  # the API endpoint whose answer it is


def _feature(feature_id: str, geometry: dict | None, properties: dict[str, Any]) -> Feature:
    return {"type": "Feature", "id": feature_id, "geometry": geometry, "properties": properties}


def _range(scope: AggregateScope) -> dict[str, Any]:
    return {
        "start": scope.start.isoformat(),
        "end": scope.end.isoformat(),
        "k_min_shifts": scope.k_shifts,
        "k_min_people": scope.k_people,
    }


async def _plan_geometry(conn: asyncpg.Connection) -> dict[str, dict[int, dict]]:
    plans: dict[str, dict[int, dict]] = {}
    for r in await conn.fetch(PLAN_GEOMETRY):
        plans.setdefault(r["route_id"], {})[r["seq"]] = r["geometry"]
    return plans


def _multi_line(segments: dict[int, dict]) -> dict | None:
    lines = [g["coordinates"] for g in segments.values() if g and g.get("type") == "LineString"]
    return {"type": "MultiLineString", "coordinates": lines} if lines else None


async def route_coverage(conn: asyncpg.Connection, scope: AggregateScope | None) -> list[Feature]:
    """GET /api/v1/routes/{route_id}/coverage for every route, one feature per planned segment."""
    assert scope is not None
    plans = await _plan_geometry(conn)
    features = []
    for route_id in [r["route_id"] for r in await conn.fetch(ROUTE_IDS)]:
        answer = await efficiency.segment_coverage(conn, scope, route_id)
        if answer["suppressed"]:  # no visible (route, week) cell: nothing of this route leaves
            continue
        geometry = plans.get(route_id, {})
        for seg in answer["segments"]:
            features.append(
                _feature(
                    f"{route_id}:{seg['seq']}",
                    geometry.get(seg["seq"]),
                    # causes (a count per cause) stays in the API: one flat column per layer field
                    {
                        "route_id": route_id,
                        "route_version": answer["version"],
                        **{k: v for k, v in seg.items() if k != "causes"},
                        **_range(scope),
                    },
                )
            )
    return features


async def route_efficiency(conn: asyncpg.Connection, scope: AggregateScope | None) -> list[Feature]:
    """GET /api/v1/efficiency/routes?bucket=week, one feature per shown (route, ISO week)."""
    assert scope is not None
    plans = await _plan_geometry(conn)
    features = []
    for route in await efficiency.efficiency(conn, scope, "week"):
        geometry = _multi_line(plans.get(route["route_id"], {}))
        for period in route["periods"]:
            if period["suppressed"]:  # a withheld week is no feature (its figures are null anyway)
                continue
            week = period["period_start"].isoformat()
            properties = {"route_id": route["route_id"], "week_start": week, **period, **_range(scope)}
            properties["period_start"] = week
            del properties["suppressed"]
            features.append(_feature(f"{route['route_id']}:{week}", geometry, properties))
    return features


def _hotspots(level: str, kind: str) -> Build:
    async def build(conn: asyncpg.Connection, scope: AggregateScope | None) -> list[Feature]:
        """GET /api/v1/hotspots/{level}s?kind=…: the very JSON the API answers (and caches)."""
        assert scope is not None
        answer = orjson.loads(await hotspots.hotspots_json(conn, scope, level, kind))
        common = {
            "kind": kind,
            "method": answer["method"],
            "reference_rate_per_1000": answer["reference_rate_per_1000"],
            **_range(scope),
        }
        places = {p["place_id"]: p["name"] for p in answer["places"]}  # the names the hotspot page shows
        return [
            _feature(unit["unit_id"], unit.pop("geometry"), {**unit, "place": places.get(unit["place_id"]), **common})
            for unit in answer["units"]  # units with no week of ≥ k shifts and people are not in it
        ]

    return build


async def facilities(conn: asyncpg.Connection, _scope: AggregateScope | None) -> list[Feature]:
    """The facilities of GET /api/v1/city (depots, transfer stations, landfills, break rooms)."""
    return [
        _feature(r["facility_id"], r["geometry"], {k: r[k] for k in ("facility_id", "facility_type", "name")})
        for r in await conn.fetch(FACILITIES)
    ]


def _plans(feature_type: str) -> Build:
    async def build(conn: asyncpg.Connection, _scope: AggregateScope | None) -> list[Feature]:
        """GET /api/v1/routes/plans.geojson, the features of one type (segments or stops)."""
        found = await route_plans.plan_geojson(conn)
        return [
            _feature(f"{f['properties']['route_id']}:{f['properties']['seq']}", f["geometry"], f["properties"])
            for f in found["features"]
            if f["properties"]["feature_type"] == feature_type
        ]

    return build


SEGMENT_KINDS = ("harsh_brake", "speeding")
CELL_KINDS = ("harsh_brake", "harsh_accel", "harsh_corner", "speeding")
K_RULE = (
    " Built over whole ISO weeks (`datetime` chooses them; default: the last 30 days widened to weeks) from"
    " (unit, week) cells of at least k shifts and k people only; smaller cells are in no figure."
)


def _hotspot_layers() -> list[Layer]:
    layers = []
    for level, kinds, method in (
        ("segment", SEGMENT_KINDS, "Poisson exceedance against the fleet's rate"),
        ("cell", CELL_KINDS, "Getis-Ord Gi* with FDR control"),
    ):
        for kind in kinds:
            layers.append(
                Layer(
                    id=f"{level}-hotspots-{kind.replace('_', '-')}",
                    title=f"{kind.replace('_', ' ').capitalize()} hotspots by street {level}"
                    if level == "segment"
                    else f"{kind.replace('_', ' ').capitalize()} hotspots by grid cell",
                    description=f"{kind.replace('_', ' ')} events per 1000 passes of each {level} and its"
                    f" significance ({method}); exposure-normalised, never raw counts alone." + K_RULE,
                    capability=Capability.HOTSPOTS,
                    temporal=True,
                    geometry="LineString" if level == "segment" else "Polygon",
                    build=_hotspots(level, kind),
                    mirrors=f"/api/v1/hotspots/{level}s?kind={kind}",
                )
            )
    return layers


LAYERS: dict[str, Layer] = {
    layer.id: layer
    for layer in (
        Layer(
            "route-coverage",
            "Route coverage by street segment",
            "How often each planned segment of each route's current plan was serviced (share of the"
            " route's visible shifts)." + K_RULE,
            Capability.EFFICIENCY,
            True,
            "LineString",
            route_coverage,
            "/api/v1/routes/{route_id}/coverage",
        ),
        Layer(
            "route-efficiency",
            "Route efficiency by ISO week",
            "Per route and ISO week: coverage, distance, deadhead share, collection, idle, facility,"
            " dwell and turnaround per shift. Weeks under k are left out." + K_RULE,
            Capability.EFFICIENCY,
            True,
            "MultiLineString",
            route_efficiency,
            "/api/v1/efficiency/routes?bucket=week",
        ),
        *_hotspot_layers(),
        Layer(
            "facilities",
            "Facilities",
            "Depots, transfer stations, landfills and break facilities (the city's own places).",
            Capability.SIGNED_IN,
            False,
            "Polygon",
            facilities,
            "/api/v1/city",
        ),
        Layer(
            "route-plan-segments",
            "Route plans: service segments",
            "The planned segments of every route's current plan, in service order.",
            Capability.ROUTE_PLANS_READ,
            False,
            "LineString",
            _plans("segment"),
            "/api/v1/routes/plans.geojson",
        ),
        Layer(
            "route-plan-stops",
            "Route plans: stops",
            "The planned stops of every route's current plan, in service order.",
            Capability.ROUTE_PLANS_READ,
            False,
            "Point",
            _plans("stop"),
            "/api/v1/routes/plans.geojson",
        ),
    )
}
