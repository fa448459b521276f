"""Sequencing a route's service streets by local search made for arcs (decision 0020).

OR-Tools' neighbourhoods are made for points: its 2-opt reverses a stretch of *options* but
keeps each one's direction, so a reversed stretch of streets is driven against the order and
a direction changes only one street at a time (swap_active). On the demo city's routes that
left guided local search 14–38 % above the best after 5 s. Here the moves are those of arc
routing, each delta exact and vectorised over all positions at once (numpy, O(n²) per pass):

- *reversal*: a stretch is driven backwards, every street in it turned round (only if every one
  is two-way; prefix sums of the turned-round deadheads make the delta O(1) per pair), or in
  reverse order with the same directions;
- *Or-opt*: a run of 1–3 streets moves elsewhere, as it is or turned round;
- then each street's direction re-chosen for the order (``arcroute.best_directions``).

Start: the better of the given plan and a greedy walk (nearest next street by deadhead, ties to
the lowest deadhead back), descended, then *re-chained*: with each street's direction as it is,
every street's successor is chosen by a min-cost assignment (the depot one more node; scipy's
``linear_sum_assignment``: the balancing of the streets' end and start nodes over shortest
deadhead paths that the route-first Eulerian construction solves), and the cycles it leaves
are patched into one tour, the cheapest exchange of two successors at a time joining the largest
cycle with another (Karp's patching). On the demo city this start alone (~5 ms for 144 streets)
is within 2 % of the best known on 7 of 10 routes. Then the integer programme of ``arcmip``
(directions and order together, subtour cuts, HiGHS) for up to ``MIP_SHARE`` of the loop's time:
its incumbents (each integer solution patched and descended) replace the start when better, and
when one reaches the programme's lower bound it is the best tour over the candidate hops and the
search ends there (on the demo city: 9 of 10 routes in 1.1–3.0 s, the tenth 0.63 % above). Otherwise, between
descents, iterated local search, the two
kicks in turn at random: a random stretch cut out and re-inserted (turned round when it may),
or a random stretch of 2–20 consecutive streets turned round in place and the whole route
re-chained; the result becomes the current tour if it is no worse than it or within ``ACCEPT`` of
the best that search found (record-to-record travel). ``TRAJECTORIES`` such searches run from the
best tour and the next best distinct incumbents, one iteration each in turn, and the best any
finds is kept: on the demo city one
search settles in the basin of its first kicks (the seed decides which: route-005 4.8–9.3 % above
the best known over seeds 0–2), three spread that bet within the same time. All of it for a
stated CPU time (the thread's own; HiGHS's limit is wall clock, given at the rate the thread has
had CPU so far, so on a loaded machine the integer rounds' answer may differ; the loop stops
before an iteration that would overrun 90 % of it).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.optimize import linear_sum_assignment

from fleetpilot.analytics.whatif import arcmip
from fleetpilot.analytics.whatif.arcroute import ArcInstance, SolverRun, best_directions, deadhead_of

MAX_BLOCK = 3  # Or-opt runs of 1..3 streets
# Record-to-record travel: a candidate up to 4 % above the best found is accepted as the current
# tour, so the search can leave a plateau's basin (the best is kept apart). Demo city, 10 routes ×
# seeds 0-2, 4 s CPU each: within 2 % of the best known 22 -> 24 of 30, mean gap 1.78 -> 1.53 %,
# worst 7.92 -> 5.76 % (0.5-10 % tried on the 4 worst routes: 4 % best; decision 0020).
ACCEPT = 0.04
# Three searches in turn, a stretch turned round before re-chaining (was: one search, 1–4 random
# streets): demo city, 10 routes × seeds 0–4, 4.4 s CPU from the plan, within 2 % of the best known
# 24 -> 32 of 50, mean gap 2.42 -> 1.76 % (2 and 5 searches: no better; decision 0020, 2026-12-07).
TRAJECTORIES = 3
# Of the loop's time, at most this much for the integer programme (arcmip) before iterated local
# search. Demo city, seed 0, 4.4 s CPU: 0.7 proved the best on 8 of 10 routes (route-001 needs
# ~2.8 s of CPU, just over 0.7 of the loop, so the plans page's wall clock on a busy machine
# missed it: 2.57 %), 0.9 on 9 of 10, the tenth at the best known (decision 0020).
MIP_SHARE = 0.9
SEARCH_SHARE = 0.9  # of the budget for the loop: the rest covers the set-up and its final direction pass
EPS_M = 1e-6


def _matrix(inst: ArcInstance) -> tuple[np.ndarray, np.ndarray]:
    """Options plus the depot (last index): deadhead matrix and each one's opposite option
    (-1 for a one-way street; the depot is its own opposite)."""
    n = len(inst.task)
    m = np.zeros((n + 1, n + 1))
    m[:n, :n] = inst.deadhead_m
    m[n, :n] = inst.from_start_m
    m[:n, n] = inst.to_end_m
    m = np.nan_to_num(m, posinf=1e9)
    opp = np.full(n + 1, -1, dtype=np.int64)
    for t in range(inst.n_tasks):
        opts = np.flatnonzero(inst.task == t)
        if len(opts) == 2:
            opp[opts[0]], opp[opts[1]] = opts[1], opts[0]
    opp[n] = n
    return m, opp


def greedy(inst: ArcInstance, rng: np.random.Generator | None = None) -> np.ndarray:
    """Nearest next street by deadhead from the depot (random ties when ``rng``)."""
    m, _ = _matrix(inst)
    n = len(inst.task)
    free = np.ones(n, dtype=bool)
    cur, seq = n, []
    for _ in range(inst.n_tasks):
        cost = np.where(free, m[cur, :n], np.inf)
        best = cost.min()
        cand = np.flatnonzero(cost <= best + EPS_M)
        if rng is not None:
            o = int(rng.choice(cand))
        else:
            o = int(cand[np.argmin(m[cand, n])])
        seq.append(o)
        free[inst.task == inst.task[o]] = False
        cur = o
    return np.array(seq, dtype=np.int64)


def _cost(m: np.ndarray, s: np.ndarray) -> float:
    return float(m[s[:-1], s[1:]].sum())


def _reversal(m: np.ndarray, opp: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray | None]:
    """Best reversal of s[i..j] (1 ≤ i ≤ j ≤ len-2), turned round or not."""
    k = len(s)
    fwd = np.r_[0.0, np.cumsum(m[s[:-1], s[1:]])]  # fwd[a]: cost s[0]→…→s[a]
    o = opp[s]
    one_way = np.r_[0, np.cumsum(o < 0)]
    i = np.arange(1, k - 1)[:, None]
    j = np.arange(1, k - 1)[None, :]
    ok = j > i
    inner_old = fwd[j] - fwd[i]
    base = m[s[i - 1], s[i]] + inner_old + m[s[j], s[j + 1]]
    best_d, best = -EPS_M, None
    # Same directions, reverse order: inner = Σ m[s[x+1], s[x]].
    back = np.r_[0.0, np.cumsum(m[s[1:], s[:-1]])]
    inner = back[j] - back[i]
    d = m[s[i - 1], s[j]] + inner + m[s[i], s[j + 1]] - base
    d = np.where(ok, d, np.inf)
    a = np.unravel_index(np.argmin(d), d.shape)
    if d[a] < best_d:
        ii, jj = int(a[0]) + 1, int(a[1]) + 1
        best_d, best = float(d[a]), np.r_[s[:ii], s[ii : jj + 1][::-1], s[jj + 1 :]]
    # Turned round: option x becomes opp[x]; inner = Σ m[opp s[x+1], opp s[x]].
    oo = np.where(o < 0, 0, o)
    # A one-way street's placeholder hop is never used (its stretches are not allowed): 0, so a
    # 1e9 "no path" in the prefix sum cannot swamp the other stretches' differences.
    hop = np.where((o[1:] < 0) | (o[:-1] < 0), 0.0, m[oo[1:], oo[:-1]])
    turned = np.r_[0.0, np.cumsum(hop)]
    inner = turned[j] - turned[i]
    allowed = ok & ((one_way[j + 1] - one_way[i]) == 0)
    d = m[s[i - 1], oo[j]] + inner + m[oo[i], s[j + 1]] - base
    d = np.where(allowed, d, np.inf)
    # single streets turned round (j == i) are reversal of length 1
    single = m[s[:-2], oo[1:-1]] + m[oo[1:-1], s[2:]] - m[s[:-2], s[1:-1]] - m[s[1:-1], s[2:]]
    single = np.where(o[1:-1] >= 0, single, np.inf)
    a = np.unravel_index(np.argmin(d), d.shape)
    if d[a] < best_d:
        ii, jj = int(a[0]) + 1, int(a[1]) + 1
        best_d, best = float(d[a]), np.r_[s[:ii], oo[ii : jj + 1][::-1], s[jj + 1 :]]
    x = int(np.argmin(single))
    if single[x] < best_d:
        best_d = float(single[x])
        best = s.copy()
        best[x + 1] = oo[x + 1]
    return best_d, best


_BANDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _band(k: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of ``_or_opt``'s (run, insertion point) table that are no move: the
    points inside the run or next to it (a run's row r has them at columns r..r+length)."""
    key = (k, length)
    if key not in _BANDS:
        rows = np.repeat(np.arange(k - length - 1), length + 1)
        _BANDS[key] = (rows, rows + np.tile(np.arange(length + 1), k - length - 1))
    return _BANDS[key]


