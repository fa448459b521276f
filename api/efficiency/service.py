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

import json
from collections import Counter
from collections.abc import Awaitable, Callable

import asyncpg
import orjson

from fleetpilot.api.efficiency.schemas import Bucket, Efficiency
from fleetpilot.api.errors import UnknownRoute
from fleetpilot.api.kept import KeptAnswers
from fleetpilot.api.policy import AggregateScope, released_cell

# Route $1's shifts in [$2, $3), `visible` when their (route, ISO week) cell reaches $4
# shifts and $5 people. Materialized: the cached generic plan otherwise judged the cells again
# for every shift (EXPLAIN (ANALYZE) of the coverage on the bench month, 6 Dec).
CELLS = f"""
s AS MATERIALIZED (
    SELECT m.shift_id, m.route_id, m.day, m.no_data_segments, x.missed_segments, x.caused_segments,
           date_trunc('week', m.day::timestamp)::date AS week
    FROM shift_metrics m JOIN shift_shortfall x USING (shift_id)
    WHERE m.route_id = $1 AND m.day >= $2 AND m.day < $3
),
cells AS MATERIALIZED (
    SELECT route_id, week, {released_cell("s.shift_id", "$4", "$5")} AS visible
    FROM s GROUP BY route_id, week
),
v AS (
    SELECT s.*, cells.visible FROM s JOIN cells USING (route_id, week)
)"""
# One row per (route, ISO week) cell with shifts in [$2, $3), for $1 a route or NULL (every
# route; {routes} is the matching condition). `sums` holds the cell's sums and counts only
# when it reaches $4 shifts and $5 people: a suppressed cell's figures never leave the
# database. Weeks, months and the whole range are sums of visible cells (see _group), so the
# database does one index range scan and one grouping per request.
WEEK_CELLS = f"""
SELECT route_id, week, CASE WHEN released THEN sums END AS sums
FROM (
    SELECT route_id, date_trunc('week', day::timestamp)::date AS week,
           {released_cell("m.shift_id", "$4", "$5")} AS released,
           json_build_object(
               'shifts', count(*),
               'coverage', json_build_array(sum(x.coverage), count(x.coverage)),
               'distance_m', json_build_array(sum(distance_m), count(distance_m)),
               'deadhead_m', json_build_array(sum(deadhead_m), count(deadhead_m)),
               'collection_s', json_build_array(sum(collection_s), count(collection_s)),
               'idle_s', json_build_array(sum(idle_s), count(idle_s)),
               'facility_s', json_build_array(sum(facility_s), count(facility_s)),
               'dwell_mean_s', json_build_array(sum(dwell_mean_s), count(dwell_mean_s)),
               'turnaround_s', json_build_array(sum(turnaround_s), count(turnaround_s)),
               'missed', coalesce(json_agg(x.missed_segments) FILTER (WHERE cardinality(x.missed_segments) > 0), '[]')
           ) AS sums
    FROM shift_metrics m JOIN shift_shortfall x USING (shift_id)
    WHERE {{routes}} AND day >= $2 AND day < $3
    GROUP BY route_id, week
) cells
ORDER BY route_id, week
"""
# Two statements rather than `$1 IS NULL OR route_id = $1`: the cached generic plan of that
# form cannot use the (route_id, day) index and reads every route's shifts of the range.
ONE_ROUTE_CELLS = WEEK_CELLS.format(routes="route_id = $1")
ALL_ROUTES_CELLS = WEEK_CELLS.format(routes="route_id IS NOT NULL AND $1::text IS NULL")
# What every coverage answer is made of beside its request (CoverageAnswers' key): the database
# (a process may be pointed at another one), the version of the rows the aggregates read
# (migration 0038) and the streets' (their names; migration 0008).
DATA_VERSION = """current_database() AS db, inet_server_port() AS port,
       (SELECT value FROM fleetpilot_meta WHERE key = 'aggregate_version') AS aggregate_version,
       (SELECT value FROM fleetpilot_meta WHERE key = 'city_version') AS city_version"""
