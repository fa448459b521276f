"""Questions about time: truck-hours, overtime, idling, speeds, early work, completion, data gaps."""

from __future__ import annotations

import numpy as np

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.common import pass_legs
from fleetpilot.analytics.whatif.history import (
    LEG_GAP,
    LEG_OFFNET,
    LEG_SERVICE,
    LEG_TRAVEL,
    History,
    day_number,
    hour_of_day,
    weekday,
)
from fleetpilot.analytics.whatif.kpi import K, shift_kpis, working_mask
from fleetpilot.analytics.whatif.questions.common import answer, day_label, guard, iso_week, shift_guard, weekday_names
from fleetpilot.analytics.whatif.questions.library import Context, Param, question
from fleetpilot.analytics.whatif.result import Table


def _hours(history: History, ctx: Context) -> np.ndarray:
    return shift_kpis(history, np.zeros(history.network.size, dtype=bool), ctx.factors)[:, K["truck_hours"]]


@question(
    "truck_hours_by_weekday",
    "How many truck-hours were worked on each weekday?",
    "truck-hours = time from leaving the depot to coming back, per shift, summed by local weekday",
)
def truck_hours_by_weekday(history: History, p: dict, ctx: Context):
    hours = _hours(history, ctx)
    wd = weekday(history.shifts.day)
    ok, suppressed = shift_guard(history, wd, 7, ctx.privacy)
    total = np.bincount(wd, weights=hours, minlength=7)
    count = np.bincount(wd, minlength=7)
    names = weekday_names()
    rows = [[names[d], int(count[d]), float(total[d]), total[d] / count[d]] for d in range(7) if ok[d]]
    table = Table("weekdays", ["weekday", "shifts", "truck_hours", "hours_per_shift"], rows, ["", "shifts", "h", "h"])
    return answer(
        sum(r[2] for r in rows),
        "h",
        "truck-hours",
        table,
        charts.bar([r[0] for r in rows], [r[2] for r in rows], "Truck-hours by weekday", "weekday", "h"),
        suppressed=suppressed,
    )


@question(
    "overtime_by_week",
    "How many hours beyond {paid_hours} h per shift were worked, by week?",
    "overtime = max(0, truck-hours − paid_hours) per shift, summed by ISO week",
    Param("paid_hours", "float", 8.0, "paid hours per shift", minimum=1, maximum=24),
)
def overtime_by_week(history: History, p: dict, ctx: Context):
    over = np.maximum(_hours(history, ctx) - p["paid_hours"], 0.0)
    weeks, week_of = iso_week(history.shifts.day)
    ok, suppressed = shift_guard(history, week_of, len(weeks), ctx.privacy)
    rows = [
        [
            str(weeks[w]),
            int(np.sum(week_of == w)),
            float(over[week_of == w].sum()),
            int(np.sum((over > 0) & (week_of == w))),
        ]
        for w in range(len(weeks))
        if ok[w]
    ]
    table = Table(
        "weeks", ["week", "shifts", "overtime_hours", "shifts_with_overtime"], rows, ["", "shifts", "h", "shifts"]
    )
    return answer(
        sum(r[2] for r in rows),
        "h",
        "overtime",
        table,
        charts.bar([r[0] for r in rows], [r[2] for r in rows], "Overtime by week", "week", "h"),
        suppressed=suppressed,
    )


@question(
    "idle_hours_by_hour",
    "How many hours did trucks stand idle outside collection, by hour of day?",
    "idle = stationary time (speed < 0.5 m/s) on travel and off-network legs, by the leg's local start hour",
)
def idle_hours_by_hour(history: History, p: dict, ctx: Context):
    legs = history.legs
    idle_legs = ((legs.kind == LEG_TRAVEL) | (legs.kind == LEG_OFFNET)) & working_mask(history)
    hour = hour_of_day(legs.t0)
    group = np.where(idle_legs, hour, -1)
    ok, suppressed = guard(history, group, legs.shift, 24, ctx.privacy)
    idle = np.bincount(hour[idle_legs], weights=(legs.duration_s - legs.moving_s)[idle_legs], minlength=24) / 3600
    rows = [[h, float(idle[h])] for h in range(24) if ok[h]]
    table = Table("hours", ["hour", "idle_hours"], rows, ["local hour", "h"])
    return answer(
        sum(r[1] for r in rows),
        "h",
        "idle hours",
        table,
        charts.bar([r[0] for r in rows], [r[1] for r in rows], "Idle hours", "local hour", "h"),
        suppressed=suppressed,
    )


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


