"""OSM turn restrictions: read with member roles, mapped onto the split segments, stored with the
city's version, and never taken by "Improve sequence" (a forbidden left turn forces a detour)."""

from __future__ import annotations

import asyncpg
import numpy as np
import pytest
from osm_extract import helsinki_extract
from support import run

from fleetpilot.analytics.whatif import plan_edit
from fleetpilot.api.route_plans import edit
from fleetpilot.api.route_plans.schemas import ImproveAsk
from fleetpilot.streets.network import split
from fleetpilot.streets.read import read_lines
from fleetpilot.streets.restrictions import file_turns, read_restrictions
from fleetpilot.streets.store import store_streets

# A 3 × 3 grid of nodes ~55 m apart: 1 2 3 along the south, 4 5 6 across the middle, 7 8 9 north.
# Way 20 runs east 4 → 5 and ends there; 22 leaves 5 northwards, one-way. At node 5 a left turn
# from 20 onto 22 is forbidden, and from the south (23) only straight on (onto 22) is allowed.
_NODES = "\n".join(
    f'  <node id="{1 + r * 3 + c}" lat="{60.1695 + 0.0005 * r:.4f}" lon="{24.940 + 0.001 * c:.3f}" version="1"/>'
    for r in range(3)
    for c in range(3)
)
_WAYS = {20: (4, 5), 21: (5, 6), 22: (5, 8), 23: (2, 5), 24: (1, 2, 3), 25: (7, 8, 9), 26: (1, 4, 7), 27: (3, 6, 9)}


def _way(wid: int, nodes: tuple[int, ...]) -> str:
    nds = "".join(f'<nd ref="{n}"/>' for n in nodes)
    oneway = '<tag k="oneway" v="yes"/>' if wid == 22 else ""
    return f'  <way id="{wid}" version="1">{nds}<tag k="highway" v="residential"/>{oneway}</way>'


def _rel(rid: int, members: list[tuple[str, int, str]], **tags: str) -> str:
    ms = "".join(f'<member type="{t}" ref="{ref}" role="{role}"/>' for t, ref, role in members)
    ts = "".join(f'<tag k="{k.replace("__", ":")}" v="{v}"/>' for k, v in tags.items())
    return f'  <relation id="{rid}" version="1">{ms}{ts}</relation>'


OSM = f"""<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="test">
{_NODES}
{chr(10).join(_way(w, n) for w, n in _WAYS.items())}
{_rel(900, [("way", 20, "from"), ("node", 5, "via"), ("way", 22, "to")], type="restriction", restriction="no_left_turn")}
{_rel(901, [("way", 23, "from"), ("node", 5, "via"), ("way", 22, "to")], type="restriction", restriction="only_straight_on")}
{_rel(902, [("way", 21, "from"), ("node", 5, "via"), ("way", 23, "to")], type="restriction", restriction="no_left_turn", **{"except": "bus;hgv"})}
{_rel(903, [("way", 24, "from"), ("way", 27, "via"), ("way", 25, "to")], type="restriction", restriction="no_u_turn")}
{_rel(904, [("way", 26, "from"), ("node", 4, "via"), ("way", 20, "to")], type="restriction", restriction__conditional="no_right_turn @ (Mo-Fr 07:00-09:00)")}
</osm>
"""


@pytest.fixture
def grid_file(tmp_path):
    path = tmp_path / "grid.osm"
    path.write_text(OSM)
    return path


def _way_of(segment_id: str) -> int:
    return int(segment_id.split("-")[1])


def test_restriction_relations_are_read_with_their_roles_and_what_is_not_read_is_counted(grid_file):
    found, skipped = read_restrictions(grid_file)
    assert sorted((r.relation_id, r.kind, r.from_ways, r.to_ways) for r in found) == [
        (900, "no_left_turn", (20,), (22,)),
        (901, "only_straight_on", (23,), (22,)),
    ]
    assert found[0].via == pytest.approx((24.941, 60.17))
    # 902 exempts trucks, 904 holds only at times; 903 goes via a way.
    assert dict(skipped) == {"conditional or not for trucks": 2, "via a way": 1}


def test_restrictions_become_forbidden_turns_between_the_segments_at_the_via_node(grid_file):
    segments = split(read_lines(grid_file))
    mapped = file_turns(grid_file, segments)
    pairs = sorted((_way_of(t.from_segment_id), _way_of(t.to_segment_id), t.restriction) for t in mapped.turns)
    # no_* forbids from → to; only_* forbids every other way out, turning round included.
    assert pairs == [
        (20, 22, "no_left_turn"),
        (23, 20, "only_straight_on"),
        (23, 21, "only_straight_on"),
        (23, 23, "only_straight_on"),
    ]
    assert mapped.relations == 2
    assert {(t.via_lon, t.via_lat) for t in mapped.turns} == {(24.941, 60.17)}
    # GIS centre lines carry none.
    assert file_turns(grid_file.with_suffix(".geojson"), segments).turns == []


def _moves(net, steps) -> set[tuple[int, int, int]]:
    out = set()
    for a, b in zip(steps, steps[1:]):
        via = int(net.start[a.segment] if a.reverse else net.end[a.segment])
        out.add((a.segment, via, b.segment))
    return out


