"""The pilot's goals (versioned) and their scorecard, from the rollups through the one release layer.

Every figure is computed from the shifts of released (unit, week) cells only
(policy.release, decisions 0004/0009): a withheld cell enters no value, interval or
baseline, so no difference of two answers contains it. Weeks are the city's local ISO
weeks (shift_metrics.day is the city's local day, decision 0013). What leaves is fleet-wide
weekly and period values with intervals — never a day, a route or a shift.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import asyncpg
import numpy as np

from fleetpilot import localtime
from fleetpilot.analytics import goals as kpis
from fleetpilot.analytics.goals import CATALOGUE, HOTSPOTS, KPIS, Estimate
from fleetpilot.api import policy
from fleetpilot.rollup.known import significant_hotspots
from fleetpilot.rollup.places import city_streets

# The latest version of each goal, with its earlier targets (history).
GOALS = """
SELECT g.*, (SELECT json_agg(json_build_object('version', h.version, 'target', h.target, 'direction', h.direction,
                                               'created_at', h.created_at, 'created_by', h.created_by)
                             ORDER BY h.version)
             FROM goals h WHERE h.goal_id = g.goal_id) AS history
FROM goals g
WHERE g.version = (SELECT max(version) FROM goals l WHERE l.goal_id = g.goal_id)
  AND ($1 OR NOT g.retired)
ORDER BY g.goal_id
"""
ADD_VERSION = """
INSERT INTO goals (goal_id, version, kpi, title, definition, baseline_from, baseline_to, target, direction, department,
                   retired, created_by)
SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM goals WHERE goal_id = $1
RETURNING version
"""
# Per local day, the sums every KPI is a ratio of, over the released shifts only ($1); $4 paid
# hours, $5 L/km, $6 L per engine hour, $7 kg CO2 per L. Coverage and missed are the crews'
# shortfall (shift_shortfall: a missed segment with a cause is not one). Planned: service
# segments of the shift's route version (a shift without a route plans none) that were known —
# less the "unknown — no data" ones and those missed for a cause, which are neither collected
# nor missed.
DAILY = """
WITH s AS (
    SELECT m.day, m.route_id, x.coverage, cardinality(x.missed_segments) AS missed, m.distance_m, m.deadhead_m,
           coalesce(m.facility_s, 0) AS facility_s, coalesce(m.break_s, 0) AS break_s,
           extract(epoch FROM sh.ends_at - sh.starts_at) / 3600.0 AS hours,
           (SELECT count(*) FROM route_segments rs
            WHERE rs.route_id = sh.route_id AND rs.version = sh.route_version AND rs.service) AS planned_all,
           cardinality(m.no_data_segments) + cardinality(x.caused_segments) AS not_known,
           (SELECT count(*) FROM shift_events e WHERE e.shift_id = m.shift_id) AS events
    FROM shift_metrics m JOIN shifts sh USING (shift_id) JOIN shift_shortfall x USING (shift_id)
    WHERE m.shift_id = ANY($1::text[]) AND m.day >= $2 AND m.day < $3
)
SELECT day,
       coalesce(sum(coverage), 0)::float8 AS coverage_sum, count(coverage)::float8 AS coverage_n,
       coalesce(sum(missed) FILTER (WHERE planned_all > 0), 0)::float8 AS missed,
       coalesce(sum(greatest(planned_all - not_known, 0)) FILTER (WHERE planned_all > 0), 0)::float8 AS planned,
       sum(hours)::float8 AS hours, count(DISTINCT route_id)::float8 AS route_days,
       sum(greatest(hours - $4, 0))::float8 AS overtime_h,
       sum(deadhead_m)::float8 AS deadhead_m, sum(distance_m)::float8 AS distance_m,
       (sum(facility_s) / 3600.0)::float8 AS facility_h, sum(events)::float8 AS events,
       sum(distance_m / 1000.0 * $5 + greatest(hours - break_s / 3600.0, 0) * $6)::float8 AS fuel_l,
       (sum(distance_m / 1000.0 * $5 + greatest(hours - break_s / 3600.0, 0) * $6) * $7)::float8 AS co2_kg,
       1.0::float8 AS one
