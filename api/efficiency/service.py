"""Route efficiency from shift_metrics, grouped by day/week/month, k-suppressed in SQL.

A group is shown only when it holds at least k_min_shifts shifts and, through
shift_crew, k_min_people distinct people; otherwise every figure is NULL in the query
result itself. The whole range is judged the same way (GROUPING SETS), and is also
suppressed when the periods hidden inside it would together fall below k, since whole
minus shown periods would reveal them. Differencing across separate requests with
different ranges is a known limit of suppression without added noise.
"""
from __future__ import annotations

import asyncpg

from fleetpilot.api.efficiency.schemas import Bucket, Efficiency, RouteSegmentsCoverage, SegmentCoverage
from fleetpilot.api.errors import UnknownRoute
from fleetpilot.api.policy import AggregateScope

# $1 route (NULL: every route), $2 first day, $3 day after the last, $4 bucket unit,
# $5 k shifts, $6 k people, $7 most missed segments listed. One row per (route, period) and
# per route over the whole range.
EFFICIENCY = """
WITH s AS (
    SELECT m.*, date_trunc($4, m.day::timestamp)::date AS period
    FROM shift_metrics m
    WHERE ($1::text IS NULL OR m.route_id = $1) AND m.route_id IS NOT NULL AND m.day >= $2 AND m.day < $3
),
people AS (
    SELECT s.route_id, s.period, GROUPING(s.period) AS whole, count(DISTINCT c.person_id) AS people
    FROM s JOIN shift_crew c ON c.shift_id = s.shift_id
    GROUP BY GROUPING SETS ((s.route_id, s.period), (s.route_id))
),
agg AS (
    SELECT route_id, period, GROUPING(period) AS whole, count(*) AS shifts,
           avg(coverage) AS coverage_mean,
           avg(distance_m) / 1000 AS distance_km_per_shift,
           sum(deadhead_m) / nullif(sum(distance_m), 0) AS deadhead_share,
           avg(collection_s) / 3600 AS collection_h_per_shift,
           avg(idle_s) / 60 AS idle_min_per_shift,
           avg(facility_s) / 60 AS facility_min_per_shift,
           avg(dwell_mean_s) AS dwell_mean_s,
           avg(turnaround_s) AS turnaround_mean_s
    FROM s GROUP BY GROUPING SETS ((route_id, period), (route_id))
),
judged AS (
    SELECT agg.*, (agg.shifts >= $5 AND coalesce(p.people, 0) >= $6) AS k_ok
    FROM agg LEFT JOIN people p
      ON p.route_id = agg.route_id AND p.whole = agg.whole AND p.period IS NOT DISTINCT FROM agg.period
),
-- Whole range minus the periods shown = the suppressed periods together; that remainder
-- must itself reach k, or the whole range is suppressed as well (no recovery by subtraction).
remainder AS (
    SELECT s.route_id, count(DISTINCT s.shift_id) AS shifts, count(DISTINCT c.person_id) AS people
    FROM s
    JOIN judged j ON j.route_id = s.route_id AND j.whole = 0 AND j.period = s.period AND NOT j.k_ok
    LEFT JOIN shift_crew c ON c.shift_id = s.shift_id
    GROUP BY s.route_id
),
shown AS (
    SELECT j.*, j.k_ok AND (j.whole = 0 OR r.route_id IS NULL OR (r.shifts >= $5 AND r.people >= $6)) AS visible
    FROM judged j LEFT JOIN remainder r ON r.route_id = j.route_id
)
SELECT route_id, whole = 1 AS whole, period AS period_start, NOT visible AS suppressed,
       -- The most often missed planned segments, for a whole range that may be shown.
       CASE WHEN visible AND whole = 1 THEN (
           SELECT coalesce(json_agg(json_build_array(seg, n) ORDER BY n DESC, seg), '[]') FROM (
               SELECT seg, count(*) AS n FROM s, unnest(s.missed_segments) AS seg
               WHERE s.route_id = shown.route_id GROUP BY seg ORDER BY count(*) DESC, seg LIMIT $7) top
       ) END AS missed,
       CASE WHEN visible THEN shifts END AS shifts,
       CASE WHEN visible THEN coverage_mean END AS coverage_mean,
       CASE WHEN visible THEN distance_km_per_shift END AS distance_km_per_shift,
       CASE WHEN visible THEN deadhead_share END AS deadhead_share,
       CASE WHEN visible THEN collection_h_per_shift END AS collection_h_per_shift,
       CASE WHEN visible THEN idle_min_per_shift END AS idle_min_per_shift,
       CASE WHEN visible THEN facility_min_per_shift END AS facility_min_per_shift,
       CASE WHEN visible THEN dwell_mean_s END AS dwell_mean_s,
       CASE WHEN visible THEN turnaround_mean_s END AS turnaround_mean_s
FROM shown
ORDER BY route_id, whole, period
"""
# Per planned segment of the route's current version: in how many of the range's shifts it was missed.
SEGMENT_COVERAGE = """
WITH s AS (
    SELECT shift_id, missed_segments FROM shift_metrics WHERE route_id = $1 AND day >= $2 AND day < $3
)
SELECT rs.seq, rs.segment_id, st.name, rs.service,
       (SELECT count(*) FROM s) AS shifts,
       (SELECT count(*) FROM s WHERE rs.segment_id = ANY (s.missed_segments)) AS missed
FROM route_segments rs
JOIN routes r ON r.route_id = rs.route_id AND r.current_version = rs.version
LEFT JOIN street_segments st ON st.segment_id = rs.segment_id
WHERE rs.route_id = $1
ORDER BY rs.seq
"""
RANGE_GROUP = """
SELECT count(*) AS shifts,
       (SELECT count(DISTINCT c.person_id) FROM shift_metrics m JOIN shift_crew c ON c.shift_id = m.shift_id
        WHERE m.route_id = $1 AND m.day >= $2 AND m.day < $3) AS people
FROM shift_metrics WHERE route_id = $1 AND day >= $2 AND day < $3
"""
CURRENT_VERSION = "SELECT current_version FROM routes WHERE route_id = $1"
MAX_MISSED_SEGMENTS = 50


