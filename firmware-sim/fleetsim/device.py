"""What kind of unit reports the fixes: the fleet's own units (protocol v1), an off-the-shelf
tracker, or a phone in the cab. Applied after the receiver model (fleetsim.gps), from its own
random stream, so the v1 profile is bit-for-bit the run it always was.

- ``v1``: every fix at the sampling rate, Doppler speed and course always reported.
- ``tracker``: fixes every 1–3 s (a fifth of the seconds skipped), accuracy 5–15 m reported per
  fix (HDOP-equivalent = accuracy / 5 m, as the ingest stores it), speed and course reported only
  while moving (> 1 m/s) and even then missing for a third of the fixes.
- ``phone``: fixes every 1–5 s, accuracy 5–50 m (median ~9 m, slow spells of bad sky), never a
  speed or course (OwnTracks' ``vel`` and ``cog`` are optional and often absent).

Position error follows the reported accuracy: an AR(1) process per axis with σ = accuracy / 1.51
(accuracy as the 68 % radius, Android's definition), correlated over 10 s (tracker) or 5 s
(phone), replacing the receiver model's noise; the receiver's dropouts still apply.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

PROFILES = ("v1", "tracker", "phone")
ACCURACY_M_PER_HDOP = 5.0  # the convention of the ingest's dialects (accuracy m -> HDOP-equivalent)
SIGMA_PER_ACCURACY = 1 / 1.51  # 68 % of a 2-D normal lies within 1.51 σ


@dataclass(frozen=True)
class Profile:
    name: str
    max_interval_s: int  # fixes come every 1..max_interval_s sampling steps
    skip_share: float  # tracker: share of sampling steps skipped (used when max_interval_s == 0)
    accuracy_median_m: float
    accuracy_max_m: float
    log_sd: float  # spread of log(accuracy)
    correlation_s: float
    speed_when: str  # 'moving' (tracker) or 'never' (phone)
    speed_missing_share: float


TRACKER = Profile("tracker", 0, 0.2, 8.0, 15.0, 0.3, 10.0, "moving", 1 / 3)
PHONE = Profile("phone", 5, 0.0, 9.0, 50.0, 0.6, 5.0, "never", 1.0)


def profile(name: str) -> Profile | None:
    if name not in PROFILES:
        raise ValueError(f"unknown device profile {name!r} (one of {', '.join(PROFILES)})")
    return {"tracker": TRACKER, "phone": PHONE}.get(name)


def _ar1(rng: np.random.Generator, n: int, phi: float) -> np.ndarray:
    """Unit-variance AR(1) series."""
    eps = rng.standard_normal(n)
    gain = np.sqrt(1.0 - phi * phi)
    return lfilter([gain], [1.0, -phi], eps, zi=[phi * eps[0]])[0] if n else eps


def apply(
    rng: np.random.Generator,
    name: str,
    step_s: float,
    true_x: np.ndarray,
    true_y: np.ndarray,
    true_speed: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    speed: np.ndarray,
    heading: np.ndarray,
    hdop: np.ndarray,
    keep: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, speed, heading, hdop, keep) as the unit of profile ``name`` reports them; speed
    and heading NaN where not reported. Deterministic in ``rng``."""
    p = profile(name)
    if p is None:
        return x, y, speed, heading, hdop, keep
    n = len(true_x)
    if p.max_interval_s:  # irregular reporting: the next fix 1..max steps later
        steps = rng.integers(1, p.max_interval_s + 1, n)
        at = np.cumsum(steps) - steps[0]
        sampled = np.zeros(n, dtype=bool)
        sampled[at[at < n]] = True
    else:
        sampled = rng.random(n) >= p.skip_share
    log_acc = np.log(p.accuracy_median_m) + p.log_sd * _ar1(rng, n, float(np.exp(-step_s / 60.0)))
    accuracy = np.clip(np.exp(log_acc), 5.0, p.accuracy_max_m)
    accuracy = np.round(accuracy)  # trackers and phones report whole metres
    phi = float(np.exp(-step_s / p.correlation_s))
    sigma = accuracy * SIGMA_PER_ACCURACY
    ex = sigma * _ar1(rng, n, phi)
    ey = sigma * _ar1(rng, n, phi)
    speed = speed.astype(np.float64).copy()
    heading = heading.astype(np.float64).copy()
    if p.speed_when == "never":
        missing = np.ones(n, dtype=bool)
    else:
        missing = (true_speed <= 1.0) | (rng.random(n) < p.speed_missing_share)
    speed[missing] = np.nan
    heading[missing] = np.nan
    return true_x + ex, true_y + ey, speed, heading, accuracy / ACCURACY_M_PER_HDOP, keep & sampled
