"""Scenario (d): change how often a zone is collected (e.g. twice weekly → weekly).

Method. The zone's service segments are those whose midpoint lies in the zone. A segment's
observed frequency is its collection days per week over the period's calendar weeks; in
the scenario every collection leg on it counts ratio = new_per_week / observed times (an
expected count: 0.5 when every other visit goes). Driving between two collection legs
inside the zone scales with the mean ratio of the two; trips into and out of the zone are
kept (the truck still goes there to collect elsewhere). Each visit lifts the same bins as
before (households set out on every collection day), each lift takes as long, and the
zone's weekly tonnage does not change — so trips to the transfer station stay as observed.
A shift that collects only inside the zone is there for the zone alone, so it scales as a
whole — except its full-load tip trips (those before its last collection), which the
unchanged tonnage still needs. Uncertainty resamples days.
"""

from __future__ import annotations

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.common import Options, build_result, hotspot_segments, require_k, segment_mask
from fleetpilot.analytics.whatif.facility_move import hops
from fleetpilot.analytics.whatif.history import LEG_FACILITY, LEG_SERVICE, History, day_number, weekday
from fleetpilot.analytics.whatif.kpi import shift_kpis
from fleetpilot.analytics.whatif.result import ScenarioResult, Table
from fleetpilot.event_kinds import BIN_LIFT


def zone_segments(history: History, zone: BaseGeometry) -> np.ndarray:
    """Boolean per network segment: is its midpoint inside ``zone`` (metres)?"""
    net = history.network
    return shapely.contains_xy(zone, net.mid_x, net.mid_y)


