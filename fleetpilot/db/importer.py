"""Importing the city, route plans and rosters (the files described in docs/protocol.md).

All three are idempotent: importing the same file twice changes nothing. A route whose
plan differs from its current version gets a new version; shifts point at the version
current when they were imported.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime

import asyncpg

from fleetpilot.errors import FleetpilotError
from fleetpilot.settings import get_settings


class InvalidPlan(FleetpilotError):
    """A city, route or roster file does not have the documented shape."""


UPSERT_FACILITY = """
INSERT INTO facilities (facility_id, facility_type, name, geometry) VALUES ($1, $2, $3, $4)
ON CONFLICT (facility_id) DO UPDATE
SET facility_type = EXCLUDED.facility_type, name = EXCLUDED.name, geometry = EXCLUDED.geometry
"""
UPSERT_STREET = """
INSERT INTO street_segments (segment_id, name, road_class, speed_limit_kmh, one_way, geometry)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (segment_id) DO UPDATE
SET name = EXCLUDED.name, road_class = EXCLUDED.road_class, speed_limit_kmh = EXCLUDED.speed_limit_kmh,
    one_way = EXCLUDED.one_way, geometry = EXCLUDED.geometry
"""
CURRENT_SEGMENTS = """
SELECT seq, segment_id, service, speed_limit_kmh, geometry FROM route_segments
WHERE route_id = $1 AND version = $2 ORDER BY seq
"""
CURRENT_STOPS = """
SELECT seq, stop_id, segment_id, lon, lat FROM route_stops WHERE route_id = $1 AND version = $2 ORDER BY seq
"""
INSERT_SEGMENT = """
INSERT INTO route_segments (route_id, version, seq, segment_id, service, speed_limit_kmh, geometry)
VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
INSERT_STOP = """
INSERT INTO route_stops (route_id, version, seq, stop_id, segment_id, lon, lat) VALUES ($1, $2, $3, $4, $5, $6, $7)
"""
# A shift drives the version that applies on its local start day ($6 the city's zone,
# migration 0032); the newest one if none applies yet (a route first planned for a later day).
UPSERT_SHIFT = """
INSERT INTO shifts (shift_id, vehicle_id, route_id, route_version, starts_at, ends_at)
VALUES ($1, $2, $3, coalesce(route_version_on($3, ($4::timestamptz AT TIME ZONE $6)::date),
                             (SELECT current_version FROM routes WHERE route_id = $3)), $4, $5)
ON CONFLICT (shift_id) DO UPDATE
SET vehicle_id = EXCLUDED.vehicle_id, route_id = EXCLUDED.route_id, starts_at = EXCLUDED.starts_at,
    ends_at = EXCLUDED.ends_at
"""
# A new version reaches the shifts of the route that have not started yet and fall on or after
# its first day ($3, NULL: from the start; $4 the city's zone): they will drive it. Shifts
# that have started keep the version they drove.
REPOINT_SHIFTS = """
UPDATE shifts SET route_version = $2
WHERE route_id = $1 AND starts_at > now()
  AND (starts_at AT TIME ZONE $4)::date >= coalesce($3::date, '-infinity'::date)
"""


async def init_codecs(conn: asyncpg.Connection) -> None:
    """Let jsonb parameters and results be plain Python objects on this connection."""
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def _features(collection: dict, what: str) -> list[dict]:
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        raise InvalidPlan(f"{what} must be a GeoJSON FeatureCollection")
    features = collection.get("features")
    if not isinstance(features, list):
        raise InvalidPlan(f"{what} has no features list")
    return features


def _prop(feature: dict, key: str, what: str):
    try:
        return feature["properties"][key]
    except (KeyError, TypeError):
        raise InvalidPlan(f"a feature of {what} lacks properties.{key}: {json.dumps(feature)[:200]}") from None


