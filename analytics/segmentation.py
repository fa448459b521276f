"""Per-step quantities of tracks: time steps, gaps, cleaned positions, speed, distance.

Everything downstream (stops, activity, coverage, safety, hotspots) reads a ``Track``
built once here. A step is the interval from fix i to fix i+1 of the same track; step
arrays have length n - 1 and the step between two tracks is "unlinked" and counts for
nothing. Definitions and thresholds: docs/analytics.md, "Segmentation and distance".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .columns import Fixes, group_starts, runs
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
    # Devices without Doppler speed (phones, many trackers): docs/analytics.md, "Missing speed".
    # smooth_s: half-width (s) of the local linear fit that gives a derived fix its position
    # and speed, at least smooth_intervals × the track's mean interval (steps capped at 10 s) ·
    # still_s, still_z: half-width (s) of the longer fit, and how many standard errors its
    # speed must exceed for distance to count (a parked phone's 30 s fit stays below) · accuracy_m_per_hdop: the ingest stores accuracy (m) as HDOP = accuracy / 5 m ·
    # default_accuracy_m: assumed when HDOP is unknown · noise_correlation: GPS error is
    # correlated over 5–10 s, so a 10 s slope varies ~1.5× more than independent errors give ·
    # moving_z: a derived speed is motion only beyond this many standard errors, else 0 ·
    # distance_fixes: v² − 2σ_v² is averaged over ± this many fixes before the square root ·
    # trapezoid_max_s: a gap up to this long (s) is still integrated, not a straight line ·
    # max_speed_mps: no truck moves faster; a fix that needs more on both sides (two stretches
    # interleaved by a clock jump) is a time jump · min_step_s: shorter steps carry no derivative ·
    # fill_s: a missing speed between two reported ones at most this far apart (s) is interpolated ·
    # chord_z: a run of fitted fixes called still counts its net displacement (first to last fitted
    # position) when that exceeds this many standard errors of the two positions (as still_z) ·
    # step_debias: a moving fitted step's length is shrunk by √(1 − step_debias · 2σ_v² / v̂²), the
    # share of its fitted speed that is the slope's own noise (σ_v² of independent errors: 1; the
    # significance tests' correlation inflation, noise_correlation², measured 1.6–2.3 % short).
    smooth_s: float = 5.0
    smooth_intervals: float = 2.5
    accuracy_m_per_hdop: float = 5.0
    default_accuracy_m: float = 10.0
    noise_correlation: float = 1.5
    moving_z: float = 2.5
    still_s: float = 30.0
    still_z: float = 4.0
    trapezoid_max_s: float = 5.0
    distance_fixes: int = 3
    max_speed_mps: float = 45.0
    min_step_s: float = 0.2
    fill_s: float = 5.0
    chord_z: float = 4.0
    step_debias: float = 0.5


@dataclass(frozen=True)
class Track:
    """Fixes with their per-step quantities, in a local metric frame.

    x, y: m in ``frame``, multipath jumps replaced · outlier: bool per fix ·
    dt: s per step · linked: step joins two fixes of the same track ·
    gap: linked step longer than ``dropout_s`` · trip_break: not linked or longer than
    ``trip_gap_s`` · step_m: straight-line metres per step (after outlier replacement) ·
    speed: m/s per fix, reported where given, else from positions ·
    travelled_m: metres per step (see :func:`step_distance`) · starts: first row per track ·
    derived: per fix, the speed was not reported and comes from positions (no harsh event is
    derived from it) · accuracy_m: per fix, the accuracy of x, y (m, 68 % radius): reported (NaN
    when unknown), or for a derived fix that of its fitted position ·
    jumped: per fix, a time jump (see ``max_speed_mps``) — its position is interpolated and its
    steps are gaps.
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
    derived: np.ndarray
    accuracy_m: np.ndarray
    jumped: np.ndarray

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
    accuracy = fixes.hdop * np.float32(params.accuracy_m_per_hdop)  # NaN: unknown
    dx, dy = np.diff(x), np.diff(y)
    step_m = np.hypot(dx, dy)
    jumped = detect_time_jumps(step_m, dt, linked, accuracy, params)
    if jumped.any():
        x, y = _interpolate(x, y, fixes.t, jumped)
        dx, dy = np.diff(x), np.diff(y)
        step_m = np.hypot(dx, dy)
    step_jump = jumped[:-1] | jumped[1:] | (dt < params.min_step_s)
    gap = linked & ((dt > params.dropout_s) | step_jump)
    trip_break = ~linked | (dt > params.trip_gap_s)
    outlier = detect_outliers(dx, dy, step_m, ~trip_break, params.outlier_m)
    if outlier.any():
        x, y, step_m = _replace_outliers(x, y, step_m, fixes.t, outlier)
    speed = fixes.speed.copy()
    derived = np.isnan(speed)
    # A tracker that drops its speed now and then while moving: a hole of at most
    # ``fill_s`` between two reported speeds is interpolated (and stays ``derived``: no harsh
    # event from it); only longer holes, or tracks without speed, are fitted from positions.
    fitted = derived & ~_fill_short_holes(fixes.t, speed, trip_break, params.fill_s)
    if fitted.any():
        rows = np.flatnonzero(fitted)
        assumed = np.where(np.isnan(accuracy), np.float32(params.default_accuracy_m), accuracy)
        sx, sy, sv, rolling, fitted_accuracy, shrink = smoothed_motion(
            fixes.t, x, y, assumed, group_starts(fixes.vehicle), rows, params
        )
        x, y = x.copy(), y.copy()
        x[rows], y[rows], speed[rows] = sx, sy, sv
        accuracy = accuracy.copy()
        accuracy[rows] = fitted_accuracy  # the positions now used are the fitted ones
        step_m = np.hypot(np.diff(x), np.diff(y))
    moving = np.where(speed <= params.standstill_mps, np.float32(0.0), speed)
    if fitted.any():
        moving[rows] = np.where(rolling <= params.standstill_mps, np.float32(0.0), rolling)
    # A step of a few seconds (a tracker or phone skipping fixes) is integrated like a regular
    # one: its straight line would add the positions' noise; the receiver dropouts that the
    # straight line is for last longer.
    travelled = step_distance(step_m, moving, dt, gap & ((dt > params.trapezoid_max_s) | step_jump), trip_break)
    if fitted.any():
        # Between two fitted fixes: the length of the fitted (smoothed) path where either end
        # shows motion, nothing where both are still.
        both = fitted[:-1] & fitted[1:] & ~trip_break & ~step_jump
        still = (moving[:-1] == 0) & (moving[1:] == 0)
        # The fitted path's steps carry the slope's noise (|v̂|² = v² + 2σ_v² on average): each
        # moving step is shrunk by the mean debiasing factor of its two fixes (1 where still).
        factor = np.ones(len(x), dtype=np.float32)
        factor[rows] = shrink
        step_fit = step_m * (np.float32(0.5) * (factor[:-1] + factor[1:]))
        travelled = np.where(both, np.where(still, np.float32(0.0), step_fit), travelled)
        travelled = _still_run_chords(travelled, x, y, accuracy, dt, both & still, params)
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
        derived,
        accuracy,
        jumped,
    )


