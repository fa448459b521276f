"""Safety questions: harsh events per exposure, speeding, reversing, long stretches without a break.

Rates are always per exposure (passes, kilometres, stops served), never raw counts: the
busiest street is not a hotspot by definition.
"""

from __future__ import annotations

import numpy as np

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.common import HOTSPOT_PRIOR_PASSES, Options, hotspot_segments, pass_legs
from fleetpilot.analytics.whatif.history import (
    LEG_FACILITY,
    History,
    hour_of_day,
)
from fleetpilot.analytics.whatif.kpi import working_mask
from fleetpilot.analytics.whatif.questions.common import answer, guard, iso_week, months, shift_guard
from fleetpilot.analytics.whatif.questions.library import Context, Param, question
from fleetpilot.analytics.whatif.result import Table
from fleetpilot.event_kinds import HARSH, HARSH_BRAKE, REVERSING

KINDS = ("harsh", *HARSH, REVERSING)  # "harsh": the three harsh kinds together


def _events(history: History, kind: str) -> np.ndarray:
    legs = history.legs
    return legs.harsh.astype(np.float64) if kind == "harsh" else legs.event(kind).astype(np.float64)


@question(
    "harsh_rate_segments",
    "Which {n} segments had the highest {kind} rate per 1,000 passes?",
    "rate = events / passes × 1000 per street segment; ranked by the rate shrunk towards the fleet rate "
    f"(as if {HOTSPOT_PRIOR_PASSES:g} fleet-average passes were added), among segments with at least "
    "min_passes passes",
    Param("n", "int", 10, "how many segments", minimum=1, maximum=100),
    Param("kind", "str", HARSH_BRAKE, "event kind", choices=KINDS),
    Param("min_passes", "int", 20, "ignore segments with fewer passes", minimum=1),
)
def harsh_rate_segments(history: History, p: dict, ctx: Context):
    legs = history.legs
    on = pass_legs(history)
    n_seg = history.network.size
    passes = np.bincount(legs.segment[on], minlength=n_seg).astype(np.float64)
    events = np.bincount(legs.segment[on], weights=_events(history, p["kind"])[on], minlength=n_seg)
    fleet = events.sum() / max(passes.sum(), 1.0)
    shrunk = (events + HOTSPOT_PRIOR_PASSES * fleet) / (passes + HOTSPOT_PRIOR_PASSES)
    ok, suppressed = guard(history, np.where(on, legs.segment, -1), legs.shift, n_seg, ctx.privacy)
    eligible = np.flatnonzero(ok & (passes >= p["min_passes"]))
    top = eligible[np.argsort(-shrunk[eligible], kind="stable")[: p["n"]]]
    ids = history.network.segment_ids
    rows = [
        [
            str(ids[s]),
            str(history.network.road_class[s]),
            int(passes[s]),
            int(events[s]),
            1000 * events[s] / passes[s],
            1000 * shrunk[s],
        ]
        for s in top
    ]
    table = Table(
        "segments",
        ["segment_id", "road_class", "passes", "events", "per_1000_passes", "shrunk_per_1000"],
        rows,
        ["", "", "passes", "events", "per 1000 passes", "per 1000 passes"],
    )
    chart = charts.bar(
        [r[0] for r in rows],
        [r[5] for r in rows],
        f"{p['kind']} per 1,000 passes",
        "segment",
        "per 1,000 passes (shrunk)",
    )
    return answer(
        rows[0][5] if rows else None,
        "per 1,000 passes",
        "highest shrunk rate",
        table,
        chart,
        notes=[f"fleet rate {1000 * fleet:.2f} per 1,000 passes"],
        suppressed=suppressed,
    )


@question(
    "harsh_per_1000km_by_week",
    "How many harsh events per 1,000 km, by kind and week?",
    "events / km × 1000 per ISO week, every kind of harsh event and reversing",
)
def harsh_per_1000km_by_week(history: History, p: dict, ctx: Context):
    legs = history.legs
    weeks, week_of_shift = iso_week(history.shifts.day)
    ok, suppressed = shift_guard(history, week_of_shift, len(weeks), ctx.privacy)
    w = week_of_shift[legs.shift]
    km = np.bincount(w, weights=legs.length_m, minlength=len(weeks)) / 1000
    kinds = (*HARSH, REVERSING)
    per_kind = {k: np.bincount(w, weights=legs.event(k), minlength=len(weeks)) for k in kinds}
    rows, series = [], {k: [] for k in kinds}
    shown = [i for i in range(len(weeks)) if ok[i]]
    for i in shown:
        rates = [1000 * per_kind[k][i] / max(km[i], 1e-9) for k in kinds]
        rows.append([weeks[i], float(km[i])] + rates)
        for k, r in zip(kinds, rates):
            series[k].append(r)
    table = Table("weeks", ["week", "km"] + [f"{k}_per_1000km" for k in kinds], rows, ["", "km"] + ["per 1000 km"] * 4)
    total_km = km[shown].sum()
    harsh = sum(per_kind[k][shown].sum() for k in kinds[:3])
    return answer(
        1000 * harsh / total_km if total_km else None,
        "per 1,000 km",
        "harsh events (brake+accel+corner)",
        table,
        charts.lines([weeks[i] for i in shown], series, "Events per 1,000 km", "week", "per 1,000 km"),
        suppressed=suppressed,
    )


