"""Scenario (b): move the depot, a transfer station or a landfill to another point.

Method. A *hop* is the run of travel legs between two consecutive anchors of a shift — an
anchor being a collection leg or a stay in a facility. A hop that starts or ends at the
moved facility gets that end moved. Its new road distance is the hop's own circuity (road
distance / straight-line distance, clipped to 1–3) times the new straight-line distance;
hops too short to have a meaningful circuity (< 300 m straight) use the fleet's median
circuity. Its new duration keeps the hop's own mean speed (the fleet's mean deadhead
speed for empty hops). The number and order of facility visits stay the same (loads do
not change), and so does the dwell inside, unless ``turnaround_min`` states the dwell at
the new site. Uncertainty resamples days of the per-day deltas.
"""

from __future__ import annotations

import numpy as np

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.common import Options, build_result, hotspot_segments, require_k, segment_mask
from fleetpilot.analytics.whatif.history import LEG_FACILITY, LEG_SERVICE, History, leg_ends
from fleetpilot.analytics.whatif.kpi import K, shift_kpis, working_mask
from fleetpilot.analytics.whatif.privacy import shift_groups_allowed
from fleetpilot.analytics.whatif.result import ScenarioResult, Table

MIN_CROW_M = 300.0
CIRCUITY_RANGE = (1.0, 3.0)
DEFAULT_CIRCUITY = 1.3  # when the history has no hop long enough to measure one


def hops(history: History) -> dict[str, np.ndarray]:
    """Hops between consecutive anchors of each shift, with their observed distance and time.

    Keys: ``a``/``b`` (leg index of the anchor before/after), ``shift``, ``length_m``,
    ``duration_s``, and ``ax, ay, bx, by`` (anchor positions; a facility's centroid).
    """
    legs = history.legs
    anchor = (legs.kind == LEG_SERVICE) | (legs.kind == LEG_FACILITY)
    idx = np.flatnonzero(anchor)
    a, b = idx[:-1], idx[1:]
    same = legs.shift[a] == legs.shift[b]
    a, b = a[same], b[same]
    mover = ~anchor
    cum_len = np.concatenate([[0.0], np.cumsum(np.where(mover, legs.length_m, 0.0))])
    cum_dur = np.concatenate([[0.0], np.cumsum(np.where(mover, legs.duration_s, 0.0))])
    x0, y0, x1, y1 = leg_ends(history)
    return {
        "a": a,
        "b": b,
        "shift": legs.shift[a],
        "length_m": cum_len[b] - cum_len[a + 1],
        "duration_s": cum_dur[b] - cum_dur[a + 1],
        "ax": x1[a],
        "ay": y1[a],
        "bx": x0[b],
        "by": y0[b],
    }


def fleet_circuity(h: dict[str, np.ndarray]) -> float:
    crow = np.hypot(h["bx"] - h["ax"], h["by"] - h["ay"])
    ok = (crow >= MIN_CROW_M) & (h["length_m"] > 0)
    return float(np.clip(np.median(h["length_m"][ok] / crow[ok]), *CIRCUITY_RANGE)) if ok.any() else DEFAULT_CIRCUITY