def _still_run_chords(
    travelled: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    accuracy: np.ndarray,
    dt: np.ndarray,
    still: np.ndarray,
    params: SegmentationParams,
) -> np.ndarray:
    """A run of steps the fit called still counts the net displacement between its first and
    last fitted positions when that is beyond their noise (``chord_z`` standard errors), spread
    over its steps by time: a phone crawling between bins at 2–3 m/s is below the fit's motion
    test fix by fix, but its run ends tens of metres on; a parked phone's run ends where it
    began, within the fitted positions' accuracy. Debiased like the speeds, √(d² − 2σ²)."""
    a, b = runs(still)  # steps a..b-1; fixes a..b
    if len(a) == 0:
        return travelled
    d2 = (x[b] - x[a]).astype(np.float64) ** 2 + (y[b] - y[a]).astype(np.float64) ** 2
    var = (accuracy[a].astype(np.float64) / 1.51) ** 2 + (accuracy[b].astype(np.float64) / 1.51) ** 2
    var = np.nan_to_num(var, nan=2 * (params.default_accuracy_m / 1.51) ** 2)
    moved = d2 > params.chord_z**2 * var
    if not moved.any():
        return travelled
    a, b, d2, var = a[moved], b[moved], d2[moved], var[moved]
    length = np.sqrt(np.maximum(d2 - 2.0 * var, 0.0))
    cum_t = np.concatenate(([0.0], np.cumsum(dt, dtype=np.float64)))
    per_s = length / np.maximum(cum_t[b] - cum_t[a], 1e-3)
    rate = np.zeros(len(dt) + 1)
    np.add.at(rate, a, per_s)
    np.add.at(rate, b, -per_s)
    rate = np.cumsum(rate)[:-1]
    return np.where(rate > 0, (rate * dt).astype(np.float32), travelled)