DATA_VERSION_NOW = f"SELECT {DATA_VERSION}"
# Per planned segment of the route's current version: in how many of the visible shifts it was
# missed without a cause (the shortfall), had no data, or was missed for a cause (and which);
# `shifts` the visible shifts, on every row. One pass: the visible shifts' segment arrays are
# unnested and grouped by segment once (four sub-queries per segment cost ~24 ms of database
# CPU per request on the bench month). A shift counts once per segment and kind, as
# `segment = ANY (array)` counted it; the route's row comes back (segment NULL) even without
# a plan, so one statement also tells an unknown route (no row) apart.
SEGMENT_COVERAGE = f"""
WITH {CELLS},
shown AS MATERIALIZED (
    SELECT shift_id, missed_segments, no_data_segments, caused_segments FROM v WHERE v.visible
),
flags AS (
    SELECT f.segment_id,
           count(DISTINCT shown.shift_id) FILTER (WHERE f.kind = 'missed') AS missed,
           count(DISTINCT shown.shift_id) FILTER (WHERE f.kind = 'no_data') AS no_data,
           count(DISTINCT shown.shift_id) FILTER (WHERE f.kind = 'caused') AS caused
    FROM shown CROSS JOIN LATERAL (
        SELECT unnest(shown.missed_segments), 'missed'
        UNION ALL SELECT unnest(shown.no_data_segments), 'no_data'
        UNION ALL SELECT unnest(shown.caused_segments), 'caused'
    ) AS f (segment_id, kind)
    GROUP BY f.segment_id
),
causes AS (
    SELECT z.segment_id, json_object_agg(z.cause, z.n) AS causes
    FROM (
        SELECT c.segment_id, c.cause, count(*) AS n
        FROM shown JOIN shift_causes c ON c.shift_id = shown.shift_id
        GROUP BY c.segment_id, c.cause
    ) z
    GROUP BY z.segment_id
)
SELECT r.current_version AS version, (SELECT count(*) FROM shown) AS shifts, {DATA_VERSION},
       rs.seq, rs.segment_id, st.name, rs.service,
       coalesce(f.missed, 0) AS missed, coalesce(f.no_data, 0) AS no_data, coalesce(f.caused, 0) AS caused,
       coalesce(c.causes, '{{}}') AS causes
FROM routes r
LEFT JOIN route_segments rs ON rs.route_id = r.route_id AND rs.version = r.current_version
LEFT JOIN street_segments st ON st.segment_id = rs.segment_id
LEFT JOIN flags f ON f.segment_id = rs.segment_id
LEFT JOIN causes c ON c.segment_id = rs.segment_id
WHERE r.route_id = $1
ORDER BY rs.seq
"""
CURRENT_VERSION = "SELECT current_version FROM routes WHERE route_id = $1"
MAX_MISSED_SEGMENTS = 50


def _json(value):
    """A json column: the API's pool decodes it, a plain connection hands back text."""
    return json.loads(value) if isinstance(value, str) else value


async def _check_route(conn: asyncpg.Connection, route_id: str) -> int | None:
    row = await conn.fetchrow(CURRENT_VERSION, route_id)
    if row is None:
        raise UnknownRoute(route_id)
    return row["current_version"]


# The figures of a group, in Efficiency's field order; all None when suppressed.
FIGURES = tuple(k for k in Efficiency.model_fields if k not in ("period_start", "suppressed"))
EMPTY = {"period_start": None, "suppressed": True, **dict.fromkeys(FIGURES)}
# Per-shift means: figure -> (summed column, divisor of the mean for the figure's unit).
MEANS = {
    "coverage_mean": ("coverage", 1),
    "distance_km_per_shift": ("distance_m", 1000),
    "collection_h_per_shift": ("collection_s", 3600),
    "idle_min_per_shift": ("idle_s", 60),
    "facility_min_per_shift": ("facility_s", 60),
    "dwell_mean_s": ("dwell_mean_s", 1),
    "turnaround_mean_s": ("turnaround_s", 1),
}


