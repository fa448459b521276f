"""`fleetpilot bench analytics`: the analytics over a simulated fleet-day, per stage, as JSON.

    python -m fleetpilot_bench.analytics [--vehicles 200 --hours 10 --seed 1 --repeat 3] [--device-profile phone]

A fleet-day (default 200 trucks × 10 h at 1 Hz, ~7 M fixes) is generated in memory with
fleetsim (not timed), then every stage runs over the whole day at once. Each stage reports
CPU seconds (process time: what it costs on one core, robust to other processes sharing
the machine), wall seconds and fixes per CPU second; with ``--repeat`` the best run of
each stage is kept. Peak memory is measured in a separate traced run (tracemalloc slows
allocation down, so it never overlaps the timed runs) and as the process's peak RSS.
Hotspots over a month: per-cell exposure of 30 days (the fleet-day's passes with Poisson
day-to-day variation, as the rollup's cell_exposure rows summed per cell and day) and a
month of events drawn at the city-wide rate per pass, except around the simulator's
dangerous intersections (the rate observed there that day), then Gi*, FDR and clusters.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tracemalloc

import numpy as np

from fleetpilot.analytics.columns import DeviceEvents, Fixes
from fleetpilot.analytics.hotspots import HotspotParams, events_per_cell, hotspots
from fleetpilot.analytics.pipeline import City, analyse, cell_events
from fleetpilot.event_kinds import HARSH

STAGES = ("segmentation", "stops", "coverage", "activity", "safety", "record", "exposure")
HOTSPOT_KINDS = HARSH


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fleetpilot bench analytics", description=__doc__.splitlines()[0])
    parser.add_argument("--vehicles", type=int, default=200)
    parser.add_argument("--hours", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best of each stage is reported")
    parser.add_argument("--days", type=int, default=30, help="days in the hotspot month")
    parser.add_argument(
        "--device-profile",
        default="v1",
        choices=("v1", "tracker", "phone"),
        help="the units reporting the fleet-day (fleetsim --device-profile): v1, tracker or phone",
    )
    args = parser.parse_args(argv)
    print(json.dumps(run(args.vehicles, args.hours, args.seed, args.repeat, args.days, args.device_profile), indent=2))
    return 0


def run(vehicles: int, hours: float, seed: int, repeat: int, days: int, device_profile: str = "v1") -> dict:
    from fleetsim.offline import generate_fleet

    clock = time.perf_counter()
    sim = generate_fleet(
        n_vehicles=vehicles, days=1, seed=seed, hours=hours, start="2026-11-20T06:00:00Z", device=device_profile
    )
    generate_s = time.perf_counter() - clock
    planned, windows = _plans(sim)

    cpu, wall = time.process_time(), time.perf_counter()
    city = City.from_geojson(sim.city_geojson)
    city_cost = (time.process_time() - cpu, time.perf_counter() - wall)

    best: dict[str, list[float]] = {}
    for _ in range(max(repeat, 1)):
        stages, analysis = _timed_day(sim, city, planned, windows)
        for name, (c, w) in stages.items():
            old = best.get(name)
            best[name] = [min(old[0], c), min(old[1], w)] if old else [c, w]
    n = len(sim.fixes["t"])
    month = _month_hotspots(city, analysis, sim.truth["dangerous_intersections"], days, seed)

    tracemalloc.start()
    _timed_day(sim, city, planned, windows)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    total_cpu = sum(c for c, _ in best.values())
    total_wall = sum(w for _, w in best.values())
    return {
        "benchmark": "analytics",
        "fleet_day": {
            "vehicles": vehicles,
            "hours": hours,
            "rate_hz": 1.0,
            "seed": seed,
            "device_profile": device_profile,
            "fixes": n,
            "device_events": int(len(sim.events["t"])),
            "generate_s": round(generate_s, 2),
        },
        "repeat": repeat,
        "stages": {
            name: {
                "cpu_s": round(c, 3),
                "wall_s": round(w, 3),
                "fixes_per_s": round(n / c) if c > 0 else None,
                "cpu_us_per_fix": round(1e6 * c / n, 3) if n else None,
            }
            for name, (c, w) in best.items()
        },
        "total": {
            "cpu_s": round(total_cpu, 3),
            "wall_s": round(total_wall, 3),
            "fixes_per_s": round(n / total_cpu) if total_cpu > 0 else None,
            "cpu_us_per_fix": round(1e6 * total_cpu / n, 3) if n else None,
            "target_s": 5.0,
        },
        "city_index_once": {
            "cpu_s": round(city_cost[0], 3),
            "wall_s": round(city_cost[1], 3),
            "streets": int(len(city.streets.ids)),
        },
        "hotspots_month": month,
        "results": {
            "stops": int(len(analysis.stops)),
            "events": _counts(analysis.events.kind),
            "mean_coverage": round(float(np.mean([c.coverage for c in analysis.coverage if c])), 4),
        },
        "memory": {"traced_peak_mb": round(traced_peak / 2**20, 1), "process_peak_rss_mb": round(_peak_rss_mb(), 1)},
    }


def _timed_day(sim, city: City, planned, windows) -> tuple[dict[str, tuple[float, float]], object]:
    """One pass over the fleet-day: validation, the pipeline stages, and the day's hotspots."""
    cpu, wall = time.process_time(), time.perf_counter()
    fixes = Fixes.from_columns(sim.fixes)
    device = DeviceEvents.from_columns(sim.events, dict(enumerate(sim.event_kinds)))
    load = (time.process_time() - cpu, time.perf_counter() - wall)
    analysis = analyse(fixes, city, planned, windows, device)
    stages = {"validate": load, **analysis.timings}
    cpu, wall = time.process_time(), time.perf_counter()
    _, cell, passes = analysis.cell_passes
    _, ev_cell, ev_count = cell_events(analysis, city, HOTSPOT_KINDS)
    hotspots(
        np.concatenate([cell, ev_cell]),
        np.concatenate([passes, np.zeros(len(ev_cell))]),
        np.concatenate([np.zeros(len(cell)), ev_count]),
    )
    stages["hotspots"] = (time.process_time() - cpu, time.perf_counter() - wall)
    return stages, analysis