FROM s GROUP BY day ORDER BY day
"""
# Local days of withheld shifts (only whether a week has any leaves this module).
WITHHELD_DAYS = "SELECT DISTINCT day FROM shift_metrics WHERE shift_id = ANY($1::text[]) AND day >= $2 AND day < $3"
# 311 complaints per local day requested ($3 the city's zone), of released route-weeks only:
# a complaint's evidence names a route and a collection day, so a count over a withheld
# (route, week) would be a figure of that cell (the tally's rule, policy.released_cell). A
# complaint counts when a released shift ($4) drove its route in the week of its collection
# day; one the record matched to no route (off the plan, unknown street) is about no cell and
# counts (unanswered), so the share stays honest.
COMPLAINTS = """
SELECT (c.requested_at AT TIME ZONE $3)::date AS day, count(*)::float8 AS complaints,
       (count(*) FILTER (WHERE c.verdict IN ('serviced', 'missed')))::float8 AS complaints_answered
FROM complaints c
WHERE NOT c.outside_city AND c.requested_at >= $1 AND c.requested_at < $2
  AND (c.route_id IS NULL OR EXISTS (
      SELECT 1 FROM shift_metrics m
      WHERE m.shift_id = ANY($4::text[]) AND m.route_id = c.route_id
        AND date_trunc('week', m.day::timestamp) = date_trunc('week', c.collection_day::timestamp)
  ))
GROUP BY 1 ORDER BY 1
"""
# The day each place the city fixed was fixed (the hazard workflow, migration 0029): the
# earliest fix of a hazard on the segment that is still marked fixed.
FIXED = """
SELECT segment_id, min(fixed_on) AS fixed_on FROM hazards
WHERE status = 'fixed' AND segment_id IS NOT NULL AND fixed_on IS NOT NULL GROUP BY segment_id
"""
COMPLAINTS_EXIST = "SELECT to_regclass('complaints') IS NOT NULL"


class GoalError(ValueError):
    """A goal that cannot be saved as given (unknown KPI, unknown goal, bad period)."""


def catalogue() -> list[dict]:
    return [
        {"key": k.key, "title": k.title, "unit": k.unit, "definition": k.definition, "better": k.better}
        for k in (*CATALOGUE, HOTSPOTS)
    ]


@dataclass
class GoalIn:
    goal_id: str
    kpi: str
    title: str
    definition: str
    baseline_from: date
    baseline_to: date
    target: float
    direction: str
    department: str
    retired: bool = False


async def list_goals(conn: asyncpg.Connection, include_retired: bool = False) -> list[dict]:
    rows = await conn.fetch(GOALS, include_retired)
    # The API's pool decodes json itself; a plain connection (the CLI) hands back text.
    return [{**dict(r), "history": json.loads(h) if isinstance(h := r["history"], str) else h} for r in rows]


async def save_goal(conn: asyncpg.Connection, goal: GoalIn, actor: policy.Principal) -> int:
    """Add the goal's next version (the first, or a change that keeps the earlier ones); audited
    in the same transaction. Returns the version written."""
    if goal.kpi not in KPIS:
        raise GoalError(f"unknown KPI {goal.kpi!r}; the catalogue has {', '.join(KPIS)}")
    if goal.baseline_to <= goal.baseline_from:
        raise GoalError("the baseline period must end after it starts")
    if not policy.EARLIEST_DAY <= goal.baseline_from < goal.baseline_to <= policy.LATEST_DAY:
        raise GoalError(f"baseline days lie between {policy.EARLIEST_DAY} and {policy.LATEST_DAY}")
    if (goal.baseline_to - goal.baseline_from).days > policy.MAX_RANGE_DAYS:
        raise GoalError(f"a baseline is at most {policy.MAX_RANGE_DAYS} days")
    if goal.direction not in ("at_least", "at_most"):
        raise GoalError("direction is at_least or at_most")
    async with conn.transaction():
        version = await conn.fetchval(
            ADD_VERSION,
            goal.goal_id,
            goal.kpi,
            goal.title,
            goal.definition,
            goal.baseline_from,
            goal.baseline_to,
            goal.target,
            goal.direction,
            goal.department,
            goal.retired,
            actor.username,
        )
        await policy.audit(
            conn,
            actor,
            "goal_saved",
            detail={"goal_id": goal.goal_id, "version": version, **asdict(goal)},
        )
    return int(version)


@dataclass
class Days:
    """Daily sums over released shifts (columns as DAILY) and the days with withheld shifts."""

    days: list[date]
    columns: dict[str, np.ndarray]
    withheld_days: set[date]
    cells: int
    withheld_cells: int

    def select(self, start: date, end: date) -> Days:
        keep = [i for i, d in enumerate(self.days) if start <= d < end]
        return Days(
            [self.days[i] for i in keep],
            {k: v[keep] for k, v in self.columns.items()},
            {d for d in self.withheld_days if start <= d < end},
            self.cells,
            self.withheld_cells,
        )


COLUMNS = [
    "coverage_sum",
    "coverage_n",
    "missed",
    "planned",
    "hours",
    "route_days",
    "overtime_h",
    "deadhead_m",
    "distance_m",
    "facility_h",
    "events",
    "fuel_l",
    "co2_kg",
    "one",
]


async def daily(conn: asyncpg.Connection, scope: policy.AggregateScope, tz: str) -> Days:
    """The scope's days (whole local ISO weeks) from the released shifts only."""
    released = await policy.release(conn, scope, tz)
    f = kpis.FACTORS
    rows = await conn.fetch(
        DAILY,
        list(released.shifts),
        scope.start,
        scope.end,
        f.paid_hours,
        f.fuel_l_per_km,
        f.fuel_l_per_engine_h,
        f.co2_kg_per_l,
    )
    withheld = {
        r["day"] for r in await conn.fetch(WITHHELD_DAYS, list(released.withheld_shifts), scope.start, scope.end)
    }
    by_day = {r["day"]: dict(r) for r in rows}
    if await conn.fetchval(COMPLAINTS_EXIST):
        lo, hi = localtime.day_bounds(scope.start, scope.end, tz)
        for r in await conn.fetch(COMPLAINTS, lo, hi, tz, list(released.shifts)):
            by_day.setdefault(r["day"], {"day": r["day"]}).update(dict(r))
    days = sorted(by_day)
    columns = {
        c: np.array([float(by_day[d].get(c) or 0.0) for d in days], dtype=np.float64)
        for c in (*COLUMNS, "complaints", "complaints_answered")
    }
    # A day that only has complaints adds no route-day to the fleet's measures.
    return Days(days, columns, withheld, released.cells, released.withheld_cells)


