"""Accuracy for every device profile against the simulator's ground truth (issue 17, item 6).

The same fleet-day (sim_day: 15 trucks, seed 5) as protocol v1 units report it, as off-the-shelf
trackers (speed only while moving, and intermittent; 5–15 m; 1–3 s) and as phones (no speed,
5–50 m, 1–5 s) — fleetsim's ``--device-profile`` — plus v1 with the speed column removed. Each
test prints its figures (run with ``-s``); matching rules as in test_groundtruth.py. Targets:
stop recall and precision ≥ 0.95, distance within 2 %, harsh-braking precision ≥ 0.9, nothing
invented on a parked vehicle. A stop matches a true bin stop that it starts within 15 s of,
the bin's arrival read as the first reach or as the settle after backing up (decision 0047);
the figures by the settle alone, the rule before, are printed and guarded too.
"""

from dataclasses import replace

import numpy as np
import pytest
from accuracy import stop_counts

from fleetpilot.analytics.columns import Fixes
from fleetpilot.analytics.pipeline import analyse
from fleetpilot.analytics.safety import harsh_longitudinal
from fleetpilot.analytics.segmentation import build_track

from .conftest import FRAME, T0_MS, _simulate
from .test_groundtruth import _harsh_scores


def _scores(sim, analysis) -> dict:
    stops = analysis.stops
    hits, found, truth = stop_counts(stops, sim.truth)
    settle_hits, _, _ = stop_counts(stops, sim.truth, settle_only=True)
    mine = analysis.track.per_track_sum(analysis.track.travelled_m)
    error = mine / sim.true_distance_m - 1
    b_recall, b_precision, b_truth = _harsh_scores(sim, "harsh_brake", harsh_longitudinal(analysis.track))
    derived = analysis.events.select(analysis.events.source != "device")
    harsh = derived.select(np.isin(derived.kind, ["harsh_brake", "harsh_accel", "harsh_corner"]))
    return {
        "stop_recall": hits / truth,
        "stop_precision": hits / max(found, 1),
        "true_stops": truth,
        "stop_recall_settle": settle_hits / truth,
        "stop_precision_settle": settle_hits / max(found, 1),
        "distance_error_max": float(np.abs(error).max()),
        "distance_error_mean": float(error.mean()),
        "brake_recall": b_recall,
        "brake_precision": b_precision if len(harsh_longitudinal(analysis.track).of_kind("harsh_brake")) else None,
        "brakes_found": len(harsh_longitudinal(analysis.track).of_kind("harsh_brake")),
        "true_brakes": b_truth,
        "derived_harsh_events": len(harsh),
    }


def _print(name: str, s: dict) -> None:
    precision = "n/a (none derived)" if s["brake_precision"] is None else f"{s['brake_precision']:.3f}"
    print(
        f"\n[{name}] stops recall {s['stop_recall']:.4f} precision {s['stop_precision']:.4f} "
        f"({s['true_stops']} true; by the settle alone {s['stop_recall_settle']:.4f} / "
        f"{s['stop_precision_settle']:.4f}) · distance error max {100 * s['distance_error_max']:.2f} % "
        f"mean {100 * s['distance_error_mean']:+.2f} % · harsh braking from fixes: precision {precision} "
        f"recall {s['brake_recall']:.3f} ({s['brakes_found']} found, {s['true_brakes']} true)"
    )


@pytest.fixture(scope="module")
def v1_scores(sim_day):
    s = _scores(sim_day, sim_day.analysis)
    _print("v1", s)
    return s


@pytest.fixture(scope="module")
def tracker_scores(sim_tracker):
    s = _scores(sim_tracker, sim_tracker.analysis)
    _print("tracker", s)
    return s


@pytest.fixture(scope="module")
def phone_scores(sim_phone):
    s = _scores(sim_phone, sim_phone.analysis)
    _print("phone", s)
    return s


@pytest.fixture(scope="module")
def no_speed_scores(sim_day):
    """v1 fixes with the speed column removed (the issue's measurement: 0 of 311 stops found,
    81.6 km for 31.8 km, 62 invented harsh events before)."""
    fixes = replace(sim_day.fixes, speed=np.full(len(sim_day.fixes), np.nan, dtype=np.float32))
    analysis = analyse(fixes, sim_day.city, sim_day.planned, sim_day.windows)
    s = _scores(sim_day, analysis)
    _print("v1 without speed", s)
    return s


def test_v1_meets_every_target(v1_scores):
    s = v1_scores
    assert s["stop_recall"] >= 0.95 and s["stop_precision"] >= 0.95
    assert s["distance_error_max"] <= 0.02
    assert s["brake_precision"] >= 0.9


def test_tracker_stops_and_braking_meet_the_targets(tracker_scores):
    s = tracker_scores
    assert s["stop_recall"] >= 0.95 and s["stop_precision"] >= 0.95, s
    assert s["brake_precision"] is not None and s["brake_precision"] >= 0.9, s


