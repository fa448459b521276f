"""Sequencing a route's service streets: one-way aware arc routing from a start to an end node.

An instance is a route's *tasks* (service street passes), each with one or two *options*: the
direction it may be driven in (a one-way street only forwards, a two-way street either way; the
crew collects both kerbs in one pass). Between options the truck drives without service
(deadhead) along the shortest street path respecting one-way streets, given as a matrix. The
cost of a sequence is its deadhead metres: start → first option, between options, last → end;
service metres are the same for every sequence.

Two sequencers, compared by `fleetpilot bench planning` (docs/decisions, "planning solver"):

- ``sequence_tour``: the what-if engine's stop heuristic (``tour.optimise``: nearest neighbour +
  turn-aware 2-opt + Or-opt over straight lines between the streets' midpoints), then each
  street's direction chosen optimally for that order (``best_directions``);
- ``sequence_ortools``: Google OR-Tools' routing solver on the deadhead matrix itself, one
  option per task (a disjunction), guided local search for a stated time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from fleetpilot.analytics.whatif.tour import optimise

UNREACHABLE_M = 1e8  # stands for "no street path" in the integer solver; never chosen if avoidable


@dataclass(frozen=True)
class ArcInstance:
    """Options of a route's tasks and the deadhead metres between them (see the module doc)."""

    task: np.ndarray  # per option: its task index (0..n_tasks-1)
    service_m: np.ndarray  # per task: metres driven while collecting
    deadhead_m: np.ndarray  # (options, options): end of option i → start of option j
    from_start_m: np.ndarray  # per option: start node → its start
    to_end_m: np.ndarray  # per option: its end → end node
    task_xy: np.ndarray  # per task: midpoint (metres), what the stop heuristic sees
    start_xy: np.ndarray  # (2,)

    @property
    def n_tasks(self) -> int:
        return len(self.service_m)


def deadhead_of(inst: ArcInstance, seq: np.ndarray) -> float:
    """Deadhead metres of a sequence of options (one per task, in driving order)."""
    seq = np.asarray(seq, dtype=np.int64)
    if not len(seq):
        return 0.0
    inner = inst.deadhead_m[seq[:-1], seq[1:]].sum() if len(seq) > 1 else 0.0
    return float(inst.from_start_m[seq[0]] + inner + inst.to_end_m[seq[-1]])


def best_directions(inst: ArcInstance, task_order: np.ndarray) -> np.ndarray:
    """The option of each task, in ``task_order``, that minimises deadhead (dynamic programme)."""
    options = [np.flatnonzero(inst.task == t) for t in task_order]
    cost = inst.from_start_m[options[0]].astype(float)
    back: list[np.ndarray] = []
    for prev, here in zip(options[:-1], options[1:]):
        step = cost[:, None] + inst.deadhead_m[np.ix_(prev, here)]
        back.append(np.argmin(step, axis=0))
        cost = step.min(axis=0)
    k = int(np.argmin(cost + inst.to_end_m[options[-1]]))
    picked = [k]
    for b in reversed(back):
        picked.append(int(b[picked[-1]]))
    picked.reverse()
    return np.array([opts[i] for opts, i in zip(options, picked)], dtype=np.int64)


def sequence_tour(inst: ArcInstance) -> np.ndarray:
    """Today's heuristic: stop tour over the streets' midpoints from the start, best directions."""
    xy = np.vstack([inst.start_xy[None, :], inst.task_xy])
    order = optimise(xy, 0)
    return best_directions(inst, order[1:] - 1)


@dataclass(frozen=True)
class SolverRun:
    seq: np.ndarray  # best options found, in driving order
    improvements: list[tuple[float, float]]  # (seconds since start, deadhead metres) per better solution


def sequence_ortools(inst: ArcInstance, seconds: float, initial: np.ndarray | None = None) -> SolverRun:
    """OR-Tools routing over the deadhead matrix for ``seconds`` (guided local search)."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = len(inst.task)
    # Nodes: 0 start, 1 end, 2.. options. Integer metres.
    m = np.zeros((n + 2, n + 2))
    m[0, 2:] = inst.from_start_m
    m[2:, 1] = inst.to_end_m
    m[2:, 2:] = inst.deadhead_m
    m[0, 1] = UNREACHABLE_M  # a route serves its streets
    m = np.minimum(np.nan_to_num(m, posinf=UNREACHABLE_M), UNREACHABLE_M).round().astype(np.int64)
    manager = pywrapcp.RoutingIndexManager(n + 2, 1, [0], [1])
    routing = pywrapcp.RoutingModel(manager)
    cb = routing.RegisterTransitMatrix(m.tolist())
    routing.SetArcCostEvaluatorOfAllVehicles(cb)
    for t in range(inst.n_tasks):
        opts = np.flatnonzero(inst.task == t)
        if len(opts) > 1:  # exactly one direction (no penalty: the task may not be dropped)
            routing.AddDisjunction([manager.NodeToIndex(int(o) + 2) for o in opts])
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(seconds * 1000))
    improvements: list[tuple[float, float]] = []
    began = time.perf_counter()

    def record() -> None:
        improvements.append((time.perf_counter() - began, float(routing.CostVar().Value())))

    routing.AddAtSolutionCallback(record)
    if initial is not None:
        routing.CloseModelWithParameters(params)
        start = routing.ReadAssignmentFromRoutes([[manager.NodeToIndex(int(o) + 2) for o in initial]], True)
        if start is None:
            raise ValueError("the initial sequence is not a valid route")
        solution = routing.SolveFromAssignmentWithParameters(start, params)
    else:
        solution = routing.SolveWithParameters(params)
    if solution is None:
        raise ValueError("OR-Tools found no sequence")
    seq = []
    index = routing.Start(0)
    while not routing.IsEnd(index):
        node = manager.IndexToNode(index)
        if node >= 2:
            seq.append(node - 2)
        index = solution.Value(routing.NextVar(index))
    return SolverRun(np.array(seq, dtype=np.int64), improvements)
