"""Per-step quantities of tracks: time steps, gaps, cleaned positions, speed, distance.

Everything downstream (stops, activity, coverage, safety, hotspots) reads a ``Track``
built once here. A step is the interval from fix i to fix i+1 of the same track; step
arrays have length n - 1 and the step between two tracks is "unlinked" and counts for
nothing. Definitions and thresholds: docs/analytics.md, "Segmentation and distance".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .columns import Fixes, group_starts
from .geo import LocalFrame


@dataclass(frozen=True)
class SegmentationParams:
    """dropout_s: a step longer than this (s) is missing data — no derivative, no event
    across it. trip_gap_s: a step longer than this (s) ends a trip and its distance is not
    counted (the unit was off; we do not know the path). outlier_m: a fix whose detour
    ``|a-p| + |p-b| - |a-b|`` exceeds this (m) is a multipath jump and is replaced by the
    time-weighted mean of its neighbours; a truck cannot go out and back 30 m within two
    seconds, GPS noise (σ≈3 m) stays well below it. standstill_mps: reported speeds at or
    below this (m/s) count as 0 for distance — a parked receiver reports a few cm/s of
    Doppler noise, which over half a shift parked would add ~2 % to the distance."""

    dropout_s: float = 2.5
    trip_gap_s: float = 300.0
    outlier_m: float = 30.0
    standstill_mps: float = 0.5


@dataclass(frozen=True)
class Track:
    """Fixes with their per-step quantities, in a local metric frame.

    x, y: m in ``frame``, multipath jumps replaced · outlier: bool per fix ·
    dt: s per step · linked: step joins two fixes of the same track ·
    gap: linked step longer than ``dropout_s`` · trip_break: not linked or longer than
    ``trip_gap_s`` · step_m: straight-line metres per step (after outlier replacement) ·
    speed: m/s per fix, reported where given, else from positions ·
    travelled_m: metres per step (see :func:`step_distance`) · starts: first row per track.
    """

    fixes: Fixes
    frame: LocalFrame
    params: SegmentationParams
    x: np.ndarray
    y: np.ndarray
    outlier: np.ndarray
    dt: np.ndarray
    linked: np.ndarray
    gap: np.ndarray
    trip_break: np.ndarray
    step_m: np.ndarray
    speed: np.ndarray
    travelled_m: np.ndarray
    starts: np.ndarray

    def __len__(self) -> int:
        return len(self.dt) + 1 if len(self.fixes) else 0

    @property
    def stops(self) -> np.ndarray:
        """Exclusive end row of each track."""
        return np.append(self.starts[1:], len(self.fixes)).astype(np.int64)

    def per_track_sum(self, step_values: np.ndarray) -> np.ndarray:
        """Sum a per-step quantity over each track (unlinked steps must hold 0)."""
        if len(self.starts) == 0:
            return np.zeros(0)
        return np.add.reduceat(np.append(step_values, 0.0), self.starts, dtype=np.float64)


def build_track(
    fixes: Fixes, frame: LocalFrame | None = None, params: SegmentationParams = SegmentationParams()
) -> Track:
    """Compute the per-step quantities of all tracks in ``fixes`` in one vectorised pass.

    ``frame`` defaults to one centred on the data; pass the city's frame so that grid cells
    and route geometry agree across calls. Per-fix and per-step quantities are float32
    (cm resolution at city scale, half the memory traffic of float64); sums over tracks
    accumulate in float64.
    """
    if frame is None:
        frame = LocalFrame.around(fixes.lon, fixes.lat) if len(fixes) else LocalFrame(0.0, 0.0)
    x, y = frame.to_xy(fixes.lon, fixes.lat)
    dt = np.diff(fixes.t).astype(np.float32) / np.float32(1000.0)  # whole seconds stay exact
    linked = fixes.vehicle[1:] == fixes.vehicle[:-1]
    gap = linked & (dt > params.dropout_s)
    trip_break = ~linked | (dt > params.trip_gap_s)
    dx, dy = np.diff(x), np.diff(y)
    step_m = np.hypot(dx, dy)
    outlier = detect_outliers(dx, dy, step_m, ~trip_break, params.outlier_m)
    if outlier.any():
        x, y, step_m = _replace_outliers(x, y, step_m, fixes.t, outlier)
    speed = fixes.speed.copy()
    missing = np.isnan(speed)
    if missing.any():
        speed[missing] = position_speed(step_m, dt, linked & ~gap)[missing]
    moving = np.where(speed <= params.standstill_mps, np.float32(0.0), speed)
    travelled = step_distance(step_m, moving, dt, gap, trip_break)
    return Track(
        fixes,
        frame,
        params,
        x,
        y,
        outlier,
        dt,
        linked,
        gap,
        trip_break,
        step_m,
        speed,
        travelled,
        group_starts(fixes.vehicle),
    )


def detect_outliers(
    dx: np.ndarray, dy: np.ndarray, step_m: np.ndarray, joined: np.ndarray, outlier_m: float
) -> np.ndarray:
    """Flag single-fix spikes: the detour ``|a-p| + |p-b| - |a-b|`` through fix p exceeds
    ``outlier_m`` metres. dx, dy, step_m: per step; joined: per step, same trip.

    Only interior fixes with both neighbours joined can be judged. The detour can only
    exceed ``outlier_m`` if one adjacent step is longer than half of it, so the exact test
    runs on those few candidates. A spike of several consecutive fixes is not caught here
    (stops use radii and coverage uses bins that tolerate it).
    """
    flag = np.zeros(len(step_m) + 1, dtype=bool)
    if len(step_m) < 2:
        return flag
    half = np.float32(outlier_m / 2)
    c = np.flatnonzero(((step_m[:-1] > half) | (step_m[1:] > half)) & joined[:-1] & joined[1:])
    direct = np.hypot(dx[c] + dx[c + 1], dy[c] + dy[c + 1])
    flag[c + 1] = step_m[c] + step_m[c + 1] - direct > outlier_m
    return flag


def _replace_outliers(
    x: np.ndarray, y: np.ndarray, step_m: np.ndarray, t: np.ndarray, outlier: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replace flagged fixes by the time-weighted mean of their neighbours; fix the steps."""
    x, y, step_m = x.copy(), y.copy(), step_m.copy()
    i = np.flatnonzero(outlier)
    w = ((t[i] - t[i - 1]) / (t[i + 1] - t[i - 1])).astype(np.float32)
    x[i] = x[i - 1] + w * (x[i + 1] - x[i - 1])
    y[i] = y[i - 1] + w * (y[i + 1] - y[i - 1])
    for k in (i - 1, i):  # the two steps touching each replaced fix
        step_m[k] = np.hypot(x[k + 1] - x[k], y[k + 1] - y[k])
    return x, y, step_m


