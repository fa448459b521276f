"""The route's sequence as an integer programme with subtour cuts (decision 0020, 2026-12-07).

The arc search's iterated local search settles, on some routes, in a basin a few left turns
(30 m each) above the best: the streets' directions that allow the best tour are not reached by
its kicks. Here the directions and the successors are chosen *together*, exactly, by HiGHS (the
MILP solver scipy ships, ``scipy.optimize.milp``/``linprog``):

- a variable per candidate hop x[i, j] (option i's end → option j's start, the depot one more
  node) and one per option y[o] (that direction chosen); each task exactly one option, every
  chosen option one hop in and one out. Candidate hops: each option's ``CANDIDATES`` cheapest
  successors and predecessors, plus the hops of a given tour (so that tour stays feasible);
- subtour cuts added as they are found — every set of tasks without the depot has a hop out of
  it: first on the LP relaxation (the weakly connected parts of its support), then on the integer
  solutions (each cycle, and each union of two cycles: on these instances many solutions tie, and
  a cut per cycle alone let the next solution join the same cycles differently);
- ties broken towards the best tour so far (``TIE_BONUS_M``), so the next solution's cycles are
  few and where that tour differs.

After every integer solution its cycles are patched into one tour (Karp's patching, as in
``arcsearch.rechain``) and descended: an *incumbent*. The integer solution's cost (metres, without
the bonus) is a lower bound of every tour over the candidate hops (within HiGHS's default 0.01 %
gap), so an incumbent that reaches it is the best such tour and the search stops. Otherwise the
best incumbents are where the iterated local search goes on. HiGHS's time limit is wall clock;
the caller's ``seconds_left`` converts (``arcsearch.sequence_local``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.sparse import coo_matrix, csr_matrix, vstack
from scipy.sparse.csgraph import connected_components

CANDIDATES = 8  # cheapest successors and predecessors kept per option (and the given tour's hops)
LP_ROUNDS = 40  # at most, of cuts on the LP relaxation before the integer rounds
EPS_M = 1e-6
# Among tying integer solutions, prefer the hops of the best tour so far: a bonus per hop that
# sums to less than 0.2 m on a 144-street route. Demo city, seed 0, 4.4 s CPU: proven best (the
# bound reached) on 8 of 10 routes with it, route-001 after 4 integer rounds (11 without).
TIE_BONUS_M = 1e-3


@dataclass(frozen=True)
class MipRun:
    incumbents: list[np.ndarray]  # each integer round's tour (patched and descended), in order
    bound_m: float  # the last integer solution's cost: a lower bound over the candidate hops
    optimal: bool  # an incumbent reached the bound


def patch(m: np.ndarray, succ: np.ndarray, depot: int) -> np.ndarray:
    """Successors with cycles (-1: not a node) patched into one tour from ``depot`` (Karp)."""
    succ = succ.copy()
    nodes = np.flatnonzero(succ >= 0)
    cyc = np.full(len(succ), -1, dtype=np.int64)
    for v in nodes:
        u = v
        while cyc[u] < 0:
            cyc[u] = v
            u = succ[u]
    while True:
        labels, sizes = np.unique(cyc[nodes], return_counts=True)
        if len(labels) == 1:
            break
        big = cyc[nodes] == labels[np.argmax(sizes)]
        ina, out = nodes[big], nodes[~big]
        d = (
            m[np.ix_(ina, succ[out])]
            + m[np.ix_(out, succ[ina])].T
            - m[ina, succ[ina]][:, None]
            - m[out, succ[out]][None, :]
        )
        x, y = np.unravel_index(np.argmin(d), d.shape)
        i, j = ina[x], out[y]
        cyc[cyc == cyc[j]] = cyc[i]
        succ[i], succ[j] = succ[j], succ[i]
    order, u = [], succ[depot]
    while u != depot:
        order.append(u)
        u = succ[u]
    return np.array(order, dtype=np.int64)


def solve(
    m: np.ndarray,
    task: np.ndarray,
    tour: np.ndarray,
    seconds_left: Callable[[], float],
    polish: Callable[[np.ndarray], np.ndarray],
    cost: Callable[[np.ndarray], float],
) -> MipRun:
    """``m``: the deadhead matrix over options and the depot (last index); ``task``: each option's
    task; ``tour``: a feasible order of options (its hops are kept); ``seconds_left``: time still
    to spend; ``polish``: a descent for an incumbent; ``cost``: a tour's deadhead."""
    n = len(task)
    depot = n
    size = n + 1
    n_tasks = int(task.max()) + 1
    group = np.r_[task, n_tasks]  # the depot is a task of its own
    c = m.copy()
    c[group[:, None] == group[None, :]] = np.inf
    keep = np.zeros((size, size), dtype=bool)
    k = min(CANDIDATES, size - 1)
    keep[np.arange(size)[:, None], np.argsort(c, axis=1)[:, :k]] = True
    keep[np.argsort(c, axis=0)[:k, :], np.arange(size)[None, :]] = True
    s = np.r_[depot, tour, depot]
    keep[s[:-1], s[1:]] = True
    keep &= np.isfinite(c) & (c < 1e9)
    keep[s[:-1], s[1:]] = True
    frm, to = np.nonzero(keep)
    hops = len(frm)
    keep_index = np.full((size, size), -1, dtype=np.int64)
    keep_index[frm, to] = np.arange(hops)
    obj = np.r_[np.minimum(c[frm, to], 1e9), np.zeros(size)]
    ones, arange = np.ones(hops), np.arange(hops)
    chosen = hops + np.arange(size)
    out_rows = coo_matrix((np.r_[ones, -np.ones(size)], (np.r_[frm, np.arange(size)], np.r_[arange, chosen])))
    in_rows = coo_matrix((np.r_[ones, -np.ones(size)], (np.r_[to, np.arange(size)], np.r_[arange, chosen])))
    task_rows = coo_matrix((np.ones(size), (group, chosen)))
    eq = vstack([out_rows, in_rows, task_rows]).tocsr()
    rhs = np.r_[np.zeros(2 * size), np.ones(n_tasks + 1)]
    cuts: list[csr_matrix] = []
    hop_group_from, hop_group_to = group[frm], group[to]

    def cut(tasks: set[int]) -> csr_matrix:
        inside = np.zeros(n_tasks + 1, dtype=bool)
        inside[list(tasks)] = True
        sel = np.flatnonzero(inside[hop_group_from] & ~inside[hop_group_to])
        return csr_matrix((np.ones(len(sel)), (np.zeros(len(sel), dtype=np.int64), sel)), shape=(1, hops + size))

    def parts(labels: np.ndarray, used: np.ndarray) -> list[set[int]]:
        """Sets of tasks without the depot, one per part (parts sharing a task merged)."""
        sets: list[set[int]] = []
        for lab in np.unique(labels[used]):
            here = set(group[used & (labels == lab)].tolist())
            for other in [x for x in sets if x & here]:
                sets.remove(other)
                here |= other
            sets.append(here)
        return [x for x in sets if n_tasks not in x]

    for _ in range(LP_ROUNDS):
        if seconds_left() <= 0:
            return MipRun([], 0.0, False)
        lp = linprog(
            obj,
            A_ub=-vstack(cuts).tocsr() if cuts else None,
            b_ub=-np.ones(len(cuts)) if cuts else None,
            A_eq=eq,
            b_eq=rhs,
            bounds=(0, 1),
            method="highs",
        )
        if lp.x is None:
            break
        sup = lp.x[:hops] > 1e-6
        graph = csr_matrix((np.ones(int(sup.sum())), (frm[sup], to[sup])), shape=(size, size))
        _, labels = connected_components(graph, directed=True, connection="weak")
        sets = parts(labels, lp.x[hops:] > 1e-6)
        if not sets:
            break
        cuts += [cut(x) for x in sets]

    incumbents: list[np.ndarray] = []
    bound = 0.0
    while (left := seconds_left()) > 0:
        constraints = [LinearConstraint(eq, rhs, rhs)]
        if cuts:
            constraints.append(LinearConstraint(vstack(cuts).tocsr(), 1, np.inf))
        # Among tying solutions, those sharing the most hops with the best tour so far (a bonus far
        # below any real difference), so that the cycles left are few and local.
        lead = min([tour, *incumbents], key=cost)
        ls = np.r_[depot, lead, depot]
        shared = keep_index[ls[:-1], ls[1:]]
        tilted = obj.copy()
        tilted[shared[shared >= 0]] -= TIE_BONUS_M
        res = milp(
            tilted,
            integrality=np.ones(hops + size),
            bounds=Bounds(0, 1),
            constraints=constraints,
            options={"time_limit": left},
        )
        if res.x is None:
            break
        x = res.x[:hops] > 0.5
        succ = np.full(size, -1, dtype=np.int64)
        succ[frm[x]] = to[x]
        inc = polish(patch(m, succ, depot))
        incumbents.append(inc)
        if res.status != 0:  # stopped by the time limit: not a bound
            break
        bound = float(obj[:hops] @ x)
        if cost(inc) <= bound + EPS_M:
            return MipRun(incumbents, bound, True)
        labels = np.full(size, -1, dtype=np.int64)
        for v in np.flatnonzero(succ >= 0):
            u = v
            while labels[u] < 0:
                labels[u] = v
                u = succ[u]
        sets = parts(labels, succ >= 0)
        cuts += [cut(x) for x in sets] + [cut(a | b) for i, a in enumerate(sets) for b in sets[i + 1 :]]
    return MipRun(incumbents, bound, False)