async def import_city(conn: asyncpg.Connection, city: dict) -> dict[str, int]:
    """Upsert facilities (geofences) and street segments from city.geojson."""
    await init_codecs(conn)
    facilities, streets = [], []
    for feature in _features(city, "city.geojson"):
        kind = _prop(feature, "kind", "city.geojson")
        props = feature["properties"]
        if kind == "facility":
            facilities.append(
                (
                    _prop(feature, "facility_id", "city.geojson"),
                    _prop(feature, "facility_type", "city.geojson"),
                    props.get("name") or props["facility_id"],
                    feature["geometry"],
                )
            )
        elif kind == "street":
            streets.append(
                (
                    _prop(feature, "segment_id", "city.geojson"),
                    props.get("name"),
                    _prop(feature, "road_class", "city.geojson"),
                    float(_prop(feature, "speed_limit_kmh", "city.geojson")),
                    bool(props.get("one_way", False)),
                    feature["geometry"],
                )
            )
    async with conn.transaction():
        await conn.executemany(UPSERT_FACILITY, facilities)
        await conn.executemany(UPSERT_STREET, streets)
    return {"facilities": len(facilities), "streets": len(streets)}


async def import_routes(
    conn: asyncpg.Connection,
    routes: dict,
    created_by: str | None = None,
    note: str | None = None,
    effective_from: date | None = None,
    tz: str | None = None,
) -> dict[str, int]:
    """Import route plans; returns route_id -> version now current (new only if changed).
    A new version applies from the local day `effective_from` (None: from the start, as a plan
    file always did); shifts of the route that have not started and fall on or after that day
    (in `tz`, default the city's zone) are pointed at it."""
    tz = tz or get_settings().timezone
    await init_codecs(conn)
    plans: dict[str, dict] = defaultdict(lambda: {"segments": [], "stops": [], "name": None})
    for feature in _features(routes, "routes.geojson"):
        route_id = str(_prop(feature, "route_id", "routes.geojson"))
        props = feature["properties"]
        kind = _prop(feature, "feature_type", "routes.geojson")
        seq = int(_prop(feature, "seq", "routes.geojson"))
        plans[route_id]["name"] = props.get("route_name") or plans[route_id]["name"]
        if kind == "segment":
            limit = props.get("speed_limit_kmh")
            plans[route_id]["segments"].append(
                (
                    seq,
                    str(_prop(feature, "segment_id", "routes.geojson")),
                    bool(props.get("service", True)),
                    float(limit) if limit is not None else None,
                    feature["geometry"],
                )
            )
        elif kind == "stop":
            lon, lat = feature["geometry"]["coordinates"][:2]
            plans[route_id]["stops"].append(
                (seq, str(_prop(feature, "stop_id", "routes.geojson")), props.get("segment_id"), float(lon), float(lat))
            )
        else:
            raise InvalidPlan(f"routes.geojson: feature_type must be 'segment' or 'stop', got {kind!r}")
    result = {}
    async with conn.transaction():
        for route_id, plan in plans.items():
            plan["segments"].sort(key=lambda s: s[0])
            plan["stops"].sort(key=lambda s: s[0])
            result[route_id] = await _store_route(conn, route_id, plan, created_by, note, effective_from, tz)
    return result


async def _store_route(conn, route_id: str, plan: dict, created_by, note, effective_from, tz) -> int:
    await conn.execute(
        "INSERT INTO routes (route_id, name) VALUES ($1, $2) ON CONFLICT (route_id) DO NOTHING",
        route_id,
        plan["name"] or route_id,
    )
    current = await conn.fetchval("SELECT current_version FROM routes WHERE route_id = $1 FOR UPDATE", route_id)
    if current is not None:
        segments = [tuple(r) for r in await conn.fetch(CURRENT_SEGMENTS, route_id, current)]
        stops = [tuple(r) for r in await conn.fetch(CURRENT_STOPS, route_id, current)]
        if segments == plan["segments"] and stops == plan["stops"]:
            return current
    version = (current or 0) + 1
    await conn.execute(
        "INSERT INTO route_versions (route_id, version, created_by, note, effective_from) VALUES ($1, $2, $3, $4, $5)",
        route_id,
        version,
        created_by,
        note,
        effective_from,
    )
    await conn.executemany(INSERT_SEGMENT, [(route_id, version, *s) for s in plan["segments"]])
    await conn.executemany(INSERT_STOP, [(route_id, version, *s) for s in plan["stops"]])
    await conn.execute("UPDATE routes SET current_version = $2 WHERE route_id = $1", route_id, version)
    await conn.execute(REPOINT_SHIFTS, route_id, version, effective_from, tz)
    return version


