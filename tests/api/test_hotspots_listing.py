"""min_level lists fewer units without changing any score; tested_units counts them all."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.hotspots import Grid

FIELDS = ("passes", "events", "rate_per_1000", "z", "p", "q", "significant", "cluster", "geometry")


def test_min_level_filters_the_listing_not_the_statistics(shared_api):
    api = shared_api
    api.sql("UPDATE privacy_settings SET k_min_shifts = 2, k_min_people = 1")
    shifts = sorted(s for s in api.world.shift_window if s != api.world.live_shift)
    grid = Grid(LocalFrame(13.4, 52.5))
    xs, ys = np.meshgrid(np.arange(-6, 7) * 50.0 + 25, np.arange(-6, 7) * 50.0 + 25)
    cells = grid.cell_of(xs.ravel(), ys.ravel()).tolist()
    rng = np.random.default_rng(4)
    rows = []
    for i, cell in enumerate(cells):
        x, y = xs.ravel()[i], ys.ravel()[i]
        rate = 3.0 if abs(x) < 50 and abs(y) < 50 else 0.5 if x > 150 and y > 150 else 0.2  # hot, warm, ordinary
        for shift in shifts:
            rows.append((cell, api.world.shift_window[shift][0].date(), shift, 20, int(rng.poisson(rate))))
    api.sql("DELETE FROM cell_exposure")
    api.sql_many(
        "INSERT INTO cell_exposure (cell_id, day, shift_id, passes, harsh_brake) VALUES ($1, $2, $3, $4, $5)", rows
    )
    params = {"from": str(api.world.week1 - timedelta(days=1)), "to": str(api.world.week1 + timedelta(weeks=4))}
    listed = {
        level: api.get("/api/v1/hotspots/cells", "data_officer", params={**params, "min_level": level}).json()
        for level in ("all", "elevated", "significant")
    }
    everything = listed["all"]["units"]
    assert len(everything) == listed["all"]["tested_units"] == len(cells)
    assert all(body["tested_units"] == len(cells) for body in listed.values())
    by_id = {u["unit_id"]: u for u in everything}
    significant = [u["unit_id"] for u in everything if u["significant"]]
    elevated = [u["unit_id"] for u in everything if u["significant"] or u["z"] > 0]
    assert 0 < len(significant) < len(elevated) < len(everything)
    assert [u["unit_id"] for u in listed["significant"]["units"]] == significant
    assert [u["unit_id"] for u in listed["elevated"]["units"]] == elevated
    for body in listed.values():
        assert body["min_level"] in ("all", "elevated", "significant")
        assert body["reference_rate_per_1000"] == listed["all"]["reference_rate_per_1000"]
        for u in body["units"]:
            assert {f: u[f] for f in FIELDS} == {f: by_id[u["unit_id"]][f] for f in FIELDS}
    bad = api.get("/api/v1/hotspots/cells", "data_officer", params={**params, "min_level": "some"})
    assert bad.status_code == 422


def test_touching_significant_cells_are_one_place_named_by_its_streets(shared_api):
    """The hot 2 × 2 block is one place at the crossing of the two streets through it, its
    figures the sums of its cells'; no cell without events is in a place; min_level changes no place."""
    api = shared_api
    api.sql("UPDATE privacy_settings SET k_min_shifts = 2, k_min_people = 1")
    shifts = sorted(s for s in api.world.shift_window if s != api.world.live_shift)
    frame = LocalFrame(13.4, 52.5)
    grid = Grid(frame)
    xs, ys = np.meshgrid(np.arange(-6, 7) * 50.0 + 25, np.arange(-6, 7) * 50.0 + 25)
    cells = grid.cell_of(xs.ravel(), ys.ravel()).tolist()
    rows = []
    for i, cell in enumerate(cells):
        hot = abs(xs.ravel()[i]) < 50 and abs(ys.ravel()[i]) < 50
        for n, shift in enumerate(shifts):
            # The hot block: 2 events in 20 passes every shift; elsewhere 1 in 20 every fourth shift.
            rows.append((cell, api.world.shift_window[shift][0].date(), shift, 20, 2 if hot else int(n % 4 == 0)))
    api.sql("DELETE FROM cell_exposure")
    api.sql_many(
        "INSERT INTO cell_exposure (cell_id, day, shift_id, passes, harsh_brake) VALUES ($1, $2, $3, $4, $5)", rows
    )
    lon, lat = frame.to_lonlat(np.array([-300.0, 300.0, 0.0, 0.0]), np.array([0.0, 0.0, -300.0, 0.0]))
    ends = [[float(x), float(y)] for x, y in zip(lon, lat)]
    streets = [("t-madison", "Madison Terrace", ends[:2]), ("t-austin", "Austin Court", ends[2:])]  # ends at Madison
    api.sql_many(
        "INSERT INTO street_segments (segment_id, name, road_class, speed_limit_kmh, geometry) "
        "VALUES ($1, $2, 'residential', 30, jsonb_build_object('type', 'LineString', 'coordinates', $3::jsonb))",
        [(sid, name, json.dumps(coords)) for sid, name, coords in streets],
    )
    api.sql("INSERT INTO fleetpilot_meta (key, value) VALUES ('analytics_frame', '13.4,52.5')")  # the grid's frame
    try:
        params = {"from": str(api.world.week1 - timedelta(days=1)), "to": str(api.world.week1 + timedelta(weeks=4))}
        bodies = {
            level: api.get("/api/v1/hotspots/cells", "data_officer", params={**params, "min_level": level}).json()
            for level in ("all", "significant")
        }
        body = bodies["all"]
        assert bodies["significant"]["places"] == body["places"]
        hot_ids = {str(c) for i, c in enumerate(cells) if abs(xs.ravel()[i]) < 50 and abs(ys.ravel()[i]) < 50}
        assert len(body["places"]) == 1
        place = body["places"][0]
        assert place["name"] == "Madison Terrace at Austin Court"
        assert set(place["units"]) == hot_ids and place["place_id"] == f"cell:{min(hot_ids)}"
        units = {u["unit_id"]: u for u in body["units"]}
        assert place["events"] == sum(units[c]["events"] for c in hot_ids) == 4 * 2 * len(shifts)
        assert place["passes"] == sum(units[c]["passes"] for c in hot_ids)
        fleet = body["reference_rate_per_1000"]
        assert place["fleet_rate_per_1000"] == pytest.approx(fleet)
        assert place["rate_per_1000"] == pytest.approx(1000 * place["events"] / place["passes"])
        assert place["ratio"] == pytest.approx(place["rate_per_1000"] / fleet)
        assert place["rate_low_per_1000"] < place["rate_per_1000"] < place["rate_high_per_1000"]
        assert place["ratio_low"] > 1  # even the low end is above the fleet's rate
        assert place["significance"].startswith(f"{place['events']:,} hard brakes where the fleet's rate predicts")
        assert place["geometry"]["type"] == "Polygon"  # four squares, one outline
        in_place = {u["unit_id"] for u in body["units"] if u["place_id"]}
        assert in_place == hot_ids
        # Gi* flags neighbourhoods: the significant cells around the block, at ordinary rates, are in no place.
        assert any(u["significant"] and not u["place_id"] for u in body["units"])
    finally:
        api.sql("DELETE FROM street_segments WHERE segment_id LIKE 't-%'")
        api.sql("DELETE FROM fleetpilot_meta WHERE key = 'analytics_frame'")


