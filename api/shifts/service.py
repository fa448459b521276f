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
from fleetpilot.api.shifts.schemas import ShiftRef
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
# The page as the ShiftPage JSON document, built by PostgreSQL (passed through as text like
# the shift view's: per row, pydantic models built and validated twice cost more server CPU
# than the rest of the request; bench api, 6 Dec). Same parameters as LIST_OWN.
LIST_OWN_JSON = f"""
SELECT json_build_object(
    'shifts', coalesce(json_agg(json_build_object(
        'shift_id', p.shift_id, 'vehicle_id', p.vehicle_id, 'route_id', p.route_id,
        'starts_at', p.starts_at, 'ends_at', p.ends_at, 'distance_km', p.distance_km,
        'coverage', p.coverage, 'safety_events', p.safety_events) ORDER BY p.starts_at DESC), '[]'),
    'total', coalesce(max(p.total), 0))::text
FROM ({LIST_OWN}) p
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
# Everything of the track view but the raw line and the planned segments, in one statement:
# the stored simplified line (NULLs when not rolled up yet), the shift's missed and no-data
# segments, when its plan version was saved (the key of the planned features below), and
# the events as a GeoJSON feature array built by PostgreSQL, passed through as text.
# $1 shift id, $2 route id, $3 route version.
TRACK_PARTS = """
SELECT t.tolerance_m, t.fixes, t.points, t.coordinates::text AS coordinates,
    m.missed_segments, m.no_data_segments, v.created_at AS plan_saved_at,
    current_database() AS db, inet_server_port() AS port,
    (SELECT coalesce(json_agg(json_build_object(
                'type', 'Feature', 'geometry', json_build_object('type', 'Point', 'coordinates', json_build_array(e.lon, e.lat)),
                'properties', json_build_object(
                    'kind', 'event', 'event', e.kind, 'ts', e.ts, 'magnitude', e.magnitude, 'source', e.source))
            ORDER BY e.ts), '[]')
     FROM shift_events e WHERE e.shift_id = s.shift_id)::text AS events
FROM (SELECT $1::text AS shift_id) s
LEFT JOIN shift_metrics m ON m.shift_id = s.shift_id
LEFT JOIN shift_tracks t ON t.shift_id = s.shift_id
LEFT JOIN route_versions v ON v.route_id = $2 AND v.version = $3
"""
# A plan version's segments, in driving order. A saved version is never changed (a change is
# a new version), so its features are built once per server process (PlannedFeatures).
PLANNED = """
SELECT seq, segment_id, service, geometry::text AS geometry FROM route_segments
WHERE route_id = $1 AND version = $2 ORDER BY seq
"""
LOOKUP = """
SELECT shift_id, vehicle_id, route_id, starts_at, ends_at FROM shifts
WHERE vehicle_id = $1 AND starts_at <= $2 AND ends_at > $2
ORDER BY starts_at
"""


async def list_own_shifts(
    conn: asyncpg.Connection, me: OwnPerson, start: datetime, end: datetime, limit: int, offset: int
) -> str:
    """The driver's own shifts that started in [start, end) as ShiftPage JSON text, newest first."""
    return await conn.fetchval(LIST_OWN_JSON, me.person_id, start, end, limit, offset, SAFETY_KINDS)


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


class PlannedFeatures:
    """The planned segments of route versions as GeoJSON feature text, kept per server process.

    Building them in PostgreSQL for every track request (~160 segments of a route, geometry
    jsonb to json) was ~1.2 of the track's ~1.4 ms of database time (EXPLAIN ANALYZE on the
    bench month, 6 Dec). A saved version never changes, so each segment's text is made once,
    in its four missed/no-data variants; the key holds the database and the version's saved
    time too, so a version deleted and saved again (a rebuilt database) is read afresh. The
    plan is the city's, about streets: nothing personal is kept.
    """

    MAX_VERSIONS = 512

    def __init__(self) -> None:
        self._versions: dict[tuple, list[tuple[str, dict[tuple[bool, bool], bytes]]]] = {}

    async def text(
        self,
        conn: asyncpg.Connection,
        database: tuple,
        route_id: str,
        version: int,
        saved_at: datetime,
        missed: list[str] | None,
        no_data: list[str] | None,
    ) -> bytes:
        """The version's features, comma-separated, with this shift's flags (b"" if none);
        `database`: which database (name, port) the version is of."""
        key = (database, route_id, version, saved_at)
        segments = self._versions.get(key)
        if segments is None:
            segments = [
                (
                    r["segment_id"],
                    {
                        (m, n): orjson.dumps(
                            {
                                "type": "Feature",
                                "geometry": orjson.Fragment(r["geometry"]),
                                "properties": {
                                    "kind": "planned",
                                    "seq": r["seq"],
                                    "segment_id": r["segment_id"],
                                    "service": r["service"],
                                    "missed": m,
                                    "no_data": n,
                                },
                            }
                        )
                        for m in (False, True)
                        for n in (False, True)
                    },
                )
                for r in await conn.fetch(PLANNED, route_id, version)
            ]
            if len(self._versions) >= self.MAX_VERSIONS:
                self._versions.clear()
            self._versions[key] = segments
        missed_set, no_data_set = set(missed or ()), set(no_data or ())
        return b",".join(variants[(sid in missed_set, sid in no_data_set)] for sid, variants in segments)


PLANNED_FEATURES = PlannedFeatures()


async def shift_track(conn: asyncpg.Connection, grant: ShiftGrant, raw: bool = False) -> bytes:
    """The shift as a GeoJSON FeatureCollection (JSON bytes): route driven, planned segments
    (missed and no-data ones flagged: a segment serviced while the unit had no fix is unknown,
    not missed), events.

    The route driven is the rollup's simplified line (shift_tracks, every fix within
    ``tolerance_m`` of it); ``raw`` (or a shift not rolled up yet) reads the raw fixes and
    thins them to one per ``step_s``. The line and the events stay the JSON text PostgreSQL
    wrote, and the planned features the text PlannedFeatures made once per plan version, never
    Python objects per request: building them in Python per request cost the track more server
    CPU than the shift view's whole request, and in SQL most of its database CPU (bench api, 6 Dec).
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
    planned = (
        await PLANNED_FEATURES.text(
            conn,
            (parts["db"], parts["port"]),
            grant.route_id,
            grant.route_version,
            parts["plan_saved_at"],
            parts["missed_segments"],
            parts["no_data_segments"],
        )
        if grant.route_id is not None and grant.route_version is not None and parts["plan_saved_at"] is not None
        else b""
    )
    # [driven, *planned, *events]: the planned features and the events array's elements spliced in as text.
    features = [orjson.dumps(driven), planned, parts["events"][1:-1].encode()]
    return b'{"type":"FeatureCollection","features":[' + b",".join(f for f in features if f) + b"]}"


async def find_shifts(conn: asyncpg.Connection, vehicle_id: str, at: datetime) -> list[ShiftRef]:
    return [ShiftRef(**dict(r)) for r in await conn.fetch(LOOKUP, vehicle_id, at)]
