"""The scenario registry: each scenario's parameters (lon/lat in, metres inside) and runner.

``run_scenario(name, history, params, privacy)`` checks the parameters, builds the common
``Options`` (seed, replicates, conversion factors, hotspots) and calls the scenario.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely

from fleetpilot.analytics.whatif.calming import calm
from fleetpilot.analytics.whatif.common import Options
from fleetpilot.analytics.whatif.facility_move import move_facility
from fleetpilot.analytics.whatif.frequency import change_frequency
from fleetpilot.analytics.whatif.history import History
from fleetpilot.analytics.whatif.kpi import Factors
from fleetpilot.analytics.whatif.privacy import Privacy
from fleetpilot.analytics.whatif.questions.library import Param
from fleetpilot.analytics.whatif.rebalance import rebalance
from fleetpilot.analytics.whatif.resequence import resequence
from fleetpilot.analytics.whatif.result import ScenarioResult
from fleetpilot.analytics.whatif.start_time import shift_start
from fleetpilot.analytics.whatif.tour import TurnCosts
from fleetpilot.analytics.whatif.uncertainty import DEFAULT_REPLICATES

COMMON = (
    Param("seed", "int", Options().seed, "seed of the bootstrap (same seed, same answer)", minimum=0),
    Param("replicates", "int", DEFAULT_REPLICATES, "bootstrap resamples of the days", minimum=50, maximum=2000),
    Param("paid_hours", "float", Factors().paid_hours, "paid hours per shift (overtime beyond)", minimum=1, maximum=24),
    Param("fuel_l_per_km", "float", Factors().fuel_l_per_km, "fuel per km (L)", minimum=0),
    Param("fuel_l_per_engine_h", "float", Factors().fuel_l_per_engine_h, "fuel per engine hour (L)", minimum=0),
    Param("co2_kg_per_l", "float", Factors().co2_kg_per_l, "CO2 per litre of fuel (kg)", minimum=0),
    Param("hotspot_top", "int", 10, "hotspots: this many highest-rate segments", minimum=1, maximum=200),
    Param("hotspots", "list", None, "hotspots: these segment ids instead"),
)


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    method: str
    params: tuple[Param, ...]
    run: Callable[[History, dict, Options], ScenarioResult]

    def describe(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "method": self.method,
            "params": [p.describe() for p in self.params + COMMON],
        }


def _xy(history: History, p: dict) -> tuple[float, float]:
    x, y = history.frame.to_xy(p["lon"], p["lat"])
    return float(x), float(y)


def _zone(history: History, p: dict):
    """The zone in metres: a GeoJSON polygon, or a circle of radius_m around lon/lat."""
    if p.get("zone") is not None:
        try:
            ring = np.asarray(p["zone"]["coordinates"][0], dtype=np.float64)
        except (TypeError, ValueError, IndexError):
            ring = np.zeros((0, 0))
        if ring.ndim != 2 or ring.shape[0] < 4 or ring.shape[1] < 2 or not np.isfinite(ring).all():
            raise ValueError("zone must be a GeoJSON Polygon whose ring has at least 4 [lon, lat] positions")
        x, y = history.frame.to_xy(ring[:, 0], ring[:, 1])
        return shapely.Polygon(np.column_stack([x, y]))
    if p.get("lon") is None or p.get("lat") is None:
        raise ValueError("give a zone polygon, or lon, lat and radius_m")
    return shapely.Point(*_xy(history, p)).buffer(p["radius_m"])


def _segments_near(history: History, p: dict) -> list[str]:
    if p.get("segment_ids"):
        return p["segment_ids"]
    if p.get("lon") is None or p.get("lat") is None:
        raise ValueError("give segment_ids, or lon, lat and radius_m")
    x, y = _xy(history, p)
    net = history.network
    near = np.flatnonzero(np.hypot(net.mid_x - x, net.mid_y - y) <= p["radius_m"])
    if near.size == 0:
        raise ValueError(f"no street segment within {p['radius_m']:g} m of ({p['lon']}, {p['lat']})")
    return [str(s) for s in net.segment_ids[near]]


LON = Param("lon", "float", None, "longitude (degrees)", minimum=-180, maximum=180)
LAT = Param("lat", "float", None, "latitude (degrees)", minimum=-90, maximum=90)

SCENARIOS: dict[str, Scenario] = {
    s.id: s
    for s in (
        Scenario(
            "start_time",
            "Start routes N minutes earlier or later",
            "observed speed by hour per segment (shrunk to the road class's profile) and facility dwell by hour",
            (
                Param("minutes", "float", 30.0, "minutes later (negative: earlier)", minimum=-360, maximum=360),
                Param("routes", "list", None, "only these routes (default: all)"),
                Param("event_speed_power", "float", 2.0, "harsh events ∝ speed^this", minimum=0, maximum=8),
            ),
            lambda h, p, o: shift_start(
                h, p["minutes"], o, routes=p["routes"], event_speed_power=p["event_speed_power"]
            ),
        ),
        Scenario(
            "facility_move",
            "Move the depot, a transfer station or a landfill",
            "trips to and from the facility keep their circuity and speed; visits and loads unchanged",
            (
                Param("facility_id", "str", None, "facility to move"),
                LON,
                LAT,
                Param(
                    "turnaround_min", "float", None, "dwell per visit at the new site (default: as observed)", minimum=0
                ),
            ),
            lambda h, p, o: move_facility(
                h, _required(p, "facility_id"), *_xy(h, _required_point(p)), o, turnaround_min=p["turnaround_min"]
            ),
        ),
        Scenario(
            "rebalance",
            "Rebalance service segments between routes",
            "greedy hand-over of touching segments from the busiest route; replayed day by day",
            (
                Param("routes", "list", None, "only between these routes (default: all)"),
                Param("max_moves", "int", 50, "most segments to move", minimum=1, maximum=1000),
                Param(
                    "touch_m",
                    "float",
                    5.0,
                    "segments touch when end points are this close (m)",
                    minimum=0.5,
                    maximum=100,
                ),
            ),
            lambda h, p, o: rebalance(h, o, routes=p["routes"], max_moves=p["max_moves"], touch_m=p["touch_m"]),
        ),
        Scenario(
            "frequency",
            "Change collection frequency in a zone",
            "collection legs in the zone count new/observed times; tonnage and tip trips unchanged",
            (
                Param("new_per_week", "float", 1.0, "collection days per week", minimum=0.1, maximum=7),
                Param("zone", "geojson", None, "zone polygon (lon/lat), or use lon, lat, radius_m"),
                LON,
                LAT,
                Param("radius_m", "float", 500.0, "circle radius around lon/lat (m)", minimum=10, maximum=20_000),
            ),
            lambda h, p, o: change_frequency(h, _zone(h, p), p["new_per_week"], o),
        ),
        Scenario(
            "resequence",
            "Re-sequence the stops of a route",
            "nearest neighbour + turn-aware 2-opt + Or-opt, compared with each shift's driven order",
            (
                Param("route_id", "str", None, "route to re-sequence"),
                Param("left_penalty_m", "float", 30.0, "cost of a crossing turn (m)", minimum=0),
                Param("uturn_penalty_m", "float", 200.0, "cost of a U-turn (m)", minimum=0),
                Param("drive_side", "str", "right", "side of the road traffic drives on", choices=("right", "left")),
                Param("circuity", "float", 1.0, "street metres per straight-line metre", minimum=1, maximum=3),
            ),
            lambda h, p, o: resequence(
                h,
                _required(p, "route_id"),
                o,
                turns=TurnCosts(p["left_penalty_m"], p["uturn_penalty_m"], p["drive_side"]),
                circuity=p["circuity"],
            ),
        ),
        Scenario(
            "calming",
            "Traffic calming or a lower limit at a hotspot",
            "passes over the new limit slowed; events ∝ speed^b with b fitted on the road class (Poisson)",
            (
                Param("new_limit_kmh", "float", 30.0, "new limit (km/h)", minimum=5, maximum=130),
                Param("segment_ids", "list", None, "segments, or use lon, lat, radius_m"),
                LON,
                LAT,
                Param(
                    "radius_m",
                    "float",
                    50.0,
                    "segments with midpoints this close to lon/lat (m)",
                    minimum=5,
                    maximum=2000,
                ),
                Param("compliance", "float", 1.0, "share of the excess speed removed", minimum=0, maximum=1),
            ),
            lambda h, p, o: calm(h, _segments_near(h, p), p["new_limit_kmh"], o, compliance=p["compliance"]),
        ),
    )
}


def _required(p: dict, name: str):
    if p.get(name) is None:
        raise ValueError(f"parameter {name!r} is required")
    return p[name]


def _required_point(p: dict) -> dict:
    _required(p, "lon")
    _required(p, "lat")
    return p


def complete(name: str, params: dict | None) -> dict:
    """The scenario's parameters checked and completed with defaults (common ones included)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    given = dict(params or {})
    spec = SCENARIOS[name].params + COMMON
    unknown = set(given) - {p.name for p in spec}
    if unknown:
        raise ValueError(f"scenario {name!r} has no parameter(s) {', '.join(sorted(unknown))}")
    return {p.name: p.coerce(given.get(p.name)) for p in spec}


def run_scenario(name: str, history: History, params: dict | None, privacy: Privacy = Privacy()) -> ScenarioResult:
    values = complete(name, params)
    options = Options(
        factors=Factors(
            values["paid_hours"], values["fuel_l_per_km"], values["fuel_l_per_engine_h"], values["co2_kg_per_l"]
        ),
        privacy=privacy,
        replicates=values["replicates"],
        seed=values["seed"],
        hotspots=tuple(values["hotspots"]) if values["hotspots"] else None,
        hotspot_top=values["hotspot_top"],
    )
    return SCENARIOS[name].run(history, values, options)
