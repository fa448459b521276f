"""The integer programme with subtour cuts (arcmip, decision 0020): the exact optimum of a small
route, directions and order chosen together, and Karp's patching of a solution's cycles."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from fleetpilot.analytics.whatif import arcmip, arcsearch
from fleetpilot.analytics.whatif.arcroute import best_directions, deadhead_of
from tests.whatif.test_arcsearch import _instance, _ring, _served_once_forwards


def test_with_every_hop_a_candidate_the_programme_proves_the_optimum_of_a_small_route(monkeypatch):
    one_way = {1, 4}
    inst = _instance(21, 7, one_way)
    optimum = min(
        deadhead_of(inst, best_directions(inst, np.array(p))) for p in itertools.permutations(range(inst.n_tasks))
    )
    monkeypatch.setattr(arcmip, "CANDIDATES", 100)  # every hop: the bound is over every tour
    m, _ = arcsearch._matrix(inst)
    start = arcsearch.greedy(inst)
    deadline = time.perf_counter() + 30
    run = arcmip.solve(
        m, inst.task, start, lambda: deadline - time.perf_counter(), lambda s: s, lambda s: deadhead_of(inst, s)
    )
    assert run.optimal
    assert run.bound_m == pytest.approx(optimum, abs=1e-2)
    best = min(run.incumbents, key=lambda s: deadhead_of(inst, s))
    _served_once_forwards(inst, best, one_way)
    assert deadhead_of(inst, best) == pytest.approx(optimum)
    assert deadhead_of(inst, start) > optimum + 1  # the greedy walk was not already the answer


def test_patching_joins_every_cycle_into_one_tour_from_the_depot():
    inst = _ring(30, 5)
    m, _ = arcsearch._matrix(inst)
    n = inst.n_tasks
    # Three cycles: the depot alone, the even streets, the odd streets (each in ring order).
    succ = np.full(n + 1, -1, dtype=np.int64)
    succ[n] = n
    for group in (np.arange(0, n, 2), np.arange(1, n, 2)):
        succ[group] = np.roll(group, -1)
    seq = arcmip.patch(m, succ, n)
    assert sorted(seq.tolist()) == list(range(n))


def test_out_of_time_it_returns_nothing_rather_than_overrunning():
    inst = _instance(3, 20, set())
    m, _ = arcsearch._matrix(inst)
    run = arcmip.solve(m, inst.task, arcsearch.greedy(inst), lambda: 0.0, lambda s: s, lambda s: 0.0)
    assert run.incumbents == [] and not run.optimal