def _or_opt(m: np.ndarray, opp: np.ndarray, s: np.ndarray) -> tuple[float, np.ndarray | None]:
    """Best move of a run s[i..i+L-1] to between s[p] and s[p+1], as it is or turned round."""
    k = len(s)
    best_d, best = -EPS_M, None
    o = opp[s]
    oo = np.where(o < 0, s, o)
    ss = m[np.ix_(s, s)]  # ss[a, b] = m[s[a], s[b]]: contiguous slices instead of gathers
    so = m[np.ix_(s[:-1], oo)]
    os_ = m[np.ix_(oo, s[1:])]
    gap = np.diagonal(ss, 1)  # s[p] → s[p+1], p = 0..k-2
    # Prefix sums: a run's inner deadhead as it is and turned round, its one-way streets.
    fwd = np.r_[0.0, np.cumsum(gap)]
    hop = np.where((o[1:] < 0) | (o[:-1] < 0), 0.0, m[oo[1:], oo[:-1]])
    turned = np.r_[0.0, np.cumsum(hop)]
    one_way = np.r_[0, np.cumsum(o < 0)]
    into = ss[:-1].T  # into[b, p] = m[s[p], s[b]]
    for length in range(1, MAX_BLOCK + 1):
        i = np.arange(1, k - length)  # run i..i+L-1, with s[i+L] existing
        if not len(i):
            break
        last = i + length - 1
        removed = ss[i - 1, i] + ss[last, last + 1] - ss[i - 1, last + 1]
        rows, cols = _band(k, length)
        d = into[i] + ss[last, 1:] - gap - removed[:, None]
        d[rows, cols] = np.inf
        a = np.unravel_index(np.argmin(d), d.shape)
        if d[a] < best_d:
            r, q = int(i[a[0]]), int(a[1])
            best_d, best = float(d[a]), _insert(s, r, length, q, s[r : r + length])
        can_turn = (one_way[last + 1] - one_way[i]) == 0
        if not can_turn.any():
            continue
        extra = (turned[last] - turned[i]) - (fwd[last] - fwd[i]) - removed
        d = so[:, last].T + os_[i] - gap + extra[:, None]
        d[rows, cols] = np.inf
        d[~can_turn] = np.inf
        a = np.unravel_index(np.argmin(d), d.shape)
        if d[a] < best_d:
            r, q = int(i[a[0]]), int(a[1])
            best_d, best = float(d[a]), _insert(s, r, length, q, oo[r : r + length][::-1])
    return best_d, best


