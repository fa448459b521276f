"""Reading shifts: lists of a person's own shifts, one shift's detail and its track.

Every function takes a scope issued by the policy (OwnPerson or ShiftGrant), never a
bare person or shift id from the request. Metrics and events come from the rollups
(shift_metrics, shift_events); only the track reads raw fixes, bounded by the shift
window and thinned to at most MAX_TRACK_POINTS points.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from fleetpilot.api.geojson import collection, feature, point
from fleetpilot.api.policy import OwnPerson, ShiftGrant
from fleetpilot.api.shifts.schemas import (
    Delay, SafetyEvent, ShiftDetail, ShiftMetrics, ShiftPage, ShiftRef, ShiftSummary,
)

# A 10 h shift at 1 Hz has 36,000 fixes; a map needs far fewer to show the route driven.
MAX_TRACK_POINTS = 2000

LIST_OWN = """
SELECT s.shift_id, s.vehicle_id, s.route_id, s.starts_at, s.ends_at,
       m.distance_m / 1000.0 AS distance_km, m.coverage,
       (SELECT count(*) FROM shift_events e WHERE e.shift_id = s.shift_id) AS safety_events,
       count(*) OVER () AS total
FROM shift_crew c
JOIN shifts s ON s.shift_id = c.shift_id
LEFT JOIN shift_metrics m ON m.shift_id = s.shift_id
WHERE c.person_id = $1 AND s.starts_at >= $2 AND s.starts_at < $3
ORDER BY s.starts_at DESC
LIMIT $4 OFFSET $5
"""
# Metrics and events in one round trip (JSON, decoded by the pool's codec).
DETAIL = """
SELECT (SELECT row_to_json(m) FROM (
            SELECT computed_at, fixes, distance_m / 1000.0 AS distance_km, on_route_m / 1000.0 AS on_route_km,
                   deadhead_m / 1000.0 AS deadhead_km, collection_s, deadhead_s, facility_s, break_s, idle_s,
                   stops, dwell_mean_s, turnaround_s, coverage, missed_segments, metrics AS details
            FROM shift_metrics WHERE shift_id = $1) m) AS metrics,
       (SELECT coalesce(json_agg(e ORDER BY e.ts), '[]') FROM (
            SELECT ts, kind, source, lon, lat, magnitude, speed_before AS speed_before_mps,
                   speed_after AS speed_after_mps, context
            FROM shift_events WHERE shift_id = $1) e) AS events
"""
EVENTS = """
SELECT ts, kind, source, lon, lat, magnitude, speed_before AS speed_before_mps, speed_after AS speed_after_mps, context
FROM shift_events WHERE shift_id = $1 ORDER BY ts
"""
# One point per time bin of $4 seconds (the first fix in each), in time order. One index
# probe per bin reads ~MAX_TRACK_POINTS rows instead of every fix of the shift.
TRACK = """
SELECT count(*) AS points,
       coalesce(json_agg(json_build_array(round(f.lon::numeric, 6)::float8, round(f.lat::numeric, 6)::float8)
                         ORDER BY f.ts), '[]')::text AS coordinates
