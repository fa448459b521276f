"""Hotspots as places: grouping of touching units, the rate and ratio with exact intervals,
names from the streets through a place, and significance in words."""

import numpy as np
import pytest
from shapely.geometry import LineString, box

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.hotspots import Grid
from fleetpilot.analytics.places import (
    PlaceParams,
    Streets,
    group_cells,
    group_segments,
    poisson_interval,
    significance_words,
    summarise,
)

GRID = Grid(LocalFrame(-96.8, 32.77), 50.0)


def _cells(ix, iy):
    return GRID.cell_of((np.asarray(ix) + 0.5) * 50.0, (np.asarray(iy) + 0.5) * 50.0)


def test_touching_cells_merge_diagonals_included_and_apart_ones_do_not():
    # (0,0) (1,0) (2,1) touch in a chain (the last one diagonally); (5,5) is alone; (1,1) is not a member.
    cells = _cells([2, 0, 5, 1, 1], [1, 0, 5, 0, 1])
    member = np.array([True, True, True, True, False])
    labels = group_cells(cells, member)
    assert labels[4] == -1
    assert labels[0] == labels[1] == labels[3] != labels[2]
    assert sorted(set(labels[member].tolist())) == [0, 1]


def test_a_non_member_between_two_cells_does_not_join_them():
    cells = _cells([0, 1, 2], [0, 0, 0])
    labels = group_cells(cells, np.array([True, False, True]))
    assert labels[0] != labels[2] and labels[1] == -1


def test_segments_that_share_an_end_merge_and_a_gap_keeps_them_apart():
    ends = np.array(
        [
            [[0, 0], [100, 0]],
            [[100, 0], [200, 0]],  # continues the first
            [[200.5, 50], [300, 50]],  # 50 m off: apart
            [[200, 0], [200, 100]],  # meets the second, but is not a member
        ],
        dtype=float,
    )
    labels = group_segments(ends, np.array([True, True, True, False]))
    assert labels[0] == labels[1] != labels[2] and labels[3] == -1


def test_nothing_to_group_gives_no_labels():
    assert group_segments(np.zeros((0, 2, 2)), np.zeros(0, dtype=bool)).tolist() == []
    assert group_cells(_cells([0], [0]), np.array([False])).tolist() == [-1]


def test_the_poisson_interval_is_garwoods():
    low, high = poisson_interval(np.array([0, 1, 10]))
    # Published exact 95 % limits (e.g. Ulm 1990): 0 → (0, 3.689), 1 → (0.0253, 5.572), 10 → (4.795, 18.39)
    np.testing.assert_allclose(low, [0.0, 0.0253, 4.795], atol=1e-3)
    np.testing.assert_allclose(high, [3.689, 5.572, 18.39], atol=1e-2)


def test_a_place_sums_its_units_and_compares_with_the_fleet_rate():
    labels = np.array([0, 0, -1, 1])
    events = np.array([8, 4, 50, 1])
    passes = np.array([500, 500, 10_000, 1_000])
    q = np.array([0.01, 0.002, 0.5, 0.04])
    places = summarise(labels, events, passes, q, fleet_rate=0.003)
    assert len(places) == 1  # group 1 (1 in 1,000 passes) is below the fleet's 3 in 1,000: no hotspot
    place = places[0]
    assert (place.events, place.passes) == (12, 1000) and place.members.tolist() == [0, 1]
    assert place.rate == pytest.approx(0.012) and place.ratio == pytest.approx(4.0)
    assert place.expected == pytest.approx(3.0) and place.q == 0.002
    assert place.rate_low < place.rate < place.rate_high
    assert place.ratio_low == pytest.approx(place.rate_low / 0.003)
    low, high = poisson_interval(np.array([12]))
    assert place.rate_high == pytest.approx(high[0] / 1000)


def test_places_come_most_significant_first():
    labels = np.array([0, 1])
    places = summarise(labels, np.array([10, 10]), np.array([100, 100]), np.array([0.04, 0.001]), fleet_rate=0.01)
    assert [p.members.tolist() for p in places] == [[1], [0]]


CITY = Streets(
    ["Madison Terrace", "Austin Court", "Elm Street", None, "Oak Lane"],
    [
        LineString([(-500, 0), (0, 0), (500, 0)]),  # east-west
        LineString([(0, -300), (0, 0)]),  # meets Madison Terrace at (0, 0) from the south
        LineString([(200, -300), (200, 300)]),  # crosses Madison Terrace at (200, 0)
        LineString([(-100, 20), (-100, 400)]),  # an unnamed lane
        LineString([(-500, 45), (-300, 45)]),  # parallel to Madison Terrace, 45 m north
    ],
)


def test_a_place_at_a_crossing_is_named_by_both_streets():
    name, streets = CITY.name(box(-25, -25, 25, 25))
    assert name == "Madison Terrace at Austin Court" and streets == ["Madison Terrace", "Austin Court"]


def test_a_stretch_between_two_crossings_is_named_between_them():
    name, _ = CITY.name(box(-10, -10, 210, 10))
    assert name == "Madison Terrace between Austin Court and Elm Street"


def test_a_place_on_one_street_is_named_by_it_and_the_nearest_other():
    assert CITY.name(box(-450, -20, -400, 20))[0] == "Madison Terrace near Oak Lane"
    assert CITY.name(box(350, -20, 400, 20))[0] == "Madison Terrace"  # nothing else within 60 m


def test_unnamed_streets_and_clipped_corners_do_not_name_a_place():
    # Touches Austin Court only in a 3 m corner; the unnamed lane runs through it.
    name, streets = CITY.name(box(-120, 200, -97, 250), PlaceParams(street_m=0.0))
    assert name == "a place off the named streets" and streets == []
    assert CITY.name(box(-120, 40, -80, 90))[0] == "near Madison Terrace"  # 40 m off it


def test_significance_in_words_says_what_happened_and_what_q_promises():
    words = significance_words(12, 3.04, 0.004, 0.05, "hard brakes")
    assert words.startswith("12 hard brakes where the fleet's rate predicts 3.0: strong evidence")
    assert "at most 5% are expected to be false alarms" in words
    assert "very strong" in significance_words(40, 3.0, 1e-6, 0.05)
    assert "q below 0.0001" in significance_words(40, 3.0, 1e-6, 0.05)
    assert "predicts 0.022:" in significance_words(4, 0.0216, 1e-6, 0.05)  # not "0.0"
