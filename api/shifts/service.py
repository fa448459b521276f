"""Reading shifts: lists of a person's own shifts, one shift's detail and its track.

Every function takes a scope issued by the policy (OwnPerson or ShiftGrant), never a
bare person or shift id from the request. Metrics, events and the route driven come from
the rollups (shift_metrics, shift_events, shift_tracks: simplified by the rollup job); only
the raw track (asked for, or a shift not rolled up yet) reads raw fixes, bounded by the
shift window and thinned to at most MAX_TRACK_POINTS points.
"""

from __future__ import annotations

import math
from datetime import datetime

import asyncpg
import orjson

from fleetpilot.api.geojson import feature
from fleetpilot.api.policy import OWN_SHIFT_CONDITION, OwnPerson, ShiftGrant, no_such_shift
from fleetpilot.api.shifts.schemas import ShiftPage, ShiftRef, ShiftSummary
from fleetpilot.event_kinds import SAFETY

# A 10 h shift at 1 Hz has 36,000 fixes; a map needs far fewer to show the route driven.
MAX_TRACK_POINTS = 2000
# The events that count as safety moments (counts, trends per 100 km). Reversing is part of
# the job (it is the most frequent event) and is shown in the shift view but never counted.
SAFETY_KINDS = list(SAFETY)

LIST_OWN = """
SELECT s.shift_id, s.vehicle_id, s.route_id, s.starts_at, s.ends_at,
       m.distance_m / 1000.0 AS distance_km, m.coverage,
       -- Stored by the rollup (migration 0030); counted here only for a shift rolled up before.
       coalesce(m.safety_events,
                (SELECT count(*) FROM shift_events e WHERE e.shift_id = s.shift_id AND e.kind = ANY ($6))) AS safety_events,
       count(*) OVER () AS total
FROM shift_crew c
JOIN shifts s ON s.shift_id = c.shift_id
LEFT JOIN shift_metrics m ON m.shift_id = s.shift_id
WHERE c.person_id = $1 AND s.starts_at >= $2 AND s.starts_at < $3
ORDER BY s.starts_at DESC
LIMIT $4 OFFSET $5
"""
# One shift as the ShiftDetail JSON document, built by PostgreSQL in one round trip (the API
# passes the text through: no Python objects, no second validation). {where} picks the shift
# ($1: shift id, plus the policy's crew condition for a driver's own view); $2 the purpose.
DETAIL = """
SELECT json_build_object(
    'shift_id', s.shift_id, 'vehicle_id', s.vehicle_id, 'route_id', s.route_id, 'route_version', s.route_version,
    'starts_at', s.starts_at, 'ends_at', s.ends_at,
    'duration_s', extract(epoch FROM s.ends_at - s.starts_at)::float8,
    'metrics', (SELECT row_to_json(m) FROM (
        SELECT computed_at, fixes, distance_m / 1000.0 AS distance_km, on_route_m / 1000.0 AS on_route_km,
               deadhead_m / 1000.0 AS deadhead_km, collection_s, deadhead_s, facility_s, break_s, idle_s,
               stops, dwell_mean_s, turnaround_s, coverage, missed_segments, no_data_segments,
               metrics AS details
        FROM shift_metrics WHERE shift_id = s.shift_id) m),
    -- The stops for the map, from the rollup's compact [lon, lat, arrival epoch s, dwell s].
    -- Stored in this shape by the rollup job: embedded as it is.
    'stops', coalesce((SELECT m.stop_points FROM shift_metrics m WHERE m.shift_id = s.shift_id), '[]'::jsonb),
    -- context.hotspot: the event's street segment is a significant fleet hotspot of its kind now;
    -- context.hotspot_place: the name of that hotspot's place, as the hotspot pages name it.
    'events', (SELECT coalesce(json_agg(e ORDER BY e.ts), '[]') FROM (
        SELECT ev.ts, ev.kind, ev.source, ev.lon, ev.lat, ev.magnitude, ev.speed_before AS speed_before_mps,
               ev.speed_after AS speed_after_mps,
               ev.context || jsonb_build_object('hotspot', h.segment_id IS NOT NULL, 'hotspot_place', h.place) AS context
        FROM shift_events ev
        LEFT JOIN known_hotspots h ON h.segment_id = ev.context ->> 'segment_id' AND h.kind = ev.kind
        WHERE ev.shift_id = s.shift_id) e),
    -- Time lost to causes outside the crew's control.
    'delays', (SELECT coalesce(json_agg(d ORDER BY d.ord), '[]') FROM (
        SELECT d.ord, d.kind, d.seconds, d.explanation
        FROM shift_metrics m, LATERAL (VALUES
            (0, 'facility_queue', (SELECT sum(q::float8)
                                   FROM jsonb_path_query(m.metrics, '$.facility_visits[*].queue_s') AS q),
             'waiting in line at transfer stations and landfills before tipping (each visit in the details)'),
            (1, 'facility_time', m.facility_s,
             'time inside landfill and transfer-station geofences, queues included'),
            (2, 'facility_turnaround', m.turnaround_s,
             'turnaround at facilities (arrival to departure) as the rollup measured it')
        ) AS d(ord, kind, seconds, explanation)
        WHERE m.shift_id = s.shift_id AND d.seconds <> 0) d),
    'opened_for_purpose', $2::text)::text
FROM shifts s
WHERE s.shift_id = $1 AND {where}
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
# Everything of the track view but the raw line, in one statement: the stored simplified line
# (NULLs when not rolled up yet), and the planned segments (missed and no-data ones flagged)
# and the events as GeoJSON feature arrays built by PostgreSQL, passed through as text.
# $1 shift id, $2 route id, $3 route version.
TRACK_PARTS = """
SELECT t.tolerance_m, t.fixes, t.points, t.coordinates::text AS coordinates,
    (SELECT coalesce(json_agg(json_build_object(
                'type', 'Feature', 'geometry', rs.geometry,
                'properties', json_build_object(
                    'kind', 'planned', 'seq', rs.seq, 'segment_id', rs.segment_id, 'service', rs.service,
                    'missed', rs.segment_id = ANY (coalesce(m.missed_segments, '{}')),
                    'no_data', rs.segment_id = ANY (coalesce(m.no_data_segments, '{}'))))
            ORDER BY rs.seq), '[]')
     FROM route_segments rs WHERE rs.route_id = $2 AND rs.version = $3)::text AS planned,
    (SELECT coalesce(json_agg(json_build_object(
                'type', 'Feature', 'geometry', json_build_object('type', 'Point', 'coordinates', json_build_array(e.lon, e.lat)),
                'properties', json_build_object(
                    'kind', 'event', 'event', e.kind, 'ts', e.ts, 'magnitude', e.magnitude, 'source', e.source))
            ORDER BY e.ts), '[]')
     FROM shift_events e WHERE e.shift_id = s.shift_id)::text AS events
