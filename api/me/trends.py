"""A driver's weekly trends against their own past (from shift rollups, never other people)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta, timezone

import asyncpg

from fleetpilot.api.me.schemas import Period, Trends
from fleetpilot.api.policy import OwnPerson

# Sums per ISO week (UTC); rates are formed in Python so weeks can be summed into a baseline.
WEEKS = """
SELECT (date_trunc('week', s.starts_at AT TIME ZONE 'UTC'))::date AS week,
       count(*) AS shifts,
       sum(extract(epoch FROM s.ends_at - s.starts_at))::float8 AS on_duty_s,
       coalesce(sum(m.distance_m), 0)::float8 AS distance_m,
       coalesce(sum(m.idle_s), 0)::float8 AS idle_s,
       coalesce(sum(m.break_s), 0)::float8 AS break_s,
       count(m.shift_id) AS measured_shifts,
       coalesce(sum(m.coverage), 0)::float8 AS coverage_sum,
       count(m.coverage) AS coverage_n,
       coalesce(sum(ev.n), 0)::bigint AS safety_events
FROM shift_crew c
JOIN shifts s ON s.shift_id = c.shift_id
LEFT JOIN shift_metrics m ON m.shift_id = s.shift_id
LEFT JOIN LATERAL (SELECT count(*) AS n FROM shift_events e WHERE e.shift_id = s.shift_id) ev ON true
WHERE c.person_id = $1 AND s.starts_at >= $2
GROUP BY 1 ORDER BY 1
"""
RATES = ("safety_events_per_100_km", "idle_share", "break_minutes_per_shift", "coverage_mean")


@dataclass(frozen=True)
class Totals:
    """Additive sums over some shifts (s, m, counts); measured_shifts have a rollup row."""

    shifts: int
    on_duty_s: float
    distance_m: float
    idle_s: float
    break_s: float
    measured_shifts: int
    coverage_sum: float
    coverage_n: int
    safety_events: int

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def period(self, week: date | None) -> Period:
        measured = self.measured_shifts > 0
        return Period(
            week=week, shifts=self.shifts, hours_on_duty=self.on_duty_s / 3600, distance_km=self.distance_m / 1000,
            safety_events=self.safety_events,
            safety_events_per_100_km=self.safety_events / (self.distance_m / 100_000) if self.distance_m > 0 else None,
            idle_share=self.idle_s / self.on_duty_s if measured and self.on_duty_s > 0 else None,
            break_minutes_per_shift=self.break_s / 60 / self.measured_shifts if measured else None,
            coverage_mean=self.coverage_sum / self.coverage_n if self.coverage_n else None,
        )


async def my_trends(conn: asyncpg.Connection, me: OwnPerson, weeks: int, now: datetime | None = None) -> Trends:
    """My last `weeks` weeks, and the latest week against all earlier ones taken together."""
    since = (now or datetime.now(timezone.utc)) - timedelta(weeks=weeks)
    rows = await conn.fetch(WEEKS, me.person_id, since)
    totals = [(r["week"], Totals(**{f.name: r[f.name] for f in fields(Totals)})) for r in rows]
    periods = [t.period(week) for week, t in totals]
    baseline = None
    deltas: dict[str, float] = {}
    if len(totals) >= 2:
        earlier = totals[0][1]
        for _, t in totals[1:-1]:
            earlier = earlier + t
        baseline = earlier.period(None)
        for rate in RATES:
            latest, past = getattr(periods[-1], rate), getattr(baseline, rate)
            if latest is not None and past is not None:
                deltas[rate] = latest - past
    return Trends(weeks=periods, baseline=baseline, latest_vs_baseline=deltas)
