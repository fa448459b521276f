"""The stop sequencer: known optima, turn counting, and that it never makes an order worse."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetpilot.analytics.whatif.tour import (
    TurnCosts,
    distance_matrix,
    nearest_neighbour,
    optimise,
    path_cost,
    path_length,
    turn_counts,
)


def test_stops_on_a_line_are_visited_end_to_end():
    rng = np.random.default_rng(4)
    xy = np.column_stack([np.arange(40) * 50.0, np.zeros(40)])
    shuffled = np.r_[0, rng.permutation(np.arange(1, 40))]
    order = optimise(xy[shuffled], 0)
    assert path_length(distance_matrix(xy[shuffled]), order) == pytest.approx(39 * 50.0)


def test_a_grid_is_covered_without_detours_or_u_turns():
    grid = np.array([(i * 40.0, j * 40.0) for i in range(8) for j in range(8)])
    order = optimise(grid, 0)
    assert sorted(order.tolist()) == list(range(64))
    assert path_length(distance_matrix(grid), order) <= 63 * 40.0 * 1.05
    assert turn_counts(grid, order)[1] == 0


def test_turns_are_signed_by_the_side_of_the_road_traffic_drives_on():
    # East, then north: a left turn; then back south: a U-turn.
    xy = np.array([[0.0, 0.0], [100.0, 0.0], [100.0, 100.0], [100.0, 0.0]])
    assert turn_counts(xy, np.arange(4), "right") == (1, 1)
    assert turn_counts(xy, np.arange(4), "left") == (0, 1)
    with pytest.raises(ValueError):
        TurnCosts(drive_side="middle")


def test_turn_penalties_steer_the_order_away_from_crossing_turns():
    grid = np.array([(i * 40.0, j * 40.0) for i in range(6) for j in range(6)])
    cheap = optimise(grid, 0, TurnCosts(left_penalty_m=0.0, uturn_penalty_m=0.0))
    costly = optimise(grid, 0, TurnCosts(left_penalty_m=500.0, uturn_penalty_m=1000.0))
    assert turn_counts(grid, costly)[0] <= turn_counts(grid, cheap)[0]


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=3, max_value=40), st.integers(min_value=0, max_value=10_000))
def test_the_optimiser_never_does_worse_than_nearest_neighbour(n, seed):
    xy = np.random.default_rng(seed).random((n, 2)) * 1000
    turns = TurnCosts()
    dist = distance_matrix(xy)
    order = optimise(xy, 0, turns)
    assert order[0] == 0 and sorted(order.tolist()) == list(range(n))
    assert path_cost(xy, dist, order, turns) <= path_cost(xy, dist, nearest_neighbour(dist, 0), turns) + 1e-6
