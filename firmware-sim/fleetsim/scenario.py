"""The fixed part of a run: city, route plans, dangerous intersections and roster."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from fleetsim.city import City, build_city, city_geojson
from fleetsim.config import HazardFix, SimConfig
from fleetsim.irregular import build_irregular_city
from fleetsim.plans import RoutePlan, build_plans, dangerous_intersections, routes_geojson
from fleetsim.roster import Roster, Shift, build_roster, default_start
from fleetsim.streetnet import build_street_city, load_restrictions, load_streets

FIX_MATCH_M = 60.0  # a --fix-hazard point names the dangerous intersection within this distance


@dataclass
class Scenario:
    config: SimConfig
    city: City
    plans: list[RoutePlan]
    dangerous: list[int]  # node ids
    roster: Roster
    start_ms: int
    fixed_on: dict[int, date] = field(default_factory=dict)  # node id -> local day it stops being dangerous

    def dangerous_for(self, shift: Shift) -> list[int]:
        """The intersections still dangerous on the shift's local start day."""
        day = datetime.fromtimestamp(shift.start_ms / 1000, ZoneInfo(self.config.timezone)).date()
        return [n for n in self.dangerous if n not in self.fixed_on or day < self.fixed_on[n]]

    def city_geojson(self) -> dict:
        return city_geojson(self.city)

    def routes_geojson(self) -> dict:
        return routes_geojson(self.city, self.plans)

    def dangerous_json(self) -> list[dict]:
        lon, lat = self.city.lonlat(self.dangerous)
        return [
            {
                "intersection_id": f"node-{n}",
                "lon": round(float(a), 7),
                "lat": round(float(b), 7),
                "fixed_on": self.fixed_on[n].isoformat() if n in self.fixed_on else None,
            }
            for n, a, b in zip(self.dangerous, np.atleast_1d(lon), np.atleast_1d(lat))
        ]


def build_scenario(config: SimConfig) -> Scenario:
    start_ms = config.start_ms if config.start_ms is not None else default_start(tz=config.timezone)
    if config.streets:
        city = build_street_city(
            load_streets(config.streets),
            config.seed,
            config.n_vehicles,
            name=config.city,
            restrictions=load_restrictions(config.streets),
        )
    elif config.city_style == "irregular":
        city = build_irregular_city(config.seed, config.n_vehicles, name=config.city)
    elif config.city_style == "grid":
        city = build_city(config.seed, config.n_vehicles, name=config.city)
    else:
        raise ValueError(f"unknown city style {config.city_style!r} (grid or irregular)")
    plans = build_plans(city, config.n_vehicles)
    dangerous = dangerous_intersections(city, plans, config.behaviour.n_dangerous, config.seed)
    roster = build_roster(
        config.seed,
        config.city,
        config.n_vehicles,
        config.days,
        start_ms,
        config.hours,
        config.stagger_minutes,
        config.vehicle_prefix,
        config.timezone,
    )
    return Scenario(config, city, plans, dangerous, roster, start_ms, _fixed_on(city, dangerous, config.hazard_fixes))


def _fixed_on(city: City, dangerous: list[int], fixes: tuple[HazardFix, ...]) -> dict[int, date]:
    """Each fix's dangerous intersection (the nearest, within FIX_MATCH_M) and its day."""
    out: dict[int, date] = {}
    if not fixes:
        return out
    for fix in fixes:
        try:
            day = date.fromisoformat(fix.on)
        except ValueError:
            raise ValueError(f"hazard fix day {fix.on!r} is not an ISO date (YYYY-MM-DD)") from None
        x, y = city.projection.to_xy(np.array([fix.lon]), np.array([fix.lat]))
        gap = np.hypot(city.node_x[dangerous] - x[0], city.node_y[dangerous] - y[0])
        if not len(dangerous) or gap.min() > FIX_MATCH_M:
            raise ValueError(
                f"no dangerous intersection within {FIX_MATCH_M:.0f} m of {fix.lon},{fix.lat} "
                "(truth.json's dangerous_intersections lists where they are)"
            )
        out[dangerous[int(np.argmin(gap))]] = day
    return out
