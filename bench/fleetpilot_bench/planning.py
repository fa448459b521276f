"""`fleetpilot bench planning`: re-sequencing a route's service streets, today's heuristic against
Google OR-Tools on the same instances, printed as JSON.

Instances are the simulator's routes (fleetsim: the demo city, seed 1, 10 routes; or a real
street network with --streets GEOJSON). A route's tasks are its service street passes (one-way
streets forwards only); deadhead runs on the shortest street path respecting one-way streets,
from the depot's gate back to it (fleetpilot.analytics.whatif.arcroute). Per route: deadhead km
and total time of the simulator's own plan (the "paper" walk), of the heuristic, of OR-Tools
after --solver-seconds from scratch and from the plan (warm start), each one's solve time and gap to the best either finds given
--best-seconds, and when OR-Tools first came within 2 % of that best. ``plans_page``: the plans page's "Improve
sequence" as the API runs it (api/route_plans/edit.py → analytics.whatif.plan_edit.sequence):
the street graph from the city layer, each planned service segment one task (a run of segments
may be split), the node nearest the depot's centroid as start and end, OR-Tools from the plan for
--solver-seconds; its deadhead is modelled on that instance, so it is compared with the route's own
plan on the same instance, not with the gap above.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

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


def plans_page(city: City, plans: list[RoutePlan], seconds: float) -> dict[str, dict]:
    """Per route: the plans page's proposal against the route's plan (see the module doc)."""
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
    depot = next(f for f in layer["features"] if f["properties"].get("facility_type") == "depot")
    ring = np.asarray(depot["geometry"]["coordinates"][0])
    x, y = frame.to_xy(np.array([ring[:, 0].mean()]), np.array([ring[:, 1].mean()]))
    start = net.nearest_node(float(x[0]), float(y[0]))
    station = next((f for f in layer["features"] if f["properties"].get("facility_type") == "transfer_station"), depot)
    ring = np.asarray(station["geometry"]["coordinates"][0])
    x, y = frame.to_xy(np.array([ring[:, 0].mean()]), np.array([ring[:, 1].mean()]))
    facility = net.nearest_node(float(x[0]), float(y[0]))
    index = net.index()
    planned: dict[str, list[tuple[int, str]]] = {}
    for f in routes["features"]:
        p = f["properties"]
        if p["feature_type"] == "segment" and p.get("service", True):
            planned.setdefault(p["route_id"], []).append((p["seq"], p["segment_id"]))
    out = {}
    for route_id, segments in planned.items():
        ids = np.array([index[s] for _, s in sorted(segments)], dtype=np.int64)
        began, began_cpu = time.perf_counter(), time.thread_time()
        inst, planned_seq, seq = plan_edit.proposal(net, ids, start, seconds, TurnRules())
        solve_s, solve_cpu_s = time.perf_counter() - began, time.thread_time() - began_cpu
        before, after = deadhead_of(inst.arc, planned_seq), deadhead_of(inst.arc, seq)  # metres + turn penalties
        trips_before = plan_edit.facility_trips(net, inst, planned_seq, facility)
        trips_after = plan_edit.facility_trips(net, inst, seq, facility)
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
    return out


def _figures(inst: ArcInstance, deadhead_m: float, best_m: float) -> dict:
    hours = inst.service_m.sum() / 1000 / SERVICE_KMH + deadhead_m / 1000 / DEADHEAD_KMH
    return {
        "deadhead_km": round(deadhead_m / 1000, 3),
        "total_h": round(hours, 3),
        "gap_pct": round(100 * (deadhead_m - best_m) / best_m, 2) if best_m > 0 else 0.0,
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetpilot bench planning", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--routes", type=int, default=10, help="routes of the city (the demo has 10)")
    parser.add_argument("--streets", help="a real street network (GeoJSON from import-streets) instead of the grid")
    parser.add_argument("--solver-seconds", type=float, default=5.0, help="OR-Tools' time for a proposal")
    parser.add_argument("--best-seconds", type=float, default=60.0, help="each sequencer's time for the best known")
    parser.add_argument("--first", type=int, help="only the first N routes (the city is still --routes districts)")
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
    plans = build_plans(city, args.routes)
    graph = length_graph(city)
    page = plans_page(city, plans[: args.first], args.solver_seconds)
    out = []
    for plan in plans[: args.first]:
        inst, planned = instance(city, plan, graph)
        if inst.n_tasks < 2:
            continue
        paper_m = deadhead_of(inst, planned)
        began = time.perf_counter()
        tour = sequence_tour(inst)
        tour_s = time.perf_counter() - began
        quick_s = 0.0
        if not args.no_scratch:
            began = time.perf_counter()
            quick = sequence_ortools(inst, args.solver_seconds)
            quick_s = time.perf_counter() - began
        # Warm start: OR-Tools improving the plan the route has now (the product always has one).
        began = time.perf_counter()
        warm = sequence_ortools(inst, args.solver_seconds, initial=planned)
        warm_s = time.perf_counter() - began
        # The plans page's sequencer (decision 0020): arc local search from the plan, CPU-timed.
        began, began_cpu = time.perf_counter(), time.thread_time()
        local = sequence_local(inst, args.solver_seconds, initial=planned)
        local_s, local_cpu = time.perf_counter() - began, time.thread_time() - began_cpu
        long = sequence_ortools(inst, args.best_seconds)
        local_long = sequence_local(inst, args.best_seconds, seed=1)
        tour_m, long_m = deadhead_of(inst, tour), deadhead_of(inst, long.seq)
        quick_m = long_m if args.no_scratch else deadhead_of(inst, quick.seq)
        warm_m, local_m = deadhead_of(inst, warm.seq), deadhead_of(inst, local.seq)
        local_long_m = deadhead_of(inst, local_long.seq)
        best = min(tour_m, quick_m, long_m, warm_m, local_m, local_long_m)
        within = [t for t, v in long.improvements if v <= best * (1 + TARGET_GAP)]
        local_within = [t for t, v in local.improvements if v <= best * (1 + TARGET_GAP)]
        out.append(
            {
                "route": plan.route_id,
                "tasks": inst.n_tasks,
                "options": len(inst.task),
                "service_km": round(inst.service_m.sum() / 1000, 3),
                "best_deadhead_km": round(best / 1000, 3),
                "paper_plan": _figures(inst, paper_m, best),
                "heuristic": {**_figures(inst, tour_m, best), "solve_s": round(tour_s, 3)},
                "ortools": None if args.no_scratch else {**_figures(inst, quick_m, best), "solve_s": round(quick_s, 3)},
                "ortools_from_plan": {**_figures(inst, warm_m, best), "solve_s": round(warm_s, 3)},
                "arc_search": {
                    **_figures(inst, local_m, best),
                    "solve_s": round(local_s, 3),
                    "solve_cpu_s": round(local_cpu, 3),
                    "within_2pct_s": round(local_within[0], 3) if local_within else None,
                },
                "ortools_best": _figures(inst, long_m, best),
                "arc_search_best": _figures(inst, local_long_m, best),
                "ortools_first_solution_s": round(long.improvements[0][0], 3) if long.improvements else None,
                "ortools_within_2pct_s": round(within[0], 3) if within else None,
                "plans_page": page.get(plan.route_id),
            }
        )
    names = ["paper_plan", "heuristic", "ortools_from_plan", "arc_search", "ortools_best", "arc_search_best"]
    gaps = {k: [r[k]["gap_pct"] for r in out] for k in names + ([] if args.no_scratch else ["ortools"])}
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
                    "deadhead": "shortest street path, one-way streets forwards only, depot gate to depot gate",
                    "not_modelled": "turn costs and restrictions in the bench's own instance (the plans page's "
                    "is turn-aware: turn_cost_km = metres + turn penalties, analytics.whatif.turns)",
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
