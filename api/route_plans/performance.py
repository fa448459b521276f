"""How plans worked out: two versions of a route compared (issue 21, item 5) and the workload
balance between routes (issue 18, item 4). Route-level only, never per person; k-suppressed
by decision 0004.

Balance: the cell is (route, ISO week), exactly the cells the efficiency answers release
(`policy.released_cell`), and every figure is summed from released cells only.

Versions compared: a week in which a route changed version holds two groups of shifts. Each
(route, version, week) part is judged by the same rule, and a week counts for the comparison
only when *every* part of it is released. So a released week's parts add up to the week the
efficiency answers show, and a withheld part never enters any figure: subtracting one
version's figures from the route's week gives only the other version's, itself released.
The price: a week with a small part (say two shifts on the old plan before the new one
applied) is left out of both versions' figures; the answer counts such weeks.

Shift length is on duty (start to end, as the goals' truck-hours); overtime is the hours beyond
the what-if engine's paid hours (`Factors.paid_hours`); queue time is the time at transfer
stations and landfills (shift_metrics.facility_s, as the goals' facility hours).
"""

from __future__ import annotations

import asyncpg
import numpy as np

from fleetpilot import localtime
from fleetpilot.analytics.geo import step_metres
from fleetpilot.analytics.whatif.kpi import Factors
from fleetpilot.api.policy import AggregateScope, released_cell
from fleetpilot.api.route_plans.changes import street_changes, unique_order
from fleetpilot.api.route_plans.schemas import (
    Comparison,
    MovedStreet,
    PlanSize,
    RouteLoad,
    Street,
    VersionPerformance,
    VersionSide,
    Workload,
)
from fleetpilot.api.route_plans.service import service_order, version_facts, version_segments

PAID_HOURS = Factors().paid_hours

# Per shift of route $1 in [$2, $3): its version, city week and the figures compared.
SHIFTS = """
s AS (
    SELECT m.shift_id, sh.route_version AS version, date_trunc('week', m.day::timestamp)::date AS week,
           m.coverage, m.distance_m, m.facility_s, extract(epoch FROM sh.ends_at - sh.starts_at) / 3600.0 AS hours
    FROM shift_metrics m JOIN shifts sh ON sh.shift_id = m.shift_id
    WHERE m.route_id = $1 AND m.day >= $2 AND m.day < $3
)"""
# Sums of the figures over rows `s`; $6 the paid hours.
SUMS = """
count(*) AS shifts, count(DISTINCT s.week) AS weeks,
sum(s.coverage) AS coverage_sum, count(s.coverage) AS coverage_n,
sum(s.hours) AS hours_sum, sum(greatest(s.hours - $6, 0)) AS overtime_sum,
count(*) FILTER (WHERE s.hours > $6) AS overtime_shifts,
sum(s.distance_m) AS distance_sum, count(s.distance_m) AS distance_n,
sum(s.facility_s) AS facility_sum, count(s.facility_s) AS facility_n"""
# Per version of $7: sums over the weeks whose every (version, week) part reaches $4 shifts and
# $5 drivers, and how many weeks with shifts of the version were left out.
COMPARE = f"""
WITH {SHIFTS},
parts AS (
    SELECT s.week, s.version, {released_cell("s.shift_id", "$4", "$5")} AS released FROM s GROUP BY s.week, s.version
),
weeks AS (SELECT week FROM parts GROUP BY week HAVING bool_and(released))
SELECT v.version,
       (SELECT count(DISTINCT p.week) FROM parts p WHERE p.version = v.version
        AND p.week NOT IN (SELECT week FROM weeks)) AS withheld_weeks,
       (SELECT row_to_json(x) FROM (
            SELECT {SUMS} FROM s WHERE s.version = v.version AND s.week IN (SELECT week FROM weeks)
       ) x) AS sums
FROM unnest($7::int[]) AS v(version)
"""
# Per route with shifts in [$1, $2): sums over its released (route, week) cells ($3 shifts, $4
# drivers; $5 the paid hours) and how many of its weeks were withheld.
WORKLOAD = f"""
WITH s AS (
    SELECT m.route_id, m.shift_id, date_trunc('week', m.day::timestamp)::date AS week,
           m.coverage, m.distance_m, m.facility_s, extract(epoch FROM sh.ends_at - sh.starts_at) / 3600.0 AS hours
    FROM shift_metrics m JOIN shifts sh ON sh.shift_id = m.shift_id
    WHERE m.route_id IS NOT NULL AND m.day >= $1 AND m.day < $2
),
cells AS (
    SELECT route_id, week, {released_cell("s.shift_id", "$3", "$4")} AS released FROM s GROUP BY route_id, week
)
SELECT c.route_id,
       count(*) FILTER (WHERE NOT c.released) AS withheld_weeks,
       (SELECT row_to_json(x) FROM (
            SELECT {SUMS.replace("$6", "$5")} FROM s JOIN cells r USING (route_id, week)
            WHERE r.released AND s.route_id = c.route_id
       ) x) AS sums
FROM cells c GROUP BY c.route_id
"""
# Active routes with the version that applies on $1 and its planned stops.
PLANNED = """
SELECT r.route_id, r.name, route_version_on(r.route_id, $1) AS version,
       (SELECT count(*) FROM route_stops st WHERE st.route_id = r.route_id
        AND st.version = route_version_on(r.route_id, $1)) AS stops
FROM routes r WHERE r.active ORDER BY r.route_id
"""