@question(
    "reversing_per_100_stops_by_route",
    "How often do trucks reverse per 100 stops served, by route?",
    "reversing events on collection shifts / planned stops served × 100 per route",
)
def reversing_per_100_stops_by_route(history: History, p: dict, ctx: Context):
    legs, shifts = history.legs, history.shifts
    names = history.plans.route_ids
    n = len(names)
    ok, suppressed = shift_guard(history, shifts.route, n, ctx.privacy)
    route_of_leg = shifts.route[legs.shift]
    has = route_of_leg >= 0
    rev = np.bincount(route_of_leg[has], weights=legs.event(REVERSING)[has], minlength=n)
    vroute = shifts.route[history.visits.shift]
    stops = np.bincount(vroute[vroute >= 0], minlength=n)
    rows = [
        [str(names[r]), int(stops[r]), int(rev[r]), 100 * rev[r] / stops[r]] for r in range(n) if ok[r] and stops[r]
    ]
    table = Table(
        "routes",
        ["route", "stops_served", "reversing", "per_100_stops"],
        rows,
        ["", "stops", "events", "per 100 stops"],
    )
    total = sum(r[1] for r in rows)
    return answer(
        100 * sum(r[2] for r in rows) / total if total else None,
        "per 100 stops",
        "fleet",
        table,
        charts.bar([r[0] for r in rows], [r[3] for r in rows], "Reversing per 100 stops", "route", "per 100 stops"),
        suppressed=suppressed,
    )


