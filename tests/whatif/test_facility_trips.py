"""Capacity-driven facility trips: the truck tips before it would overfill, at the cheapest
feasible point, the route's plan counts the trips, and the prediction follows them."""

from __future__ import annotations

import numpy as np
import pytest

from fleetpilot.analytics.whatif.facility_trips import plan_trips
from fleetpilot.analytics.whatif.plan_edit import (
    Facilities,
    PlanFigures,
    RouteHistory,
    facility_trips,
    plan_instance,
    predict,
    trip_model,
)
from tests.whatif.test_plan_edit import grid, idx


def test_capacity_forces_a_trip_just_before_the_street_that_would_overfill_the_truck():
    # 4 t per street, 10 t truck: the third street would make 12 t, so a trip comes before it
    # at the latest; with the facility equally far from every gap, no earlier.
    trips = plan_trips(np.full(4, 4000.0), 10_000.0, np.full(3, 100.0), np.full(3, 900.0))
    assert trips.before.tolist() == [2]
    assert trips.extra_m == pytest.approx(800.0)
    assert trips.count == 2  # the mid-route trip and the final tip


def test_the_trip_comes_earlier_when_the_facility_is_nearer_there():
    # 3 t per street: the latest trip would be before street 3 (9 t aboard), but the facility is
    # on the way between streets 0 and 1, and 3 | 9 t fits as well.
    via = np.array([300.0, 900.0, 900.0])
    trips = plan_trips(np.full(4, 3000.0), 10_000.0, np.full(3, 100.0), via)
    assert trips.before.tolist() == [1]
    assert trips.extra_m == pytest.approx(200.0)
    latest = plan_trips(np.full(4, 3000.0), 10_000.0, np.full(3, 100.0), np.full(3, 900.0))
    assert latest.before.tolist() == [3]


def test_no_trip_while_the_truck_has_room_and_a_street_heavier_than_the_truck_is_refused():
    trips = plan_trips(np.full(5, 1000.0), 10_000.0, np.zeros(4), np.full(4, 500.0))
    assert trips.before.tolist() == [] and trips.count == 1 and trips.extra_m == 0.0
    with pytest.raises(ValueError, match="capacity"):
        plan_trips(np.array([11_000.0]), 10_000.0, np.zeros(0), np.zeros(0))


def test_every_stretch_between_trips_fits_in_the_truck():
    rng = np.random.default_rng(3)
    load = rng.uniform(500, 3000, 40)
    trips = plan_trips(load, 8000.0, rng.uniform(0, 200, 39), rng.uniform(300, 2000, 39))
    cuts = np.r_[0, trips.before, len(load)]
    assert all(load[a:b].sum() <= 8000.0 for a, b in zip(cuts[:-1], cuts[1:]))
    assert len(trips.before) >= int(np.ceil(load.sum() / 8000.0)) - 1


def test_a_route_on_the_street_graph_tips_when_its_service_metres_fill_the_truck():
    net = grid(5, one_way=frozenset({"h1-1"}))
    plan = idx(net, "h0-0", "h0-1", "h0-2", "h0-3", "v0-4", "h1-3", "h1-2", "h1-1")
    depot = int(net.start[plan[0]])
    inst, seq = plan_instance(net, plan, depot)
    facility = int(net.end[idx(net, "v3-4")[0]])
    lengths = net.length_m[plan]
    capacity = float(lengths[:4].sum()) * 1.0 + 1.0  # 1 kg per metre: four streets fill it
    trips = facility_trips(net, inst, seq, facility, capacity_kg=capacity, kg_per_service_m=1.0)
    assert trips.count >= 2 and 1 <= trips.before[0] <= 4
    roomy = facility_trips(net, inst, seq, facility, capacity_kg=1e9, kg_per_service_m=1.0)
    assert roomy.count == 1 and roomy.extra_m == 0.0