def _performance(sums: dict | None, withheld_weeks: int) -> VersionPerformance:
    """Figures per shift from released sums; suppressed (all None) when no shift was released."""
    if not sums or not sums["shifts"]:
        return VersionPerformance(suppressed=True, withheld_weeks=withheld_weeks)
    n = sums["shifts"]

    def mean(total: str, known: str, unit: float = 1.0) -> float | None:
        return sums[total] / sums[known] / unit if sums[known] else None

    return VersionPerformance(
        suppressed=False,
        withheld_weeks=withheld_weeks,
        shifts=n,
        weeks=sums["weeks"],
        coverage_mean=mean("coverage_sum", "coverage_n"),
        hours_per_shift=sums["hours_sum"] / n,
        overtime_h_per_shift=sums["overtime_sum"] / n,
        overtime_share=sums["overtime_shifts"] / n,
        km_per_shift=mean("distance_sum", "distance_n", 1000.0),
        queue_min_per_shift=mean("facility_sum", "facility_n", 60.0),
    )


def _line_km(geometry: dict) -> float:
    coords = np.asarray(geometry["coordinates"], dtype=np.float64)
    return float(step_metres(coords[:, 0], coords[:, 1]).sum()) / 1000.0 if len(coords) > 1 else 0.0


def plan_figures(segments: list, stops: int) -> PlanSize:
    service = [s for s in segments if s["service"]]
    return PlanSize(
        streets=len(unique_order([s["segment_id"] for s in service])),
        segments=len(segments),
        stops=stops,
        service_km=sum(_line_km(s["geometry"]) for s in service),
        plan_km=sum(_line_km(s["geometry"]) for s in segments),
    )


async def compare(conn: asyncpg.Connection, scope: AggregateScope, route_id: str, a: int, b: int) -> Comparison:
    """Versions `a` and `b` of a route: plan figures, what changed from a to b, and how the
    shifts that drove each performed in the scope's released weeks."""
    facts = [await version_facts(conn, route_id, v) for v in (a, b)]  # UnknownRoute for either
    segments = [await version_segments(conn, route_id, v) for v in (a, b)]
    rows = {
        r["version"]: r
        for r in await conn.fetch(
            COMPARE, route_id, scope.start, scope.end, scope.k_shifts, scope.k_people, PAID_HOURS, [a, b]
        )
    }
    names = {s["segment_id"]: s["name"] for side in segments for s in side}
    changes = street_changes(service_order(segments[0]), service_order(segments[1]))
    sides = [
        VersionSide(
            version=v,
            saved_at=f["created_at"],
            note=f["note"],
            effective_from=f["effective_from"],
            plan=plan_figures(segs, f["stops"]),
            performance=_performance(rows[v]["sums"], rows[v]["withheld_weeks"]),
        )
        for v, f, segs in zip((a, b), facts, segments, strict=True)
    ]
    return Comparison(
        route_id=route_id,
        start=scope.start,
        end=scope.end,
        k_min_shifts=scope.k_shifts,
        k_min_people=scope.k_people,
        paid_hours=PAID_HOURS,
        a=sides[0],
        b=sides[1],
        added=[Street(segment_id=s, name=names.get(s)) for s in changes.added],
        removed=[Street(segment_id=s, name=names.get(s)) for s in changes.removed],
        moved=[
            MovedStreet(segment_id=m.segment_id, name=names.get(m.segment_id), was=m.was, now=m.now)
            for m in changes.moved
        ],
    )


async def workload(conn: asyncpg.Connection, scope: AggregateScope, tz: str) -> Workload:
    """Every active route's planned load (the version that applies today) beside how its shifts
    worked out in the scope's released (route, week) cells."""
    planned = await conn.fetch(PLANNED, localtime.today(tz))
    worked = {
        r["route_id"]: r
        for r in await conn.fetch(WORKLOAD, scope.start, scope.end, scope.k_shifts, scope.k_people, PAID_HOURS)
    }
    routes = []
    for p in planned:
        row = worked.get(p["route_id"])
        segments = await version_segments(conn, p["route_id"], p["version"]) if p["version"] is not None else []
        routes.append(
            RouteLoad(
                route_id=p["route_id"],
                name=p["name"],
                version=p["version"],
                plan=plan_figures(segments, p["stops"]),
                performance=_performance(row["sums"], row["withheld_weeks"]) if row else _performance(None, 0),
            )
        )
    hours = [r.performance.hours_per_shift for r in routes if r.performance.hours_per_shift is not None]
    return Workload(
        start=scope.start,
        end=scope.end,
        k_min_shifts=scope.k_shifts,
        k_min_people=scope.k_people,
        paid_hours=PAID_HOURS,
        routes=routes,
        hours_spread=max(hours) - min(hours) if len(hours) > 1 else None,
        hours_mean=sum(hours) / len(hours) if hours else None,
    )
