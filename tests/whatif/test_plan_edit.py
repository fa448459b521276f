"""A plan edit's effect and the plans page's optimiser: one-way streets only forwards, the
proposal never worse than the plan and connected by drive-only streets, predictions shifted by
what the plan changes, balance moves only between touching routes and keeps them contiguous."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.whatif.plan_edit import (
    PlanFigures,
    RouteHistory,
    balance,
    connect,
    modelled_deadhead_m,
    plan_instance,
    predict,
    sequence,
    street_graph,
    touching,
)

STEP = 0.002  # degrees between grid nodes (~140 m east, ~220 m north)
FRAME = LocalFrame(13.4, 52.5)


def grid(n: int = 4, one_way: frozenset[str] = frozenset()):
    """An n×n grid of two-way streets ("h{r}-{c}" east, "v{r}-{c}" north); `one_way` forwards only."""
    ids, lines = [], []
    for r in range(n):
        for c in range(n - 1):
            ids.append(f"h{r}-{c}")
            lines.append([[13.4 + c * STEP, 52.5 + r * STEP], [13.4 + (c + 1) * STEP, 52.5 + r * STEP]])
    for r in range(n - 1):
        for c in range(n):
            ids.append(f"v{r}-{c}")
            lines.append([[13.4 + c * STEP, 52.5 + r * STEP], [13.4 + c * STEP, 52.5 + (r + 1) * STEP]])
    return street_graph(ids, lines, [i in one_way for i in ids], FRAME)


def idx(net, *names):
    index = net.index()
    return np.array([index[n] for n in names])


def test_one_way_streets_are_driven_forwards_only_and_deadhead_detours_round_them():
    net = grid(one_way=frozenset({"h0-0"}))
    depot = int(net.start[idx(net, "h0-0")[0]])
    inst, seq = plan_instance(net, idx(net, "h0-0"), depot)
    assert len(inst.arc.task) == 1 and not inst.reverse[seq[0]]  # one option: forwards
    two_way = grid()
    _, seq2 = plan_instance(two_way, idx(two_way, "h0-0"), depot)
    # Forwards from the depot's node and back: the one-way street forces a detour home.
    assert modelled_deadhead_m(net, idx(net, "h0-0"), depot) > modelled_deadhead_m(two_way, idx(two_way, "h0-0"), depot)


def test_the_proposal_is_never_worse_than_the_plan_and_is_connected_end_to_end():
    net = grid(5, one_way=frozenset({"h1-1", "v2-3"}))
    plan = idx(net, "h3-3", "h0-0", "v2-3", "h1-1", "h0-1", "v0-0", "h3-2")
    depot = int(net.start[idx(net, "h0-0")[0]])
    steps, before, after = sequence(net, plan, depot, seconds=1.0)
    assert after <= before
    assert after < before  # this order is far from good: the solver finds better
    served = [s.segment for s in steps if s.service]
    assert sorted(served) == sorted(plan.tolist())
    # Every step starts where the last one ended, one-way streets forwards only.
    ends = []
    for s in steps:
        a, b = (net.end[s.segment], net.start[s.segment]) if s.reverse else (net.start[s.segment], net.end[s.segment])
        assert not (s.reverse and net.one_way[s.segment])
        ends.append((a, b))
    assert all(prev[1] == nxt[0] for prev, nxt in zip(ends, ends[1:]))


def test_connect_of_the_plans_own_order_keeps_its_service_order():
    net = grid()
    plan = idx(net, "h0-0", "h2-2", "v0-0")
    depot = int(net.start[plan[0]])
    inst, seq = plan_instance(net, plan, depot)
    steps = connect(net, inst, seq)
    assert [s.segment for s in steps if s.service] == plan.tolist()
    assert any(not s.service for s in steps)


def _history(n: int = 20, seed: int = 1) -> RouteHistory:
    rng = np.random.default_rng(seed)
    return RouteHistory(
        shift_s=rng.normal(7.8 * 3600, 1800, n),
        distance_m=rng.normal(60_000, 3000, n),
        deadhead_m=np.full(n, 9000.0),
        deadhead_s=np.full(n, 1800.0),
        collection_s=np.full(n, 4 * 3600.0),
        facility_s=np.full(n, 2400.0),
        trips=np.full(n, 2.0),
    )


def test_an_unchanged_plan_predicts_todays_figures_with_an_interval_around_them():
    h = _history()
    plan = PlanFigures(service_m=20_000, deadhead_m=5000, stops=200, segments=100)
    today = predict(h, plan, plan)
    assert today["shift_h"]["value"] == pytest.approx(h.shift_s.mean() / 3600, abs=1e-3)
    assert today["shift_h"]["lo"] < today["shift_h"]["value"] < today["shift_h"]["hi"]
    assert today["facility_trips"]["value"] == pytest.approx(2.0)
    assert 0 < today["overtime_risk"]["value"] < 1


def test_more_service_and_deadhead_predict_a_longer_shift_more_km_and_more_trips():
    h = _history()
    current = PlanFigures(service_m=20_000, deadhead_m=5000, stops=200, segments=100)
    bigger = PlanFigures(service_m=24_000, deadhead_m=6000, stops=240, segments=120)
    a, b = predict(h, current, current), predict(h, current, bigger)
    # 4 km more at the route's own rate (4 h per 20 km) = +0.8 h, 1 km deadhead at 5 m/s, 0.4 trips of 20 min.
    expected = 0.8 + 1000 / 5 / 3600 + 0.4 * 1200 / 3600
    assert b["shift_h"]["value"] - a["shift_h"]["value"] == pytest.approx(expected, abs=1e-3)
    assert b["driving_km"]["value"] - a["driving_km"]["value"] == pytest.approx(5.0, abs=1e-3)
    assert b["deadhead_km"]["value"] - a["deadhead_km"]["value"] == pytest.approx(1.0, abs=1e-3)
    assert b["facility_trips"]["value"] == pytest.approx(2.4)
    assert b["overtime_risk"]["value"] > a["overtime_risk"]["value"]


def test_without_history_nothing_is_predicted():
    empty = RouteHistory(*(np.zeros(0) for _ in range(7)))
    plan = PlanFigures(service_m=1, deadhead_m=1, stops=1, segments=1)
    assert set(predict(empty, plan, plan).values()) == {None}


def test_balance_moves_touching_segments_from_the_longer_route_until_within_tolerance():
    net = grid(5)
    west = idx(net, "v0-0", "v1-0", "v2-0", "v3-0", "h0-0", "h1-0", "h2-0", "h3-0")
    east = idx(net, "h0-1", "h1-1")
    far = idx(net, "h4-3")  # touches neither
    rate = np.array([3.0, 3.0, 3.0])  # s per m
    hours = np.array([9.0, 6.0, 6.0])
    moves = balance(net, [west, east, far], hours.copy(), rate, tolerance_h=0.5)
    assert moves, "the longer route gives segments"
    touching_west = set(west.tolist())
    for seg, a, b in moves:
        assert a == 0 and b == 1 and seg in touching_west  # never to the far route (not touching)
    moved_h = sum(net.length_m[s] * 3.0 / 3600 for s, _, _ in moves)
    assert 9.0 - moved_h >= 6.0 + moved_h - 1e-9  # the receiver never becomes the busiest


def _pieces(net, segments) -> int:
    """Connected pieces of a set of street segments (joined where they share an end point)."""
    segments = np.asarray(segments, dtype=np.int64)
    if not len(segments):
        return 0
    i, j = touching(net, segments)
    joined = coo_matrix((np.ones(len(i)), (i, j)), shape=(len(segments), len(segments)))
    return connected_components(joined, directed=False)[0]


def _ends(name: str) -> tuple[int, int]:
    """The grid columns a segment of ``grid`` spans."""
    c = int(name.split("-")[1])
    return (c, c + 1) if name[0] == "h" else (c, c)


def test_a_balanced_pair_of_routes_stays_contiguous_and_evens_out_within_the_tolerance():
    # The giver: a block of columns 0-2 with a neck along row 0 to column 5; the receiver sits on
    # the neck. Every neck street touches the receiver; only the neck's last one can go without
    # cutting the giver in two.
    net = grid(6)
    names = [str(s) for s in net.segment_ids]
    giver_names = [n for n in names if max(_ends(n)) <= 2] + ["h0-2", "h0-3", "h0-4"]
    taker_names = [n for n in names if min(_ends(n)) >= 3 and n not in giver_names]
    giver, taker = idx(net, *giver_names), idx(net, *taker_names)
    assert _pieces(net, giver) == 1 and _pieces(net, taker) == 1
    rate = 3.0  # s per service metre: hours are the plans' lengths
    hours = np.array([net.length_m[giver].sum(), net.length_m[taker].sum()]) * rate / 3600
    tolerance = 0.25
    assert hours[0] - hours[1] > tolerance
    moves = balance(net, [giver, taker], hours.copy(), np.array([rate, rate]), tolerance_h=tolerance)
    assert moves
    owner = {int(s): 0 for s in giver} | {int(s): 1 for s in taker}
    for seg, a, b in moves:
        assert owner[seg] == a
        owner[seg] = b
    after = [[s for s, o in owner.items() if o == k] for k in (0, 1)]
    assert [_pieces(net, a) for a in after] == [1, 1]
    lengths = [net.length_m[a].sum() * rate / 3600 for a in after]
    assert abs(lengths[0] - lengths[1]) <= tolerance


def test_balance_stops_rather_than_split_a_route_into_islands():
    # The receiver touches the giver only in the middle of a chain: every move would cut it.
    net = grid(5)
    chain = idx(net, "h2-0", "h2-1", "h2-2", "h2-3")
    spur = idx(net, "v2-2")  # up from the node between h2-1 and h2-2
    rate = np.array([3.0, 3.0])
    moves = balance(net, [chain, spur], np.array([9.0, 6.0]), rate, tolerance_h=0.25)
    assert moves == []


def _street_rows(n: int, one_way: frozenset[str]) -> list[dict]:
    """``grid``'s streets as the API reads them from street_segments."""
    rows = []
    for r in range(n):
        for c in range(n - 1):
            line = [[13.4 + c * STEP, 52.5 + r * STEP], [13.4 + (c + 1) * STEP, 52.5 + r * STEP]]
            rows.append(
                {"segment_id": f"h{r}-{c}", "one_way": f"h{r}-{c}" in one_way, "geometry": {"coordinates": line}}
            )
    for r in range(n - 1):
        for c in range(n):
            line = [[13.4 + c * STEP, 52.5 + r * STEP], [13.4 + c * STEP, 52.5 + (r + 1) * STEP]]
            rows.append(
                {"segment_id": f"v{r}-{c}", "one_way": f"v{r}-{c}" in one_way, "geometry": {"coordinates": line}}
            )
    return rows


