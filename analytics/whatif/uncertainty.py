"""Uncertainty by resampling historical days (a seeded, paired bootstrap).

Days are the resampling unit because days are what repeats (weather, traffic, set-out
volumes vary by day) and because legs within one day are not independent. A replicate is
a vector of day multiplicities drawn with replacement; a period total is the weighted sum
of daily values, so baseline and scenario are resampled together (paired) and the
interval is on the *delta*. Intervals are percentile intervals. The same seed gives the
same replicates, so an answer is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_REPLICATES = 400
DEFAULT_LEVEL = 0.95


def day_weights(n_days: int, replicates: int, seed: int) -> np.ndarray:
    """(replicates × n_days) multiplicities of each day in each bootstrap resample."""
    rng = np.random.default_rng(seed)
    if n_days == 0:
        return np.zeros((replicates, 0))
    return rng.multinomial(n_days, np.full(n_days, 1.0 / n_days), size=replicates).astype(np.float64)


def percentile_interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper percentile bounds over axis 0."""
    tail = (1.0 - level) / 2.0 * 100.0
    return np.percentile(samples, tail, axis=0), np.percentile(samples, 100.0 - tail, axis=0)


@dataclass(frozen=True)
class Comparison:
    """Period totals: baseline, scenario, delta and the delta's interval (arrays per KPI)."""

    baseline: np.ndarray
    scenario: np.ndarray
    delta: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def compare_days(
    base_days: np.ndarray,
    scen_days: np.ndarray,
    weights: np.ndarray,
    level: float = DEFAULT_LEVEL,
    delta_samples: np.ndarray | None = None,
) -> Comparison:
    """Compare per-day KPI matrices (days × k) over the period.

    ``delta_samples`` (replicates × k) may be given when a scenario refits its model on
    every resample; otherwise the daily deltas are resampled with ``weights``.
    """
    delta_days = scen_days - base_days
    if delta_samples is None:
        delta_samples = weights @ delta_days
    lo, hi = percentile_interval(delta_samples, level) if len(delta_samples) else (delta_days.sum(0),) * 2
    return Comparison(baseline=base_days.sum(0), scenario=scen_days.sum(0), delta=delta_days.sum(0), lo=lo, hi=hi)