def position_speed(step_m: np.ndarray, dt: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Speed per fix (m/s) from positions: the mean of the valid adjacent step speeds.

    valid: steps that are linked and not gaps. A fix with no valid adjacent step gets 0.
    """
    n = len(step_m) + 1
    v = np.where(valid, step_m / np.where(valid, dt, np.float32(1.0)), np.float32(0.0))
    total = np.zeros(n, dtype=np.float32)
    count = np.zeros(n, dtype=np.float32)
    total[:-1] += v
    total[1:] += v
    count[:-1] += valid
    count[1:] += valid
    return np.divide(total, count, out=np.zeros(n, dtype=np.float32), where=count > 0)


def step_distance(
    step_m: np.ndarray, speed: np.ndarray, dt: np.ndarray, gap: np.ndarray, trip_break: np.ndarray
) -> np.ndarray:
    """Metres travelled per step.

    Regular steps integrate the reported speed (trapezoid rule): unlike summing positions,
    it does not add GPS noise — at σ=3 m a parked truck would "travel" ~5 m/s, a moving one
    ~10 % too far — and it is what an odometer measures. Across a dropout the straight line
    between the bounding fixes is used (a lower bound; dropouts are short). Steps that end
    a trip count 0.
    """
    trapezoid = np.float32(0.5) * (speed[:-1] + speed[1:]) * dt
    return np.where(trip_break, np.float32(0.0), np.where(gap, step_m, trapezoid))


def trip_ids(track: Track) -> np.ndarray:
    """Trip number per fix, increasing over the whole input (a new trip at every trip break)."""
    return np.concatenate(([0], np.cumsum(track.trip_break))).astype(np.int64)
