"""Accuracy against the simulator's ground truth, shared by the synthetic city's tests
(tests/analytics) and the real street network's (tests/e2e/test_real_streets.py)."""

from __future__ import annotations

import numpy as np

from fleetpilot.analytics.columns import DeviceEvents, Fixes
from fleetpilot.analytics.geo import haversine_m


def match(found_t, found_lon, found_lat, true_t, true_lon, true_lat, max_s, max_m=np.inf, true_t_alt=None) -> int:
    """One-to-one greedy matching by time; returns the number of matched pairs. ``true_t_alt``:
    a second reading of each true time (a found time within ``max_s`` of either one matches)."""
    found_t = np.asarray(found_t)
    alt = true_t if true_t_alt is None else true_t_alt
    used = np.zeros(len(found_t), dtype=bool)
    hits = 0
    for t, t2, lon, lat in zip(true_t, alt, true_lon, true_lat):
        off = np.minimum(np.abs(found_t - t), np.abs(found_t - t2))
        near = np.flatnonzero(~used & (off <= max_s * 1000))
        if len(near) == 0:
            continue
        near = near[haversine_m(found_lon[near], found_lat[near], lon, lat) <= max_m]
        if len(near):
            best = near[np.argmin(off[near])]
            used[best] = True
            hits += 1
    return hits


def stop_counts(stops, truth_shifts, settle_only: bool = False) -> tuple[int, int, int]:
    """(matched, found, true) stops over shifts: detected stops of track k matched one-to-one to
    shift k's true bin stops within 15 s and 20 m (the accuracy targets' rule).

    A bin's arrival is read two ways, and a stop that starts within 15 s of either matches: when
    the truck first reached the bin (``t_reach``, as a facility visit's arrival is read) and when
    it settled there (``t_arrive``): they differ only where the truck backed up at the bin first,
    a manoeuvre a unit with Doppler speed reads as driving and a phone cannot see (decision 0047).
    ``settle_only``: the settle alone, the rule before that decision."""
    hits = found = true_stops = 0
    for k, shift in enumerate(truth_shifts):
        mine = stops.select(stops.track == k)
        true = shift["stops"]
        hits += match(
            mine.t_start,
            mine.lon,
            mine.lat,
            [s["t_arrive"] for s in true],
            [s["lon"] for s in true],
            [s["lat"] for s in true],
            max_s=15,
            max_m=20,
            true_t_alt=None if settle_only else [s["t_reach"] for s in true],
        )
        found += len(mine)
        true_stops += len(true)
    return hits, found, true_stops


def by_shift(run) -> tuple[Fixes, DeviceEvents, list[list[str]], np.ndarray, list[dict]]:
    """Renumber fixes and events by vehicle-shift (shifts ordered by vehicle, then start)."""
    order = {vid: i for i, vid in enumerate(run.vehicle_ids)}
    shifts = sorted(run.truth["shifts"], key=lambda s: (order[s["vehicle_id"]], s["start"]))
    vehicle = np.array([order[s["vehicle_id"]] for s in shifts])
    start = np.array([s["start"] for s in shifts])

    def code(v, t):
        # Shifts of one vehicle are consecutive in `shifts`; a row belongs to the last one
        # that started at or before it (fixes outside every window do not occur here).
        key = v.astype(np.int64) * (1 << 44) + t
        return np.searchsorted(vehicle * (1 << 44) + start, key, side="right") - 1

    f = dict(run.fixes)
    f["vehicle"] = code(f["vehicle"], f["t"]).astype(np.int32)
    e = dict(run.events)
    e["vehicle"] = code(e["vehicle"], e["t"]).astype(np.int32)
    routes: dict[str, list[str]] = {}
    for feature in run.routes_geojson["features"]:
        p = feature["properties"]
        if p["feature_type"] == "segment" and p["service"]:
            routes.setdefault(p["route_id"], []).append(p["segment_id"])
    return (
        Fixes.from_columns(f),
        DeviceEvents.from_columns(e, dict(enumerate(run.event_kinds))),
        [routes[s["route_id"]] for s in shifts],
        np.array([[s["start"], s["end"]] for s in shifts]),
        shifts,
    )


def path_length(clean_run) -> np.ndarray:
    """Distance per shift of the noise-free twin run (same trucks, exact positions every
    second, no dropouts): the sum of great-circle steps between consecutive positions."""
    from fleetpilot.analytics.geo import step_metres

    fixes, _, _, _, _ = by_shift(clean_run)
    step = step_metres(fixes.lon, fixes.lat)
    same = fixes.vehicle[1:] == fixes.vehicle[:-1]
    return np.bincount(fixes.vehicle[:-1][same], step[same], minlength=int(fixes.vehicle.max()) + 1)