FROM generate_series($2::timestamptz, $3::timestamptz - interval '1 microsecond', make_interval(secs => $4)) AS bin(t)
CROSS JOIN LATERAL (
    SELECT ts, lon, lat FROM fixes
    WHERE vehicle_id = $1 AND ts >= bin.t AND ts < least(bin.t + make_interval(secs => $4), $3)
    ORDER BY ts LIMIT 1
) f
"""
PLANNED = """
SELECT seq, segment_id, service, geometry FROM route_segments WHERE route_id = $1 AND version = $2 ORDER BY seq
"""
LOOKUP = """
SELECT shift_id, vehicle_id, route_id, starts_at, ends_at FROM shifts
WHERE vehicle_id = $1 AND starts_at <= $2 AND ends_at > $2
ORDER BY starts_at
"""


async def list_own_shifts(conn: asyncpg.Connection, me: OwnPerson, start: datetime, end: datetime,
                          limit: int, offset: int) -> ShiftPage:
    rows = await conn.fetch(LIST_OWN, me.person_id, start, end, limit, offset)
    total = rows[0]["total"] if rows else 0
    return ShiftPage(shifts=[ShiftSummary(**{k: r[k] for k in ShiftSummary.model_fields}) for r in rows], total=total)


def delays_of(metrics: ShiftMetrics | None) -> list[Delay]:
    """Time the crew lost to causes outside their control, from the shift's rollup."""
    if metrics is None:
        return []
    delays = []
    if metrics.facility_s:
        delays.append(Delay(kind="facility_time", seconds=metrics.facility_s,
                            explanation="time inside landfill and transfer-station geofences, queues included"))
    if metrics.turnaround_s:
        delays.append(Delay(kind="facility_turnaround", seconds=metrics.turnaround_s,
                            explanation="turnaround at facilities (arrival to departure) as the rollup measured it"))
    return delays


async def shift_detail(conn: asyncpg.Connection, grant: ShiftGrant) -> ShiftDetail:
    row = await conn.fetchrow(DETAIL, grant.shift_id)
    metrics = ShiftMetrics.model_validate(row["metrics"]) if row["metrics"] else None
    events = [SafetyEvent.model_validate(e) for e in row["events"]]
    return ShiftDetail(
        shift_id=grant.shift_id, vehicle_id=grant.vehicle_id, route_id=grant.route_id,
        route_version=grant.route_version, starts_at=grant.starts_at, ends_at=grant.ends_at,
        duration_s=(grant.ends_at - grant.starts_at).total_seconds(),
        metrics=metrics, events=events, delays=delays_of(metrics), opened_for_purpose=grant.purpose,
    )


def track_step_s(grant: ShiftGrant) -> int:
    """Seconds per track point so that the shift yields at most MAX_TRACK_POINTS points."""
    return max(1, math.ceil((grant.ends_at - grant.starts_at).total_seconds() / MAX_TRACK_POINTS))


async def shift_track(conn: asyncpg.Connection, grant: ShiftGrant) -> dict[str, Any]:
    """The shift as GeoJSON: route driven (thinned), planned segments (missed ones flagged), events.

    The driven line's coordinates stay pre-serialised JSON (an orjson Fragment) from the
    database to the response, so they are never turned into Python floats.
    """
    step = track_step_s(grant)
    driven = await conn.fetchrow(TRACK, grant.vehicle_id, grant.starts_at, grant.ends_at, float(step))
    missed = set(await conn.fetchval("SELECT missed_segments FROM shift_metrics WHERE shift_id = $1",
                                     grant.shift_id) or [])
    features = [feature(
        {"type": "LineString", "coordinates": orjson.Fragment(driven["coordinates"])} if driven["points"] >= 2 else None,
        kind="driven", shift_id=grant.shift_id, points=driven["points"], step_s=step,
        raw_data_available=driven["points"] > 0,
    )]
    if grant.route_id is not None and grant.route_version is not None:
        for row in await conn.fetch(PLANNED, grant.route_id, grant.route_version):
            features.append(feature(row["geometry"], kind="planned", seq=row["seq"], segment_id=row["segment_id"],
                                    service=row["service"], missed=row["segment_id"] in missed))
    for row in await conn.fetch(EVENTS, grant.shift_id):
        features.append(feature(point(row["lon"], row["lat"]), kind="event", event=row["kind"],
                                ts=row["ts"].isoformat(), magnitude=row["magnitude"], source=row["source"]))
    return collection(features)


async def find_shifts(conn: asyncpg.Connection, vehicle_id: str, at: datetime) -> list[ShiftRef]:
    return [ShiftRef(**dict(r)) for r in await conn.fetch(LOOKUP, vehicle_id, at)]
