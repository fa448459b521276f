"""Turn-aware sequencing: a restricted turn is never taken, no turning round where a block can be
driven round instead, left turns cost more than right turns, one-way streets only forwards, and
the proposal serves every segment."""

from __future__ import annotations

import numpy as np
import pytest

from fleetpilot.analytics.whatif.arcroute import best_directions
from fleetpilot.analytics.whatif.plan_edit import Step, connect, plan_instance, sequence, trip_model, turn_paths
from fleetpilot.analytics.whatif.turns import TurnRules, turn_penalty
from tests.whatif.test_plan_edit import grid, idx


def _node(net, seg: str, end: bool) -> int:
    i = idx(net, seg)[0]
    return int(net.end[i] if end else net.start[i])


def _moves(net, steps: list[Step]) -> list[tuple[int, int, int, bool]]:
    """(from segment, via node, to segment, turned round) of each consecutive pair of steps."""
    out = []
    for a, b in zip(steps, steps[1:]):
        via = int(net.start[a.segment] if a.reverse else net.end[a.segment])
        b_from = int(net.end[b.segment] if b.reverse else net.start[b.segment])
        assert via == b_from, "every step starts where the last ended"
        out.append((a.segment, via, b.segment, a.segment == b.segment))
    return out


def test_a_restricted_turn_is_never_taken_even_where_it_is_the_shortest_way():
    net = grid(4, one_way=frozenset({"h0-0", "v0-1"}))
    a, b = idx(net, "h0-0", "v0-1")  # east along h0-0, then north up v0-1: a left turn at their node
    via = _node(net, "h0-0", True)
    plan = np.array([a, b])
    depot = _node(net, "h0-0", False)
    turn = (int(a), via, int(b), False)
    free_steps, _, free_m = sequence(net, plan, depot, 0.2, TurnRules())
    assert turn in _moves(net, free_steps)  # unrestricted, the truck turns straight into b
    rules = TurnRules(restricted=frozenset({(int(a), via, int(b))}))
    steps, _, after = sequence(net, plan, depot, 0.2, rules)
    assert turn not in _moves(net, steps)
    assert sorted(s.segment for s in steps if s.service) == sorted(plan.tolist())
    assert after > free_m  # it drives round instead
    # Any plan over the grid with the turn forbidden: never in the connected steps.
    many = idx(net, "h0-0", "v0-1", "h1-1", "v1-2", "h2-0", "v0-0", "h1-0")
    steps, _, _ = sequence(net, many, depot, 0.3, rules)
    assert all(m[:3] != turn[:3] for m in _moves(net, steps))


def test_the_truck_drives_round_the_block_rather_than_turning_round():
    net = grid(4)
    seg = idx(net, "h1-1")
    depot = _node(net, "h1-1", False)
    plain, _ = plan_instance(net, seg, depot)
    turned, seq = plan_instance(net, seg, depot, TurnRules())
    # Without turns: along the street and straight back (a U-turn at its end), one street's length.
    assert plain.metres(np.array([0])) == pytest.approx(net.length_m[seg[0]], rel=1e-6)
    # With turns: round the block (three more streets), never turning round.
    assert turned.metres(seq) > 2.5 * net.length_m[seg[0]]
    steps, _, _ = sequence(net, np.r_[seg, idx(net, "h1-0")], depot, 0.2, TurnRules())
    assert not any(m[3] for m in _moves(net, steps))


def test_a_left_turn_costs_and_a_right_turn_does_not_where_traffic_drives_on_the_right():
    x, y = np.array([0.0, 100.0, 100.0, 100.0]), np.array([0.0, 0.0, 100.0, -100.0])
    rules = TurnRules(left_m=30.0)
    assert turn_penalty(x, y, (0, 1), (1, 2), False, rules) == 30.0  # east then north: left
    assert turn_penalty(x, y, (0, 1), (1, 3), False, rules) == 0.0  # east then south: right
    assert turn_penalty(x, y, (0, 1), (1, 0), True, rules) == rules.uturn_m
    left_hand = TurnRules(left_m=30.0, drive_side="left")
    assert turn_penalty(x, y, (0, 1), (1, 3), False, left_hand) == 30.0


def test_one_way_streets_stay_forwards_in_service_and_in_deadhead_with_turns():
    one_way = frozenset({"h1-1", "v1-2", "h2-0"})
    net = grid(5, one_way=one_way)
    plan = idx(net, "h3-3", "h1-1", "v1-2", "h0-0", "h2-0", "v0-0")
    depot = _node(net, "h0-0", False)
    steps, before, after = sequence(net, plan, depot, 0.5, TurnRules())
    assert sorted(s.segment for s in steps if s.service) == sorted(plan.tolist())
    assert not any(s.reverse and net.one_way[s.segment] for s in steps)
    _moves(net, steps)  # connected end to end
    assert after > 0 and before > 0


