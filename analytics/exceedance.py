"""Exposure-normalised statistics for street segments: events per pass against a reference rate.

Grid cells use Getis-Ord Gi* from ``fleetpilot.analytics.hotspots`` (neighbourhoods on the
grid); street segments have no such neighbourhood here, so each segment with n passes and
x events is compared with the rate r of all segments shown: expected e = n·r, a Poisson
upper-tail p-value P(X ≥ x | e) tests "more events than its traffic explains", and the
same Benjamini–Hochberg control over all segments tested marks the significant ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import poisson

from .hotspots import benjamini_hochberg

FDR_ALPHA = 0.05


@dataclass(frozen=True)
class Scores:
    """Per unit: expected events, z (Poisson standardised excess), p, q, significant
    (q ≤ alpha and more events than expected); reference rate per pass over all units."""

    reference_rate: float | None
    expected: np.ndarray
    z: np.ndarray
    p: np.ndarray
    q: np.ndarray
    significant: np.ndarray


def poisson_exceedance(events: np.ndarray, passes: np.ndarray, alpha: float = FDR_ALPHA) -> Scores:
    events = np.asarray(events, dtype=float)
    passes = np.asarray(passes, dtype=float)
    if len(passes) == 0 or passes.sum() <= 0:
        n = len(passes)
        return Scores(None, np.zeros(n), np.zeros(n), np.ones(n), np.ones(n), np.zeros(n, dtype=bool))
    rate = events.sum() / passes.sum()
    expected = passes * rate
    z = np.divide(events - expected, np.sqrt(expected), out=np.zeros(len(events)), where=expected > 0)
    # sf(x - 1) = P(X >= x); with nothing expected only x = 0 is unsurprising.
    p = np.where(expected > 0, poisson.sf(events - 1, np.maximum(expected, 1e-300)), np.where(events > 0, 0.0, 1.0))
    q = benjamini_hochberg(p)
    return Scores(float(rate), expected, z, p, q, (q <= alpha) & (events > expected))
