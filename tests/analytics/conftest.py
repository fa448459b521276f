"""Fixtures for the analytics tests.

``build`` makes tiny hand-computable tracks from local metres or from a kinematic script
(phases of constant acceleration and yaw rate at 1 Hz). ``sim_day`` / ``sim_week`` are
small simulated fleets (fleetsim, in memory) split into one track per vehicle-shift, with
their ground truth, the city context and the full analysis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from accuracy import by_shift
from accuracy import path_length as _path_length

from fleetpilot.analytics.columns import DeviceEvents, Fixes
from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.pipeline import Analysis, City, analyse

T0_MS = 1_795_154_400_000  # 2026-11-20T06:00:00Z
FRAME = LocalFrame(-96.797, 32.776)


class Build:
    """Constructors of synthetic fixes (all times are seconds from T0, positions metres)."""

    frame = FRAME

    @staticmethod
    def fixes(x, y, *, t=None, speed=None, heading=None, vehicle=0, frame=FRAME) -> Fixes:
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        n = len(x)
        t = np.arange(n, dtype=np.float64) if t is None else np.asarray(t, dtype=np.float64)
        if heading is None:
            heading = np.degrees(np.arctan2(np.gradient(x), np.gradient(y))) % 360 if n > 1 else np.zeros(n)
        lon, lat = frame.to_lonlat(x, y)
        columns = {
            "vehicle": np.full(n, vehicle, dtype=np.int32),
            "t": T0_MS + np.round(t * 1000).astype(np.int64),
            "lon": lon,
            "lat": lat,
            "heading": np.asarray(heading, dtype=np.float32),
        }
        if speed is not None:
            columns["speed"] = np.broadcast_to(np.asarray(speed, dtype=np.float32), (n,)).copy()
        return Fixes.from_columns(columns)

    @staticmethod
    def drive(phases, v0: float = 0.0, heading0: float = 0.0):
        """Integrate phases of (seconds, acceleration m/s², yaw rate deg/s) at 1 Hz.

        Returns x, y, speed, heading per second (one more sample than seconds driven)."""
        v, h = [v0], [heading0]
        for seconds, accel, yaw in phases:
            for _ in range(int(seconds)):
                v.append(max(v[-1] + accel, 0.0))
                h.append((h[-1] + yaw) % 360.0)
        v, h = np.array(v), np.array(h)
        # Exact for piecewise-constant acceleration and yaw within each second (midpoint).
        mid_v = 0.5 * (v[1:] + v[:-1])
        mid_h = np.radians(h[:-1] + 0.5 * ((h[1:] - h[:-1] + 180.0) % 360.0 - 180.0))
        x = np.concatenate(([0.0], np.cumsum(mid_v * np.sin(mid_h))))
        y = np.concatenate(([0.0], np.cumsum(mid_v * np.cos(mid_h))))
        return x, y, v, h

    @staticmethod
    def concat(*parts: Fixes) -> Fixes:
        names = ("vehicle", "t", "lon", "lat", "speed", "heading", "hdop")
        return Fixes.from_columns({k: np.concatenate([getattr(p, k) for p in parts]) for k in names})


@pytest.fixture(scope="session")
def build() -> type[Build]:
    return Build


@dataclass
class SimShifts:
    """A simulated fleet with one track per vehicle-shift (track i is truth[i])."""

    fixes: Fixes
    device: DeviceEvents
    planned: list[list[str]]
    windows: np.ndarray
    truth: list[dict]
    city: City
    analysis: Analysis
    dangerous: list[dict]
    true_distance_m: np.ndarray | None = None


def _simulate(n_vehicles: int, days: int, seed: int, true_distance: bool = False, profile: str = "v1") -> SimShifts:
    from fleetsim.offline import generate_fleet

    options = {"n_vehicles": n_vehicles, "days": days, "seed": seed, "start": "2026-11-20T06:00:00Z"}
    run = generate_fleet(device=profile, **options)
    fixes, device, planned, windows, truth = by_shift(run)
    city = City.from_geojson(run.city_geojson)
    analysis = analyse(fixes, city, planned, windows, device)
    sim = SimShifts(fixes, device, planned, windows, truth, city, analysis, run.truth["dangerous_intersections"])
    if true_distance:
        sim.true_distance_m = _path_length(generate_fleet(noise=False, **options))
    return sim


@pytest.fixture(scope="session")
def sim_day() -> SimShifts:
    """15 trucks, one day, default GPS noise, with the true distance of each shift."""
    return _simulate(15, 1, seed=5, true_distance=True)


@pytest.fixture(scope="session")
def sim_tracker() -> SimShifts:
    """sim_day's fleet as off-the-shelf trackers report it (fleetsim --device-profile tracker)."""
    return _simulate(15, 1, seed=5, true_distance=True, profile="tracker")


@pytest.fixture(scope="session")
def sim_phone() -> SimShifts:
    """sim_day's fleet as phones in the cab report it (fleetsim --device-profile phone)."""
    return _simulate(15, 1, seed=5, true_distance=True, profile="phone")


@pytest.fixture(scope="session")
def sim_week() -> SimShifts:
    """20 trucks, five days: enough passes for the hotspot analysis."""
    return _simulate(20, 5, seed=3)