FROM (SELECT $1::text AS shift_id) s
LEFT JOIN shift_metrics m ON m.shift_id = s.shift_id
LEFT JOIN shift_tracks t ON t.shift_id = s.shift_id
"""
LOOKUP = """
SELECT shift_id, vehicle_id, route_id, starts_at, ends_at FROM shifts
WHERE vehicle_id = $1 AND starts_at <= $2 AND ends_at > $2
ORDER BY starts_at
"""


async def list_own_shifts(
    conn: asyncpg.Connection, me: OwnPerson, start: datetime, end: datetime, limit: int, offset: int
) -> ShiftPage:
    rows = await conn.fetch(LIST_OWN, me.person_id, start, end, limit, offset, SAFETY_KINDS)
    total = rows[0]["total"] if rows else 0
    return ShiftPage(shifts=[ShiftSummary(**{k: r[k] for k in ShiftSummary.model_fields}) for r in rows], total=total)


OWN_DETAIL = DETAIL.format(where=OWN_SHIFT_CONDITION)
GRANTED_DETAIL = DETAIL.format(where="true")


async def own_shift_detail(conn: asyncpg.Connection, me: OwnPerson, shift_id: str) -> str:
    """One of the driver's own shifts as ShiftDetail JSON text; 'not found' for any other shift."""
    text = await conn.fetchval(OWN_DETAIL, shift_id, None, me.person_id)
    if text is None:
        raise no_such_shift()
    return text


async def shift_detail(conn: asyncpg.Connection, grant: ShiftGrant) -> str:
    """A shift the policy granted (own, or opened for a purpose) as ShiftDetail JSON text."""
    return await conn.fetchval(GRANTED_DETAIL, grant.shift_id, grant.purpose)


def track_step_s(grant: ShiftGrant) -> int:
    """Seconds per track point so that the shift yields at most MAX_TRACK_POINTS points."""
    return max(1, math.ceil((grant.ends_at - grant.starts_at).total_seconds() / MAX_TRACK_POINTS))


async def shift_track(conn: asyncpg.Connection, grant: ShiftGrant, raw: bool = False) -> bytes:
    """The shift as a GeoJSON FeatureCollection (JSON bytes): route driven, planned segments
    (missed and no-data ones flagged: a segment serviced while the unit had no fix is unknown,
    not missed), events.

    The route driven is the rollup's simplified line (shift_tracks, every fix within
    ``tolerance_m`` of it); ``raw`` (or a shift not rolled up yet) reads the raw fixes and
    thins them to one per ``step_s``. The line and the other features stay the JSON text
    PostgreSQL wrote, never Python objects: building ~40 planned features in Python cost the
    track more server CPU than the shift view's whole request (bench api, 6 Dec).
    """
    parts = await conn.fetchrow(TRACK_PARTS, grant.shift_id, grant.route_id, grant.route_version)
    if parts["coordinates"] is not None and not raw:
        coordinates, points = parts["coordinates"], parts["points"]
        about = {"simplified": True, "tolerance_m": parts["tolerance_m"], "fixes": parts["fixes"]}
        kept = True  # the line expires with the raw fixes (migration 0030)
    else:
        step = track_step_s(grant)
        thinned = await conn.fetchrow(TRACK, grant.vehicle_id, grant.starts_at, grant.ends_at, float(step))
        coordinates, points = thinned["coordinates"], thinned["points"]
        about, kept = {"simplified": False, "step_s": step}, points > 0
    line = {"type": "LineString", "coordinates": orjson.Fragment(coordinates)}
    driven = feature(
        line if points >= 2 else None,
        kind="driven",
        shift_id=grant.shift_id,
        points=points,
        **about,
        raw_data_available=kept,
    )
    # [driven, *planned, *events]: the two arrays' elements spliced in as text.
    features = [orjson.dumps(driven)] + [a[1:-1].encode() for a in (parts["planned"], parts["events"]) if a != "[]"]
    return b'{"type":"FeatureCollection","features":[' + b",".join(features) + b"]}"


async def find_shifts(conn: asyncpg.Connection, vehicle_id: str, at: datetime) -> list[ShiftRef]:
    return [ShiftRef(**dict(r)) for r in await conn.fetch(LOOKUP, vehicle_id, at)]