def visits_per_week(history: History) -> tuple[np.ndarray, float]:
    """(collection days per week per segment, calendar weeks in the period)."""
    legs = history.legs
    service = (legs.kind == LEG_SERVICE) & (legs.segment >= 0)
    weeks = max(history.calendar_days(), 1) / 7.0
    code = np.unique(legs.segment[service].astype(np.int64) * 100_000 + day_number(legs.t0[service]) % 100_000)
    per_segment = np.bincount(code // 100_000, minlength=history.network.size)
    return per_segment / weeks, float(weeks)


def _tip_legs(history: History, h: dict[str, np.ndarray]) -> np.ndarray:
    """Legs of stays at, and trips to and from, transfer stations and landfills."""
    legs = history.legs
    types = history.facilities.facility_types
    tip_stay = (
        (legs.kind == LEG_FACILITY)
        & (legs.facility >= 0)
        & np.isin(types[np.maximum(legs.facility, 0)], ("transfer_station", "landfill"))
    )
    tip_hop = tip_stay[h["a"]] | tip_stay[h["b"]]
    a, b = h["a"][tip_hop], h["b"][tip_hop]
    marks = np.zeros(legs.size + 1, dtype=np.int64)
    np.add.at(marks, a + 1, 1)
    np.add.at(marks, b, -1)
    return tip_stay | (np.cumsum(marks)[:-1] > 0)


def change_frequency(
    history: History, zone: BaseGeometry, new_per_week: float, options: Options = Options()
) -> ScenarioResult:
    """Collect the segments inside ``zone`` (metres) ``new_per_week`` times a week."""
    if new_per_week <= 0:
        raise ValueError("new_per_week must be positive (stopping collection is not a frequency change)")
    legs = history.legs
    inside = zone_segments(history, zone)
    freq, weeks = visits_per_week(history)
    collected = inside & (freq > 0)
    ratio = np.where(collected, new_per_week / np.maximum(freq, 1e-12), 1.0)
    seg = np.maximum(legs.segment, 0)
    on_zone = (legs.kind == LEG_SERVICE) & (legs.segment >= 0) & collected[seg]
    require_k(
        history, np.bincount(legs.shift[on_zone], minlength=history.shifts.size) > 0, options, "collection in this zone"
    )
    weight = np.where(on_zone, ratio[seg], 1.0)
    # Driving between two zone collections scales with them; into/out of the zone it stays.
    h = hops(history)
    both = on_zone[h["a"]] & on_zone[h["b"]]
    hop_ratio = (weight[h["a"]] + weight[h["b"]]) / 2
    # Hops are disjoint leg ranges a+1 … b-1: give each range its hop's ratio.
    a, b = h["a"][both], h["b"][both]
    sizes = b - a - 1
    leg_index = np.repeat(a + 1 - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())
    weight[leg_index] = np.repeat(hop_ratio[both], sizes)
    # A shift that collects only in the zone exists for the zone: it goes as a whole, except
    # its full-load tip trips (before its last collection), which the same tonnage still needs;
    # the closing trip after the last collection goes with the shift.
    n = history.shifts.size
    service = (legs.kind == LEG_SERVICE) & (legs.segment >= 0)
    zone_legs = np.bincount(legs.shift, weights=on_zone, minlength=n)
    all_legs = np.bincount(legs.shift, weights=service, minlength=n)
    whole = (zone_legs > 0) & (zone_legs == all_legs)
    shift_ratio = np.bincount(legs.shift, weights=np.where(on_zone, weight, 0.0), minlength=n) / np.maximum(
        zone_legs, 1
    )
    last_service = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_service, legs.shift[service], np.flatnonzero(service))
    full_load_tip = _tip_legs(history, h) & (np.arange(legs.size) < last_service[legs.shift])
    weight = np.where(whole[legs.shift] & ~full_load_tip, shift_ratio[legs.shift], weight)

    hotspots = hotspot_segments(history, options)
    mask = segment_mask(history, hotspots)
    base = shift_kpis(history, mask, options.factors)
    scen = shift_kpis(history, mask, options.factors, weight=weight)

    service_h = legs.duration_s[on_zone].sum() / 3600.0 / weeks
    lifts = legs.event(BIN_LIFT)[on_zone].sum()
    zone_freq = freq[collected]
    table = Table(
        "zone",
        ["quantity", "before", "after", "unit"],
        [
            ["segments collected in the zone", int(collected.sum()), int(collected.sum()), "segments"],
            [
                "collection days per segment",
                float(zone_freq.mean()) if zone_freq.size else None,
                new_per_week,
                "per week",
            ],
            [
                "collection hours in the zone",
                float(service_h),
                float((legs.duration_s * weight)[on_zone].sum() / 3600 / weeks),
                "h per week",
            ],
            [
                "bin lifts per visit",
                float(lifts / max(on_zone.sum(), 1)),
                float(lifts / max(on_zone.sum(), 1)),
                "lifts",
            ],
        ],
    )
    wd = weekday(day_number(legs.t0[on_zone]))
    by_weekday = np.bincount(wd, weights=legs.duration_s[on_zone] / 3600.0, minlength=7)
    chart = charts.bar(
        ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
        by_weekday,
        "Observed collection hours in the zone by weekday",
        "weekday",
        "h",
    )
    return build_result(
        "frequency",
        f"Collect the zone {new_per_week:g}× a week",
        history,
        options,
        {"new_per_week": new_per_week, "zone_area_km2": float(zone.area / 1e6)},
        [
            "a segment's frequency is its observed collection days per calendar week in the period",
            "each remaining visit lifts the same bins, each lift takes as long (every household sets out each "
            "collection day)",
            "weekly tonnage is unchanged, so trips to transfer stations and landfills stay as observed on shifts that "
            "also collect outside the zone",
            "driving between collections inside the zone scales with them; trips into and out of the zone stay",
            "a shift that collects only inside the zone happens `ratio` times as often, all of it except its "
            "full-load tip trips before its last collection (the same tonnage still needs them)",
            "the answer is an expected value: which visits go is left to the planner",
        ],
        base,
        scen,
        hotspots=hotspots,
        tables=[table],
        extra_charts=[chart],
        notes=[
            f"{int(collected.sum())} collected segments in the zone, observed {float(zone_freq.mean()):.2f} "
            f"days/week on average"
            if zone_freq.size
            else "no collected segment lies in the zone"
        ],
    )
