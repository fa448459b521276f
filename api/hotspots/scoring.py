"""Exposure-normalised hotspot statistics: events per pass against a reference rate.

Pure functions over arrays. A unit (segment or cell) with n passes and x events is
compared with the rate r of all units shown: expected e = n·r; a Poisson upper-tail
p-value P(X ≥ x | e) tests "more events than its traffic explains", and
Benjamini–Hochberg q-values control the false discovery rate over all units tested.
The busiest street is therefore not a hotspot just for being busy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

FDR_ALPHA = 0.05


@dataclass(frozen=True)
class Scores:
    """Per unit: rate_per_1000 (events per 1000 passes), expected events, z (Poisson
    standardised excess), p, q (BH-adjusted p), significant (q < alpha and excess > 0)."""

    reference_rate_per_1000: float | None
    rate_per_1000: np.ndarray
    expected: np.ndarray
    z: np.ndarray
    p: np.ndarray
    q: np.ndarray
    significant: np.ndarray


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """BH-adjusted p-values (q), monotone in p and capped at 1."""
    n = len(p)
    if n == 0:
        return p.astype(float)
    order = np.argsort(p)
    ranked = p[order] * n / np.arange(1, n + 1)
    adjusted = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(n)
    q[order] = np.minimum(adjusted, 1.0)
    return q


def score(events: np.ndarray, passes: np.ndarray, alpha: float = FDR_ALPHA) -> Scores:
    events = np.asarray(events, dtype=float)
    passes = np.asarray(passes, dtype=float)
    total_passes = passes.sum()
    if len(passes) == 0 or total_passes <= 0:
        empty = np.zeros(len(passes))
        return Scores(None, empty, empty, empty, np.ones(len(passes)), np.ones(len(passes)),
                      np.zeros(len(passes), dtype=bool))
    rate = events.sum() / total_passes
    expected = passes * rate
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(expected > 0, (events - expected) / np.sqrt(expected), 0.0)
        rate_per_1000 = np.where(passes > 0, 1000 * events / passes, 0.0)
    # sf(x - 1) = P(X >= x); with no expected events only x = 0 is unsurprising.
    p = np.where(expected > 0, poisson.sf(events - 1, expected), np.where(events > 0, 0.0, 1.0))
    q = benjamini_hochberg(p)
    return Scores(1000 * rate, rate_per_1000, expected, z, p, q, (q < alpha) & (events > expected))
