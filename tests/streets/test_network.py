"""Splitting street lines at intersections; one-way; speed limits (pure, no I/O)."""

from __future__ import annotations

import numpy as np
import pytest

from fleetpilot.streets.network import DEFAULT_SPEED_KMH, Line, lengths_m, parse_maxspeed, split


def _line(ident, coords, road_class="residential", **tags) -> Line:
    return Line(ident, np.array(coords, dtype=float), road_class, **tags)


def test_lines_are_split_where_another_line_touches_them():
    # A long street crossed in its middle by a side street that ends on it (a T) and one that
    # crosses it (a +): three pieces of the long street, two of the crossing, one of the T.
    main = _line("main", [[0, 0], [0.001, 0], [0.002, 0], [0.003, 0]], name="Main St")
    t = _line("t", [[0.001, 0], [0.001, 0.001]])
    cross = _line("cross", [[0.002, -0.001], [0.002, 0], [0.002, 0.001]])
    segments = split([main, t, cross])
    by_line = {}
    for s in segments:
        by_line.setdefault(s.segment_id.rsplit("-", 1)[0], []).append(s)
    assert len(by_line["main"]) == 3 and len(by_line["cross"]) == 2 and len(by_line["t"]) == 1
    assert [s.coords[0, 0] for s in by_line["main"]] == [0, 0.001, 0.002]
    assert all(s.name == "Main St" for s in by_line["main"])
    # Pieces add up to the line: nothing lost, nothing doubled.
    assert sum(lengths_m(by_line["main"])) == pytest.approx(lengths_m(split([main]))[0])


def test_a_vertex_only_one_line_passes_is_not_an_intersection():
    bend = _line("bend", [[0, 0], [0.001, 0.0005], [0.002, 0]])
    assert len(split([bend])) == 1


def test_footways_and_unknown_classes_are_left_out():
    assert split([_line("f", [[0, 0], [0.001, 0]], "footway"), _line("c", [[0, 0], [0.001, 0]], "cycleway")]) == []


def test_ids_are_stable_and_change_with_the_street():
    a = split([_line("w1", [[0, 0], [0.001, 0]]), _line("w2", [[0.001, 0], [0.001, 0.001]])])
    b = split([_line("w2", [[0.001, 0], [0.001, 0.001]]), _line("w1", [[0, 0], [0.001, 0]])])
    assert {s.segment_id for s in a} == {s.segment_id for s in b}
    moved = split([_line("w1", [[0, 0], [0.0011, 0]])])
    assert moved[0].segment_id != next(s.segment_id for s in a if s.segment_id.startswith("w1"))


@pytest.mark.parametrize(
    ("tag", "one_way", "reversed_"),
    [("yes", True, False), ("-1", True, True), ("no", False, False), (None, False, False), ("TF", True, True)],
)
def test_one_way_follows_the_tag_and_minus_one_reverses_the_drawing(tag, one_way, reversed_):
    (s,) = split([_line("w", [[0, 0], [0.001, 0]], oneway=tag)])
    assert s.one_way is one_way
    assert s.coords[0, 0] == (0.001 if reversed_ else 0)


def test_motorways_and_roundabouts_are_one_way_unless_tagged():
    assert split([_line("m", [[0, 0], [0.01, 0]], "motorway")])[0].one_way
    assert split([_line("r", [[0, 0], [0.001, 0]], roundabout=True)])[0].one_way
    assert not split([_line("m", [[0, 0], [0.01, 0]], "motorway", oneway="no")])[0].one_way


@pytest.mark.parametrize(
    ("value", "kmh"),
    [("50", 50.0), ("30 mph", 48.28032), ("50;40", 40.0), ("FI:urban", None), ("none", None), ("", None), (None, None)],
)
def test_maxspeed_parses_numbers_and_miles_per_hour(value, kmh):
    assert parse_maxspeed(value) == (pytest.approx(kmh) if kmh else None)


def test_without_maxspeed_the_class_default_applies():
    (s,) = split([_line("w", [[0, 0], [0.001, 0]], "secondary", maxspeed="FI:urban")])
    assert s.speed_limit_kmh == DEFAULT_SPEED_KMH["secondary"]
    (s,) = split([_line("w", [[0, 0], [0.001, 0]], "secondary", maxspeed="40")])
    assert s.speed_limit_kmh == 40.0


def test_repeated_vertices_make_no_zero_length_segments():
    segments = split([_line("w", [[0, 0], [0, 0], [0.001, 0]]), _line("v", [[0, 0], [0, 0.001]])])
    assert all(len(s.coords) >= 2 and lengths_m([s])[0] > 0 for s in segments)
