"""The synthetic city with a real city's irregularity (fleetsim --city-style irregular, issue 14):
moved junctions, missing, curved and dead-end streets, built as an imported network is. The
analytics meet the synthetic grid's targets on it (tests/analytics/test_groundtruth.py), so they
do not lean on grid geometry. (The grid stays the default city of the other tests: they were
written on it, and its output is unchanged.)"""

from __future__ import annotations

import json

import numpy as np
from accuracy import by_shift, path_length, stop_counts

from fleetpilot.analytics.pipeline import City, analyse
from fleetsim.irregular import irregular_streets
from fleetsim.offline import generate_fleet
from fleetsim.streetnet import build_street_city


def test_the_irregular_city_has_curved_and_dead_end_streets_and_uneven_blocks():
    streets = irregular_streets(7, 6)
    assert json.dumps(streets) == json.dumps(irregular_streets(7, 6))  # a seed names a city
    city = build_street_city(streets, 7, 6)
    curved = sum(len(f["geometry"]["coordinates"]) > 2 for f in streets)
    assert curved > 0.2 * len(streets)
    ends = np.concatenate([city.edge_u, city.edge_v])
    degree = np.bincount(ends, minlength=city.n_nodes)
    spurs = {f.spur for f in city.facilities.values()}
    dead_ends = [n for n in np.flatnonzero(degree == 1).tolist() if n not in spurs]
    assert len(dead_ends) > 20
    # Junction spacing along residential streets varies well beyond the grid's 80–150 m.
    straight = [
        f for f in streets if f["properties"]["road_class"] == "residential" and len(f["geometry"]["coordinates"]) == 2
    ]
    lengths = [city.projection.to_xy(*np.array(f["geometry"]["coordinates"]).T) for f in straight]
    metres = np.array([np.hypot(np.diff(x), np.diff(y)).sum() for x, y in lengths])
    assert metres.min() < 60 and metres.max() > 150


def test_stops_coverage_and_distance_meet_the_grids_targets_on_the_irregular_city():
    options = {"n_vehicles": 6, "days": 1, "seed": 7, "start": "2026-11-20T06:00:00Z", "city_style": "irregular"}
    run = generate_fleet(**options)
    fixes, device, planned, windows, truth = by_shift(run)
    analysis = analyse(fixes, City.from_geojson(run.city_geojson), planned, windows, device)
    hits, found, true_stops = stop_counts(analysis.stops, truth)
    coverage_error = [
        abs(analysis.coverage[k].coverage - (1 - len(s["skipped_segments"]) / len(planned[k])))
        for k, s in enumerate(truth)
    ]
    true_m = path_length(generate_fleet(noise=False, **options))
    measured = analysis.track.per_track_sum(analysis.track.travelled_m)
    distance_error = np.abs(measured - true_m) / true_m
    print(
        "\nirregular city:",
        json.dumps(
            {
                "true_stops": true_stops,
                "stop_recall": round(hits / true_stops, 4),
                "stop_precision": round(hits / found, 4),
                "skipped_segments": sum(len(s["skipped_segments"]) for s in truth),
                "turn_rounds": sum(len(s["reversing"]) for s in truth),
                "coverage_error_max_points": round(100 * max(coverage_error), 2),
                "distance_error_max_pct": round(100 * float(distance_error.max()), 3),
            }
        ),
    )
    assert true_stops > 1000
    assert hits / true_stops >= 0.95 and hits / found >= 0.95
    assert sum(len(s["skipped_segments"]) for s in truth) > 0
    assert max(coverage_error) <= 0.02, coverage_error
    assert distance_error.max() <= 0.01, distance_error