def _history(trips: np.ndarray) -> RouteHistory:
    n = len(trips)
    return RouteHistory(
        shift_s=np.full(n, 7.5 * 3600),
        distance_m=np.full(n, 60_000.0),
        deadhead_m=np.full(n, 9000.0),
        deadhead_s=np.full(n, 1800.0),
        collection_s=np.full(n, 4 * 3600.0),
        facility_s=trips * 1200.0,  # 20 min at the facility per trip
        trips=trips.astype(np.float64),
    )


def _figures(net, plan, depot, facilities) -> PlanFigures:
    inst, seq = plan_instance(net, plan, depot)
    model = trip_model(net, inst, seq, facilities)
    return PlanFigures(float(net.length_m[plan].sum()), inst.metres(seq), 0, len(plan), trips=model)


def test_a_block_that_pushes_a_route_over_the_trucks_capacity_adds_a_trip_and_removing_it_takes_one_away():
    net = grid(6)
    route = idx(net, *(f"h{r}-{c}" for r in (0, 1) for c in range(5)))  # 10 streets of ~136 m
    block = idx(net, "h2-0", "h2-1", "h2-2", "h2-3")
    depot = int(net.start[route[0]])
    facilities = Facilities.of(net, [int(net.end[idx(net, "v4-5")[0]])], depot)  # the far corner
    # Two trips a shift today (the final tip among them): 1.5 loads over the 10 streets, so six
    # streets fill the truck; 14 need a third trip, 6 only the final tip.
    h = _history(np.full(20, 2))
    today = _figures(net, route, depot, facilities)
    more = _figures(net, np.r_[route, block], depot, facilities)
    fewer = _figures(net, route[:6], depot, facilities)
    now, up, down = predict(h, today, today), predict(h, today, more), predict(h, today, fewer)
    assert now["facility_trips"]["value"] == pytest.approx(2.0)
    assert up["facility_trips"]["value"] == pytest.approx(3.0)
    assert down["facility_trips"]["value"] == pytest.approx(1.0)
    # The added trip's time: 20 min at the facility and its detour (there and back from the route).
    assert up["facility_h"]["value"] - now["facility_h"]["value"] > 1200 / 3600
    assert down["facility_h"]["value"] < now["facility_h"]["value"]
    assert up["deadhead_km"]["value"] > now["deadhead_km"]["value"] + (more.deadhead_m - today.deadhead_m) / 1000
    # The same block without the capacity boundary (a roomier truck's history: one trip a shift)
    # adds no trip and only its service time.
    roomy = _history(np.full(20, 1))
    assert predict(roomy, today, more)["facility_trips"]["value"] == pytest.approx(1.0)


def test_the_trips_interval_follows_the_shifts_loads():
    net = grid(6)
    route = idx(net, *(f"h{r}-{c}" for r in (0, 1) for c in range(5)))
    block = idx(net, "h2-0", "h2-1", "h2-2", "h2-3")
    depot = int(net.start[route[0]])
    facilities = Facilities.of(net, [int(net.end[idx(net, "v4-5")[0]])], depot)
    # Half the shifts tipped once, half twice: the block adds a trip to the heavier ones only.
    h = _history(np.r_[np.full(10, 1), np.full(10, 2)])
    today = _figures(net, route, depot, facilities)
    more = _figures(net, np.r_[route, block], depot, facilities)
    out = predict(h, today, more)["facility_trips"]
    assert out["value"] == pytest.approx(2.0)  # (1 + 3) / 2
    assert out["lo"] < out["value"] < out["hi"]


def test_without_a_facility_trips_still_follow_capacity_but_add_no_detour():
    net = grid(6)
    route = idx(net, *(f"h{r}-{c}" for r in (0, 1) for c in range(5)))
    depot = int(net.start[route[0]])
    none = Facilities.of(net, [], depot)
    inst, seq = plan_instance(net, route, depot)
    model = trip_model(net, inst, seq, none)
    count, extra = model.at(1.5 * 10_000 / net.length_m[route].sum())
    assert count == 2 and extra == 0.0