def test_a_repeated_answer_follows_every_change_of_its_data(shared_api):
    """Answers are reused while nothing changed; new exposure, crews or k show at once."""
    api = shared_api
    api.sql("UPDATE privacy_settings SET k_min_shifts = 2, k_min_people = 1")
    shifts = sorted(s for s in api.world.shift_window if s != api.world.live_shift)
    api.sql("DELETE FROM cell_exposure")
    api.sql_many(
        "INSERT INTO cell_exposure (cell_id, day, shift_id, passes, harsh_brake) VALUES (7, $1, $2, 40, 1)",
        [(api.world.shift_window[s][0].date(), s) for s in shifts],
    )
    params = {
        "from": str(api.world.week1 - timedelta(days=1)),
        "to": str(api.world.week1 + timedelta(weeks=4)),
        "min_passes": 1,
    }

    def cell7():
        body = api.get("/api/v1/hotspots/cells", "data_officer", params=params).json()
        return {u["unit_id"]: u["events"] for u in body["units"]}.get("7"), body["suppressed_units"]

    assert cell7() == cell7() == (len(shifts), 0)
    api.sql("UPDATE cell_exposure SET harsh_brake = 3 WHERE shift_id = $1", shifts[0])
    assert cell7() == (len(shifts) + 2, 0)
    api.sql("UPDATE privacy_settings SET k_min_shifts = $1", len(shifts) + 1)
    assert cell7() == (None, 1)
    api.sql("UPDATE privacy_settings SET k_min_shifts = 2, k_min_people = 2")
    people = len(
        {r["person_id"] for r in api.sql("SELECT person_id FROM shift_crew WHERE shift_id = ANY($1::text[])", shifts)}
    )
    # Week 2 (one person) is a hidden (cell, week): its shifts leave every figure.
    week2 = [
        s
        for s in shifts
        if api.world.shift_window[s][0].date() - api.world.week1 >= timedelta(weeks=1)
        and api.world.shift_window[s][0].date() - api.world.week1 < timedelta(weeks=2)
    ]
    assert people >= 2 and len(week2) == 6 and cell7() == (len(shifts) + 2 - len(week2), 0)
    api.sql("DELETE FROM shift_crew WHERE shift_id = ANY($1::text[])", shifts)
    assert cell7() == (None, 1)