def _fill_short_holes(t: np.ndarray, speed: np.ndarray, trip_break: np.ndarray, fill_s: float) -> np.ndarray:
    """Per fix: its missing speed was interpolated (in place, in ``speed``) between the reported
    speeds of the nearest fixes before and after it in the same trip, at most ``fill_s`` apart."""
    n = len(speed)
    missing = np.isnan(speed)
    filled = np.zeros(n, dtype=bool)
    if not missing.any() or missing.all():
        return filled
    idx = np.arange(n)
    trip = np.concatenate(([0], np.cumsum(trip_break)))
    prev = np.maximum.accumulate(np.where(missing, -1, idx))
    nxt = np.minimum.accumulate(np.where(missing, n, idx)[::-1])[::-1]
    i = np.flatnonzero(missing & (prev >= 0) & (nxt < n))
    p, q = prev[i], nxt[i]
    i, p, q = (a[(trip[p] == trip[q]) & ((t[q] - t[p]) <= fill_s * 1000)] for a in (i, p, q))
    w = ((t[i] - t[p]) / (t[q] - t[p])).astype(np.float32)
    speed[i] = speed[p] + w * (speed[q] - speed[p])
    filled[i] = True
    return filled


def detect_time_jumps(
    step_m: np.ndarray, dt: np.ndarray, linked: np.ndarray, accuracy: np.ndarray, params: SegmentationParams
) -> np.ndarray:
    """Per fix: both adjacent steps would need more than ``max_speed_mps`` (beyond what the two
    fixes' accuracies — ``default_accuracy_m`` when unknown — and a multipath throw allow). After a device clock jumps back, sorting by
    time interleaves two stretches of the drive: every fix of the overlap is such a fix.
    The exact test runs only on steps longer than the speed limit alone allows (rare)."""
    flag = np.zeros(len(step_m) + 1, dtype=bool)
    c = np.flatnonzero(step_m > params.max_speed_mps * dt + params.outlier_m)
    if len(c) < 2:
        return flag
    both = np.nan_to_num(accuracy[c] + accuracy[c + 1], nan=2 * params.default_accuracy_m)
    c = c[linked[c] & (step_m[c] > params.max_speed_mps * dt[c] + params.outlier_m + 3.0 * both)]
    impossible = np.zeros(len(step_m), dtype=bool)
    impossible[c] = True
    flag[1:-1] = impossible[:-1] & impossible[1:]
    return flag


