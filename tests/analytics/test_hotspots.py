"""Exposure, Gi* (against a direct implementation), Benjamini–Hochberg and the hotspot rules."""

import numpy as np
import pytest

from fleetpilot.analytics.hotspots import (
    Grid,
    HotspotParams,
    benjamini_hochberg,
    events_per_cell,
    gi_star,
    hotspots,
    passes_per_cell,
    passes_per_segment,
    queen_neighbours,
)
from fleetpilot.analytics.segmentation import build_track


def _cells(grid, ix, iy):
    """Cell ids of integer cell coordinates (via the cell centres, as the API offers)."""
    return grid.cell_of((np.asarray(ix) + 0.5) * grid.cell_m, (np.asarray(iy) + 0.5) * grid.cell_m)


def test_grid_cells_are_stable_and_centres_round_trip(build):
    grid = Grid(build.frame, 50.0)
    x = np.array([-75.0, -25.0, 0.0, 49.9, 50.0, 1e4])
    cell = grid.cell_of(x, np.zeros_like(x))
    assert len(set(cell.tolist())) == 5 and cell[2] == cell[3] != cell[4]
    lon, lat = grid.centre(cell)
    cx, cy = build.frame.to_xy(lon, lat)
    np.testing.assert_allclose(cx, [-75.0, -25.0, 25.0, 25.0, 75.0, 10025.0], atol=0.01)
    np.testing.assert_allclose(cy, 25.0, atol=0.01)


def test_a_pass_is_an_entry_into_a_cell(build):
    grid = Grid(build.frame, 50.0)
    # East through three cells, back west into the first, then wait there (still one pass).
    x = np.concatenate([np.arange(0, 150, 5.0), np.arange(145, 0, -5.0), np.full(20, 2.0)])
    track = build_track(build.fixes(x, np.full(len(x), 10.0), speed=5.0), build.frame)
    _, cell, passes = passes_per_cell(grid, track)
    by_cell = dict(zip(cell.tolist(), passes.tolist()))
    assert by_cell == {int(c): p for c, p in zip(_cells(grid, [0, 1, 2], [0, 0, 0]), [2, 2, 1])}


def _direct_gi_star(values: dict[tuple[int, int], float]) -> dict[tuple[int, int], float]:
    """Gi* straight from Ord & Getis (1995), binary queen weights with self, by loops."""
    keys = list(values)
    x = np.array([values[k] for k in keys])
    n = len(x)
    mean = x.mean()
    s = np.sqrt((x**2).mean() - mean**2)
    out = {}
    for i, j in keys:
        neigh = [values[(i + a, j + b)] for a in (-1, 0, 1) for b in (-1, 0, 1) if (i + a, j + b) in values]
        w = len(neigh)
        out[(i, j)] = (sum(neigh) - mean * w) / (s * np.sqrt((n * w - w * w) / (n - 1)))
    return out


def test_gi_star_matches_the_textbook_formula(build):
    grid = Grid(build.frame, 50.0)
    rng = np.random.default_rng(11)
    coords = [(i, j) for i in range(7) for j in range(5) if rng.random() < 0.8]
    values = {c: float(rng.gamma(2.0, 1.0)) for c in coords}
    values[(3, 2)] = 12.0
    expected = _direct_gi_star(values)
    ids = _cells(grid, [c[0] for c in coords], [c[1] for c in coords])
    order = np.argsort(ids)
    z = gi_star(np.array([values[c] for c in coords])[order], queen_neighbours(ids[order]))
    np.testing.assert_allclose(z, [expected[coords[k]] for k in order], rtol=1e-10)


