"""SQL of the what-if legs: prepared by the rollup stage, read back by the what-if service.

Parameters are always $n; times are UTC. The service's stored answers: api/whatif/results.py.
"""

from fleetpilot.event_kinds import LEG

STREETS = "SELECT segment_id, road_class, speed_limit_kmh, geometry::text AS g FROM street_segments ORDER BY segment_id"
FACILITIES = "SELECT facility_id, facility_type, geometry::text AS g FROM facilities ORDER BY facility_id"

# Plan versions driven by shifts in [$1, $2), and every route's current version.
PLAN_KEYS = """
SELECT DISTINCT route_id, route_version AS version FROM shifts
WHERE starts_at >= $1 AND starts_at < $2 AND route_id IS NOT NULL AND route_version IS NOT NULL
UNION
SELECT route_id, current_version FROM routes WHERE current_version IS NOT NULL
"""
PLAN_SEGMENTS = """
SELECT route_id, version, seq, segment_id, service FROM route_segments
WHERE (route_id, version) IN (SELECT * FROM unnest($1::text[], $2::int[]))
"""
PLAN_STOPS = """
SELECT route_id, version, seq, stop_id, lon, lat FROM route_stops
WHERE (route_id, version) IN (SELECT * FROM unnest($1::text[], $2::int[]))
"""

# Prepared shifts starting in [$1, $2). Crew members arrive only as digests: the service
# counts distinct people for k-anonymity and never holds a person id.
PREPARED_SHIFTS = """
SELECT s.shift_id, s.vehicle_id, s.route_id, s.route_version,
       extract(epoch FROM s.starts_at)::float8 AS start_s, extract(epoch FROM s.ends_at)::float8 AS end_s,
       coalesce(array_agg(md5(c.person_id)) FILTER (WHERE c.person_id IS NOT NULL AND c.crew_role = 'driver'), '{}')
           AS crew  -- k counts drivers (decision 0009): helpers do not make a group larger
FROM shifts s
JOIN whatif_prepared p ON p.shift_id = s.shift_id
LEFT JOIN shift_crew c ON c.shift_id = s.shift_id
WHERE s.starts_at >= $1 AND s.starts_at < $2
GROUP BY s.shift_id
ORDER BY s.shift_id
"""

# Streamed with COPY (CSV) and parsed column-wise: a month of a 50-truck fleet is ~10^5–10^6 legs.
# Unordered: an ORDER BY here sorted a month's legs on disk (EXPLAIN ANALYZE: external merge,
# most of the read); load.legs_per_shift orders them in numpy.
LEGS_COPY = """
SELECT l.shift_id, l.leg, l.kind, l.segment_id, l.forward, l.facility_id, extract(epoch FROM l.t0)::float8 AS t0,
       l.duration_s, l.moving_s, l.length_m, l.max_speed_mps,
       l.harsh_brake, l.harsh_accel, l.harsh_corner, l.reversing, l.bin_lift
FROM whatif_legs l JOIN shifts s ON s.shift_id = l.shift_id
WHERE s.starts_at >= $1 AND s.starts_at < $2
"""
# Streamed with COPY like the legs (a month: ~2·10^5 visits; as records they cost a second),
# unordered too: load.visits_per_shift orders them by shift and stop_seq (prepare's order).
VISITS_COPY = """
SELECT v.shift_id, v.stop_seq, extract(epoch FROM v.first_at)::float8 AS t
FROM whatif_stop_visits v JOIN shifts s ON s.shift_id = v.shift_id
WHERE s.starts_at >= $1 AND s.starts_at < $2
"""

# The city's version (migration 0008: bumped in the transaction of every write to streets or
# facilities): the per-process city is rebuilt only when it moves.
CITY_VERSION = """
SELECT current_database() AS db, (SELECT value FROM fleetpilot_meta WHERE key = 'city_version') AS city
"""
# Everything load_history reads for the shifts starting in [$1, $2) (of $3 only, when not
# NULL), as digests: a process keeps the History of a key and builds it again once any of
# these moves — a rollup or `whatif prepare` rewriting a shift's legs and visits (prepared_at,
# set in their transaction), a shift or its crew changing, a plan version added or made
# current, the city edited. Stricter than the answers' FINGERPRINT, which it does not replace.
HISTORY_KEY = """
SELECT current_database() AS db,
       (SELECT value FROM fleetpilot_meta WHERE key = 'city_version') AS city,
       (SELECT coalesce(md5(string_agg(format('%s|%s|%s', route_id, version, created_at), ','
                                       ORDER BY route_id, version)), '') FROM route_versions) AS plans,
       (SELECT coalesce(md5(string_agg(format('%s|%s', route_id, current_version), ',' ORDER BY route_id)), '')
        FROM routes) AS current_plans,
       coalesce(md5(string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s', s.shift_id, s.vehicle_id, s.route_id,
                                      s.route_version, s.starts_at, s.ends_at, p.prepared_at, p.legs), ','
                               ORDER BY s.shift_id)), '') AS shifts,
       (SELECT coalesce(md5(string_agg(format('%s|%s|%s', c.shift_id, c.person_id, c.crew_role), ','
                                       ORDER BY c.shift_id, c.person_id, c.crew_role)), '')
        FROM shift_crew c JOIN shifts s2 ON s2.shift_id = c.shift_id
        WHERE s2.starts_at >= $1 AND s2.starts_at < $2 AND ($3::text[] IS NULL OR s2.shift_id = ANY ($3::text[])))
           AS crews
FROM shifts s LEFT JOIN whatif_prepared p ON p.shift_id = s.shift_id
WHERE s.starts_at >= $1 AND s.starts_at < $2 AND ($3::text[] IS NULL OR s.shift_id = ANY ($3::text[]))
"""