def test_stored_restrictions_keep_the_city_version_and_the_proposal_drives_round_them(db_url, grid_file):
    segments = split(read_lines(grid_file))
    turns = file_turns(grid_file, segments).turns

    async def body():
        conn = await asyncpg.connect(db_url)
        try:
            first = await store_streets(conn, segments, turns=turns)
            version = await conn.fetchval("SELECT value FROM fleetpilot_meta WHERE key = 'city_version'")
            again = await store_streets(conn, segments, turns=turns)
            same = version == await conn.fetchval("SELECT value FROM fleetpilot_meta WHERE key = 'city_version'")
            stored = await conn.fetchval("SELECT count(*) FROM street_turn_restrictions")
            net = await edit.streets(conn)
            # The plans page's door: a route of the east street and the north street, re-sequenced.
            east, north = (next(s.segment_id for s in segments if _way_of(s.segment_id) == w) for w in (20, 22))
            await conn.execute("INSERT INTO routes (route_id, name, current_version) VALUES ('r1', 'r1', 1)")
            await conn.execute("INSERT INTO route_versions (route_id, version, created_by) VALUES ('r1', 1, 't')")
            proposal = await edit.improve(conn, "r1", ImproveAsk(segments=[east, north], seconds=0.3))
            # A removed segment takes its restrictions with it; a GIS import (no turns) clears them.
            dropped = [s for s in segments if _way_of(s.segment_id) != 23]
            fewer = await store_streets(conn, dropped, turns=None)
            left = await conn.fetchval("SELECT count(*) FROM street_turn_restrictions")
            return first, again, same, stored, net, fewer, left, proposal
        finally:
            await conn.close()

    first, again, same, stored, net, fewer, left, proposal = run(body())
    forbidden = {(t.from_segment_id, t.to_segment_id) for t in turns}
    driven = [s.segment_id for s in proposal.steps]
    assert not set(zip(driven, driven[1:])) & forbidden, driven
    assert proposal.deadhead_km_after > 0.3  # round the block, then back to the start
    assert (first.turn_restrictions, first.turns_added, stored) == (4, 4, 4)
    assert (again.turns_added, again.turns_removed) == (0, 0) and same  # nothing written the second time
    assert fewer.removed == 1 and left == 1  # 23's three turns went with it
    assert len(net.turns.restricted) == 4

    g = net.graph
    east = next(i for i, s in enumerate(g.segment_ids) if _way_of(str(s)) == 20)
    north = next(i for i, s in enumerate(g.segment_ids) if _way_of(str(s)) == 22)
    via = int(g.end[east]) if g.end[east] in (g.start[north],) else int(g.start[east])
    depot = int(g.start[east]) if via == int(g.end[east]) else int(g.end[east])
    plan = np.array([east, north])
    free, _, free_m = plan_edit.sequence(g, plan, depot, 0.3, edit.TURNS)
    steps, _, after_m = plan_edit.sequence(g, plan, depot, 0.3, net.turns)
    assert (east, via, north) in _moves(g, free)  # unrestricted: east, then straight into the left turn
    assert not _moves(g, steps) & net.turns.restricted
    assert sorted(s.segment for s in steps if s.service) == sorted(plan.tolist())
    # The legal way: on east, and round the block (three right turns) to come in from the east or south.
    assert after_m > free_m + 150
    print(f"\nfree deadhead {free_m:.0f} m, with the forbidden left turn {after_m:.0f} m")


def test_the_helsinki_extract_has_restrictions_and_no_proposal_takes_one():
    path = helsinki_extract()
    segments = split(read_lines(path))
    mapped = file_turns(path, segments)
    print(
        f"\nHelsinki: {mapped.relations} restriction relations → {len(mapped.turns)} forbidden turns; "
        f"skipped {mapped.skipped}"
    )
    assert mapped.relations >= 40 and len(mapped.turns) >= 40
    rows = [{"segment_id": s.segment_id, "one_way": s.one_way, "geometry": s.geojson()} for s in segments]
    turn_rows = [t.__dict__ for t in mapped.turns]
    net = edit._build(rows, None, turn_rows, [])  # no facilities: plans without landfill trips
    g, restricted = net.graph, net.turns.restricted
    assert len(restricted) == len(mapped.turns)
    # Plans made to tempt the sequencer: each restriction's two segments and their neighbours.
    touching = {}
    for i in range(len(g.segment_ids)):
        for n in (int(g.start[i]), int(g.end[i])):
            touching.setdefault(n, []).append(i)
    plans = []
    for f, via, t in sorted(restricted):
        near = sorted({f, t, *touching[via], *touching[int(g.start[t])], *touching[int(g.end[t])]})
        plans.append(np.array(near[:12]))
    taken_free = 0
    for plan in plans[:24]:
        depot = int(g.start[plan[0]])
        free, _, _ = plan_edit.sequence(g, plan, depot, 0.15, edit.TURNS)
        taken_free += bool(_moves(g, free) & restricted)
        steps, _, _ = plan_edit.sequence(g, plan, depot, 0.15, net.turns)
        assert not _moves(g, steps) & restricted
        assert sorted(s.segment for s in steps if s.service) == sorted(plan.tolist())
    print(f"plans: {min(len(plans), 24)}; unrestricted, {taken_free} of them took a forbidden turn")
    assert taken_free > 0  # the plans do tempt: without the restrictions some take one