def test_benjamini_hochberg_by_hand():
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.005]))
    np.testing.assert_allclose(q, [0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg(np.array([0.9, 0.95])).max() <= 1.0


def _background(grid, rng, rate=0.01, passes=200, size=20):
    ix, iy = np.meshgrid(np.arange(size), np.arange(size))
    cells = _cells(grid, ix.ravel(), iy.ravel())
    p = np.full(len(cells), passes)
    return cells, p, rng.poisson(p * rate)


def test_a_dangerous_cell_is_found_and_nothing_else(build):
    grid = Grid(build.frame, 50.0)
    rng = np.random.default_rng(5)
    cells, passes, events = _background(grid, rng)
    hot = int(np.flatnonzero(cells == _cells(grid, 10, 10))[0])
    events[hot] = 60  # 0.3 per pass against 0.01
    result = hotspots(cells, passes, events)
    clusters = result.clusters(grid)
    assert len(clusters) == 1
    assert clusters[0]["peak_cell"] == cells[hot]
    assert result.significant[np.searchsorted(result.cell, cells[hot])]


def test_the_busiest_street_is_not_a_hotspot_by_its_count(build):
    """A row of cells with 50× the traffic and 50× the events (the same rate) has by far the
    most events, and is not a hotspot."""
    grid = Grid(build.frame, 50.0)
    rng = np.random.default_rng(6)
    cells, passes, events = _background(grid, rng)
    busy = np.isin(cells, _cells(grid, np.arange(20), np.full(20, 7)))
    passes[busy] *= 50
    events[busy] = rng.poisson(passes[busy] * 0.01)
    result = hotspots(cells, passes, events)
    assert events[busy].min() > events[~busy].max()
    assert not result.significant.any()


def test_quiet_cells_cannot_become_hotspots_from_one_event(build):
    grid = Grid(build.frame, 50.0)
    cells = _cells(grid, np.arange(30), np.zeros(30))
    passes = np.full(30, 100)
    events = np.zeros(30)
    passes[15], events[15] = 5, 1  # one event in five passes: too little exposure to test
    passes[5], events[5] = 40, 2  # a rate of 0.05 in a spotless area: too few events
    result = hotspots(cells, passes, events, HotspotParams(min_passes=30, min_events=3))
    assert cells[15] not in result.cell
    assert not result.significant.any()


def test_rows_for_one_cell_are_summed_and_events_are_binned(build):
    grid = Grid(build.frame, 50.0)
    c = _cells(grid, [0, 0, 1], [0, 0, 0])
    result = hotspots(c, np.array([20, 20, 40]), np.array([1, 2, 0]), HotspotParams(min_passes=30))
    assert result.cell.tolist() == sorted(set(c.tolist())) and result.passes.tolist() == [40, 40]
    lon, lat = grid.centre(c[:1])
    _, cell, count = events_per_cell(grid, np.array([0, 0, 1]), np.repeat(lon, 3), np.repeat(lat, 3))
    assert cell.tolist() == [c[0], c[0]] and count.tolist() == [2, 1]


def test_no_tested_cells_gives_an_empty_result(build):
    grid = Grid(build.frame, 50.0)
    empty = hotspots(_cells(grid, [0], [0]), np.array([3]), np.array([1]))
    assert len(empty.cell) == 0 and empty.clusters(grid) == []


def test_segment_passes_and_mean_speed(build):
    # Fixes matched to street 4, then 5, then 4 again; a different vehicle on street 4.
    line = np.array([4, 4, 4, 5, 5, 4, -1, 4, 4], dtype=np.int32)
    speed = np.array([2, 4, 6, 8, 8, 10, 0, 3, 3], dtype=float)
    two = build_track(
        build.concat(
            build.fixes(np.arange(7) * 5.0, np.zeros(7), speed=speed[:7], vehicle=0),
            build.fixes(np.arange(2) * 5.0, np.zeros(2), speed=speed[7:], vehicle=1),
        ),
        build.frame,
    )
    tr, seg, passes, mean = passes_per_segment(two, line)
    assert list(zip(tr.tolist(), seg.tolist(), passes.tolist())) == [(0, 4, 2), (0, 5, 1), (1, 4, 1)]
    np.testing.assert_allclose(mean, [(2 + 4 + 6 + 10) / 4, 8.0, 3.0])


def test_count_tail_is_poisson_without_extra_variance_and_negative_binomial_with_it():
    from scipy import stats

    from fleetpilot.analytics.hotspots import negative_binomial_tail

    observed = np.array([0.0, 4.0, 11.0, 11.0])
    mean = np.array([1.0, 0.7, 1.9, 1.9])
    extra = np.array([0.0, 0.0, 0.0, 3.0])
    p = negative_binomial_tail(observed, mean, extra)
    assert p[0] == 1.0
    np.testing.assert_allclose(p[1:3], stats.poisson.sf(observed[1:3] - 1, mean[1:3]))
    size = 1.9**2 / 3.0
    nb = stats.nbinom(size, size / (size + 1.9))
    assert nb.mean() == pytest.approx(1.9) and nb.var() == pytest.approx(1.9 + 3.0)
    assert p[3] == pytest.approx(nb.sf(10)) and p[3] > p[2]


def test_ordinary_variation_between_places_is_not_a_hotspot(build):
    """Background rates that vary from cell to cell as real streets do (gamma-distributed,
    some cells twice the mean) produce no hotspot; one place at 15× the mean is one, and
    the peak of its hotspot. (With true discoveries, Benjamini–Hochberg admits a share of
    false ones: the expected share, not none.)"""
    grid = Grid(build.frame, 50.0)
    rng = np.random.default_rng(8)
    cells, passes, _ = _background(grid, rng, passes=800)
    true_rate = rng.gamma(4.0, 0.01 / 4.0, len(cells))
    events = rng.poisson(passes * true_rate)
    assert len(hotspots(cells, passes, events).clusters(grid)) == 0
    hot = int(np.flatnonzero(cells == _cells(grid, 4, 15))[0])
    events[hot] = rng.poisson(passes[hot] * 0.15)
    result = hotspots(cells, passes, events)
    own = result.cluster[np.searchsorted(result.cell, cells[hot])]
    assert own >= 0
    assert [c["peak_cell"] for c in result.clusters(grid) if c["cluster"] == own] == [cells[hot]]