def move_facility(
    history: History,
    facility_id: str,
    x: float,
    y: float,
    options: Options = Options(),
    *,
    turnaround_min: float | None = None,
) -> ScenarioResult:
    """Move ``facility_id`` to (x, y) metres; ``turnaround_min``: dwell per visit at the new site."""
    index = history.facilities.index()
    if facility_id not in index:
        raise ValueError(f"unknown facility {facility_id!r}; known: {', '.join(index)}")
    f = index[facility_id]
    fx, fy = float(history.facilities.x[f]), float(history.facilities.y[f])
    legs = history.legs
    h = hops(history)
    at_a = (legs.kind[h["a"]] == LEG_FACILITY) & (legs.facility[h["a"]] == f)
    at_b = (legs.kind[h["b"]] == LEG_FACILITY) & (legs.facility[h["b"]] == f)
    affected = (at_a | at_b) & ~(at_a & at_b)
    require_k(
        history,
        np.bincount(h["shift"][affected], minlength=history.shifts.size) > 0,
        options,
        f"the trips to {facility_id}",
    )
    crow_old = np.hypot(h["bx"] - h["ax"], h["by"] - h["ay"])
    ax, ay = np.where(at_a, x, h["ax"]), np.where(at_a, y, h["ay"])
    bx, by = np.where(at_b, x, h["bx"]), np.where(at_b, y, h["by"])
    crow_new = np.hypot(bx - ax, by - ay)
    r_fleet = fleet_circuity(h)
    own = (crow_old >= MIN_CROW_M) & (h["length_m"] > 0)
    circuity = np.where(own, np.clip(h["length_m"] / np.maximum(crow_old, 1e-9), *CIRCUITY_RANGE), r_fleet)
    new_len = np.where(affected, circuity * crow_new, h["length_m"])
    moving = h["duration_s"] > 0
    v_fleet = h["length_m"][moving].sum() / max(h["duration_s"][moving].sum(), 1e-9) if moving.any() else 5.0
    speed = np.where(h["length_m"] >= 100.0, h["length_m"] / np.maximum(h["duration_s"], 1e-9), v_fleet)
    new_dur = np.where(affected, new_len / np.maximum(speed, 0.1), h["duration_s"])
    d_len = new_len - h["length_m"]
    d_dur = new_dur - h["duration_s"]

    n = history.shifts.size
    visits = (legs.kind == LEG_FACILITY) & (legs.facility == f)
    # Only visits during work count (a depot's first and last stays of the day are not on the clock).
    on_clock = visits & working_mask(history)
    d_dwell_leg = (
        np.where(on_clock, turnaround_min * 60.0 - legs.duration_s, 0.0)
        if turnaround_min is not None
        else np.zeros(legs.size)
    )
    d_km = np.bincount(h["shift"], weights=d_len, minlength=n) / 1000.0
    d_hours = (
        np.bincount(h["shift"], weights=d_dur, minlength=n) + np.bincount(legs.shift, weights=d_dwell_leg, minlength=n)
    ) / 3600.0
    # Stays at a depot or break place count as engine off (see kpi.engine_mask); travel is engine on.
    parked = history.facilities.facility_types[f] in ("depot", "break")
    d_engine = d_hours - (0.0 if not parked else np.bincount(legs.shift, weights=d_dwell_leg, minlength=n) / 3600.0)

    hotspots = hotspot_segments(history, options)
    mask = segment_mask(history, hotspots)
    base = shift_kpis(history, mask, options.factors)
    scen = base.copy()
    fac = options.factors
    scen[:, K["truck_hours"]] += d_hours
    scen[:, K["km"]] += d_km
    scen[:, K["deadhead_km"]] += d_km
    scen[:, K["overtime_hours"]] = np.maximum(scen[:, K["truck_hours"]] - fac.paid_hours, 0.0)
    scen[:, K["fuel_l"]] += d_km * fac.fuel_l_per_km + d_engine * fac.fuel_l_per_engine_h
    scen[:, K["co2_kg"]] = scen[:, K["fuel_l"]] * fac.co2_kg_per_l

    lon, lat = history.frame.to_lonlat(x, y)
    moved_m = float(np.hypot(x - fx, y - fy))
    table = Table(
        "trips to and from the facility",
        ["quantity", "before", "after", "unit"],
        [
            ["trips (one way)", int(affected.sum()), int(affected.sum()), "trips"],
            ["mean trip distance", _mean(h["length_m"][affected]) / 1000, _mean(new_len[affected]) / 1000, "km"],
            ["mean trip time", _mean(h["duration_s"][affected]) / 60, _mean(new_dur[affected]) / 60, "min"],
            [
                "mean dwell per visit",
                _mean(legs.duration_s[visits]) / 60,
                (turnaround_min if turnaround_min is not None else _mean(legs.duration_s[visits]) / 60),
                "min",
            ],
        ],
        [],
    )
    route_table, route_chart = _by_route(history, options, base, scen)
    return build_result(
        "facility_move",
        f"Move {facility_id} by {moved_m / 1000:.2f} km",
        history,
        options,
        {"facility_id": facility_id, "lon": float(lon), "lat": float(lat), "turnaround_min": turnaround_min},
        [
            "the number and order of facility visits stay the same (loads and routes do not change)",
            "a trip to or from the facility keeps its own circuity (road km / straight-line km, clipped to 1–3) and its "
            f"own mean speed; trips under {MIN_CROW_M:g} m straight use the fleet median circuity ({r_fleet:.2f})",
            "dwell inside the facility is as observed"
            if turnaround_min is None
            else f"dwell at the new site is {turnaround_min:g} min per visit",
            "the streets driven to the new site are unknown, so hotspot exposure is held as observed",
        ],
        base,
        scen,
        hotspots=hotspots,
        unmodelled={
            "hotspot_passes": "new trips' streets unknown",
            "hotspot_events": "new trips' streets unknown",
            "idle_hours": "stationary time on trips held as observed",
        },
        tables=[table, route_table],
        extra_charts=[route_chart],
        notes=[f"{int(affected.sum())} one-way trips touch {facility_id}; the site moves {moved_m:.0f} m"],
    )


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if values.size else float("nan")


def _by_route(history: History, options: Options, base: np.ndarray, scen: np.ndarray) -> tuple[Table, dict]:
    shifts = history.shifts
    n_routes = len(history.plans.route_ids)
    ok = shift_groups_allowed(history, shifts.route, n_routes, options.privacy)
    rows, labels, deltas = [], [], []
    for r in range(n_routes):
        sel = shifts.route == r
        if not sel.any():
            continue
        name = str(history.plans.route_ids[r])
        if not ok[r]:
            rows.append([name, None, None, "suppressed (k)"])
            continue
        d_km = float((scen[sel, K["deadhead_km"]] - base[sel, K["deadhead_km"]]).mean())
        d_h = float((scen[sel, K["truck_hours"]] - base[sel, K["truck_hours"]]).mean())
        rows.append([name, d_km, d_h, ""])
        labels.append(name)
        deltas.append(d_km)
    table = Table(
        "change per shift by route",
        ["route", "deadhead_km_per_shift", "hours_per_shift", "note"],
        rows,
        ["", "km", "h", ""],
    )
    return table, charts.bar(labels, deltas, "Deadhead change per shift by route", "route", "km")
