"""The KPI catalogue of the pilot's goals, and weekly values with bootstrap intervals.

Every KPI is a ratio of two daily sums over the released shifts of a day (numerator and
denominator; a total has the denominator 1 per day). A period's value is
scale × Σ numerator / Σ denominator over its days, and its 95 % interval resamples the
days with replacement, as the what-if does (analytics/whatif/uncertainty.py): days are
what repeats and shifts of one day are not independent. Pure: arrays in, figures out;
the SQL that fills the daily sums lives with the API (api/goals/service.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np

from fleetpilot.analytics.whatif.kpi import Factors
from fleetpilot.analytics.whatif.uncertainty import DEFAULT_LEVEL, day_weights, percentile_interval

Direction = Literal["at_least", "at_most"]
# A week's interval resamples its own days; 400 replicates as the what-if.
REPLICATES = 400
SEED = 16

FACTORS = Factors()


@dataclass(frozen=True)
class Kpi:
    """One measure of the catalogue: its daily numerator and denominator are columns of the
    daily table (api/goals/service.py DAILY), value = scale × Σ num / Σ den."""

    key: str
    title: str
    unit: str
    definition: str
    better: Direction
    num: str
    den: str  # "one" for a total over the days
    scale: float = 1.0


CATALOGUE: tuple[Kpi, ...] = (
    Kpi(
        "coverage",
        "Planned-street coverage",
        "%",
        "Share of a route's planned service street segments that were collected, averaged over the route-shifts "
        "of the period (shift_shortfall.coverage: segments unknown for lack of data, and segments missed for a "
        "cause the crew gave or a blocked-street hazard report, are left out).",
        "at_least",
        "coverage_sum",
        "coverage_n",
        100.0,
    ),
    Kpi(
        "missed_per_1000",
        "Missed service segments per 1,000 planned",
        "per 1,000",
        "Planned service segments a shift did not collect without a cause, per 1,000 planned segment visits "
        "(shift_shortfall.missed_segments over the service segments of the shift's route version, less those "
        "unknown for lack of data and those missed for a cause).",
        "at_most",
        "missed",
        "planned",
        1000.0,
    ),
    Kpi(
        "truck_hours_per_route_day",
        "Truck-hours per route-day",
        "h",
        "On-duty hours of all shifts (shift start to end) divided by the number of route-days driven.",
        "at_most",
        "hours",
        "route_days",
    ),
    Kpi(
        "overtime_hours",
        "Overtime hours",
        "h per week",
        f"Hours shifts lasted beyond {FACTORS.paid_hours:g} paid hours, summed over the fleet (per week: the sum of "
        "its days).",
        "at_most",
        "overtime_h",
        "one",
    ),
    Kpi(
        "deadhead_share",
        "Deadhead share of distance",
        "%",
        "Distance driven without collecting (to and from the route, between streets, to facilities) as a share of "
        "all distance driven (shift_metrics.deadhead_m / distance_m).",
        "at_most",
        "deadhead_m",
        "distance_m",
        100.0,
    ),
    Kpi(
        "facility_hours",
        "Facility queue hours",
        "h per week",
        "Hours trucks spent at transfer stations and landfills (queueing, tipping, leaving), summed over the fleet "
        "(shift_metrics.facility_s).",
        "at_most",
        "facility_h",
        "one",
    ),
    Kpi(
        "safety_per_100km",
        "Safety events per 100 km",
        "per 100 km",
        "Harsh braking, acceleration, cornering, speeding and reversing events (device and derived, merged) per "
        "100 km driven, fleet-wide.",
        "at_most",
        "events",
        "distance_m",
        100_000.0,
    ),
    Kpi(
        "fuel_l",
        "Fuel",
        "L per week",
        f"Estimated diesel: km × {FACTORS.fuel_l_per_km} L/km + engine hours × {FACTORS.fuel_l_per_engine_h} L/h "
        "(engine hours: on-duty hours less breaks), summed over the fleet.",
        "at_most",
        "fuel_l",
        "one",
    ),
    Kpi(
        "co2_kg",
        "CO₂ emitted",
        "kg per week",
        f"Estimated fuel (as the fuel KPI) × {FACTORS.co2_kg_per_l} kg CO₂ per litre of diesel (tank-to-wheel), summed "
        "over the fleet.",
        "at_most",
        "co2_kg",
        "one",
    ),
    Kpi(
        "complaints_answered",
        "311 missed-collection complaints answered by the record",
        "%",
        "Share of the city's 311 complaints of the period (by local day requested) for which the record says whether "
        "the street was serviced or missed (complaints.verdict serviced/missed). Complaints about a route's week "
        "withheld by the k rule are left out of both counts; complaints matched to no route count as unanswered.",
        "at_least",
        "complaints_answered",
        "complaints",
        100.0,
    ),
)
# Not a ratio of daily sums: each ISO week's hotspots are judged as known_hotspots judges them
# (rollup/known.py, the 13 weeks up to that one, k-visible cells only), less the places the
# city fixed by that week (hazards.fixed_on); see hotspots_open and weekly_mean.
HOTSPOTS = Kpi(
    "hotspots_open",
    "Significant hotspots open",
    "places",
    "Street segments that are significant hotspots (harsh braking or speeding per pass above the fleet's rate, "
    "Benjamini–Hochberg q < 0.05) over the 13 ISO weeks up to the week, among k-visible segments (as "
    "known_hotspots), less those of a place the city fixed (a hazard there marked fixed) on or before the week's "
    "last day. A period's value is the mean of its weeks' counts.",
    "at_most",
    "",
    "",
)
KPIS: dict[str, Kpi] = {k.key: k for k in (*CATALOGUE, HOTSPOTS)}


@dataclass(frozen=True)
class Estimate:
    """A period's value and its 95 % interval (None when the period has no usable day)."""

    value: float | None
    lo: float | None
    hi: float | None
    days: int


