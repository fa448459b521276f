"""Route plans: reading versions, GeoJSON export, import through the shared importer."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from fleetpilot import localtime
from fleetpilot.api.errors import UnknownRoute
from fleetpilot.api.geojson import collection, feature, point
from fleetpilot.api.kept import KeptAnswers
from fleetpilot.api.policy import Principal, audit, released_cell
from fleetpilot.api.route_plans.schemas import Imported, PlanCollection, RouteChange, RouteDetail, RouteOut, VersionOut
from fleetpilot.db.importer import import_routes

ROUTES = """
SELECT r.route_id, r.name, r.active, r.current_version, route_version_on(r.route_id, $2) AS applies_today,
       (SELECT count(*) FROM route_versions v WHERE v.route_id = r.route_id) AS versions,
       (SELECT count(*) FROM route_segments s WHERE s.route_id = r.route_id AND s.version = r.current_version) AS segments,
       (SELECT count(*) FROM route_stops s WHERE s.route_id = r.route_id AND s.version = r.current_version) AS stops
FROM routes r
WHERE ($1::text IS NULL OR r.route_id = $1)
ORDER BY r.route_id
"""
# Each version with the shifts that drove it, counted in released weeks only ($2 shifts, $3
# drivers), as the versions' comparison counts them (performance.COMPARE): a week counts when
# every (version, week) part of it is released, so the count minus the efficiency answers'
# released weeks tells nothing of a withheld one.
VERSIONS = f"""
WITH s AS (
    SELECT m.shift_id, sh.route_version AS version, date_trunc('week', m.day::timestamp)::date AS week
    FROM shift_metrics m JOIN shifts sh ON sh.shift_id = m.shift_id
    WHERE m.route_id = $1
),
parts AS (
    SELECT s.week, s.version, count(*) AS shifts, {released_cell("s.shift_id", "$2", "$3")} AS released
    FROM s GROUP BY s.week, s.version
),
driven AS (
    SELECT version, sum(shifts) AS shifts FROM parts
    WHERE week IN (SELECT week FROM parts GROUP BY week HAVING bool_and(released)) GROUP BY version
)
SELECT v.version, v.created_at, v.created_by, v.note, v.effective_from,
       (SELECT count(*) FROM route_segments s WHERE s.route_id = v.route_id AND s.version = v.version) AS segments,
       (SELECT count(*) FROM route_stops s WHERE s.route_id = v.route_id AND s.version = v.version) AS stops,
       coalesce(d.shifts, 0)::int AS shifts
FROM route_versions v LEFT JOIN driven d USING (version) WHERE v.route_id = $1 ORDER BY v.version
"""
# Plans of the given version, or of each route's current version when $2 is NULL; $1 NULL = all routes.
PLAN_SEGMENTS = """
SELECT s.route_id, r.name, s.seq, s.segment_id, s.service, s.speed_limit_kmh, s.geometry
FROM route_segments s JOIN routes r ON r.route_id = s.route_id
WHERE ($1::text IS NULL OR s.route_id = $1) AND s.version = coalesce($2, r.current_version)
ORDER BY s.route_id, s.seq
"""
PLAN_STOPS = """
SELECT s.route_id, r.name, s.seq, s.stop_id, s.segment_id, s.lon, s.lat
FROM route_stops s JOIN routes r ON r.route_id = s.route_id
WHERE ($1::text IS NULL OR s.route_id = $1) AND s.version = coalesce($2, r.current_version)
ORDER BY s.route_id, s.seq
"""
# One version's segments in driving order with their street names (the crew's street list,
# the comparison of versions).
VERSION_SEGMENTS = """
SELECT rs.seq, rs.segment_id, st.name, rs.service, rs.geometry
FROM route_segments rs LEFT JOIN street_segments st ON st.segment_id = rs.segment_id
WHERE rs.route_id = $1 AND rs.version = $2
ORDER BY rs.seq
"""
VERSION = """
SELECT v.version, v.created_at, v.note, v.effective_from,
       (SELECT count(*) FROM route_stops s WHERE s.route_id = v.route_id AND s.version = v.version) AS stops