async def _check_route(conn: asyncpg.Connection, route_id: str) -> int | None:
    row = await conn.fetchrow(CURRENT_VERSION, route_id)
    if row is None:
        raise UnknownRoute(route_id)
    return row["current_version"]


# The figures of a group, in Efficiency's field order; all None when suppressed.
FIGURES = tuple(k for k in Efficiency.model_fields if k not in ("period_start", "suppressed"))
EMPTY = {"period_start": None, "suppressed": True, **dict.fromkeys(FIGURES)}


async def efficiency(conn: asyncpg.Connection, scope: AggregateScope, bucket: Bucket,
                     route_id: str | None = None) -> list[dict]:
    """Per route (one route, or all with shifts in the range when route_id is None), as
    RouteEfficiency-shaped dicts (plain dicts: this is a hot path, and the SQL already
    yields the exact fields and types)."""
    rows = await conn.fetch(EFFICIENCY, route_id, scope.start, scope.end, bucket, scope.k_shifts, scope.k_people,
                            MAX_MISSED_SEGMENTS)
    by_route: dict[str, dict] = {}
    if route_id is not None:
        by_route[route_id] = _route_result(route_id, scope, bucket)
    for row in rows:
        result = by_route.get(row["route_id"]) or by_route.setdefault(
            row["route_id"], _route_result(row["route_id"], scope, bucket))
        group = {"period_start": row["period_start"], "suppressed": row["suppressed"],
                 **{k: row[k] for k in FIGURES}}
        if row["whole"]:
            result["whole_range"] = group
            result["missed_segments"] = [{"segment_id": seg, "shifts_missed": n, "share": n / group["shifts"]}
                                         for seg, n in row["missed"] or []]
        else:
            result["periods"].append(group)
    return list(by_route.values())


def _route_result(route_id: str, scope: AggregateScope, bucket: Bucket) -> dict:
    return {"route_id": route_id, "start": scope.start, "end": scope.end, "bucket": bucket,
            "k_min_shifts": scope.k_shifts, "k_min_people": scope.k_people, "periods": [],
            "whole_range": EMPTY, "missed_segments": []}


async def route_efficiency(conn: asyncpg.Connection, scope: AggregateScope, route_id: str,
                           bucket: Bucket) -> dict:
    result = (await efficiency(conn, scope, bucket, route_id))[0]
    if not result["periods"]:  # no shifts in the range: tell an unknown route apart (one more query)
        await _check_route(conn, route_id)
    return result


async def segment_coverage(conn: asyncpg.Connection, scope: AggregateScope, route_id: str) -> RouteSegmentsCoverage:
    """Coverage per planned segment over the range; all or nothing, by the range's k check."""
    version = await _check_route(conn, route_id)
    group = await conn.fetchrow(RANGE_GROUP, route_id, scope.start, scope.end)
    suppressed = group["shifts"] < scope.k_shifts or group["people"] < scope.k_people
    segments = []
    if not suppressed and version is not None:
        segments = [SegmentCoverage(**dict(r), coverage=1 - r["missed"] / r["shifts"])
                    for r in await conn.fetch(SEGMENT_COVERAGE, route_id, scope.start, scope.end)]
    return RouteSegmentsCoverage(route_id=route_id, version=version or 0, start=scope.start, end=scope.end,
                                 suppressed=suppressed, segments=segments)
