"""What all scenarios share: options, hotspot selection and assembling a ScenarioResult."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fleetpilot.analytics.whatif import charts
from fleetpilot.analytics.whatif.history import LEG_SERVICE, LEG_TRAVEL, History
from fleetpilot.analytics.whatif.kpi import Factors, per_day
from fleetpilot.analytics.whatif.privacy import Privacy, allowed
from fleetpilot.analytics.whatif.result import ScenarioResult, Table, kpi_records, period_record
from fleetpilot.analytics.whatif.uncertainty import DEFAULT_LEVEL, DEFAULT_REPLICATES, compare_days, day_weights

HOTSPOT_MIN_PASSES = 20
HOTSPOT_PRIOR_PASSES = 50.0  # empirical-Bayes shrinkage: a segment's rate counts as this many fleet-average passes


@dataclass(frozen=True)
class Options:
    """Settings every scenario takes besides its own inputs."""

    factors: Factors = field(default_factory=Factors)
    privacy: Privacy = field(default_factory=Privacy)
    replicates: int = DEFAULT_REPLICATES
    seed: int = 20240601
    level: float = DEFAULT_LEVEL
    hotspots: tuple[str, ...] | None = None  # segment ids; None = the `hotspot_top` highest shrunk rates
    hotspot_top: int = 10

    def describe(self) -> dict:
        return {
            "factors": self.factors.describe(),
            "k_shifts": self.privacy.k_shifts,
            "k_people": self.privacy.k_people,
            "replicates": self.replicates,
            "seed": self.seed,
            "level": self.level,
            "hotspots": list(self.hotspots) if self.hotspots is not None else None,
            "hotspot_top": self.hotspot_top,
        }


def pass_legs(history: History) -> np.ndarray:
    """Legs that are a pass along a street segment (collecting or travelling)."""
    legs = history.legs
    return ((legs.kind == LEG_SERVICE) | (legs.kind == LEG_TRAVEL)) & (legs.segment >= 0)


def segment_rates(history: History) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per segment: passes, harsh events, and the shrunk harsh-event rate per pass.

    The rate is (events + prior × fleet rate) / (passes + prior): a segment with few passes
    is pulled towards the fleet-wide rate, so one unlucky pass does not make a hotspot.
    """
    legs = history.legs
    on = pass_legs(history)
    n = history.network.size
    passes = np.bincount(legs.segment[on], minlength=n).astype(np.float64)
    events = np.bincount(legs.segment[on], weights=legs.harsh[on].astype(np.float64), minlength=n)
    fleet = events.sum() / max(passes.sum(), 1.0)
    rate = (events + HOTSPOT_PRIOR_PASSES * fleet) / (passes + HOTSPOT_PRIOR_PASSES)
    return passes, events, rate


def hotspot_segments(history: History, options: Options) -> np.ndarray:
    """Network indices of the hotspot segments (given by id, or the highest shrunk rates)."""
    if options.hotspots is not None:
        index = history.network.index()
        unknown = [s for s in options.hotspots if s not in index]
        if unknown:
            raise ValueError(f"unknown hotspot segment(s): {', '.join(unknown[:5])}")
        return np.array(sorted(index[s] for s in options.hotspots), dtype=np.int64)
    passes, _, rate = segment_rates(history)
    eligible = np.flatnonzero(passes >= HOTSPOT_MIN_PASSES)
    return np.sort(eligible[np.argsort(-rate[eligible], kind="stable")[: options.hotspot_top]])


def segment_mask(history: History, segments: np.ndarray) -> np.ndarray:
    """Boolean per network segment: is it one of ``segments`` (indices)?"""
    mask = np.zeros(history.network.size, dtype=bool)
    mask[segments] = True
    return mask


def require_k(history: History, shifts: np.ndarray, options: Options, what: str) -> None:
    """Refuse (ValueError) when the shifts a scenario changes are fewer than k shifts or people:
    its deltas would then describe a few crews, not the fleet."""
    chosen = np.flatnonzero(shifts)
    if not allowed(history, np.zeros(len(chosen), dtype=np.int64), chosen, 1, options.privacy)[0]:
        raise ValueError(
            f"{what} involves fewer than {options.privacy.k_shifts} shifts or "
            f"{options.privacy.k_people} people; the answer would be about individuals (k)"
        )


def bootstrap_weights(history: History, options: Options) -> np.ndarray:
    """(replicates × days) day multiplicities; the same for every scenario with the same seed."""
    days, _ = history.shift_days()
    return day_weights(len(days), options.replicates, options.seed)


def common_assumptions(options: Options, hotspot_ids: list[str]) -> list[str]:
    f = options.factors
    return [
        f"fuel = km × {f.fuel_l_per_km} L/km + engine hours × {f.fuel_l_per_engine_h} L/h (engine off at depot and "
        f"break places); CO2 = fuel × {f.co2_kg_per_l} kg/L",
        f"overtime = hours a shift works beyond {f.paid_hours} h",
        "hotspots: "
        + (", ".join(hotspot_ids) if hotspot_ids else "none found")
        + (
            ""
            if options.hotspots is not None
            else f" (the {options.hotspot_top} segments with the highest harsh-event rate per pass, shrunk towards the "
            f"fleet rate, among segments with at least {HOTSPOT_MIN_PASSES} passes)"
        ),
        f"uncertainty: {int(options.level * 100)} % percentile interval of the delta over {options.replicates} "
        f"bootstrap resamples of the historical days (seed {options.seed})",
        options.privacy.describe(),
    ]


def build_result(
    name: str,
    title: str,
    history: History,
    options: Options,
    inputs: dict,
    assumptions: list[str],
    base_shift: np.ndarray,
    scen_shift: np.ndarray,
    *,
    hotspots: np.ndarray,
    delta_samples: np.ndarray | None = None,
    unmodelled: dict[str, str] | None = None,
    tables: list[Table] | None = None,
    extra_charts: list[dict] | None = None,
    notes: list[str] | None = None,
) -> ScenarioResult:
    """Assemble a result from per-shift KPI matrices (baseline and scenario)."""
    days, _ = history.shift_days()
    weights = bootstrap_weights(history, options)
    comparison = compare_days(
        per_day(history, base_shift), per_day(history, scen_shift), weights, options.level, delta_samples=delta_samples
    )
    kpis = kpi_records(comparison, unmodelled)
    hotspot_ids = [str(history.network.segment_ids[i]) for i in hotspots]
    return ScenarioResult(
        scenario=name,
        title=title,
        inputs=inputs,
        assumptions=assumptions + common_assumptions(options, hotspot_ids),
        factors=options.factors.describe(),
        period=period_record(days, history.shifts.size),
        kpis=kpis,
        uncertainty={
            "method": "paired bootstrap over historical days",
            "replicates": options.replicates,
            "seed": options.seed,
            "level": options.level,
            "model_refit_per_replicate": delta_samples is not None,
        },
        tables=tables or [],
        charts=[charts.kpi_deltas(kpis, title)] + (extra_charts or []),
        notes=notes or [],
    )