@question(
    "long_stretches_without_break",
    "What share of shifts had a stretch over {hours} h without a {break_min}-minute rest, by month?",
    "rest = a stay of at least break_min at a break place or the depot; a stretch = working time between rests. "
    "Framed as care for the crew: the answer is about shifts, never people",
    Param("hours", "float", 4.5, "longest acceptable stretch (h)", minimum=0.5),
    Param("break_min", "float", 15.0, "shortest stay that counts as rest (min)", minimum=1),
)
def long_stretches_without_break(history: History, p: dict, ctx: Context):
    legs = history.legs
    # One extra False at the end: legs without a facility index it with -1.
    resting_place = np.append(np.isin(history.facilities.facility_types, ("break", "depot")), False)
    rest = (legs.kind == LEG_FACILITY) & resting_place[legs.facility] & (legs.duration_s >= p["break_min"] * 60)
    work = working_mask(history) & ~rest
    # Stretch id: shift and the number of rests before the leg.
    rests_before = np.cumsum(rest) - rest
    first_of_shift = np.r_[0, np.flatnonzero(np.diff(legs.shift)) + 1] if legs.size else np.zeros(0, dtype=int)
    base = np.zeros(history.shifts.size, dtype=np.int64)
    base[legs.shift[first_of_shift]] = rests_before[first_of_shift]
    stretch = legs.shift.astype(np.int64) * (legs.size + 1) + (rests_before - base[legs.shift])
    ids, inv = np.unique(stretch[work], return_inverse=True)
    length = np.bincount(inv, weights=legs.duration_s[work])
    longest = np.zeros(history.shifts.size)
    np.maximum.at(longest, ids // (legs.size + 1), length)
    names, month_of = months(history.shifts.day)
    ok, suppressed = shift_guard(history, month_of, len(names), ctx.privacy)
    long_ = longest > p["hours"] * 3600
    rows = [
        [
            str(names[m]),
            int(np.sum(month_of == m)),
            int(np.sum(long_ & (month_of == m))),
            float(np.mean(long_[month_of == m])),
        ]
        for m in range(len(names))
        if ok[m]
    ]
    table = Table(
        "months", ["month", "shifts", "shifts_with_long_stretch", "share"], rows, ["", "shifts", "shifts", "share"]
    )
    total = sum(r[1] for r in rows)
    return answer(
        sum(r[2] for r in rows) / total if total else None,
        "share of shifts",
        "long stretches",
        table,
        charts.bar([r[0] for r in rows], [100 * r[3] for r in rows], "Shifts with a long stretch", "month", "%"),
        suppressed=suppressed,
    )


@question(
    "hotspot_exposure_by_hour",
    "When are trucks most exposed at the {top} hotspot segments, by hour of day?",
    "hotspots = segments with the highest shrunk harsh-event rate per pass; exposure = passes through them",
    Param("top", "int", 10, "number of hotspot segments", minimum=1, maximum=100),
)
def hotspot_exposure_by_hour(history: History, p: dict, ctx: Context):
    legs = history.legs
    hot = hotspot_segments(history, Options(hotspot_top=p["top"]))
    on = pass_legs(history) & np.isin(legs.segment, hot)
    hour = hour_of_day(legs.t0)
    group = np.where(on, hour, -1)
    ok, suppressed = guard(history, group, legs.shift, 24, ctx.privacy)
    passes = np.bincount(hour[on], minlength=24)
    events = np.bincount(hour[on], weights=legs.harsh[on], minlength=24)
    rows = [[h, int(passes[h]), int(events[h]), 1000 * events[h] / passes[h]] for h in range(24) if ok[h] and passes[h]]
    table = Table(
        "hours",
        ["hour", "passes", "harsh_events", "per_1000_passes"],
        rows,
        ["local hour", "passes", "events", "per 1000"],
    )
    peak = max(rows, key=lambda r: r[1]) if rows else None
    return answer(
        peak[0] if peak else None,
        "local hour",
        "hour with most passes",
        table,
        charts.bar([r[0] for r in rows], [r[1] for r in rows], "Passes at hotspots", "local hour", "passes"),
        notes=["hotspots: " + ", ".join(str(history.network.segment_ids[s]) for s in hot)],
        suppressed=suppressed,
    )


@question(
    "zone_speed",
    "How fast do trucks drive within {radius_m} m of ({lon}, {lat}) between {from_hour}:00 and {to_hour}:00?",
    "passes on segments whose midpoint is within radius_m of the point, starting in [from_hour, to_hour); "
    "speed = length / moving time, time-weighted",
    Param("lon", "float", 0.0, "longitude (degrees)", minimum=-180, maximum=180),
    Param("lat", "float", 0.0, "latitude (degrees)", minimum=-90, maximum=90),
    Param("radius_m", "float", 300.0, "radius (m)", minimum=10, maximum=5000),
    Param("from_hour", "int", 7, "first local hour", minimum=0, maximum=23),
    Param("to_hour", "int", 9, "end local hour (exclusive)", minimum=1, maximum=24),
)
def zone_speed(history: History, p: dict, ctx: Context):
    legs = history.legs
    net = history.network
    x, y = history.frame.to_xy(p["lon"], p["lat"])
    near = np.hypot(net.mid_x - x, net.mid_y - y) <= p["radius_m"]
    hour = hour_of_day(legs.t0)
    on = (
        pass_legs(history)
        & near[np.maximum(legs.segment, 0)]
        & (hour >= p["from_hour"])
        & (hour < p["to_hour"])
        & (legs.moving_s > 0)
    )
    group = np.where(on, hour, -1)
    ok, suppressed = guard(history, group, legs.shift, 24, ctx.privacy)
    metres = np.bincount(hour[on], weights=legs.length_m[on], minlength=24)
    seconds = np.bincount(hour[on], weights=legs.moving_s[on], minlength=24)
    limit = net.speed_limit_mps[np.maximum(legs.segment, 0)]
    over = np.bincount(hour[on], weights=(legs.max_speed_mps > limit)[on], minlength=24)
    passes = np.bincount(hour[on], minlength=24)
    rows = [
        [h, int(passes[h]), 3.6 * metres[h] / seconds[h], over[h] / passes[h]] for h in range(24) if ok[h] and passes[h]
    ]
    table = Table(
        "hours",
        ["hour", "passes", "mean_speed_kmh", "share_over_limit"],
        rows,
        ["local hour", "passes", "km/h", "share"],
    )
    shown = [r[0] for r in rows]
    m, s = metres[shown].sum(), seconds[shown].sum()
    return answer(
        3.6 * m / s if s else None,
        "km/h",
        "mean speed",
        table,
        charts.bar(shown, [r[2] for r in rows], "Mean speed near the point", "local hour", "km/h"),
        notes=[f"{int(near.sum())} segments within {p['radius_m']:g} m"],
        suppressed=suppressed,
    )