def test_tracker_distance_within_two_percent(tracker_scores):
    """Before: 4-6 % long (the noise of fitted still fixes inside bin stops; speed holes while
    moving fitted ~2 % short). Now: short holes interpolated, nothing travelled inside stops."""
    assert tracker_scores["distance_error_max"] <= 0.02, tracker_scores


def test_phone_and_no_speed_invent_no_harsh_event(phone_scores, no_speed_scores):
    """A speed derived from positions never makes a harsh event (precision cannot drop)."""
    assert phone_scores["derived_harsh_events"] == 0
    assert no_speed_scores["derived_harsh_events"] == 0


def test_phone_and_no_speed_levels_reached(phone_scores, no_speed_scores):
    for s in (phone_scores, no_speed_scores):
        assert s["stop_recall"] >= 0.85 and s["stop_precision"] >= 0.85, s
        assert s["distance_error_max"] <= 0.04, s
    # Seed 5 by the settle alone (the rule before decision 0047), recall / precision: 0.891 / 0.853 before
    # stops.split_changes, 0.922 / 0.868 after; 0.925 / 0.911 once turns are no stops and phones split at 3.5
    # standard errors (decision 0031). 0.923 / 0.920 once fragments of one dwell are one stop (decision 0034);
    # 0.928 / 0.934 once the stop after a split starts after the drive to it, stops hidden in dropouts count,
    # one-fix blips are filled and pieces driven through are no stops (decision 0040); 0.932 / 0.938 once a stop
    # that begins by backing up starts towards the settle (decision 0041). Guarded so a regression shows.
    assert phone_scores["stop_recall_settle"] >= 0.93 and phone_scores["stop_precision_settle"] >= 0.935, phone_scores
    # v1 without speed: precision 0.903 before decision 0031, 0.936 after; 0.962 / 0.958 after 0034; 0.967 / 0.957
    # after 0040; 0.972 / 0.963 after 0041 (by the settle alone).
    assert no_speed_scores["stop_recall"] >= 0.95 and no_speed_scores["stop_precision"] >= 0.95, no_speed_scores
    assert no_speed_scores["distance_error_max"] <= 0.02, no_speed_scores  # 1.41 %, 1.64 % after step_debias


def test_phone_distance_within_two_percent(phone_scores):
    """Worst shift 3.59 % (mean −2.43 %) before still runs counted their net displacement,
    2.01 % (+0.80 %) after; 1.51 % (+0.28 %) once moving fitted steps are shrunk by the share of
    their fitted speed that is the slope's noise (SegmentationParams.step_debias)."""
    assert phone_scores["distance_error_max"] <= 0.02, phone_scores


def test_phone_meets_the_stop_targets(phone_scores):
    """Seed 5: 0.953 / 0.959, 0.932 / 0.938 by the settle alone: 134 of the 4 627 true stops begin with the
    truck backing up 6–15 m at 1.2 m/s, which a phone at 5–50 m cannot see (decisions 0041, 0047)."""
    s = phone_scores
    assert s["stop_recall"] >= 0.95 and s["stop_precision"] >= 0.95, s


@pytest.mark.parametrize("seed", [1, 2])
def test_phone_levels_hold_on_other_seeds(seed):
    """The phone's level on other fleets (6 trucks, seeds 1 and 2), so that seed 5's figures
    are not a fluke of one day. Before the split of stationary stretches at position shifts
    (stops.split_changes): recall 0.896 and 0.917, precision 0.858 and 0.859; after: 0.930 and
    0.930, 0.869 and 0.862. Distance, worst shift (mean): before 3.99 % (−3.44 %) and 5.80 %
    (−3.64 %); after still runs count their net displacement (segmentation._still_run_chords)
    1.40 % (+0.36 %) and 1.06 % (+0.36 %); with step_debias 0.89 % (−0.17 %) and 0.63 % (−0.21 %).
    Stops once turns are no stops and phones split at 3.5 standard errors (decision 0031): recall
    0.930 and 0.937, precision 0.918 and 0.918; once fragments of one dwell are one stop (decision
    0034): 0.926 and 0.934, 0.928 and 0.931; after decision 0040: 0.931 and 0.945, 0.934 and 0.944; after
    decision 0041 (backing up at the bin): 0.935 and 0.948, 0.937 and 0.948 — by the settle alone; with the
    arrival read either way (decision 0047) 0.960 and 0.965, 0.962 and 0.964."""
    sim = _simulate(6, 1, seed=seed, true_distance=True, profile="phone")
    s = _scores(sim, sim.analysis)
    _print(f"phone, 6 trucks, seed {seed}", s)
    assert s["stop_recall"] >= 0.95 and s["stop_precision"] >= 0.95, s  # 0.960 / 0.962, 0.965 / 0.964
    assert s["stop_recall_settle"] >= 0.93 and s["stop_precision_settle"] >= 0.935, s
    assert s["distance_error_max"] <= 0.015, s
    assert s["derived_harsh_events"] == 0


