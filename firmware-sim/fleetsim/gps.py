"""What the GPS receiver reports, given where the truck really is.

Errors, each switchable (fleetsim.config.GpsRealism):
- position noise: an AR(1) process per axis with σ = `noise_m` and a 10 s correlation time,
  as real receivers drift rather than jump independently every second;
- multipath: a single fix thrown 20–80 m in a random direction, HDOP not always raised
  (multipath often goes unnoticed by the receiver);
- dropouts: windows of 5–60 s with no fix at all (tunnels, urban canyons).
Speed is reported from Doppler (σ 0.08 m/s moving; ≤ 0.3 m/s when stationary); heading is
course over ground, whose error shrinks with speed (σ = 0.05 m/s ÷ speed, in radians, at most 3°).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from fleetsim.config import GpsRealism

CORRELATION_S = 10.0


@dataclass
class Observed:
    x: np.ndarray
    y: np.ndarray
    speed: np.ndarray
    heading: np.ndarray
    hdop: np.ndarray
    keep: np.ndarray  # False inside dropouts
    multipath: np.ndarray  # indices (into the input) of thrown fixes
    dropouts: list[tuple[int, int]]  # [from, to) epoch ms


def observe(
    rng: np.random.Generator,
    gps: GpsRealism,
    t_ms: np.ndarray,
    window: tuple[int, int],
    x: np.ndarray,
    y: np.ndarray,
    speed: np.ndarray,
    heading: np.ndarray,
    step_s: float,
) -> Observed:
    """Add receiver errors to true positions (m), speeds (m/s) and headings (deg) sampled at `t_ms`.

    `window` is the span the unit is on (dropouts are drawn inside it)."""
    n = len(t_ms)
    phi = float(np.exp(-step_s / CORRELATION_S))
    gain = np.sqrt(1.0 - phi * phi)
    eps = rng.standard_normal((3, n))
    if gps.noise_m > 0:
        ex = lfilter([gain * gps.noise_m], [1.0, -phi], eps[0], zi=[phi * gps.noise_m * eps[0, 0]])[0]
        ey = lfilter([gain * gps.noise_m], [1.0, -phi], eps[1], zi=[phi * gps.noise_m * eps[1, 0]])[0]
    else:
        ex = ey = np.zeros(n)
    # HDOP follows satellite geometry slowly; 0.7–1.6 in the open.
    geometry = lfilter([gain], [1.0, -phi], eps[2], zi=[phi * eps[2, 0]])[0]
    hdop = np.clip(1.0 + 0.25 * geometry, 0.7, 1.6)

    jump = rng.random(n) < gps.multipath_per_fix
    idx = np.flatnonzero(jump)
    dist = rng.uniform(20.0, 80.0, len(idx))
    ang = rng.uniform(0.0, 2 * np.pi, len(idx))
    ex = ex.copy()
    ey = ey.copy()
    ex[idx] += dist * np.cos(ang)
    ey[idx] += dist * np.sin(ang)
    raised = rng.random(len(idx)) < 0.5
    hdop[idx[raised]] = rng.uniform(1.8, 4.0, int(raised.sum()))

    noise = rng.standard_normal((2, n))
    moving = speed > 0.05
    obs_speed = np.where(moving, np.abs(speed + 0.08 * noise[0]), np.minimum(np.abs(0.05 * noise[0]), 0.3))
    heading_sigma = np.minimum(np.degrees(0.05 / np.maximum(speed, 0.1)), 3.0)
    obs_heading = (heading + heading_sigma * noise[1]) % 360.0

    keep = np.ones(n, dtype=bool)
    dropouts = []
    hours = (window[1] - window[0]) / 3.6e6
    count = rng.poisson(gps.dropouts_per_hour * hours) if gps.dropouts_per_hour > 0 else 0
    starts = np.sort(rng.integers(window[0], max(window[0] + 1, window[1] - 60_000), count))
    lengths = rng.integers(5_000, 60_001, count)
    for a, length in zip(starts.tolist(), lengths.tolist()):
        b = a + length
        lo, hi = np.searchsorted(t_ms, [a, b])
        if hi > lo:
            keep[lo:hi] = False
            dropouts.append((int(a), int(b)))
    return Observed(x + ex, y + ey, obs_speed, obs_heading, np.round(hdop, 1), keep, idx, dropouts)
