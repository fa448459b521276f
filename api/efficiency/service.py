"""Route efficiency from shift_metrics per ISO week or month, k-suppressed in SQL.

Differencing-proof suppression (docs/decisions/0004): the unit of release is the cell
(route, ISO week). A cell is visible when it holds at least k_min_shifts shifts and, through
shift_crew, k_min_people distinct people. Every figure — a week, a month, the whole range,
the most missed segments, segment coverage — is computed from the shifts of visible cells
only, and ranges are whole weeks (the policy snaps them). Any answer, and so any difference
of answers, is then a function of visible cells alone: a suppressed cell cannot be
recovered by subtracting one range or bucket from another. A period without a visible cell
is suppressed: every figure is NULL in the query result itself.
"""
from __future__ import annotations

import asyncpg

from fleetpilot.api.efficiency.schemas import Bucket, Efficiency, RouteSegmentsCoverage, SegmentCoverage
from fleetpilot.api.errors import UnknownRoute
from fleetpilot.api.policy import AggregateScope

# The route's shifts in [$2, $3) that lie in visible (route, ISO week) cells, for $1 a route
# or NULL (every route); $4 k shifts, $5 k people. `visible` is false for the others.
CELLS = """
s AS (
    SELECT m.*, date_trunc('week', m.day::timestamp)::date AS week
    FROM shift_metrics m
    WHERE ($1::text IS NULL OR m.route_id = $1) AND m.route_id IS NOT NULL AND m.day >= $2 AND m.day < $3
),
cells AS (
    -- People through the crew index (a join would hash all of shift_crew per request).
    SELECT route_id, week, count(*) >= $4 AND (
               SELECT count(DISTINCT c.person_id) FROM shift_crew c WHERE c.shift_id = ANY (array_agg(s.shift_id))
           ) >= $5 AS visible
    FROM s GROUP BY route_id, week
),
v AS (
    SELECT s.*, cells.visible FROM s JOIN cells USING (route_id, week)
)"""
# $6 bucket ('week' or 'month': a month holds the ISO weeks starting in it), $7 most missed
# segments listed. One row per (route, period with shifts) and per route over the whole range.
EFFICIENCY = f"""
WITH {CELLS},
periods AS (
    SELECT v.*, date_trunc($6, v.week::timestamp)::date AS period FROM v
),
agg AS (
    SELECT route_id, period, GROUPING(period) = 1 AS whole, count(*) AS shifts,
           avg(coverage) AS coverage_mean,
           avg(distance_m) / 1000 AS distance_km_per_shift,
           sum(deadhead_m) / nullif(sum(distance_m), 0) AS deadhead_share,
           avg(collection_s) / 3600 AS collection_h_per_shift,
           avg(idle_s) / 60 AS idle_min_per_shift,
           avg(facility_s) / 60 AS facility_min_per_shift,
           avg(dwell_mean_s) AS dwell_mean_s,
           avg(turnaround_s) AS turnaround_mean_s
    FROM periods WHERE visible
    GROUP BY GROUPING SETS ((route_id, period), (route_id))
),
groups AS (
    SELECT DISTINCT route_id, period, false AS whole FROM periods
    UNION ALL
    SELECT DISTINCT route_id, NULL::date, true FROM periods
)
SELECT g.route_id, g.whole, g.period AS period_start, a.route_id IS NULL AS suppressed,
       CASE WHEN g.whole AND a.route_id IS NOT NULL THEN (
           SELECT coalesce(json_agg(json_build_array(seg, n) ORDER BY n DESC, seg), '[]') FROM (
               SELECT seg, count(*) AS n FROM v, unnest(v.missed_segments) AS seg
               WHERE v.visible AND v.route_id = g.route_id GROUP BY seg ORDER BY count(*) DESC, seg LIMIT $7) top
       ) END AS missed,
       a.shifts, a.coverage_mean, a.distance_km_per_shift, a.deadhead_share, a.collection_h_per_shift,
       a.idle_min_per_shift, a.facility_min_per_shift, a.dwell_mean_s, a.turnaround_mean_s
FROM groups g
LEFT JOIN agg a ON a.route_id = g.route_id AND a.whole = g.whole AND a.period IS NOT DISTINCT FROM g.period
ORDER BY g.route_id, g.whole, g.period
"""
# Per planned segment of the route's current version: in how many of the visible shifts it was missed.
SEGMENT_COVERAGE = f"""
WITH {CELLS}
SELECT rs.seq, rs.segment_id, st.name, rs.service,
       (SELECT count(*) FROM v WHERE v.visible AND rs.segment_id = ANY (v.missed_segments)) AS missed
FROM route_segments rs
JOIN routes r ON r.route_id = rs.route_id AND r.current_version = rs.version
LEFT JOIN street_segments st ON st.segment_id = rs.segment_id
WHERE rs.route_id = $1
ORDER BY rs.seq
"""
VISIBLE_SHIFTS = f"WITH {CELLS} SELECT count(*) FROM v WHERE v.visible"
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
    rows = await conn.fetch(EFFICIENCY, route_id, scope.start, scope.end, scope.k_shifts, scope.k_people, bucket,
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
    """Coverage per planned segment over the visible shifts of the range; suppressed when none."""
    version = await _check_route(conn, route_id)
    args = (route_id, scope.start, scope.end, scope.k_shifts, scope.k_people)
    shifts = await conn.fetchval(VISIBLE_SHIFTS, *args)
    segments = []
    if shifts and version is not None:
        segments = [SegmentCoverage(**dict(r), shifts=shifts, coverage=1 - r["missed"] / shifts)
                    for r in await conn.fetch(SEGMENT_COVERAGE, *args)]
    return RouteSegmentsCoverage(route_id=route_id, version=version or 0, start=scope.start, end=scope.end,
                                 suppressed=not shifts, segments=segments)