FROM route_versions v WHERE v.route_id = $1 AND v.version = $2
"""
# What one route's plan text is made of (PlanTexts' key): the route's name, the version asked
# ($2, else the current one; NULL when the route has none or not that one) and when it was saved.
PLAN_KEY = """
SELECT r.name, v.version, v.created_at, current_database() AS db, inet_server_port() AS port
FROM routes r LEFT JOIN route_versions v ON v.route_id = r.route_id AND v.version = coalesce($2, r.current_version)
WHERE r.route_id = $1
"""
CHANGE = """
UPDATE routes SET name = coalesce($2, name), active = coalesce($3, active) WHERE route_id = $1 RETURNING route_id
"""


async def routes(conn: asyncpg.Connection, tz: str, route_id: str | None = None) -> list[RouteOut]:
    return [RouteOut(**dict(r)) for r in await conn.fetch(ROUTES, route_id, localtime.today(tz))]


async def route_detail(conn: asyncpg.Connection, route_id: str, tz: str, k: tuple[int, int]) -> RouteDetail:
    """A route with its versions; `k` (shifts, drivers) judges the weeks whose shifts are counted."""
    found = await routes(conn, tz, route_id)
    if not found:
        raise UnknownRoute(route_id)
    history = [VersionOut(**dict(r)) for r in await conn.fetch(VERSIONS, route_id, *k)]
    return RouteDetail(**found[0].model_dump(), history=history)


async def plan_geojson(conn: asyncpg.Connection) -> dict[str, Any]:
    """Every route's current plan in the routes.geojson format (one route's: PlanTexts)."""
    return collection(await _plan_features(conn, None, None))


async def _plan_features(conn: asyncpg.Connection, route_id: str | None, version: int | None) -> list[dict[str, Any]]:
    features = []
    for r in await conn.fetch(PLAN_SEGMENTS, route_id, version):
        features.append(
            feature(
                r["geometry"],
                route_id=r["route_id"],
                route_name=r["name"],
                feature_type="segment",
                seq=r["seq"],
                segment_id=r["segment_id"],
                service=r["service"],
                speed_limit_kmh=r["speed_limit_kmh"],
            )
        )
    for r in await conn.fetch(PLAN_STOPS, route_id, version):
        features.append(
            feature(
                point(r["lon"], r["lat"]),
                route_id=r["route_id"],
                route_name=r["name"],
                feature_type="stop",
                seq=r["seq"],
                stop_id=r["stop_id"],
                segment_id=r["segment_id"],
            )
        )
    return features


class PlanTexts:
    """One route's plan as GeoJSON text, kept by the server process (api.kept, decision 0029).

    Building and serialising ~160 segment and the stop features cost ~4.6 ms of server CPU per
    request (bench api, route_plan_geojson, 6 Dec). A saved version never changes (a changed
    plan is a new version), so the key is what the text is made of, read in the request: the
    database, the route, its name, the version (the current one unless asked) and when that
    version was saved. Saving a new version moves the route's current version, a rename
    changes the name, a version deleted and saved again has a new saved time: each is a new
    key, so a kept text is never stale. The plan is the city's, about streets: nothing personal.
    """

    def __init__(self, size: int = 256) -> None:
        self._kept = KeptAnswers(size)

    async def text(self, conn: asyncpg.Connection, route_id: str, version: int | None = None) -> bytes:
        row = await conn.fetchrow(PLAN_KEY, route_id, version)
        if row is None:
            raise UnknownRoute(route_id)
        if version is not None and row["version"] is None:
            raise UnknownRoute(f"{route_id} version {version}")

        async def make() -> bytes:
            return orjson.dumps(collection(await _plan_features(conn, route_id, row["version"])))

        return await self._kept.get((route_id, *row), make)


PLAN_TEXTS = PlanTexts()


async def version_segments(conn: asyncpg.Connection, route_id: str, version: int) -> list[asyncpg.Record]:
    """The version's segments in driving order (seq, segment_id, name, service, geometry)."""
    return await conn.fetch(VERSION_SEGMENTS, route_id, version)


async def version_facts(conn: asyncpg.Connection, route_id: str, version: int) -> asyncpg.Record:
    """When a version was saved, why, from which day it applies and its stop count."""
    row = await conn.fetchrow(VERSION, route_id, version)
    if row is None:
        raise UnknownRoute(f"{route_id} version {version}")
    return row


def service_order(segments: list[asyncpg.Record]) -> list[str]:
    """The street list: service segments in driving order (drive-only links left out)."""
    return [s["segment_id"] for s in segments if s["service"]]


class EffectiveInThePast(ValueError):
    """A plan may not start applying on a day that has begun: shifts of it may have been driven."""


async def import_plans(conn: asyncpg.Connection, actor: Principal, plans: PlanCollection, tz: str) -> Imported:
    """Store each route's plan; a route whose plan changed gets a new version that applies from
    plans.effective_from (default: the city's today). Shifts that have started keep the version
    they drove; the ones of that day or later that have not get the new one."""
    today = localtime.today(tz)
    effective = plans.effective_from or today
    if effective < today:
        raise EffectiveInThePast(f"effective_from {effective} is before today ({today} in {tz})")
    async with conn.transaction():
        versions = await import_routes(
            conn, plans.importer_dict(), created_by=actor.username, note=plans.note, effective_from=effective, tz=tz
        )
        await audit(
            conn, actor, "import_route_plans", detail={"versions": versions, "effective_from": effective.isoformat()}
        )
    return Imported(versions=versions, effective_from=effective)


async def change_route(
    conn: asyncpg.Connection, actor: Principal, route_id: str, change: RouteChange, tz: str
) -> RouteOut:
    async with conn.transaction():
        if await conn.fetchval(CHANGE, route_id, change.name, change.active) is None:
            raise UnknownRoute(route_id)
        await audit(conn, actor, "change_route", detail={"route_id": route_id, **change.model_dump(exclude_unset=True)})
    return (await routes(conn, tz, route_id))[0]