def _insert(s: np.ndarray, r: int, length: int, q: int, run: np.ndarray) -> np.ndarray:
    rest = np.r_[s[:r], s[r + length :]]
    at = q + 1 if q < r else q + 1 - length
    return np.r_[rest[:at], run, rest[at:]]


def descend(inst: ArcInstance, m: np.ndarray, opp: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """Local optimum from ``seq`` (options in driving order) under reversal and Or-opt."""
    n = len(inst.task)
    s = np.r_[n, seq, n]
    cost = _cost(m, s)
    while True:
        moved = False
        for move in (_reversal, _or_opt):
            while True:
                d, t = move(m, opp, s)
                if t is None:
                    break
                # The deltas come from sums that rounding can tip below -EPS_M for a move that
                # gains nothing (then its undoing would too, for ever): only a real gain counts.
                new = _cost(m, t)
                if new >= cost - EPS_M:
                    break
                s, cost, moved = t, new, True
        if not moved:
            return s[1:-1]


def rechain(m: np.ndarray, seq: np.ndarray) -> np.ndarray:
    """The options of ``seq`` (directions kept) in a new order: successors by min-cost
    assignment, its cycles patched into one tour from the depot (see the module doc)."""
    n = m.shape[0] - 1
    nodes = np.r_[seq, n]
    k = len(nodes)
    c = m[np.ix_(nodes, nodes)]
    np.fill_diagonal(c, np.inf)
    _, succ = linear_sum_assignment(c)
    return nodes[arcmip.patch(c, succ, k - 1)]


def _turn_stretch(opp: np.ndarray, seq: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random stretch of 2–20 consecutive streets turned round where they may be, in place."""
    out = seq.copy()
    length = int(rng.integers(2, min(20, len(seq)) + 1))
    r = int(rng.integers(0, len(seq) - length + 1))
    run = out[r : r + length]
    out[r : r + length] = np.where(opp[run] >= 0, opp[run], run)
    return out


def _kick(inst: ArcInstance, opp: np.ndarray, seq: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random stretch of 1–12 streets moved elsewhere, turned round when every one may be."""
    k = len(seq)
    length = int(rng.integers(1, min(12, k - 1) + 1))
    r = int(rng.integers(0, k - length + 1))
    run = seq[r : r + length]
    if (opp[run] >= 0).all() and rng.random() < 0.5:
        run = opp[run][::-1]
    rest = np.r_[seq[:r], seq[r + length :]]
    at = int(rng.integers(0, len(rest) + 1))
    return np.r_[rest[:at], run, rest[at:]]


def sequence_local(
    inst: ArcInstance,
    cpu_seconds: float,
    initial: np.ndarray | None = None,
    seed: int = 0,
    wall_seconds: float | None = None,
) -> SolverRun:
    """Greedy walk (or ``initial`` when better), descent, re-chaining, the integer programme, then
    iterated local search within ``cpu_seconds`` of this thread's CPU time (and ``wall_seconds``
    of wall clock, for a caller who waits; ``SEARCH_SHARE`` of each for the loop). Never worse
    than ``initial``; on an unloaded machine the same seed and time give the same answer (the
    integer rounds stop on the wall clock)."""
    began_cpu, began = time.thread_time(), time.perf_counter()
    if inst.n_tasks < 2:
        seq = initial if initial is not None else greedy(inst)
        return SolverRun(np.asarray(seq, dtype=np.int64), [(0.0, deadhead_of(inst, seq))])
    m, opp = _matrix(inst)
    rng = np.random.default_rng(seed)
    starts = [greedy(inst)]
    if initial is not None:
        starts.append(np.asarray(initial, dtype=np.int64))
    best = min((descend(inst, m, opp, s) for s in starts), key=lambda s: deadhead_of(inst, s))
    best = min((best, descend(inst, m, opp, rechain(m, best))), key=lambda s: deadhead_of(inst, s))
    best_m = deadhead_of(inst, best)
    improvements = [(time.perf_counter() - began, best_m)]
    cpu_limit = SEARCH_SHARE * cpu_seconds
    wall = np.inf if wall_seconds is None else SEARCH_SHARE * wall_seconds

    def mip_left() -> float:
        """Wall-clock seconds for HiGHS (its limit is wall clock): the CPU still in the budget at
        the rate this thread has been getting it, within the wall-clock budget."""
        cpu, elapsed = time.thread_time() - began_cpu, time.perf_counter() - began
        rate = max(1.0, elapsed / cpu) if cpu > 0 else 1.0
        return min((MIP_SHARE * cpu_limit - cpu) * rate, MIP_SHARE * wall - elapsed)

    mip = arcmip.solve(m, inst.task, best, mip_left, lambda s: descend(inst, m, opp, s), lambda s: deadhead_of(inst, s))
    for inc in mip.incumbents:
        inc_m = deadhead_of(inst, inc)
        if inc_m < best_m - EPS_M:
            best, best_m = inc, inc_m
            improvements.append((time.perf_counter() - began, best_m))
    if mip.optimal:
        cpu_limit = 0.0  # the best tour over the candidate hops: nothing for the local search to do
    # TRAJECTORIES searches in turn, each accepting within ACCEPT of its own best: from the best
    # tour and the next best distinct incumbents of the integer programme (other directions).
    leads = sorted({deadhead_of(inst, s): s for s in [best, *mip.incumbents]}.items(), key=lambda x: x[0])
    leads = (leads + [leads[0]] * TRAJECTORIES)[:TRAJECTORIES]
    cur, cur_m, own = [s for _, s in leads], [v for v, _ in leads], [v for v, _ in leads]
    step_cpu = step_wall = 0.0  # the longest iteration so far: no iteration starts that would overrun
    turn = 0
    while time.thread_time() - began_cpu + step_cpu < cpu_limit and time.perf_counter() - began + step_wall < wall:
        at_cpu, at = time.thread_time(), time.perf_counter()
        t, turn = turn, (turn + 1) % TRAJECTORIES
        if rng.random() < 0.5:
            cand = descend(inst, m, opp, _kick(inst, opp, cur[t], rng))
        else:
            cand = descend(inst, m, opp, rechain(m, _turn_stretch(opp, cur[t], rng)))
        step_cpu = max(step_cpu, time.thread_time() - at_cpu)
        step_wall = max(step_wall, time.perf_counter() - at)
        cand_m = deadhead_of(inst, cand)
        if cand_m <= cur_m[t] + EPS_M or cand_m <= own[t] * (1 + ACCEPT):
            cur[t], cur_m[t], own[t] = cand, cand_m, min(own[t], cand_m)
            if cand_m < best_m - EPS_M:
                best, best_m = cand, cand_m
                improvements.append((time.perf_counter() - began, best_m))
    redirected = best_directions(inst, inst.task[best])  # each street's best direction, for the order
    if deadhead_of(inst, redirected) < best_m - EPS_M:
        best = redirected
        improvements.append((time.perf_counter() - began, deadhead_of(inst, best)))
    return SolverRun(best, improvements)
