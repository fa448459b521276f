"""Map matching and planned-route coverage on a small street grid."""

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetpilot.analytics.coverage import CoverageParams, match_track, on_route, route_coverage
from fleetpilot.analytics.matching import LineIndex
from fleetpilot.analytics.segmentation import build_track


def _grid_index(frame, block=100.0, n=4):
    """Streets of a n×n block grid: h<i><j> runs east from (i, j), v<i><j> runs north."""
    ids, lines = [], []
    for i in range(n + 1):
        for j in range(n + 1):
            for name, (dx, dy) in (("h", (1, 0)), ("v", (0, 1))):
                if (name == "h" and i == n) or (name == "v" and j == n):
                    continue
                xs = np.array([i * block, (i + dx) * block])
                ys = np.array([j * block, (j + dy) * block])
                lon, lat = frame.to_lonlat(xs, ys)
                ids.append(f"{name}{i}{j}")
                lines.append(shapely.LineString(np.column_stack([lon, lat])))
    return LineIndex.build(ids, lines, frame)


def test_matching_finds_the_nearest_street_and_the_position_along_it(build):
    index = _grid_index(build.frame)
    x = np.array([50.0, 150.0, 250.0, 103.0, 50.0], dtype=np.float32)
    y = np.array([4.0, -9.0, 100.0, 160.0, 50.0], dtype=np.float32)
    line, along = index.match(x, y)
    names = [index.ids[k] if k >= 0 else None for k in line]
    assert names == ["h00", "h10", "h21", "v11", None]  # the last one is 50 m from any street
    np.testing.assert_allclose(along[:4], [50.0, 50.0, 50.0, 60.0], atol=index.cell_m * 1.5)
    assert index.positions(["v11", "h00"]).tolist() == [index.ids.tolist().index("v11"), 0]
    with pytest.raises(ValueError, match="not in the index"):
        index.positions(["nope"])


def _drive_east(build, speed, y=2.0, x0=0.0, x1=400.0, keep=None):
    n = int((x1 - x0) / speed) + 1
    x = x0 + np.arange(n) * speed
    t = np.arange(n, dtype=float)
    if keep is not None:
        x, t = x[keep(t)], t[keep(t)]
    return build_track(build.fixes(x, np.full(len(x), y), t=t, speed=speed), build.frame)


def test_a_street_serviced_at_collection_pace_counts_and_one_driven_fast_does_not(build):
    index = _grid_index(build.frame)
    planned = index.positions(["h00", "h10", "h20", "h30", "v11"])
    slow = _drive_east(build, 4.0)  # along the bottom row, 0 → 400 m
    m = match_track(index, slow)
    cov = route_coverage(index, planned, *m.rows(0, len(slow.fixes)))
    assert cov.serviced.tolist() == [True, True, True, True, False]
    assert cov.coverage == pytest.approx(0.8) and cov.missed.tolist() == ["v11"]
    assert cov.coverage_by_length == pytest.approx(0.8)
    fast = _drive_east(build, 10.0)
    m = match_track(index, fast)
    assert route_coverage(index, planned, *m.rows(0, len(fast.fixes))).coverage == 0.0
    assert on_route(index, planned, m.line, m.speed).sum() == 0


def test_a_street_driven_less_than_half_way_is_not_serviced(build):
    index = _grid_index(build.frame)
    planned = index.positions(["h00"])
    half = _drive_east(build, 4.0, x1=30.0)  # fixes at 0, 4, …, 28 m: bins 0–2 of 10
    m = match_track(index, half)
    cov = route_coverage(index, planned, *m.rows(0, len(half.fixes)))
    assert cov.driven_share[0] == pytest.approx(0.3) and not cov.serviced[0]


def test_a_dropout_while_servicing_does_not_lose_the_street(build):
    index = _grid_index(build.frame)
    planned = index.positions(["h10"])
    hidden = _drive_east(build, 4.0, keep=lambda t: (t < 27) | (t > 48))  # no fixes from 108 m to 192 m
    m = match_track(index, hidden)
    without_fill = route_coverage(index, planned, m.line, m.along, m.speed)
    with_fill = route_coverage(index, planned, *m.rows(0, len(hidden.fixes)))
    assert not without_fill.serviced[0] and with_fill.serviced[0]


def test_a_shift_without_planned_segments_has_no_coverage(build):
    index = _grid_index(build.frame)
    track = _drive_east(build, 4.0)
    m = match_track(index, track)
    cov = route_coverage(index, np.zeros(0, dtype=np.int64), *m.rows(0, len(track.fixes)))
    assert np.isnan(cov.coverage) and len(cov.missed) == 0


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 400), st.integers(1, 24))
def test_coverage_is_a_share(build, seed, n_fixes, n_planned):
    index = _grid_index(build.frame)
    rng = np.random.default_rng(seed)
    x = rng.uniform(-50, 450, n_fixes)
    y = rng.uniform(-50, 450, n_fixes)
    track = build_track(
        build.fixes(np.sort(x), y, t=np.arange(n_fixes) * 3.0, speed=rng.uniform(0, 8, n_fixes)), build.frame
    )
    planned = rng.choice(len(index.ids), size=min(n_planned, len(index.ids)), replace=False)
    m = match_track(index, track, CoverageParams())
    cov = route_coverage(index, planned, *m.rows(0, n_fixes))
    assert 0.0 <= cov.coverage <= 1.0 and 0.0 <= cov.coverage_by_length <= 1.0
    assert np.all((cov.driven_share >= 0) & (cov.driven_share <= 1))
    assert len(cov.missed) == int((~cov.serviced).sum())
