"""`fleetpilot bench planning`: re-sequencing a route's service streets, today's heuristic against
Google OR-Tools and the arc search on the same instances, printed as JSON.

Instances are the simulator's routes (fleetsim: the demo city, seed 1, 10 routes; or a real
street network with --streets GEOJSON) as the plans page sees them (``turn_case``: the street
graph from the city layer, one task per planned service segment, the node nearest the depot's
centroid as start and end, ``plan_edit.plan_instance`` with the product's ``TurnRules``):
deadhead on shortest paths over street traversals with U-turn and left-turn penalties and
restricted turns left out (analytics.whatif.turns). Every sequencer minimises that cost
(metres + turn penalties; OR-Tools gets it as its arc→arc transition matrix) and the gaps compare
it (``turn_cost_km``); ``deadhead_km`` is the same paths' metres. Per route: figures of the
simulator's own plan (the "paper" walk), of the stop heuristic, of OR-Tools after
--solver-seconds from scratch and from the plan (warm start), of the arc search from the plan,
each one's solve time and gap to the best any finds (OR-Tools and arc search given
--best-seconds each; OR-Tools: wall clock, arc search: CPU of its thread), and when OR-Tools
first came within 2 % of that best. ``plans_page``: the plans page's "Improve sequence" as the
API runs it (analytics.whatif.plan_edit.proposal, --solver-seconds including the instance's
build), with its gap to the same best: the issue's target. ``--turn-free``: the simulator's own
instance instead (service runs as tasks, depot gate to gate, no turn costs), as measured before
turns were modelled; then the plans page's proposal has no gap.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.whatif import plan_edit
from fleetpilot.analytics.whatif.arcroute import ArcInstance, deadhead_of, sequence_ortools, sequence_tour
from fleetpilot.analytics.whatif.arcsearch import sequence_local
from fleetpilot.analytics.whatif.facility_trips import DEFAULT_CAPACITY_KG, DEFAULT_KG_PER_SERVICE_M
from fleetpilot.analytics.whatif.turns import TurnRules
from fleetsim.city import City, build_city, city_geojson
from fleetsim.plans import RoutePlan, build_plans, routes_geojson, service_runs

SERVICE_KMH = 8.0  # collecting: crawl between bins, lifts included
DEADHEAD_KMH = 24.0  # 80 % of a 30 km/h residential limit
TARGET_GAP = 0.02


def length_graph(city: City) -> csr_matrix:
    frm, to, edge = city.arcs
    length = city.edge_length[edge]
    order = np.lexsort((length, to, frm))
    first = np.concatenate([[True], (np.diff(frm[order]) != 0) | (np.diff(to[order]) != 0)])
    keep = order[first]
    return csr_matrix((length[keep], (frm[keep], to[keep])), shape=(city.n_nodes, city.n_nodes))


def instance(city: City, plan: RoutePlan, graph: csr_matrix) -> tuple[ArcInstance, np.ndarray]:
    """The route's instance and the simulator's own walk as a sequence of options."""
    walk, edges = plan.walk, plan.walk_edges
    runs = [(lo, hi) for lo, hi in service_runs(city, edges, plan.walk_service, len(edges)) if hi > lo]
    task: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    service: list[float] = []
    mid: list[list[float]] = []
    planned: list[int] = []
    for t, (lo, hi) in enumerate(runs):
        a, b = walk[lo], walk[hi]
        two_way = not bool(city.edge_one_way[list(edges[lo:hi])].any())
        planned.append(len(task))
        for s, e in [(a, b), (b, a)] if two_way else [(a, b)]:
            task.append(t)
            starts.append(s)
            ends.append(e)
        service.append(float(city.edge_length[list(edges[lo:hi])].sum()))
        nodes = list(walk[lo : hi + 1])
        mid.append([float(city.node_x[nodes].mean()), float(city.node_y[nodes].mean())])
    depot = city.facility_of_type("depot").gate
    starts_a, ends_a = np.array(starts), np.array(ends)
    sources = np.unique(np.concatenate([ends_a, [depot]]))
    d = dijkstra(graph, indices=sources)
    row = {int(n): i for i, n in enumerate(sources)}
    deadhead = d[[row[int(e)] for e in ends_a]][:, starts_a]
    inst = ArcInstance(
        task=np.array(task),
        service_m=np.array(service),
        deadhead_m=deadhead,
        from_start_m=d[row[int(depot)], starts_a],
        to_end_m=d[[row[int(e)] for e in ends_a], depot],
        task_xy=np.array(mid),
        start_xy=np.array([city.node_x[depot], city.node_y[depot]]),
    )
    return inst, np.array(planned, dtype=np.int64)


@dataclass(frozen=True)
class PageStreets:
    """The plans page's street graph built from the city layer, as the API builds it, with the
    node nearest the depot's centroid (start and end) and the transfer station's."""

    net: plan_edit.StreetGraph
    depot: int
    facility: int
    planned: dict[str, np.ndarray]  # per route: its service segments (graph indexes) in plan order


def page_streets(city: City, plans: list[RoutePlan]) -> PageStreets:
    layer, routes = city_geojson(city), routes_geojson(city, plans)
    streets = [
        f
        for f in layer["features"]
        if f["properties"].get("kind", "street") == "street" and f["geometry"]["type"] == "LineString"
    ]
    lines = [f["geometry"]["coordinates"] for f in streets]
    lonlat = np.concatenate([np.asarray(line)[:, :2] for line in lines])
    frame = LocalFrame.around(lonlat[:, 0], lonlat[:, 1])
    net = plan_edit.street_graph(
        [f["properties"]["segment_id"] for f in streets],
        lines,
        [bool(f["properties"].get("one_way")) for f in streets],
        frame,
    )

    def node(feature: dict) -> int:
        ring = np.asarray(feature["geometry"]["coordinates"][0])
        x, y = frame.to_xy(np.array([ring[:, 0].mean()]), np.array([ring[:, 1].mean()]))
        return net.nearest_node(float(x[0]), float(y[0]))

    depot = next(f for f in layer["features"] if f["properties"].get("facility_type") == "depot")
    station = next((f for f in layer["features"] if f["properties"].get("facility_type") == "transfer_station"), depot)
    index = net.index()
    planned: dict[str, list[tuple[int, str]]] = {}
    for f in routes["features"]:
        p = f["properties"]
        if p["feature_type"] == "segment" and p.get("service", True):
            planned.setdefault(p["route_id"], []).append((p["seq"], p["segment_id"]))
    return PageStreets(
        net,
        node(depot),
        node(station),
        {r: np.array([index[s] for _, s in sorted(segs)], dtype=np.int64) for r, segs in planned.items()},
    )


def plans_page(
    page: PageStreets, route_ids: list[str], seconds: float
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Per route: the plans page's proposal against the route's plan (see the module doc), and
    the proposal's sequence of options (of ``turn_case``'s instance, the same one)."""
    net, start, facility = page.net, page.depot, page.facility
    out, seqs = {}, {}
    for route_id in route_ids:
        if route_id not in page.planned:
            continue
        ids = page.planned[route_id]
        began, began_cpu = time.perf_counter(), time.thread_time()
        inst, planned_seq, seq = plan_edit.proposal(net, ids, start, seconds, TurnRules())
        solve_s, solve_cpu_s = time.perf_counter() - began, time.thread_time() - began_cpu
        before, after = deadhead_of(inst.arc, planned_seq), deadhead_of(inst.arc, seq)  # metres + turn penalties
        trips_before = plan_edit.facility_trips(net, inst, planned_seq, facility)
        trips_after = plan_edit.facility_trips(net, inst, seq, facility)
        seqs[route_id] = seq
        out[route_id] = {
            "service_segments": len(ids),
            "deadhead_km_plan": round(inst.metres(planned_seq) / 1000, 3),
            "deadhead_km_proposal": round(inst.metres(seq) / 1000, 3),
            "turn_cost_km_plan": round(before / 1000, 3),
            "turn_cost_km_proposal": round(after / 1000, 3),
            "improvement_pct": round(100 * (before - after) / before, 2) if before > 0 else 0.0,
            "solve_s": round(solve_s, 3),
            "solve_cpu_s": round(solve_cpu_s, 3),
            # Capacity-driven tips at the transfer station (facility_trips' documented defaults).
            "facility_trips_plan": trips_before.count,
            "facility_trips_proposal": trips_after.count,
            "facility_extra_km_proposal": round(trips_after.extra_m / 1000, 3),
        }
    return out, seqs


