"""A driver's weekly trends against their own past, from their shift rollups.

The safety trend is ``fleetpilot.analytics.trends.weekly_trend`` (safety moments — harsh
events, speeding, long stretches without a break; not reversing — per 100 km, exact
intervals, own baseline, change test), which by design takes one person's shifts only;
workload figures (hours, idle, breaks, coverage) are summed per week beside it.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg
import numpy as np

from fleetpilot.analytics.trends import TrendParams, weekly_trend
from fleetpilot.api.kept import KeptAnswers
from fleetpilot.api.me.schemas import Trends, Week
from fleetpilot.api.policy import OwnPerson
from fleetpilot.api.shifts.service import SAFETY_KINDS
from fleetpilot.localtime import local_day

# One row per own shift since $2, with its safety moments (kinds $3) and the local day of its
# start in the city's zone $4 (fleetpilot.localtime); shifts without a rollup have NULL figures.
MY_SHIFTS = """
SELECT (s.starts_at AT TIME ZONE $4)::date AS day,
       extract(epoch FROM s.ends_at - s.starts_at)::float8 AS on_duty_s,
       m.distance_m, m.idle_s, m.break_s, m.coverage,
       coalesce(m.safety_events,  -- stored by the rollup (migration 0030); counted for older rollups
                (SELECT count(*) FROM shift_events e WHERE e.shift_id = s.shift_id AND e.kind = ANY ($3))) AS events
FROM shift_crew c JOIN shifts s ON s.shift_id = c.shift_id
LEFT JOIN shift_metrics m ON m.shift_id = s.shift_id
WHERE c.person_id = $1 AND s.starts_at >= $2
ORDER BY s.starts_at
"""


def _column(rows, name: str) -> np.ndarray:
    return np.array([np.nan if r[name] is None else r[name] for r in rows], dtype=np.float64)


def _per_week(inverse: np.ndarray, n: int, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sum over known values, count of known values) per week."""
    known = ~np.isnan(values)
    return (
        np.bincount(inverse[known], values[known], minlength=n),
        np.bincount(inverse[known], minlength=n).astype(np.float64),
    )


def _ratio(a: float, b: float) -> float | None:
    return float(a / b) if b > 0 else None


class TrendAnswers:
    """Trends answers (JSON) per person, kept by the server process (api.kept, decision 0029)
    and keyed by everything the answer is computed from: the person's shift rows as just read,
    the weeks asked, the zone and the first day shown. A changed or new shift, or a new day, is
    a new key, so a kept answer is never stale; what is saved is the Python (numpy, the exact
    tests, the answer's model: most of the request's server CPU, bench api 6 Dec). The crew
    page asks again on every shift picked (it reloads), with the same rows. Only the person's
    own data is kept, for that person."""

    def __init__(self, size: int = 4096) -> None:
        self._kept = KeptAnswers(size)

    async def answer(
        self,
        conn: asyncpg.Connection,
        me: OwnPerson,
        weeks: int,
        tz: str,
        now: datetime | None = None,
        params: TrendParams = TrendParams(),
    ) -> bytes:
        now = now or datetime.now(timezone.utc)
        since = now - timedelta(weeks=weeks + params.baseline_weeks)
        rows = await conn.fetch(MY_SHIFTS, me.person_id, since, SAFETY_KINDS, tz)
        key = (me.person_id, weeks, tz, local_day(now - timedelta(weeks=weeks), tz), params, tuple(map(tuple, rows)))

        async def make() -> bytes:
            return _trends(rows, weeks, tz, now, params).model_dump_json().encode()

        return await self._kept.get(key, make)


TREND_ANSWERS = TrendAnswers()


def _trends(rows: list[asyncpg.Record], weeks: int, tz: str, now: datetime, params: TrendParams) -> Trends:
    if not rows:
        return Trends(baseline_weeks=params.baseline_weeks, weeks=[])
    day = np.array([r["day"] for r in rows], dtype="datetime64[D]")
    km = np.nan_to_num(_column(rows, "distance_m")) / 1000
    safety = weekly_trend(day, np.array([r["events"] for r in rows]), km, params)
    monday = day - ((day.astype(np.int64) + 3) % 7).astype("timedelta64[D]")
    inverse = np.searchsorted(safety.week, monday)
    n = len(safety.week)
    shifts = np.bincount(inverse, minlength=n)
    on_duty = np.bincount(inverse, _column(rows, "on_duty_s"), minlength=n)
    measured = ~np.isnan(_column(rows, "distance_m"))
    measured_on_duty = np.bincount(inverse[measured], _column(rows, "on_duty_s")[measured], minlength=n)
    idle, _ = _per_week(inverse, n, _column(rows, "idle_s"))
    breaks, with_breaks = _per_week(inverse, n, _column(rows, "break_s"))
    coverage, with_coverage = _per_week(inverse, n, _column(rows, "coverage"))
    first_shown = np.datetime64(local_day(now - timedelta(weeks=weeks), tz), "D")
    out = []
    for i, record in enumerate(safety.records()):
        if safety.week[i] + np.timedelta64(6, "D") < first_shown:
            continue  # history only used for the baseline
        out.append(
            Week(
                week=safety.week[i].item(),
                shifts=int(shifts[i]),
                hours_on_duty=float(on_duty[i] / 3600),
                distance_km=float(safety.km[i]),
                safety_events=int(safety.events[i]),
                per_100km=record["per_100km"],
                low=record["low"],
                high=record["high"],
                baseline_per_100km=record["baseline_per_100km"],
                baseline_low=record["baseline_low"],
                baseline_high=record["baseline_high"],
                change=record["change"],
                idle_share=_ratio(idle[i], measured_on_duty[i]),
                break_minutes_per_shift=_ratio(breaks[i] / 60, with_breaks[i]),
                coverage_mean=_ratio(coverage[i], with_coverage[i]),
            )
        )
    return Trends(baseline_weeks=params.baseline_weeks, weeks=out)