def _interpolate(x: np.ndarray, y: np.ndarray, t: np.ndarray, flagged: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of flagged fixes on the straight line between the nearest unflagged fixes
    before and after (in time). Flagged fixes never start or end a track, so both exist."""
    n = len(x)
    idx = np.arange(n)
    prev = np.maximum.accumulate(np.where(flagged, 0, idx))
    nxt = np.minimum.accumulate(np.where(flagged, n - 1, idx)[::-1])[::-1]
    i = np.flatnonzero(flagged)
    p, q = prev[i], nxt[i]
    w = ((t[i] - t[p]) / np.maximum(t[q] - t[p], 1)).astype(np.float32)
    x, y = x.copy(), y.copy()
    x[i] = x[p] + w * (x[q] - x[p])
    y[i] = y[p] + w * (y[q] - y[p])
    return x, y


def smoothed_motion(
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    accuracy: np.ndarray,
    starts: np.ndarray,
    rows: np.ndarray,
    params: SegmentationParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Position, speed, rolling speed (for distance), fitted accuracy and step shrink factor at ``rows`` from local linear fits of
    the fixes around each, weighted by 1/σ² with σ = accuracy / 1.51 (accuracy as a 68 % radius).

    Speed: from the fit over ±``smooth_s``; the fix is stationary (speed 0) unless the fitted
    speed exceeds ``moving_z`` standard errors of the slope (from the accuracies, ×
    ``noise_correlation``), so parked jitter never becomes speed. Beyond it the speed is
    debiased, √(v̂² − 2σ_v²): noise adds 2σ_v² to the expected square of a 2-D slope.
    Rolling speed: the same debiased speed wherever either this fit or a fit over ±``still_s``
    shows motion — slow creeping between bins passes the long test, a parked phone neither.
    """
    n = len(t)
    first = np.zeros(n, dtype=np.int64)
    first[starts] = 1
    track = np.cumsum(first)
    weight = 1.0 / (accuracy.astype(np.float64) / 1.51) ** 2
    dt_ms = np.diff(t)
    positive = dt_ms[dt_ms > 0]
    shortest_s = max(float(np.percentile(positive, 1)) * 1e-3, 0.2) if len(positive) else 1.0
    # Sparse reporters (a phone every 1–5 s) need a wider window for the same number of fixes:
    # ± max(smooth_s, smooth_intervals × the track's typical interval, capped at 10 s per step).
    steps = np.clip(np.diff(t) * 1e-3, 0.0, 10.0)
    steps[starts[1:] - 1] = 0.0  # the step from one track into the next
    per_track = np.add.reduceat(np.append(steps, 0.0), starts) if len(starts) else np.zeros(0)
    sizes = np.diff(np.append(starts, n))
    interval = np.where(sizes > 1, per_track / np.maximum(sizes - 1, 1), 1.0)
    half_s = np.maximum(params.smooth_s, params.smooth_intervals * interval)[track[rows] - 1]
    vx, vy, var_v, px, py, s0 = _local_fit(t, x, y, weight, track, rows, half_s, shortest_s)
    lx, ly, var_l, _, _, _ = _local_fit(t, x, y, weight, track, rows, params.still_s, shortest_s)
    c2 = params.noise_correlation**2
    v2 = vx * vx + vy * vy
    debiased = np.sqrt(np.maximum(v2 - 2.0 * c2 * var_v, 0.0))
    moving = v2 > params.moving_z**2 * c2 * var_v
    speed = np.where(moving, debiased, 0.0)
    # Step lengths of the fitted path (distance): |v̂|² overstates v² by 2σ_v² on average.
    shrink = np.where(
        moving, np.sqrt(np.maximum(1.0 - params.step_debias * 2.0 * var_v / np.maximum(v2, 1e-12), 0.0)), 1.0
    )
    # For distance, v² − 2σ_v² is averaged over the neighbouring fixes before the square root:
    # truncating each fix's estimate at 0 would turn a stationary fix's zero-mean noise into speed.
    q = np.full(n, np.nan)
    q[rows] = v2 - 2.0 * c2 * var_v
    total, count = np.zeros(len(rows)), np.zeros(len(rows))
    for k in range(-params.distance_fixes, params.distance_fixes + 1):
        j = np.clip(rows + k, 0, n - 1)
        ok = (rows + k >= 0) & (rows + k < n) & (track[j] == track[rows]) & np.isfinite(q[j])
        total += np.where(ok, q[j], 0.0)
        count += ok
    smooth_v = np.sqrt(np.maximum(total / np.maximum(count, 1), 0.0))
    rolling = np.where(lx * lx + ly * ly > params.still_z**2 * c2 * var_l, smooth_v, 0.0)
    # The fitted position's own accuracy (68 % radius): σ² of a weighted mean, correlation included.
    fitted_accuracy = 1.51 * np.sqrt(c2 / s0)
    return (
        px.astype(np.float32),
        py.astype(np.float32),
        speed.astype(np.float32),
        rolling.astype(np.float32),
        fitted_accuracy.astype(np.float32),
        shrink.astype(np.float32),
    )


def _local_fit(
    t: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    track: np.ndarray,
    rows: np.ndarray,
    half_s: np.ndarray | float,
    shortest_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least-squares line through the fixes of the same track within ±half_s of each
    of ``rows``: (vx, vy) m/s, the variance of each slope component for independent errors,
    and the fitted position at the fix's own time. Vectorised over neighbour offsets (one
    pass per offset over ``rows``); sums are taken relative to the fix itself, so nothing
    cancels at large times or coordinates."""
    n = len(t)
    reach = int(min(120, np.ceil(np.max(half_s, initial=0.0) / shortest_s)))
    s0 = weight[rows].copy()
    s1, s2, sx, sy, s1x, s1y = (np.zeros(len(rows)) for _ in range(6))
    x_r, y_r, t_r, track_r = x[rows].astype(np.float64), y[rows].astype(np.float64), t[rows], track[rows]
    for k in range(-reach, reach + 1):
        if k == 0:
            continue
        j = np.clip(rows + k, 0, n - 1)
        tau = (t[j] - t_r) * 1e-3
        ok = (np.abs(tau) <= half_s) & (track[j] == track_r) & (rows + k >= 0) & (rows + k < n)
        if not ok.any():
            continue
        w = np.where(ok, weight[j], 0.0)
        tau = np.where(ok, tau, 0.0)
        ddx = np.where(ok, x[j] - x_r, 0.0)
        ddy = np.where(ok, y[j] - y_r, 0.0)
        wt = w * tau
        s0 += w
        s1 += wt
        s2 += wt * tau
        sx += w * ddx
        sy += w * ddy
        s1x += wt * ddx
        s1y += wt * ddy
    det = s0 * s2 - s1 * s1
    fit = det > 1e-9 * s0 * s0  # at least two fixes at different times
    safe = np.where(fit, det, 1.0)
    vx = np.where(fit, (s0 * s1x - s1 * sx) / safe, 0.0)
    vy = np.where(fit, (s0 * s1y - s1 * sy) / safe, 0.0)
    var_v = np.where(fit, s0 / safe, np.inf)
    px = x_r + (sx - vx * s1) / s0  # intercept at tau = 0
    py = y_r + (sy - vy * s1) / s0
    return vx, vy, var_v, px, py, s0


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
