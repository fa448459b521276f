"""Arc sequencing: directions chosen optimally, one-way streets never reversed, and OR-Tools
finding the brute-force optimum of a small instance."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from fleetpilot.analytics.whatif.arcroute import (
    ArcInstance,
    best_directions,
    deadhead_of,
    sequence_ortools,
    sequence_tour,
)


def _instance(seed: int, tasks: int, one_way: set[int]) -> ArcInstance:
    """Streets as straight pieces between random points; deadhead = straight line × a random
    asymmetric detour (a one-way grid makes A→B and B→A differ)."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1000, (tasks, 2))
    b = a + rng.uniform(-150, 150, (tasks, 2))
    task, starts, ends = [], [], []
    for t in range(tasks):
        for s, e in [(a[t], b[t])] if t in one_way else [(a[t], b[t]), (b[t], a[t])]:
            task.append(t), starts.append(s), ends.append(e)
    starts_a, ends_a = np.array(starts), np.array(ends)
    detour = rng.uniform(1.0, 1.6, (len(task), len(task)))
    deadhead = np.hypot(*(ends_a[:, None, :] - starts_a[None, :, :]).transpose(2, 0, 1)) * detour
    depot = np.array([0.0, 0.0])
    return ArcInstance(
        task=np.array(task),
        service_m=np.hypot(*(b - a).T),
        deadhead_m=deadhead,
        from_start_m=np.hypot(*(starts_a - depot).T) * 1.2,
        to_end_m=np.hypot(*(ends_a - depot).T) * 1.3,
        task_xy=(a + b) / 2,
        start_xy=depot,
    )


def _brute_force(inst: ArcInstance) -> float:
    return min(
        deadhead_of(inst, best_directions(inst, np.array(p))) for p in itertools.permutations(range(inst.n_tasks))
    )


def _valid(inst: ArcInstance, seq: np.ndarray) -> None:
    assert sorted(inst.task[seq].tolist()) == list(range(inst.n_tasks)), "every street exactly once"


def test_directions_are_the_cheapest_for_the_order_and_one_way_streets_stay_forwards():
    one_way = {1, 3}
    inst = _instance(3, 5, one_way)
    order = np.array([2, 0, 4, 1, 3])
    seq = best_directions(inst, order)
    _valid(inst, seq)
    assert inst.task[seq].tolist() == order.tolist()
    options = [np.flatnonzero(inst.task == t) for t in order]
    every = [np.array(c) for c in itertools.product(*options)]
    assert deadhead_of(inst, seq) == pytest.approx(min(deadhead_of(inst, c) for c in every))
    # A one-way street has its forward option only: the sequence can only contain that one.
    for t in one_way:
        assert (inst.task == t).sum() == 1


def test_the_solver_finds_the_optimum_of_a_small_route():
    inst = _instance(11, 6, {0, 4})
    optimum = _brute_force(inst)
    run = sequence_ortools(inst, seconds=1.0)
    _valid(inst, run.seq)
    assert deadhead_of(inst, run.seq) == pytest.approx(optimum, abs=1.0)  # integer metres inside the solver
    assert run.improvements, "the solver reports its solutions as it finds them"


def test_the_stop_heuristic_serves_every_street_once_and_is_no_better_than_the_optimum():
    inst = _instance(5, 6, {2})
    seq = sequence_tour(inst)
    _valid(inst, seq)
    assert deadhead_of(inst, seq) >= _brute_force(inst) - 1e-6


def test_started_from_a_plan_the_solver_never_returns_anything_worse():
    inst = _instance(8, 12, {1, 5, 7})
    plan = best_directions(inst, np.arange(inst.n_tasks)[::-1])
    run = sequence_ortools(inst, seconds=0.3, initial=plan)
    _valid(inst, run.seq)
    assert deadhead_of(inst, run.seq) <= deadhead_of(inst, plan) + 1.0
    assert run.improvements[0][1] == pytest.approx(round(deadhead_of(inst, plan)), abs=len(plan) + 2)