def test_the_way_to_a_facility_takes_the_same_turns_and_the_trip_model_counts_it():
    # The plan ends at h0-0's east end; the facility is one street north (up v0-1), a left turn
    # there is forbidden: the truck goes on east, north and back west to reach it.
    net = grid(3, one_way=frozenset({"h0-0"}))
    a, b = idx(net, "h0-0", "v0-1")
    via, facility = _node(net, "h0-0", True), _node(net, "v0-1", True)
    depot = _node(net, "h0-0", False)
    rules = TurnRules(restricted=frozenset({(int(a), via, int(b))}))
    plan = np.array([a])
    free, _ = plan_instance(net, plan, depot, paths=turn_paths(net, depot, TurnRules(), [facility]))
    signed, seq = plan_instance(net, plan, depot, paths=turn_paths(net, depot, rules, [facility]))
    assert free.turns is not None and signed.turns is not None
    assert free.turns.to_facility_m[0, seq[0]] == pytest.approx(net.length_m[b])  # straight up v0-1
    east, north, west = idx(net, "h0-1", "v0-2", "h1-1")
    round_m = float(net.length_m[[east, north, west]].sum())
    assert signed.turns.to_facility_m[0, seq[0]] == pytest.approx(round_m)
    # The final tip's detour in the trip model: to the facility and home, less straight home, all
    # over the same turn-aware paths.
    model = trip_model(net, signed, seq)
    home = signed.turns.to_facility_m[0, seq[0]] + signed.turns.facility_to_end_m[0]
    assert model.final_extra_m == pytest.approx(max(home - signed.metres(seq), 0.0))
    # The same paths with a PathRows kept and reused: the same figures.
    paths = turn_paths(net, depot, rules, [facility])
    plan_instance(net, idx(net, "h0-0", "h2-1"), depot, paths=paths)  # another plan first
    again, seq2 = plan_instance(net, plan, depot, paths=paths)
    assert again.metres(seq2) == pytest.approx(signed.metres(seq))
    assert again.turns.to_facility_m[0, seq2[0]] == pytest.approx(round_m)


def _reference(net, plan, depot, rules, facilities):
    """The instance's cost and metres from whole searches from every source (no limit, no reuse)."""
    from scipy.sparse.csgraph import dijkstra

    from fleetpilot.analytics.whatif.turns import _path_metres

    tg = turn_paths(net, depot, rules, facilities).tg
    trav = np.array([2 * s + r for s in plan for r in (0, 1) if tg.valid[2 * s + r]])
    leave = [tg.leave(k) for k in range(len(facilities))]
    sources = np.r_[trav, tg.start_vertex, leave]
    dist, pred = dijkstra(tg.graph, indices=sources, return_predecessors=True)
    length = np.r_[tg.length_m, np.zeros(tg.graph.shape[0] - len(tg.length_m))]
    metres = np.where(np.isfinite(dist), _path_metres(pred, length), np.inf)
    k = len(trav)
    arrive = [tg.arrive(j) for j in range(len(facilities))]
    return {
        "deadhead": metres[:k][:, trav],
        "to_end": metres[:k, tg.start_vertex + 1],
        "to_facility": metres[:k][:, arrive].T,
        "from_facility": metres[k + 1 :][:, trav],
    }


def test_an_edit_searches_only_its_new_streets_and_gets_the_same_paths_as_whole_searches():
    # A 7×7 grid, some one-way streets, a forbidden turn and two facilities; a district plan in
    # the south-west, then edits: three streets dropped and four far ones (north-east) added.
    net = grid(7, one_way=frozenset({"h0-0", "v1-1", "h3-2", "v2-4", "h5-4"}))
    a, b = idx(net, "h1-0", "v1-1")
    rules = TurnRules(restricted=frozenset({(int(a), _node(net, "h1-0", True), int(b))}))
    facilities = [_node(net, "v5-6", True), _node(net, "h0-3", False)]
    depot = _node(net, "h0-0", False)
    district = [f"h{r}-{c}" for r in range(3) for c in range(3)] + [f"v{r}-{c}" for r in range(2) for c in range(3)]
    far = ["h5-4", "v4-5", "h6-5", "v5-5"]
    plans = [idx(net, *district), idx(net, *district[3:], *far), idx(net, *far, *district[:2])]
    paths = turn_paths(net, depot, rules, facilities)
    searched = []
    search = paths.search

    def spy(sources, targets, first_limit):
        searched.append(len(sources))
        return search(sources, targets, first_limit)

    paths.search = spy  # type: ignore[method-assign]
    for plan in plans:
        inst, _ = plan_instance(net, plan, depot, paths=paths)
        ti = inst.turns
        assert ti is not None
        want = _reference(net, plan, depot, rules, facilities)
        trav = ti.traversal
        own = net.length_m[trav // 2]
        deadhead = np.where(ti.cost.task[:, None] == ti.cost.task[None, :], np.inf, want["deadhead"] - own[None, :])
        np.testing.assert_allclose(ti.metres.deadhead_m, np.maximum(deadhead, 0.0))
        np.testing.assert_allclose(ti.metres.to_end_m, want["to_end"])
        np.testing.assert_allclose(ti.to_facility_m, want["to_facility"])
        np.testing.assert_allclose(ti.from_facility_m, np.maximum(want["from_facility"] - own[None, :], 0.0))
        # The steps between the streets (searched again, only as far as each path) are those paths.
        seq = best_directions(inst.arc, np.arange(len(plan)))
        drive = sum(float(net.length_m[st.segment]) for st in connect(net, inst, seq) if not st.service)
        assert drive == pytest.approx(float(ti.metres.deadhead_m[seq[:-1], seq[1:]].sum()))
    # Forwards from every source of the first plan (31: 29 traversals, depot, facility exits);
    # then only from each edit's new traversals: the 4 far streets, then h0-0 (one-way) and h0-1.
    assert searched == [31, sum(2 - int(net.one_way[s]) for s in idx(net, *far)), 3]