def _est(kpi: kpis.Kpi, days: Days) -> Estimate:
    num = days.columns[kpi.num]
    den = days.columns[kpi.den]
    use = den > 0 if kpi.den != "one" else days.columns["distance_m"] > 0
    weeks = len({localtime.week_start(d) for d, used in zip(days.days, use) if used})
    return kpis.estimate(kpi, num[use], den[use], max(weeks, 1))


@dataclass
class Scorecard:
    start: date
    end: date
    timezone: str
    k_shifts: int
    k_people: int
    cells: int
    withheld_cells: int
    goals: list[dict] = field(default_factory=list)


async def scorecard(
    conn: asyncpg.Connection, scope: policy.AggregateScope, tz: str, goals: list[dict] | None = None
) -> Scorecard:
    """Every current goal over the scope: weekly values with 95 % intervals, the period's value,
    the baseline's, the target and a verdict; weeks and periods with no released shift say
    whether their shifts were withheld (k) or there were none."""
    goals = await list_goals(conn) if goals is None else goals
    period = await daily(conn, scope, tz)
    card = Scorecard(scope.start, scope.end, tz, scope.k_shifts, scope.k_people, period.cells, period.withheld_cells)
    weeks = [scope.start + timedelta(weeks=i) for i in range((scope.end - scope.start).days // 7)]
    baselines: dict[tuple[date, date], Days] = {}
    judged: dict[date, dict] = {}  # a week's hotspots, once for the period and every baseline
    for goal in goals:
        kpi = KPIS[goal["kpi"]]
        entry = {
            **{k: goal[k] for k in ("goal_id", "version", "kpi", "title", "definition", "target", "direction")},
            **{k: goal[k] for k in ("department", "baseline_from", "baseline_to", "history", "created_at")},
            "kpi_title": kpi.title,
            "kpi_definition": kpi.definition,
            "unit": kpi.unit,
        }
        if kpi is HOTSPOTS:
            entry.update(await _hotspot_goal(conn, scope, goal, weeks, judged))
            card.goals.append(entry)
            continue
        span = policy.whole_weeks((goal["baseline_from"], goal["baseline_to"]))
        if span not in baselines:
            base_scope = policy.AggregateScope(span[0], span[1], scope.k_shifts, scope.k_people)
            baselines[span] = await daily(conn, base_scope, tz)
        base = _est(kpi, baselines[span])
        now_est = _est(kpi, period)
        rows = []
        for week in weeks:
            days = period.select(week, week + timedelta(days=7))
            value = _est(kpi, days)
            withheld = bool(days.withheld_days)
            status = (
                "ok"
                if value.value is not None and not withheld
                else "partly withheld (k)"
                if value.value is not None
                else "withheld (k)"
                if withheld
                else "no data"
            )
            rows.append({"week": week, **_out(value), "status": status})
        suppressed = now_est.value is None and bool(period.withheld_days)
        entry.update(
            weeks=rows,
            period=_out(now_est),
            baseline={**_out(base), "from": span[0], "to": span[1]},
            verdict=kpis.verdict(now_est, goal["target"], goal["direction"]),
            suppressed=suppressed,
            note=(
                "every week of this period was withheld: fewer than k shifts or k drivers in each route-week"
                if suppressed
                else None
            ),
        )
        card.goals.append(entry)
    return card


async def _hotspot_weeks(
    conn: asyncpg.Connection, scope: policy.AggregateScope, weeks: list[date], judged: dict
) -> list[dict]:
    """Each week's significant hotspots open and fixed (rollup.known's judgement of the 13 weeks
    up to it, k-visible cells only); a week with no k-visible segment and some withheld says so."""
    fixed_on = {r["segment_id"]: r["fixed_on"] for r in await conn.fetch(FIXED)}
    city = None
    rows: list[dict] = []
    for week in weeks:
        if week not in judged:
            city = city if city is not None else await city_streets(conn)
            done = await significant_hotspots(conn, week, scope.k_shifts, scope.k_people, city)
            judged[week] = {
                "hotspots": [(r[0], r[9]) for r in done.rows],
                "withheld": done.withheld,
                "visible": done.visible,
            }
        j = judged[week]
        if not j["visible"]:
            status = "withheld (k)" if j["withheld"] else "no data"
            rows.append(
                {"week": week, "value": None, "lo": None, "hi": None, "days": 0, "fixed": None, "status": status}
            )
            continue
        open_, fixed = kpis.hotspots_open(j["hotspots"], fixed_on, week + timedelta(days=6))
        # A count of a judgement, not a sample: the week's interval is the count itself.
        rows.append(
            {
                "week": week,
                "value": float(open_),
                "lo": float(open_),
                "hi": float(open_),
                "days": 7,
                "fixed": fixed,
                "status": "ok",
            }
        )
    return rows


async def _hotspot_goal(
    conn: asyncpg.Connection, scope: policy.AggregateScope, goal: dict, weeks: list[date], judged: dict
) -> dict:
    rows = await _hotspot_weeks(conn, scope, weeks, judged)
    span = policy.whole_weeks((goal["baseline_from"], goal["baseline_to"]))
    base_weeks = [span[0] + timedelta(weeks=i) for i in range((span[1] - span[0]).days // 7)]
    base_rows = await _hotspot_weeks(conn, scope, base_weeks, judged)

    def mean(of: list[dict]) -> Estimate:
        return kpis.weekly_mean(np.array([r["value"] for r in of if r["value"] is not None], dtype=np.float64))

    now = mean(rows)
    suppressed = now.value is None and any(r["status"] == "withheld (k)" for r in rows)
    return {
        "weeks": rows,
        "period": _out(now),
        "baseline": {**_out(mean(base_rows)), "from": span[0], "to": span[1]},
        "verdict": kpis.verdict(now, goal["target"], goal["direction"]),
        "suppressed": suppressed,
        "note": (
            "every week of this period was withheld: no street segment passed by k shifts and k drivers"
            if suppressed
            else "each week's count is judged over the 13 weeks up to it; the period's interval resamples its weeks"
        ),
    }


def _out(e: Estimate) -> dict:
    return {"value": e.value, "lo": e.lo, "hi": e.hi, "days": e.days}
