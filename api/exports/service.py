"""The export data sets: each is built from the same k-suppressed aggregates the API shows."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from fleetpilot import event_kinds
from fleetpilot.api.efficiency.service import efficiency
from fleetpilot.api.hotspots.schemas import HotspotUnit
from fleetpilot.api.hotspots.service import hotspots
from fleetpilot.api.policy import AggregateScope

HOTSPOT_COLUMNS = [f for f in HotspotUnit.model_fields if f != "geometry"]
EFFICIENCY_COLUMNS = [
    "route_id",
    "period_start",
    "whole_range",
    "suppressed",
    "shifts",
    "coverage_mean",
    "distance_km_per_shift",
    "deadhead_share",
    "collection_h_per_shift",
    "idle_min_per_shift",
    "facility_min_per_shift",
    "dwell_mean_s",
    "turnaround_mean_s",
]

Rows = list[dict[str, Any]]


@dataclass(frozen=True)
class Dataset:
    name: str
    description: str
    columns: list[str]
    build: Callable[[asyncpg.Connection, AggregateScope, str], Awaitable[Rows]]
    kinds: tuple[str, ...] = ()  # event kinds it can be built for (hotspot data sets)


async def _hotspot_rows(conn: asyncpg.Connection, scope: AggregateScope, level: str, kind: str) -> Rows:
    found = await hotspots(conn, scope, level, kind)
    places = {p.place_id: p.name for p in found.places}  # the names the hotspot page shows
    return [
        {
            **unit.model_dump(mode="json"),
            "place": places.get(unit.place_id),
            "kind": kind,
            "start": scope.start.isoformat(),
            "end": scope.end.isoformat(),
        }
        for unit in found.units
    ]


async def _segment_hotspots(conn, scope, kind) -> Rows:
    return await _hotspot_rows(conn, scope, "segment", kind)


async def _cell_hotspots(conn, scope, kind) -> Rows:
    return await _hotspot_rows(conn, scope, "cell", kind)


async def _route_efficiency(conn, scope, _kind) -> Rows:
    rows = []
    for route in await efficiency(conn, scope, "week"):
        for group, whole in [*((p, False) for p in route["periods"]), (route["whole_range"], True)]:
            start = group["period_start"]
            rows.append(
                {
                    "route_id": route["route_id"],
                    "whole_range": whole,
                    **group,
                    "period_start": start and start.isoformat(),
                }
            )
    return rows


HOTSPOT_EXTRA = ["place", "kind", "start", "end"]
DATASETS = {
    d.name: d
    for d in (
        Dataset(
            "segment_hotspots",
            "street segments: passes, events, rate per 1000 passes, z, p, q, significance",
            HOTSPOT_COLUMNS + HOTSPOT_EXTRA,
            _segment_hotspots,
            event_kinds.SEGMENT_EXPOSURE,
        ),
        Dataset(
            "cell_hotspots",
            "grid cells: passes, events, rate per 1000 passes, z, p, q, significance",
            HOTSPOT_COLUMNS + HOTSPOT_EXTRA,
            _cell_hotspots,
            event_kinds.CELL_EXPOSURE,
        ),
        Dataset(
            "route_efficiency",
            "per route and ISO week, and over the whole range: coverage, deadhead, idle, "
            "dwell, turnaround (suppressed groups have empty figures)",
            EFFICIENCY_COLUMNS,
            _route_efficiency,
        ),
    )
}