def _month_hotspots(city: City, analysis, dangerous: list[dict], days: int, seed: int) -> dict:
    """Time Gi* hotspots over a month of per-cell exposure and events (see module doc)."""
    rng = np.random.default_rng(seed)
    _, cell, passes = analysis.cell_passes
    day_cells, inverse = np.unique(cell, return_inverse=True)
    day_passes = np.bincount(inverse, passes)
    _, ev_cell, ev_count = cell_events(analysis, city, HOTSPOT_KINDS)
    day_events = np.zeros(len(day_cells))
    np.add.at(day_events, np.searchsorted(day_cells, ev_cell), ev_count)
    # Everywhere the city-wide rate, except around the simulator's dangerous intersections,
    # which keep the rate observed there today: the month then has known hotspots.
    overall = day_events.sum() / max(day_passes.sum(), 1)
    rate = np.full(len(day_cells), overall)
    hot = city.grid.cell_of_lonlat(np.array([d["lon"] for d in dangerous]), np.array([d["lat"] for d in dangerous]))
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            near = np.isin(day_cells, hot + (dx << 32) + dy)
            rate[near] = day_events[near] / np.maximum(day_passes[near], 1)
    rows_cell = np.tile(day_cells, days)
    rows_passes = rng.poisson(np.tile(day_passes, days))
    event_counts = rng.poisson(rows_passes * np.tile(rate, days))
    # Events as points: uniformly inside their cell, then located again like real events.
    which = np.repeat(rows_cell, event_counts)
    lon, lat = city.grid.centre(which)
    x, y = city.frame.to_xy(lon, lat)
    x = x + rng.uniform(-0.5, 0.5, len(x)).astype(np.float32) * np.float32(city.grid.cell_m * 0.99)
    y = y + rng.uniform(-0.5, 0.5, len(y)).astype(np.float32) * np.float32(city.grid.cell_m * 0.99)
    lon, lat = city.frame.to_lonlat(x, y)

    cpu, wall = time.process_time(), time.perf_counter()
    _, e_cell, e_count = events_per_cell(city.grid, np.zeros(len(lon), dtype=np.int64), lon, lat)
    result = hotspots(
        np.concatenate([rows_cell, e_cell]),
        np.concatenate([rows_passes, np.zeros(len(e_cell))]),
        np.concatenate([np.zeros(len(rows_cell)), e_count]),
        HotspotParams(),
    )
    clusters = result.clusters(city.grid)
    cost = (time.process_time() - cpu, time.perf_counter() - wall)
    return {
        "days": days,
        "exposure_rows": int(len(rows_cell)),
        "events": int(len(lon)),
        "tested_cells": int(len(result.cell)),
        "hotspots": len(clusters),
        "injected": len(dangerous),
        "cpu_s": round(cost[0], 3),
        "wall_s": round(cost[1], 3),
        "target_s": 1.0,
    }


def _plans(sim) -> tuple[list[list[str]], np.ndarray]:
    """Planned service segments and shift windows per vehicle, in vehicle order."""
    routes: dict[str, list[str]] = {}
    for feature in sim.routes_geojson["features"]:
        p = feature["properties"]
        if p.get("feature_type") == "segment" and p.get("service", True):
            routes.setdefault(p["route_id"], []).append(p["segment_id"])
    order = {vid: i for i, vid in enumerate(sim.vehicle_ids)}
    shifts = sorted(sim.truth["shifts"], key=lambda s: order[s["vehicle_id"]])
    return [routes.get(s["route_id"]) for s in shifts], np.array([[s["start"], s["end"]] for s in shifts])


def _counts(values: np.ndarray) -> dict[str, int]:
    names, counts = np.unique(values, return_counts=True)
    return {str(k): int(v) for k, v in zip(names, counts)}


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


if __name__ == "__main__":
    raise SystemExit(main())
