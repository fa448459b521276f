"""Before and after a fix: a place's exposure-normalised event rate, and its change with an interval.

A place's rate is events per pass (as for hotspots, never raw counts: a street that got busier
after a fix would otherwise look worse). The change is rate_after / rate_before − 1 (−0.6: the
rate fell 60 %). Its interval resamples days with the what-if bootstrap
(analytics.whatif.uncertainty: days are what repeats — traffic, weather, who drove — and
passes within a day are not independent): each period's days are drawn with replacement, on
its own (the periods share no day), and the percentile interval of the replicates' changes is
reported. Each period's rate takes half an event more (Haldane's correction), in the estimate
and in every replicate alike (so the interval is around the estimate): a period without any
event — the hoped-for outcome of a fix — then gives a finite ratio and an interval that does
not collapse onto −100 %, and a fall is never overstated as total (0 events in 300 passes after
90 in 300 before reads "fell 99 %"). The plain counts are reported beside it.

Nothing is called a change before each period holds ``min_passes`` passes: with 30 passes a
place that braked on 1 pass in 3 before could show "fell 100 %" by chance alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .whatif.uncertainty import DEFAULT_LEVEL, DEFAULT_REPLICATES, day_weights, percentile_interval

MIN_PASSES = 100  # passes in each period before a change is stated (docs/analytics.md, "Before and after a fix")
HALF_EVENT = 0.5  # Haldane's correction of a replicate's event total


@dataclass(frozen=True)
class BeforeAfter:
    """passes/events summed per period; change and its interval [lo, hi] as fractions
    (−0.6 = fell 60 %), None unless both periods reach min_passes and events happened before."""

    passes_before: int
    events_before: int
    passes_after: int
    events_after: int
    min_passes: int
    change: float | None
    lo: float | None
    hi: float | None
    level: float

    @property
    def enough(self) -> bool:
        return min(self.passes_before, self.passes_after) >= self.min_passes

    @property
    def rate_before(self) -> float | None:
        return self.events_before / self.passes_before if self.passes_before else None

    @property
    def rate_after(self) -> float | None:
        return self.events_after / self.passes_after if self.passes_after else None


def before_after(
    passes_before: np.ndarray,
    events_before: np.ndarray,
    passes_after: np.ndarray,
    events_after: np.ndarray,
    *,
    min_passes: int = MIN_PASSES,
    replicates: int = DEFAULT_REPLICATES,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> BeforeAfter:
    """The change of events per pass from the days before to the days after (one value per
    day in each array); seeded, so the same days give the same interval."""
    pb, eb = np.asarray(passes_before, dtype=np.float64), np.asarray(events_before, dtype=np.float64)
    pa, ea = np.asarray(passes_after, dtype=np.float64), np.asarray(events_after, dtype=np.float64)
    totals = (int(pb.sum()), int(eb.sum()), int(pa.sum()), int(ea.sum()))
    if min(totals[0], totals[2]) < min_passes or totals[1] == 0:
        return BeforeAfter(*totals, min_passes, None, None, None, level)
    change = ((totals[3] + HALF_EVENT) / totals[2]) / ((totals[1] + HALF_EVENT) / totals[0]) - 1.0
    wb = day_weights(len(pb), replicates, seed)
    wa = day_weights(len(pa), replicates, seed + 1)
    rate_b = (wb @ eb + HALF_EVENT) / (wb @ pb)
    rate_a = (wa @ ea + HALF_EVENT) / (wa @ pa)
    samples = rate_a / rate_b - 1.0
    lo, hi = percentile_interval(samples[np.isfinite(samples)], level)
    return BeforeAfter(*totals, min_passes, change, float(lo), float(hi), level)