def _parked_phone(hours: float, accuracy_m: float, seed: int, speed: float | None = None) -> Fixes:
    """A phone lying in a parked truck: a fix every 1–5 s, errors of σ = accuracy / 1.51 per
    axis correlated over 5 s (as fleetsim's phone profile), no speed unless given."""
    rng = np.random.default_rng(seed)
    t_s = np.cumsum(rng.integers(1, 6, int(hours * 3600 / 3))).astype(np.float64)
    n = len(t_s)
    sigma = accuracy_m / 1.51
    phi = np.exp(-np.diff(t_s, prepend=0.0) / 5.0)
    e = np.zeros((2, n))
    eps = rng.standard_normal((2, n))
    for i in range(n):  # the AR(1) of irregular steps; a few thousand fixes
        e[:, i] = phi[i] * e[:, i - 1] + np.sqrt(1 - phi[i] ** 2) * eps[:, i] if i else eps[:, i]
    lon, lat = FRAME.to_lonlat(sigma * e[0], sigma * e[1])
    columns = {
        "vehicle": np.zeros(n, dtype=np.int32),
        "t": T0_MS + np.round(t_s * 1000).astype(np.int64),
        "lon": lon,
        "lat": lat,
        "hdop": np.full(n, accuracy_m / 5.0, dtype=np.float32),
    }
    if speed is not None:
        columns["speed"] = np.full(n, speed, dtype=np.float32)
    return Fixes.from_columns(columns)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_parked_phone_with_40_m_jitter_drives_nowhere(seed):
    """Before: 487 harsh events and 38 km driven for a parked phone without speed."""
    fixes = _parked_phone(8.0, 40.0, seed)
    track = build_track(fixes, FRAME)
    events = harsh_longitudinal(track)
    km = float(track.travelled_m.sum()) / 1000
    print(f"\n[parked phone ±40 m, seed {seed}] {len(fixes)} fixes over 8 h: {km:.3f} km, {len(events)} harsh events")
    assert len(events) == 0
    assert km < 0.2


def test_parked_truck_with_40_m_jitter_keeps_its_stop():
    """With speed reported (Doppler ~0) but ±40 m positions, a parked hour is one stop, not
    pieces cut wherever the noise strays beyond 20 m."""
    from fleetpilot.analytics.stops import detect_stops

    fixes = _parked_phone(1.0, 40.0, 4, speed=0.05)
    stops = detect_stops(build_track(fixes, FRAME))
    print(f"\n[parked, ±40 m, with speed] {len(stops)} stop(s), dwell {stops.dwell_s.sum():.0f} s")
    assert len(stops) == 1
    assert stops.dwell_s[0] > 3500


def test_clock_jumping_back_invents_no_brake(build):
    """A unit whose clock jumps back 30 s mid-drive: sorted by time, 30 s of the drive are
    interleaved with the next 30 s. Before: a harsh brake at the jump."""
    x, y, v, h = build.drive([(600, 0.0, 0.0)], v0=10.0)
    t = np.arange(len(x), dtype=np.float64)
    t[300:] -= 30.0 - 0.5  # the clock goes back 30 s (minus half a second: stamps interleave)
    fixes = build.fixes(x[:300], y[:300], t=t[:300], speed=v[:300], heading=h[:300])
    late = build.fixes(x[300:], y[300:], t=t[300:], speed=v[300:], heading=h[300:])
    received = {
        k: np.concatenate([getattr(fixes, k), getattr(late, k)])
        for k in ("vehicle", "t", "lon", "lat", "speed", "heading", "hdop")
    }
    track = build_track(Fixes.from_received(received), FRAME)
    events = harsh_longitudinal(track)
    jumped = int(track.jumped.sum())
    km = float(track.travelled_m.sum()) / 1000
    print(f"\n[clock back 30 s] {jumped} interleaved fixes set aside, {len(events)} harsh events, {km:.3f} km of 6.0")
    assert len(events) == 0
    assert jumped >= 50
    assert abs(km - 6.0) / 6.0 < 0.02


def test_from_received_sorts_and_keeps_the_first_of_equal_times():
    columns = {
        "vehicle": np.array([2, 1, 1, 1]),
        "t": np.array([5, 9, 3, 9], dtype=np.int64),
        "lon": np.array([0.0, 1.0, 2.0, 3.0]),
        "lat": np.zeros(4),
    }
    fixes = Fixes.from_received(columns)
    assert fixes.vehicle.tolist() == [1, 1, 2]
    assert fixes.t.tolist() == [3, 9, 5]
    assert fixes.lon.tolist() == [2.0, 1.0, 0.0]