def _total(cells: list[dict], column: str) -> tuple[float, int]:
    """(sum of the known values, how many were known) over cells, as SQL's sum and count."""
    return sum(c[column][0] or 0 for c in cells), sum(c[column][1] for c in cells)


def _group(period_start, cells: list[dict]) -> dict:
    """An Efficiency group from visible cells' sums; suppressed when there are none."""
    if not cells:
        return {**EMPTY, "period_start": period_start}
    group = {"period_start": period_start, "suppressed": False, "shifts": sum(c["shifts"] for c in cells)}
    for figure, (column, unit) in MEANS.items():
        total, known = _total(cells, column)
        group[figure] = total / known / unit if known else None
    distance, deadhead = _total(cells, "distance_m")[0], _total(cells, "deadhead_m")
    group["deadhead_share"] = deadhead[0] / distance if deadhead[1] and distance else None
    return {k: group[k] for k in ("period_start", "suppressed", *FIGURES)}


def _most_missed(cells: list[dict], shifts: int) -> list[dict]:
    counts = Counter(seg for c in cells for missed in c["missed"] for seg in missed)
    top = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_MISSED_SEGMENTS]
    return [{"segment_id": seg, "shifts_missed": n, "share": n / shifts} for seg, n in top]


async def efficiency(
    conn: asyncpg.Connection, scope: AggregateScope, bucket: Bucket, route_id: str | None = None
) -> list[dict]:
    """Per route (one route, or all with shifts in the range when route_id is None), as
    RouteEfficiency-shaped dicts (plain dicts: this is a hot path)."""
    rows = await conn.fetch(
        ALL_ROUTES_CELLS if route_id is None else ONE_ROUTE_CELLS,
        route_id,
        scope.start,
        scope.end,
        scope.k_shifts,
        scope.k_people,
    )
    cells: dict[str, dict] = {}  # route -> period -> visible cells' sums (None: suppressed)
    if route_id is not None:
        cells[route_id] = {}
    for row in rows:
        period = row["week"] if bucket == "week" else row["week"].replace(day=1)
        cells.setdefault(row["route_id"], {}).setdefault(period, []).append(row["sums"])
    results = []
    for route, periods in cells.items():
        result = _route_result(route, scope, bucket)
        result["periods"] = [_group(period, [c for c in sums if c]) for period, sums in periods.items()]
        visible = [c for sums in periods.values() for c in sums if c]
        if visible:
            result["whole_range"] = whole = _group(None, visible)
            result["missed_segments"] = _most_missed(visible, whole["shifts"])
        results.append(result)
    return results


def _route_result(route_id: str, scope: AggregateScope, bucket: Bucket) -> dict:
    return {
        "route_id": route_id,
        "start": scope.start,
        "end": scope.end,
        "bucket": bucket,
        "k_min_shifts": scope.k_shifts,
        "k_min_people": scope.k_people,
        "periods": [],
        "whole_range": EMPTY,
        "missed_segments": [],
    }


async def route_efficiency(conn: asyncpg.Connection, scope: AggregateScope, route_id: str, bucket: Bucket) -> dict:
    result = (await efficiency(conn, scope, bucket, route_id))[0]
    if not result["periods"]:  # no shifts in the range: tell an unknown route apart (one more query)
        await _check_route(conn, route_id)
    return result


async def segment_coverage(conn: asyncpg.Connection, scope: AggregateScope, route_id: str) -> dict:
    """Coverage per planned segment over the visible shifts of the range; suppressed when none.
    A RouteSegmentsCoverage-shaped dict (a plain dict: ~160 segments per answer)."""
    return (await _segment_coverage(conn, scope, route_id))[1]


