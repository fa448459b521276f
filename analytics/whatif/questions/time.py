"""Questions about time written as functions: speed by hour and road class (a two-way table), the spread of finish times per day (a per-group spread)."""

from __future__ import annotations

import numpy as np

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.common import pass_legs
from fleetpilot.analytics.whatif.history import (
    LEG_SERVICE,
    LEG_TRAVEL,
    History,
    hour_of_day,
)
from fleetpilot.analytics.whatif.kpi import K, shift_kpis, working_mask
from fleetpilot.analytics.whatif.questions.common import answer, day_label, guard, shift_guard
from fleetpilot.analytics.whatif.questions.library import Context, question
from fleetpilot.analytics.whatif.result import Table


def _hours(history: History, ctx: Context) -> np.ndarray:
    return shift_kpis(history, np.zeros(history.network.size, dtype=bool), ctx.factors)[:, K["truck_hours"]]


@question(
    "speed_by_hour",
    "How fast do trucks travel between jobs, by hour of day and road class?",
    "time-weighted mean speed (length / moving time) of travel passes, by local start hour and road class",
)
def speed_by_hour(history: History, p: dict, ctx: Context):
    legs = history.legs
    on = pass_legs(history) & (legs.kind == LEG_TRAVEL) & (legs.moving_s > 0)
    classes, cls = np.unique(history.network.road_class, return_inverse=True)
    hour = hour_of_day(legs.t0)
    cell = np.where(on, cls[np.maximum(legs.segment, 0)] * 24 + hour, -1)
    n = len(classes) * 24
    ok, suppressed = guard(history, cell, legs.shift, n, ctx.privacy)
    metres = np.bincount(cell[on], weights=legs.length_m[on], minlength=n)
    seconds = np.bincount(cell[on], weights=legs.moving_s[on], minlength=n)
    passes = np.bincount(cell[on], minlength=n)
    rows, by_class = [], {str(name): {} for name in classes}
    for c, name in enumerate(classes):
        for h in range(24):
            k = c * 24 + h
            if ok[k] and passes[k]:
                rows.append([h, str(name), int(passes[k]), 3.6 * metres[k] / seconds[k]])
                by_class[str(name)][h] = 3.6 * metres[k] / seconds[k]
    table = Table(
        "hour × class", ["hour", "road_class", "passes", "mean_speed_kmh"], rows, ["local hour", "", "passes", "km/h"]
    )
    hours = sorted({r[0] for r in rows})
    chart = charts.lines(
        hours,
        {name: [v.get(h) for h in hours] for name, v in by_class.items()},
        "Travel speed by hour",
        "local hour",
        "km/h",
    )
    m, s = metres[ok].sum(), seconds[ok].sum()
    return answer(3.6 * m / s if s else None, "km/h", "mean travel speed", table, chart, suppressed=suppressed)


def _collection_end(history: History) -> np.ndarray:
    """Local clock hour (decimal) at which each shift's last collection leg ended (NaN: none)."""
    legs = history.legs
    svc = np.flatnonzero(legs.kind == LEG_SERVICE)
    end = np.full(history.shifts.size, -np.inf)
    np.maximum.at(end, legs.shift[svc], legs.t1[svc])
    return np.where(np.isfinite(end), (end % 86400) / 3600, np.nan)


@question(
    "completion_spread_by_day",
    "How far apart do routes finish on each day?",
    "per day: 90th minus 10th percentile of the shifts' end of work (local clock)",
)
def completion_spread_by_day(history: History, p: dict, ctx: Context):
    legs = history.legs
    work = np.flatnonzero(working_mask(history))
    end = np.full(history.shifts.size, -np.inf)
    np.maximum.at(end, legs.shift[work], legs.t1[work])
    has = np.isfinite(end)
    days, day_of = np.unique(history.shifts.day, return_inverse=True)
    ok, suppressed = shift_guard(history, np.where(has, day_of, -1), len(days), ctx.privacy)
    clock = (end % 86400) / 3600
    rows = []
    for d in range(len(days)):
        sel = has & (day_of == d)
        if ok[d] and sel.any():
            lo, hi = np.percentile(clock[sel], [10, 90])
            rows.append([day_label(days[d]), int(sel.sum()), float(lo), float(hi), float(hi - lo)])
    table = Table(
        "days",
        ["day", "shifts", "p10_end_hour", "p90_end_hour", "spread_h"],
        rows,
        ["", "shifts", "local hour", "local hour", "h"],
    )
    return answer(
        float(np.mean([r[4] for r in rows])) if rows else None,
        "h",
        "mean daily spread",
        table,
        charts.bar([r[0] for r in rows], [r[4] for r in rows], "Finish-time spread", "day", "h"),
        suppressed=suppressed,
    )
