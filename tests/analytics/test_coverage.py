"""Map matching and planned-route coverage on a small street grid."""

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from fleetpilot.analytics.columns import Fixes
from fleetpilot.analytics.coverage import CoverageParams, match_track, on_route, route_coverage
from fleetpilot.analytics.matching import LineIndex
from fleetpilot.analytics.pipeline import analyse
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


def _outage(sim, minutes: float):
    """The shift of ``sim`` with the most planned segments among those the truth says
    were fully serviced, re-analysed with ``minutes`` of fixes cut out mid-shift (the
    receiver dead while the crew kept collecting)."""
    k = max(
        (i for i, s in enumerate(sim.truth) if not s["skipped_segments"] and s["completed"]),
        key=lambda i: len(sim.planned[i]),
    )
    f = sim.fixes
    mine = f.vehicle == k
    t0 = sim.truth[k]["depot_departure"] + 2 * 3_600_000  # two hours into the round
    cut = mine & (f.t >= t0) & (f.t < t0 + minutes * 60_000)
    keep = mine & ~cut
    columns = {name: getattr(f, name)[keep] for name in ("t", "lon", "lat", "speed", "heading", "hdop")}
    fixes = Fixes.from_columns(columns | {"vehicle": np.zeros(int(keep.sum()), dtype=np.int32)})
    return k, analyse(fixes, sim.city, [sim.planned[k]], sim.windows[k : k + 1]).coverage[0]


def test_a_data_gap_is_not_a_miss(sim_day):
    """A 40-minute GPS outage on a fully serviced shift: the streets serviced in the dark
    are unknown (no data), not missed, and coverage of the known streets stays at truth."""
    k, cov = _outage(sim_day, 40)
    assert len(cov.missed) == 0, cov.missed  # before the fix: 14 of 144 missed, coverage 0.90
    assert cov.coverage == pytest.approx(1.0, abs=0.02)
    assert 10 <= len(cov.no_data) < len(sim_day.planned[k]) // 2, len(cov.no_data)
    assert not np.any(cov.unknown & cov.serviced)


def test_a_skipped_street_is_still_missed_when_the_data_is_there(build):
    """Data gaps elsewhere in the shift do not excuse a street skipped in plain sight."""
    index = _grid_index(build.frame)
    track = _drive_east(build, 4.0)
    m = match_track(index, track)
    n = len(track.fixes)
    planned = index.positions(["h00", "v11", "h30"])  # v11 is skipped between two serviced streets
    late_gap = np.array([[m.t[-1], m.t[-1] + 3_600_000.0]])  # the unit dies after the last fix
    cov = route_coverage(index, planned, *m.rows(0, n), CoverageParams(), m.times(0, n), late_gap)
    assert cov.missed.tolist() == ["v11"] and not cov.unknown.any()
    early = route_coverage(
        index, index.positions(["h00", "h30", "v11"]), *m.rows(0, n), CoverageParams(), m.times(0, n), late_gap
    )
    assert early.missed.tolist() == [] and early.no_data.tolist() == ["v11"]  # planned after the last serviced one