# What an answer depends on besides its inputs; any change makes a new answer (old links stay).
# $3: the shifts the answer may use (the released ones, policy.released_shifts), NULL for all:
# data of withheld cells enter no answer and so no fingerprint either (decision 0004).
FINGERPRINT = """
SELECT count(*) AS shifts, count(p.shift_id) AS prepared, coalesce(max(p.prepared_at)::text, '') AS last_prepared,
       coalesce(sum(p.legs), 0) AS legs,
       (SELECT coalesce(max(created_at)::text, '') FROM route_versions) AS plans,
       -- Streets and facilities: their version (one meta row the writers' triggers bump, 0008)
       -- sees an edit of a speed limit, which a count of the segments did not, and reads no heap.
       (SELECT coalesce(value, '') FROM fleetpilot_meta WHERE key = 'city_version') AS city,
       -- Shifts and crews decide which (unit, week) cells are released: a change withdraws answers.
       coalesce(md5(string_agg(s.shift_id || '|' || coalesce(s.route_id, '') || '|' || s.ends_at::text, ','
                               ORDER BY s.shift_id)), '') AS shift_keys,
       (SELECT coalesce(md5(string_agg(c.shift_id || '|' || c.person_id || '|' || c.crew_role, ','
                                       ORDER BY c.shift_id, c.person_id)), '')
        FROM shift_crew c JOIN shifts s2 ON s2.shift_id = c.shift_id
        WHERE s2.starts_at >= $1 AND s2.starts_at < $2 AND ($3::text[] IS NULL OR s2.shift_id = ANY ($3::text[])))
           AS crews
FROM shifts s LEFT JOIN whatif_prepared p ON p.shift_id = s.shift_id
WHERE s.starts_at >= $1 AND s.starts_at < $2 AND ($3::text[] IS NULL OR s.shift_id = ANY ($3::text[]))
"""

# --- preparing legs --------------------------------------------------------------------------

# Shifts over by now, starting in [$1, $2) ($3 = true: all of them): those without legs, and
# those the rollup recomputed after their legs were made (late data marked their vehicle-day;
# the legs must cover the same fixes as the shift's metrics).
TO_PREPARE = """
SELECT s.shift_id, s.vehicle_id, s.route_id, s.route_version, s.starts_at, s.ends_at
FROM shifts s
LEFT JOIN whatif_prepared p ON p.shift_id = s.shift_id
LEFT JOIN shift_metrics m ON m.shift_id = s.shift_id
WHERE s.starts_at >= $1 AND s.starts_at < $2 AND s.ends_at <= now()
  AND ($3 OR p.shift_id IS NULL OR m.computed_at > p.prepared_at)
ORDER BY s.starts_at, s.shift_id
"""
SHIFT_FIXES = """
SELECT (extract(epoch FROM ts) * 1000)::bigint AS t, lon, lat, speed_mps, heading_deg, hdop
FROM fixes WHERE vehicle_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts
"""
SHIFT_EVENTS = """
SELECT (extract(epoch FROM ts) * 1000)::bigint AS t, kind
FROM events WHERE vehicle_id = $1 AND ts >= $2 AND ts < $3 ORDER BY ts
"""
# One row per shift: (shift_id, fixes, events, legs) as four arrays.
UPSERT_PREPARED = """
INSERT INTO whatif_prepared (shift_id, fixes, events, legs)
SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[])
ON CONFLICT (shift_id) DO UPDATE SET prepared_at = now(), fixes = EXCLUDED.fixes, events = EXCLUDED.events,
    legs = EXCLUDED.legs
"""
LEG_COLUMNS = (
    "shift_id",
    "leg",
    "kind",
    "segment_id",
    "forward",
    "facility_id",
    "t0",
    "duration_s",
    "moving_s",
    "length_m",
    "max_speed_mps",
    *LEG,  # one count column per kind (LEGS_COPY reads them in this order)
)
VISIT_COLUMNS = ("shift_id", "stop_seq", "first_at")
RETENTION_DAYS = "SELECT retention_days FROM privacy_settings"
PURGE = "SELECT whatif_purge_expired(now() - make_interval(days => $1))"