async def import_roster(
    conn: asyncpg.Connection, roster: dict, city: str | None = None, tz: str | None = None
) -> dict[str, int]:
    """Upsert vehicles, devices, people (names kept in identity.person_names), shifts and crews.
    A new shift points at the plan version that applies on its local day (`tz`, default the
    city's zone)."""
    tz = tz or get_settings().timezone
    try:
        city = city or roster.get("city") or "metro"
        vehicles = [(v["vehicle_id"], city) for v in roster["vehicles"]]
        devices = [(v.get("device_id") or v["vehicle_id"], v["vehicle_id"]) for v in roster["vehicles"]]
        people = [(p["person_id"],) for p in roster.get("people", [])]
        names = [(p["person_id"], p["display_name"]) for p in roster.get("people", []) if p.get("display_name")]
        shifts = [
            (s["shift_id"], s["vehicle_id"], s.get("route_id"), _time(s["start"]), _time(s["end"]), tz)
            for s in roster.get("shifts", [])
        ]
        # The first crew member listed drives, the others help, unless an entry says its role
        # ({"person_id": ..., "role": "driver" | "helper"}): k counts drivers (decision 0009).
        crews = [
            _crew_entry(s["shift_id"], entry, n)
            for s in roster.get("shifts", [])
            for n, entry in enumerate(s.get("crew", []))
        ]
    except (KeyError, TypeError) as exc:
        raise InvalidPlan(f"roster.json lacks {exc}") from None
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO vehicles (vehicle_id, city) VALUES ($1, $2) ON CONFLICT (vehicle_id) DO NOTHING", vehicles
        )
        await conn.executemany(
            "INSERT INTO devices (device_id, vehicle_id) VALUES ($1, $2) "
            "ON CONFLICT (device_id) DO UPDATE SET vehicle_id = EXCLUDED.vehicle_id",
            devices,
        )
        await conn.executemany("INSERT INTO people (person_id) VALUES ($1) ON CONFLICT DO NOTHING", people)
        await conn.executemany(
            "INSERT INTO identity.person_names (person_id, full_name) VALUES ($1, $2) "
            "ON CONFLICT (person_id) DO UPDATE SET full_name = EXCLUDED.full_name",
            names,
        )
        await conn.executemany(UPSERT_SHIFT, shifts)
        await conn.executemany(
            "INSERT INTO shift_crew (shift_id, person_id, crew_role) VALUES ($1, $2, $3) "
            "ON CONFLICT (shift_id, person_id) DO UPDATE SET crew_role = EXCLUDED.crew_role",
            crews,
        )
    return {"vehicles": len(vehicles), "people": len(people), "shifts": len(shifts)}


def _crew_entry(shift_id: str, entry, position: int) -> tuple[str, str, str]:
    if isinstance(entry, dict):
        role = entry.get("role") or ("driver" if position == 0 else "helper")
        if role not in ("driver", "helper"):
            raise InvalidPlan(f"shift {shift_id}: crew role {role!r} is neither driver nor helper")
        return shift_id, entry["person_id"], role
    return shift_id, entry, "driver" if position == 0 else "helper"


def _time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        raise InvalidPlan(f"roster.json: {value!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise InvalidPlan(f"roster.json: {value!r} has no time zone (use ...Z)")
    return parsed
