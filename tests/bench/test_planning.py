"""`fleetpilot bench planning` on one route of the demo city: the figures it prints are
consistent (the best is the best of all, gaps against it, on the plans page's turn-aware
instance, so OR-Tools and arc search minimise the same cost) and the simulator's instance keeps
one-way streets forwards."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np

from fleetpilot_bench.planning import instance, length_graph, main
from fleetsim.city import build_city
from fleetsim.plans import build_plans


def test_one_route_prints_deadhead_time_and_gaps():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["--routes", "1", "--solver-seconds", "0.5", "--best-seconds", "1"]) == 0
    doc = json.loads(out.getvalue())
    (route,) = doc["per_route"]
    assert route["tasks"] > 100  # the demo's district: 144 service streets
    best = route["best_turn_cost_km"]
    for name in ("paper_plan", "heuristic", "ortools", "ortools_from_plan", "arc_search", "ortools_best", "plans_page"):
        fig = route[name]
        cost = fig["turn_cost_km"] if name != "plans_page" else fig["turn_cost_km_proposal"]
        # (figures rounded to the metre: the recomputed gap may differ by that much, relative)
        assert abs(fig["gap_pct"] - 100 * (cost - best) / best) < 0.1 * (1 + fig["gap_pct"] / 100)
        assert cost >= best
        if name != "plans_page":
            # turn penalties are never negative: the cost is at least the metres driven
            assert fig["turn_cost_km"] >= fig["deadhead_km"]
            assert fig["total_h"] > route["service_km"] / 8.0  # service time alone, at 8 km/h
    # The best is what one of them found.
    assert min(route[n]["turn_cost_km"] for n in ("heuristic", "ortools", "ortools_from_plan", "arc_search")) >= best
    assert route["heuristic"]["gap_pct"] >= 0 and route["ortools"]["gap_pct"] >= 0
    # Started from the plan, the solver only keeps improvements: never worse than the plan.
    assert route["ortools_from_plan"]["turn_cost_km"] <= route["paper_plan"]["turn_cost_km"]
    # The plans page's proposal (its own instance: one task per planned segment) is never worse than the plan.
    page = route["plans_page"]
    assert page["service_segments"] >= route["tasks"]
    assert page["turn_cost_km_proposal"] <= page["turn_cost_km_plan"] and page["improvement_pct"] >= 0
    assert page["facility_trips_proposal"] >= 1  # at least the final tip
    # The plans page's sequencer (arc search) beats OR-Tools from the same plan on the demo route.
    assert route["arc_search"]["turn_cost_km"] <= route["ortools_from_plan"]["turn_cost_km"]
    # One instance: the bench's plan is the plans page's plan, metres and turn cost alike.
    assert route["paper_plan"]["deadhead_km"] == page["deadhead_km_plan"]
    assert route["paper_plan"]["turn_cost_km"] == page["turn_cost_km_plan"]


def test_the_turn_free_instance_is_still_there_for_comparison():
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert (
            main(["--routes", "1", "--turn-free", "--no-scratch", "--solver-seconds", "0.3", "--best-seconds", "0.5"])
            == 0
        )
    (route,) = json.loads(out.getvalue())["per_route"]
    assert route["paper_plan"]["turn_cost_km"] == route["paper_plan"]["deadhead_km"]  # no penalties
    assert "gap_pct" not in route["plans_page"]  # another instance: no gap to this best


def test_one_way_streets_have_their_forward_direction_only():
    city = build_city(1, 1)
    (plan,) = build_plans(city, 1)
    inst, planned = instance(city, plan, length_graph(city))
    one_way_tasks = 0
    for t, (lo, _hi) in enumerate(
        [(i, i + 1) for i, s in enumerate(plan.walk_service) if s]  # one edge per street on the grid
    ):
        edge = plan.walk_edges[lo]
        n_options = int((inst.task == t).sum())
        if city.edge_one_way[edge]:
            one_way_tasks += 1
            assert n_options == 1
        else:
            assert n_options == 2
    assert one_way_tasks > 0
    assert sorted(inst.task[planned].tolist()) == list(range(inst.n_tasks))
    assert np.isfinite(inst.deadhead_m).all()  # the district is reachable both ways from every street
