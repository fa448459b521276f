"""The fixed part of a run: city, route plans, dangerous intersections and roster."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fleetsim.city import City, build_city, city_geojson
from fleetsim.config import SimConfig
from fleetsim.irregular import build_irregular_city
from fleetsim.plans import RoutePlan, build_plans, dangerous_intersections, routes_geojson
from fleetsim.roster import Roster, build_roster, default_start
from fleetsim.streetnet import build_street_city, load_streets


@dataclass
class Scenario:
    config: SimConfig
    city: City
    plans: list[RoutePlan]
    dangerous: list[int]  # node ids
    roster: Roster
    start_ms: int

    def city_geojson(self) -> dict:
        return city_geojson(self.city)

    def routes_geojson(self) -> dict:
        return routes_geojson(self.city, self.plans)

    def dangerous_json(self) -> list[dict]:
        lon, lat = self.city.lonlat(self.dangerous)
        return [
            {"intersection_id": f"node-{n}", "lon": round(float(a), 7), "lat": round(float(b), 7)}
            for n, a, b in zip(self.dangerous, np.atleast_1d(lon), np.atleast_1d(lat))
        ]


def build_scenario(config: SimConfig) -> Scenario:
    start_ms = config.start_ms if config.start_ms is not None else default_start(tz=config.timezone)
    if config.streets:
        city = build_street_city(load_streets(config.streets), config.seed, config.n_vehicles, name=config.city)
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
    return Scenario(config, city, plans, dangerous, roster, start_ms)