@dataclass(frozen=True)
class Case:
    """One route as every sequencer sees it: ``cost`` is minimised (turn-aware: metres + turn
    penalties), ``metres`` is the same paths' metres (turn-free: the same instance)."""

    cost: ArcInstance
    metres: ArcInstance
    planned: np.ndarray


def turn_case(page: PageStreets, route_id: str) -> Case:
    """The plans page's turn-aware instance of a route (plan_edit.plan_instance with TurnRules())."""
    inst, planned = plan_edit.plan_instance(page.net, page.planned[route_id], page.depot, TurnRules())
    assert inst.turns is not None
    return Case(inst.arc, inst.turns.metres, planned)


def _figures(case: Case, seq: np.ndarray, best: float) -> dict:
    """Deadhead metres, turn cost (what is minimised) and its gap to the best, total hours."""
    metres, cost = deadhead_of(case.metres, seq), deadhead_of(case.cost, seq)
    hours = case.cost.service_m.sum() / 1000 / SERVICE_KMH + metres / 1000 / DEADHEAD_KMH
    return {
        "deadhead_km": round(metres / 1000, 3),
        "turn_cost_km": round(cost / 1000, 3),
        "total_h": round(hours, 3),
        "gap_pct": round(100 * (cost - best) / best, 2) if best > 0 else 0.0,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetpilot bench planning", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--routes", type=int, default=10, help="routes of the city (the demo has 10)")
    parser.add_argument("--streets", help="a real street network (GeoJSON from import-streets) instead of the grid")
    parser.add_argument("--solver-seconds", type=float, default=5.0, help="OR-Tools' time for a proposal")
    parser.add_argument("--best-seconds", type=float, default=60.0, help="each sequencer's time for the best known")
    parser.add_argument("--first", type=int, help="only the first N routes (the city is still --routes districts)")
    parser.add_argument("--skip", type=int, default=0, help="leave out the first K routes (to run a city in parts)")
    parser.add_argument(
        "--turn-free",
        action="store_true",
        help="the simulator's own instance (service runs as tasks, no turn costs) instead of the plans page's",
    )
    parser.add_argument(
        "--no-scratch",
        action="store_true",
        help="skip OR-Tools' short run from scratch (saves --solver-seconds per route)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.streets:
        from fleetsim.streetnet import build_street_city, load_streets

        city = build_street_city(load_streets(args.streets), args.seed, args.routes)
    else:
        city = build_city(args.seed, args.routes)
    plans = build_plans(city, args.routes)[args.skip :][: args.first]
    graph = length_graph(city)
    page = page_streets(city, plans)
    page_runs, page_seqs = plans_page(page, [p.route_id for p in plans], args.solver_seconds)
    out = []
    for plan in plans:
        if args.turn_free:
            inst, planned = instance(city, plan, graph)
            case = Case(inst, inst, planned)
        elif plan.route_id in page.planned:
            case = turn_case(page, plan.route_id)
        else:
            continue
        inst, planned = case.cost, case.planned
        if inst.n_tasks < 2:
            continue
        began = time.perf_counter()
        tour = sequence_tour(inst)
        tour_s = time.perf_counter() - began
        quick = None
        quick_s = 0.0
        if not args.no_scratch:
            began = time.perf_counter()
            quick = sequence_ortools(inst, args.solver_seconds).seq
            quick_s = time.perf_counter() - began
        # Warm start: OR-Tools improving the plan the route has now (the product always has one).
        began = time.perf_counter()
        warm = sequence_ortools(inst, args.solver_seconds, initial=planned)
        warm_s = time.perf_counter() - began
        # The plans page's sequencer (decision 0020): arc local search from the plan, CPU-timed.
        began, began_cpu = time.perf_counter(), time.thread_time()
        local = sequence_local(inst, args.solver_seconds, initial=planned)
        local_s, local_cpu = time.perf_counter() - began, time.thread_time() - began_cpu
        began, began_cpu = time.perf_counter(), time.process_time()
        long = sequence_ortools(inst, args.best_seconds)
        long_s, long_cpu = time.perf_counter() - began, time.process_time() - began_cpu
        began, began_cpu = time.perf_counter(), time.thread_time()
        local_long = sequence_local(inst, args.best_seconds, seed=1)
        local_long_s, local_long_cpu = time.perf_counter() - began, time.thread_time() - began_cpu
        # The best: the least cost (metres + turn penalties on the turn-aware instance) any found.
        found = [tour, warm.seq, local.seq, long.seq, local_long.seq] + ([] if quick is None else [quick])
        proposal = None if args.turn_free else page_seqs.get(plan.route_id)  # the product's, same instance
        best = min(deadhead_of(inst, s) for s in found + ([] if proposal is None else [proposal]))
        within = [t for t, v in long.improvements if v <= best * (1 + TARGET_GAP)]
        local_within = [t for t, v in local.improvements if v <= best * (1 + TARGET_GAP)]
        out.append(
            {
                "route": plan.route_id,
                "tasks": inst.n_tasks,
                "options": len(inst.task),
                "service_km": round(inst.service_m.sum() / 1000, 3),
                "best_turn_cost_km": round(best / 1000, 3),
                "paper_plan": _figures(case, planned, best),
                "heuristic": {**_figures(case, tour, best), "solve_s": round(tour_s, 3)},
                "ortools": None if quick is None else {**_figures(case, quick, best), "solve_s": round(quick_s, 3)},
                "ortools_from_plan": {**_figures(case, warm.seq, best), "solve_s": round(warm_s, 3)},
                "arc_search": {
                    **_figures(case, local.seq, best),
                    "solve_s": round(local_s, 3),
                    "solve_cpu_s": round(local_cpu, 3),
                    "within_2pct_s": round(local_within[0], 3) if local_within else None,
                },
                "ortools_best": {
                    **_figures(case, long.seq, best),
                    "solve_s": round(long_s, 3),
                    "solve_cpu_s": round(long_cpu, 3),
                },
                "arc_search_best": {
                    **_figures(case, local_long.seq, best),
                    "solve_s": round(local_long_s, 3),
                    "solve_cpu_s": round(local_long_cpu, 3),
                },
                "ortools_first_solution_s": round(long.improvements[0][0], 3) if long.improvements else None,
                "ortools_within_2pct_s": round(within[0], 3) if within else None,
                "plans_page": page_runs.get(plan.route_id)
                if proposal is None
                else {**page_runs[plan.route_id], "gap_pct": _figures(case, proposal, best)["gap_pct"]},
            }
        )
        print(json.dumps(out[-1]), file=sys.stderr, flush=True)  # progress: a long run's routes so far
    names = ["paper_plan", "heuristic", "ortools_from_plan", "arc_search", "ortools_best", "arc_search_best"]
    names += [] if args.no_scratch else ["ortools"]
    names += [] if args.turn_free else ["plans_page"]  # the product's proposal: the target
    gaps = {k: [r[k]["gap_pct"] for r in out] for k in names}
    print(
        json.dumps(
            {
                "benchmark": "planning",
                "city": "streets " + os.path.basename(args.streets) if args.streets else f"grid seed {args.seed}",
                "routes": len(out),
                "solver_seconds": args.solver_seconds,
                "best_seconds": args.best_seconds,
                "assumptions": {
                    "service_kmh": SERVICE_KMH,
                    "deadhead_kmh": DEADHEAD_KMH,
                    "instance": "simulator's service runs, shortest street paths, one-way streets forwards, "
                    "no turn costs (--turn-free)"
                    if args.turn_free
                    else "the plans page's (plan_edit.plan_instance): one task per planned service segment, "
                    "depot node to depot node, shortest paths over street traversals with turn penalties "
                    f"(U-turn {TurnRules().uturn_m:.0f} m, left {TurnRules().left_m:.0f} m; analytics.whatif.turns); "
                    "every sequencer minimises and the gap compares turn_cost_km (metres + penalties)",
                    "facility_trips": f"plans_page only: {DEFAULT_CAPACITY_KG:.0f} kg truck, "
                    f"{DEFAULT_KG_PER_SERVICE_M} kg per service metre, transfer station",
                },
                "summary": {
                    name: {
                        "max_gap_pct": max(g),
                        "mean_gap_pct": round(float(np.mean(g)), 2),
                        "routes_within_2pct": sum(x <= 100 * TARGET_GAP for x in g),
                    }
                    for name, g in gaps.items()
                }
                | {
                    "heuristic_max_solve_s": max(r["heuristic"]["solve_s"] for r in out),
                    "ortools_max_solve_s": None if args.no_scratch else max(r["ortools"]["solve_s"] for r in out),
                    "arc_search_max_solve_s": max(r["arc_search"]["solve_s"] for r in out),
                    "arc_search_max_solve_cpu_s": max(r["arc_search"]["solve_cpu_s"] for r in out),
                    "ortools_from_plan_max_solve_s": max(r["ortools_from_plan"]["solve_s"] for r in out),
                    "plans_page_max_solve_s": max(r["plans_page"]["solve_s"] for r in out if r["plans_page"]),
                    "plans_page_mean_improvement_pct": round(
                        float(np.mean([r["plans_page"]["improvement_pct"] for r in out if r["plans_page"]])), 2
                    ),
                },
                "per_route": out,
                "cpu_count": os.cpu_count(),
                "loadavg": os.getloadavg(),
                "bench_cpu_s": round(time.process_time(), 1),
                "python": platform.python_version(),
            },
            indent=2,
        )
    )
    return 0