async def _segment_coverage(conn: asyncpg.Connection, scope: AggregateScope, route_id: str) -> tuple[tuple, dict]:
    """(the data version it was computed at, as DATA_VERSION reads it in the same statement; the answer)."""
    rows = await conn.fetch(SEGMENT_COVERAGE, route_id, scope.start, scope.end, scope.k_shifts, scope.k_people)
    if not rows:
        raise UnknownRoute(route_id)
    shifts, version = rows[0]["shifts"], rows[0]["version"]
    segments = []
    if shifts and version is not None:
        segments = [
            {
                "seq": r["seq"],
                "segment_id": r["segment_id"],
                "name": r["name"],
                "service": r["service"],
                "shifts": shifts,
                "missed": r["missed"],
                "no_data": r["no_data"],
                "caused": r["caused"],
                "causes": _json(r["causes"]),
                "coverage": 1 - r["missed"] / known if (known := shifts - r["no_data"] - r["caused"]) > 0 else None,
            }
            for r in rows
            if r["segment_id"] is not None
        ]
    answer = {
        "route_id": route_id,
        "version": version or 0,
        "start": scope.start,
        "end": scope.end,
        "suppressed": not shifts,
        "segments": segments,
    }
    return _data_version(rows[0]), answer


def _data_version(row: asyncpg.Record) -> tuple:
    return (row["db"], row["port"], row["aggregate_version"], row["city_version"])


class KeptAggregates:
    """Route aggregates' answers (JSON) kept by the server process (api.kept; decisions 0029, 0043).

    A route's coverage over a month cost ~1.6 ms of database CPU per request on the bench month
    (7 Dec), the dearest of the interactive reads; its efficiency ~0.6. An answer is kept under
    the version of the data it was computed from (migration 0038: any write to the rows these
    answers read makes a new one; the streets' version for their names) and everything of the
    request it depends on: which answer, the route, the range (and bucket), the k thresholds
    read live by the gate, and the caller's role. A new rollup, cause, hazard report, crew row
    or plan, a renamed street or a changed k is a new key, so a kept answer is never stale, and
    the release rule (decision 0004) is applied when an answer is computed, in the same SQL as
    before. Per request: one read of the version. An answer is ~30 kB at most (a route's ~160
    segments): 512 of them, ~15 MB per process at most.
    """

    def __init__(self, size: int = 512) -> None:
        self._kept = KeptAnswers(size)

    async def answer(
        self, conn: asyncpg.Connection, request: tuple, make: Callable[[], Awaitable[tuple[tuple, dict]]]
    ) -> bytes:
        """The answer to `request` (role, what, route, scope, ...): kept, else `make()`'s, which
        returns the data version it was computed at (read in the same snapshot) and the answer."""
        now = _data_version(await conn.fetchrow(DATA_VERSION_NOW))
        kept = self._kept.peek((now, request))
        if kept is not None:
            return kept
        # Kept under the version the answer was made at (if a write committed in between, the
        # answer is the newer data's, under the newer key).
        made, answer = await make()
        text = orjson.dumps(answer)
        if made[2] is not None:  # without migration 0038 there is no version to check: not kept
            self._kept.put((made, request), text)
        return text

    async def coverage(self, conn: asyncpg.Connection, role: str, scope: AggregateScope, route_id: str) -> bytes:
        request = (role, "coverage", route_id, scope)
        return await self.answer(conn, request, lambda: _segment_coverage(conn, scope, route_id))

    async def efficiency(
        self, conn: asyncpg.Connection, role: str, scope: AggregateScope, route_id: str, bucket: Bucket
    ) -> bytes:
        async def make() -> tuple[tuple, dict]:
            # Two statements (cells, then the route's row when it has none): one snapshot with the version.
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                made = _data_version(await conn.fetchrow(DATA_VERSION_NOW))
                return made, await route_efficiency(conn, scope, route_id, bucket)

        return await self.answer(conn, (role, "efficiency", route_id, scope, bucket), make)


KEPT_AGGREGATES = KeptAggregates()