@question(
    "early_hours_work",
    "How many truck-hours were worked before {before_hour}:00, by week?",
    "working legs that start before the local hour (noise-sensitive early morning), their whole duration",
    Param("before_hour", "int", 7, "local hour", minimum=1, maximum=23),
)
def early_hours_work(history: History, p: dict, ctx: Context):
    legs = history.legs
    early = working_mask(history) & (hour_of_day(legs.t0) < p["before_hour"])
    weeks, week_of = iso_week(history.shifts.day)
    ok, suppressed = shift_guard(history, week_of, len(weeks), ctx.privacy)
    hours = np.bincount(week_of[legs.shift], weights=np.where(early, legs.duration_s, 0.0), minlength=len(weeks)) / 3600
    rows = [[str(weeks[w]), float(hours[w])] for w in range(len(weeks)) if ok[w]]
    table = Table("weeks", ["week", "truck_hours_early"], rows, ["", "h"])
    return answer(
        sum(r[1] for r in rows),
        "h",
        f"before {p['before_hour']}:00",
        table,
        charts.bar([r[0] for r in rows], [r[1] for r in rows], "Early truck-hours", "week", "h"),
        suppressed=suppressed,
    )


def _collection_end(history: History) -> np.ndarray:
    """Local clock hour (decimal) at which each shift's last collection leg ended (NaN: none)."""
    legs = history.legs
    svc = np.flatnonzero(legs.kind == LEG_SERVICE)
    end = np.full(history.shifts.size, -np.inf)
    np.maximum.at(end, legs.shift[svc], legs.t1[svc])
    return np.where(np.isfinite(end), (end % 86400) / 3600, np.nan)


@question(
    "completion_time_by_route",
    "At what time does collection finish, by route?",
    "end of the last collection leg of each shift (local clock); median and 90th percentile per route",
)
def completion_time_by_route(history: History, p: dict, ctx: Context):
    end = _collection_end(history)
    shifts = history.shifts
    names = history.plans.route_ids
    ok, suppressed = shift_guard(history, np.where(np.isfinite(end), shifts.route, -1), len(names), ctx.privacy)
    rows = []
    for r in range(len(names)):
        sel = (shifts.route == r) & np.isfinite(end)
        if ok[r] and sel.any():
            rows.append([str(names[r]), int(sel.sum()), float(np.median(end[sel])), float(np.percentile(end[sel], 90))])
    table = Table(
        "routes",
        ["route", "shifts", "median_end_hour", "p90_end_hour"],
        rows,
        ["", "shifts", "local hour", "local hour"],
    )
    shown = np.isfinite(end) & (shifts.route >= 0) & ok[np.maximum(shifts.route, 0)]
    return answer(
        float(np.median(end[shown])) if shown.any() else None,
        "local hour",
        "fleet median",
        table,
        charts.bar([r[0] for r in rows], [r[2] for r in rows], "Median end of collection", "route", "local hour"),
        suppressed=suppressed,
    )


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


@question(
    "telemetry_gaps_by_day",
    "What share of working time had no telemetry, by day?",
    "gap legs (the unit sent nothing for longer than a trip break) as a share of working time, per local day",
)
def telemetry_gaps_by_day(history: History, p: dict, ctx: Context):
    legs = history.legs
    work = working_mask(history)
    day = day_number(history.shifts.start_t)
    days, day_of = np.unique(day, return_inverse=True)
    ok, suppressed = shift_guard(history, day_of, len(days), ctx.privacy)
    d = day_of[legs.shift]
    total = np.bincount(d, weights=np.where(work, legs.duration_s, 0.0), minlength=len(days))
    gap = np.bincount(d, weights=np.where(work & (legs.kind == LEG_GAP), legs.duration_s, 0.0), minlength=len(days))
    rows = [
        [day_label(days[i]), float(total[i] / 3600), float(gap[i] / 3600), gap[i] / total[i]]
        for i in range(len(days))
        if ok[i] and total[i] > 0
    ]
    table = Table("days", ["day", "working_hours", "gap_hours", "share"], rows, ["", "h", "h", "share"])
    t = sum(r[1] for r in rows)
    return answer(
        sum(r[2] for r in rows) / t if t else None,
        "share",
        "without telemetry",
        table,
        charts.bar([r[0] for r in rows], [100 * r[3] for r in rows], "Working time without telemetry", "day", "%"),
        suppressed=suppressed,
    )
