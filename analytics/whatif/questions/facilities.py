"""Questions about facilities and fuel: queueing, turnaround, fuel and CO2 estimates."""

from __future__ import annotations

import numpy as np

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.history import History, hour_of_day
from fleetpilot.analytics.whatif.kpi import K, shift_kpis
from fleetpilot.analytics.whatif.questions.common import answer, facility_visits, guard, iso_week, shift_guard
from fleetpilot.analytics.whatif.questions.library import Context, Param, question
from fleetpilot.analytics.whatif.result import Table

TYPES = ("transfer_station", "landfill", "depot", "break")
SERVICE_QUANTILE = 10  # a facility's 10th-percentile stay ≈ its service time without a queue


@question(
    "facility_queue_hours",
    "How many truck-hours were lost queueing at {facility_type} facilities, by hour of day?",
    f"lost = a visit's stay minus the facility's {SERVICE_QUANTILE}th-percentile stay (taken as the service "
    "time without a queue), summed by the local hour of arrival; a lower bound when even the fastest visits "
    "queue",
    Param("facility_type", "str", "transfer_station", "kind of facility", choices=TYPES),
)
def facility_queue_hours(history: History, p: dict, ctx: Context):
    v = facility_visits(history)
    sel = (
        np.flatnonzero(history.facilities.facility_types[v.facility] == p["facility_type"])
        if len(v)
        else np.zeros(0, int)
    )
    n_fac = history.facilities.size
    floor = np.zeros(n_fac)
    for f in np.unique(v.facility[sel]):
        floor[f] = np.percentile(v.duration_s[sel][v.facility[sel] == f], SERVICE_QUANTILE)
    lost = np.maximum(v.duration_s[sel] - floor[v.facility[sel]], 0.0)
    hour = hour_of_day(v.t0[sel])
    ok, suppressed = guard(history, hour, v.shift[sel], 24, ctx.privacy)
    visits = np.bincount(hour, minlength=24)
    lost_h = np.bincount(hour, weights=lost, minlength=24) / 3600
    stay = np.bincount(hour, weights=v.duration_s[sel], minlength=24)
    rows = [[h, int(visits[h]), stay[h] / visits[h] / 60, float(lost_h[h])] for h in range(24) if ok[h] and visits[h]]
    table = Table(
        "hours", ["hour", "visits", "mean_stay_min", "lost_truck_hours"], rows, ["local hour", "visits", "min", "h"]
    )
    return answer(
        sum(r[3] for r in rows),
        "h",
        "truck-hours lost queueing",
        table,
        charts.bar([r[0] for r in rows], [r[3] for r in rows], "Truck-hours lost queueing", "local hour", "h"),
        suppressed=suppressed,
    )


@question(
    "turnaround_by_facility",
    "How long does a visit to each facility take?",
    "stay per visit (first to last fix inside the geofence, exits under 120 s bridged): median and 90th percentile",
)
def turnaround_by_facility(history: History, p: dict, ctx: Context):
    v = facility_visits(history)
    fac = history.facilities
    ok, suppressed = guard(history, v.facility, v.shift, fac.size, ctx.privacy)
    rows = []
    for f in range(fac.size):
        d = v.duration_s[v.facility == f] / 60
        if ok[f] and d.size:
            rows.append(
                [
                    str(fac.facility_ids[f]),
                    str(fac.facility_types[f]),
                    int(d.size),
                    float(np.median(d)),
                    float(np.percentile(d, 90)),
                ]
            )
    table = Table(
        "facilities",
        ["facility_id", "facility_type", "visits", "median_min", "p90_min"],
        rows,
        ["", "", "visits", "min", "min"],
    )
    tips = [r for r in rows if r[1] in ("transfer_station", "landfill")]
    return answer(
        float(np.median([r[3] for r in tips])) if tips else None,
        "min",
        "median at transfer/landfill",
        table,
        charts.bar([r[0] for r in rows], [r[3] for r in rows], "Median stay per visit", "facility", "min"),
        suppressed=suppressed,
    )


@question(
    "fuel_co2_by_week",
    "How much fuel and CO2 did the fleet use, by week (estimated)?",
    "fuel = km × fuel_l_per_km + engine hours × fuel_l_per_engine_h; CO2 = fuel × co2_kg_per_l (factors shown)",
)
def fuel_co2_by_week(history: History, p: dict, ctx: Context):
    kpis = shift_kpis(history, np.zeros(history.network.size, dtype=bool), ctx.factors)
    weeks, week_of = iso_week(history.shifts.day)
    ok, suppressed = shift_guard(history, week_of, len(weeks), ctx.privacy)
    rows = [
        [
            str(weeks[w]),
            float(kpis[week_of == w, K["km"]].sum()),
            float(kpis[week_of == w, K["fuel_l"]].sum()),
            float(kpis[week_of == w, K["co2_kg"]].sum()),
        ]
        for w in range(len(weeks))
        if ok[w]
    ]
    table = Table("weeks", ["week", "km", "fuel_l", "co2_kg"], rows, ["", "km", "L", "kg"])
    f = ctx.factors
    return answer(
        sum(r[3] for r in rows),
        "kg CO2",
        "estimated",
        table,
        charts.bar([r[0] for r in rows], [r[3] for r in rows], "Estimated CO2", "week", "kg"),
        assumptions=[
            f"factors: {f.fuel_l_per_km} L/km, {f.fuel_l_per_engine_h} L per engine hour, {f.co2_kg_per_l} kg CO2 per L"
        ],
        suppressed=suppressed,
    )
