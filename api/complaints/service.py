"""Every read of stored 311 evidence goes through `read_evidence` (one function, one place to
route through a release layer).

Three views of the same rows:
- `Queue`  — the supervisor's queue: each complaint with the record's answer about one route,
  segment, truck and day (no person, no shift id), made in [from, to) local days;
- `Crew`   — a crew member's own: complaints the record answered "serviced" about a shift
  they crewed (the tracking protected them);
- `Tally`  — complaints per (route, ISO week of the collection day). This is where evidence
  aggregates, so it passes the release rule of decision 0004: a (route, week) cell shows
  counts only when that route's shifts of that week number at least k_min_shifts driven by
  at least k_min_people distinct drivers (the cells of the efficiency figures); a smaller cell
  is listed as withheld, with no count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import asyncpg

from fleetpilot.api.policy import AggregateScope, OwnPerson, released_cell
from fleetpilot.localtime import day_bounds

COLUMNS = """
c.service_request_id, c.status, c.requested_at, c.address, c.lon, c.lat, c.outside_city, c.outside_pilot,
c.times_reopened, c.verdict, c.segment_id, c.route_id, c.vehicle_id, c.collection_day, c.passed_at, c.stopped_s,
c.before_complaint, c.cause
"""
# Complaints made in [$1, $2) (instants: the city's local midnights), newest first.
QUEUE = f"""
SELECT {COLUMNS} FROM complaints c
WHERE c.requested_at >= $1 AND c.requested_at < $2
ORDER BY c.requested_at DESC, c.service_request_id LIMIT $3
"""
# Serviced complaints about a shift this person crewed (vehicle, route and day of the evidence).
CREW = f"""
SELECT {COLUMNS} FROM complaints c
WHERE c.verdict = 'serviced' AND EXISTS (
    SELECT 1 FROM shift_metrics m JOIN shift_crew sc ON sc.shift_id = m.shift_id
    WHERE sc.person_id = $1 AND m.vehicle_id = c.vehicle_id AND m.route_id = c.route_id AND m.day = c.collection_day
)
ORDER BY c.requested_at DESC, c.service_request_id LIMIT $2
"""
# Per (route, ISO week of the collection day) in [$1, $2): counts only where the route's shifts
# of that week reach $3 shifts and $4 distinct drivers: policy.released_cell, the one test of
# decision 0004's route cells (the efficiency figures use it too).
TALLY = f"""
WITH cells AS (
    SELECT m.route_id, date_trunc('week', m.day::timestamp)::date AS week,
           {released_cell("m.shift_id", "$3", "$4")} AS released
    FROM shift_metrics m
    WHERE m.route_id IS NOT NULL AND m.day >= $1 AND m.day < $2
    GROUP BY m.route_id, week
), asked AS (
    SELECT c.route_id, date_trunc('week', c.collection_day::timestamp)::date AS week, c.verdict, c.cause
    FROM complaints c
    WHERE c.route_id IS NOT NULL AND c.collection_day >= $1 AND c.collection_day < $2
)
SELECT a.route_id, a.week, coalesce(cells.released, false) AS released,
       CASE WHEN cells.released THEN count(*) END AS complaints,
       CASE WHEN cells.released THEN count(*) FILTER (WHERE a.verdict = 'serviced') END AS serviced,
       CASE WHEN cells.released THEN count(*) FILTER (WHERE a.verdict = 'missed' AND a.cause IS NULL) END AS missed,
       CASE WHEN cells.released THEN count(*) FILTER (WHERE a.verdict = 'missed' AND a.cause IS NOT NULL) END
           AS missed_with_cause
FROM asked a LEFT JOIN cells USING (route_id, week)
GROUP BY a.route_id, a.week, cells.released
ORDER BY a.route_id, a.week
"""


@dataclass(frozen=True)
class Queue:
    days: tuple[date, date]  # [from, to) local days of the request time
    tz: str
    limit: int


@dataclass(frozen=True)
class Crew:
    me: OwnPerson
    limit: int


@dataclass(frozen=True)
class Tally:
    scope: AggregateScope  # whole ISO weeks and the live k, from policy.aggregate_scope


View = Queue | Crew | Tally


async def read_evidence(conn: asyncpg.Connection, view: View) -> list[asyncpg.Record]:
    """The stored evidence rows of one view (see the module's docstring)."""
    if isinstance(view, Queue):
        return await conn.fetch(QUEUE, *day_bounds(*view.days, view.tz), view.limit)
    if isinstance(view, Crew):
        return await conn.fetch(CREW, view.me.person_id, view.limit)
    scope = view.scope
    return await conn.fetch(TALLY, scope.start, scope.end, scope.k_shifts, scope.k_people)