def estimate(kpi: Kpi, num: np.ndarray, den: np.ndarray, weeks: int = 1, seed: int = SEED) -> Estimate:
    """scale × Σ num / Σ den over the days, with a percentile interval over days resampled
    with replacement (replicates whose denominator is 0 are left out). A total (den "one")
    is per week: Σ num / `weeks`, the number of weeks the days lie in (a week's value is its
    total; a period's, the mean weekly total)."""
    n = len(num)
    total = float(den.sum())
    if n == 0 or total <= 0:
        return Estimate(None, None, None, n)
    weights = day_weights(n, REPLICATES, seed)
    nums, dens = weights @ num, weights @ den
    ok = dens > 0
    if kpi.den == "one":  # the resampled sum is over the same number of days and weeks
        value = kpi.scale * float(num.sum()) / weeks
        samples = kpi.scale * nums / weeks
    else:
        value = kpi.scale * float(num.sum()) / total
        samples = kpi.scale * nums[ok] / dens[ok]
    lo, hi = percentile_interval(samples, DEFAULT_LEVEL)
    return Estimate(value, float(lo), float(hi), n)


def hotspots_open(hotspots: list[tuple[str, str | None]], fixed_on: dict[str, date], last_day: date) -> tuple[int, int]:
    """(open, fixed) significant segments of a week: `hotspots` are its (segment, place) pairs
    (place None: the segment alone); a place counts as fixed from the week a hazard on any of
    its segments was fixed (`fixed_on`: segment → the day), so a fix on `last_day` counts."""
    places: dict[str, set[str]] = {}  # a segment may be significant for several kinds, in a place of each
    for segment, place in hotspots:
        places.setdefault(segment, set()).add(place or f"segment:{segment}")
    done = set().union(*(places[s] for s, day in fixed_on.items() if s in places and day <= last_day))
    fixed = sum(1 for of in places.values() if of & done)
    return len(places) - fixed, fixed


def weekly_mean(values: np.ndarray, seed: int = SEED) -> Estimate:
    """The mean of weekly counts with a percentile interval over the weeks resampled with
    replacement (weeks are what repeats); `days` is the number of weeks."""
    n = len(values)
    if n == 0:
        return Estimate(None, None, None, 0)
    samples = day_weights(n, REPLICATES, seed) @ values / n
    lo, hi = percentile_interval(samples, DEFAULT_LEVEL)
    return Estimate(float(values.mean()), float(lo), float(hi), n)


Verdict = Literal["met", "missed", "too close to call", "no data"]


def verdict(value: Estimate, target: float, direction: Direction) -> Verdict:
    """Met when the whole interval is on the target's side, missed when the whole interval is
    on the other side, otherwise too close to call (a week or two of noise decides nothing)."""
    if value.value is None or value.lo is None or value.hi is None:
        return "no data"
    if direction == "at_least":
        return "met" if value.lo >= target else "missed" if value.hi < target else "too close to call"
    return "met" if value.hi <= target else "missed" if value.lo > target else "too close to call"