def test_an_edit_whose_shortest_deadhead_takes_a_forbidden_turn_is_predicted_with_the_detour():
    # Edited plan: east along h0-0, then north up v0-1 (both one-way), from and back to the depot at
    # the south-west corner. Straight on they join with a left turn at node (0, 1); a sign forbids it.
    from fleetpilot.api.route_plans import edit

    rows = _street_rows(3, frozenset({"h0-0", "v0-1"}))
    depot = {"type": "Point", "coordinates": [13.4, 52.5]}
    no_left = {"from_segment_id": "h0-0", "via_lon": 13.4 + STEP, "via_lat": 52.5, "to_segment_id": "v0-1"}
    free = edit._build(rows, depot, [], [])  # turn costs, no restriction
    signed = edit._build(rows, depot, [no_left], [])
    assert len(signed.turns.restricted) == 1
    plan = idx(signed.graph, "h0-0", "v0-1")
    free_m = edit._figures(free, plan, free.depot, 0).deadhead_m
    signed_m = edit._figures(signed, plan, signed.depot, 0).deadhead_m
    # Without the sign: no deadhead between them, ~360 m home (west along h1-0, south down v0-0).
    home_m = float(signed.graph.length_m[idx(signed.graph, "h1-0", "v0-0")].sum())
    assert free_m == pytest.approx(home_m)
    # With it: on past v0-1 and back to come in from the east (h0-1 both ways, ~270 m more), as
    # "Improve sequence" would drive it; never the turn-free figure that assumes the left turn.
    detour_m = 2 * float(signed.graph.length_m[idx(signed.graph, "h0-1")[0]])
    assert signed_m >= home_m + detour_m - 1e-6
    assert signed_m == pytest.approx(modelled_deadhead_m(signed.graph, plan, signed.depot, signed.turns))
    inst, seq = plan_instance(signed.graph, plan, signed.depot, signed.turns)
    driven = [(s.segment, s.reverse) for s in connect(signed.graph, inst, seq)]
    assert driven[1:] != [(int(plan[1]), False)]  # something is driven between h0-0 and v0-1
