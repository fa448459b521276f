"""Assembling a ``History`` from plain records: the city, route plans, shifts and legs.

The records are what both sources hold — database rows (api.whatif.service) or the
simulator's documents and columns (``history_from_documents``) — so the two paths share
every step. Times come in as UTC epoch seconds and leave as local wall-clock seconds of
``tz`` (IANA name); the offset is taken per UTC day at noon, which is exact except for
the hours of a daylight-saving switch (at night, when no truck collects).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import numpy as np
import shapely

from fleetpilot.analytics.activity import Geofences, project_polygons
from fleetpilot.analytics.columns import DeviceEvents, Fixes
from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.analytics.matching import LineIndex
from fleetpilot.analytics.segmentation import build_track
from fleetpilot.analytics.whatif.history import (
    EVENT_KINDS,
    SECONDS_PER_DAY,
    Facilities,
    History,
    Legs,
    Network,
    Plans,
    Shifts,
    StopVisits,
)
from fleetpilot.analytics.whatif.legs import LegParams, ShiftLegs, legs_of_shift, stop_visits_of_shift

LEG_COLUMNS = ("kind", "segment", "facility", "t0", "duration_s", "moving_s", "length_m", "max_speed_mps", "forward")


def utc_offset_s(t_utc_s: np.ndarray, tz: str) -> np.ndarray:
    """Seconds to add to UTC epoch seconds to get ``tz`` wall-clock seconds."""
    t = np.asarray(t_utc_s, dtype=np.float64)
    if tz == "UTC" or t.size == 0:
        return np.zeros_like(t)
    zone = ZoneInfo(tz)
    days, inverse = np.unique(np.floor(t / SECONDS_PER_DAY).astype(np.int64), return_inverse=True)
    offsets = np.array(
        [
            zone.utcoffset(
                datetime.fromtimestamp(d * SECONDS_PER_DAY + 43_200, timezone.utc).replace(tzinfo=None)
            ).total_seconds()
            for d in days
        ]
    )
    return offsets[inverse]


@dataclass(frozen=True)
class City:
    """The street network and facilities; ``streets``/``geofences`` (the matching indexes,
    ~1 s to build for a city) only when built with ``index=True`` — answers do not need them."""

    frame: LocalFrame
    network: Network
    facilities: Facilities
    streets: LineIndex | None
    geofences: Geofences | None


def build_city(
    streets: Sequence[tuple],
    facilities: Sequence[tuple],
    *,
    index: bool = True,
    built: LineIndex | None = None,
    built_geofences: Geofences | None = None,
) -> City:
    """Streets as (segment_id, road_class, speed_limit_kmh, [[lon, lat], …]); facilities as
    (facility_id, facility_type, GeoJSON Polygon coordinates). ``built``/``built_geofences``: a
    street index and geofences already built over the same streets and facilities (e.g. the
    rollup's), used when their frame, ids and types are the same."""
    return build_city_of(
        [s[0] for s in streets],
        [s[1] for s in streets],
        [s[2] for s in streets],
        np.array([shapely.LineString(s[3]) for s in streets], dtype=object),
        [f[0] for f in facilities],
        [f[1] for f in facilities],
        np.array([shapely.Polygon(f[2][0], f[2][1:]) for f in facilities], dtype=object),
        index=index,
        built=built,
        built_geofences=built_geofences,
    )


def build_city_of(
    street_ids: Sequence,
    road_class: Sequence,
    speed_limit_kmh: Sequence,
    lines: np.ndarray,
    facility_ids: Sequence,
    facility_types: Sequence,
    polygons: np.ndarray,
    *,
    index: bool = True,
    built: LineIndex | None = None,
    built_geofences: Geofences | None = None,
) -> City:
    """build_city over columns: ``lines`` and ``polygons`` are shapely geometries in lon/lat
    degrees (e.g. shapely.from_geojson of the stored geometry: no Python object per vertex)."""
    if not len(street_ids):
        raise ValueError("the city has no street segments")
    ids = np.array([str(i) for i in street_ids])
    coords = shapely.get_coordinates(lines)
    frame = LocalFrame.around(coords[:, 0], coords[:, 1])
    first = shapely.get_coordinates(shapely.get_point(lines, 0))
    last = shapely.get_coordinates(shapely.get_point(lines, -1))
    x0, y0 = frame.to_xy(first[:, 0], first[:, 1])
    x1, y1 = frame.to_xy(last[:, 0], last[:, 1])
    projected = shapely.transform(lines, lambda c: np.column_stack(frame.to_xy(c[:, 0], c[:, 1])))
    network = Network(
        segment_ids=ids,
        road_class=np.array([str(c) for c in road_class]),
        speed_limit_mps=np.array(speed_limit_kmh, dtype=np.float64) / 3.6,
        length_m=shapely.length(projected),
        x0=x0,
        y0=y0,
        x1=x1,
        y1=y1,
    )
    fac_ids = np.array([str(f) for f in facility_ids])
    fac_types = np.array([str(f) for f in facility_types])
    polygons = np.asarray(polygons, dtype=object)
    # Centroids need only the projected polygons; the geofences' rasters (~1 s) only matching.
    projected_polygons = project_polygons(polygons, frame)
    centroids = shapely.get_coordinates(shapely.centroid(projected_polygons)) if len(fac_ids) else np.zeros((0, 2))
    geofences = None
    if index:
        same = _same_index(built, ids, frame) and _same_geofences(built_geofences, fac_ids, fac_types)
        geofences = built_geofences if same else Geofences.build(fac_ids, fac_types, polygons, frame)
    return City(
        frame,
        network,
        Facilities(fac_ids, fac_types, centroids[:, 0], centroids[:, 1]),
        (built if _same_index(built, ids, frame) else LineIndex.build(ids, lines, frame)) if index else None,
        geofences,
    )


def _same_geofences(built: Geofences | None, ids: np.ndarray, types: np.ndarray) -> bool:
    """Built over the same facilities (in the frame ``_same_index`` checked: the rollup's)."""
    return built is not None and np.array_equal(built.ids, ids) and np.array_equal(built.types, types)


def _same_index(built: LineIndex | None, ids: np.ndarray, frame: LocalFrame) -> bool:
    return (
        built is not None
        and built.frame == frame
        and (built.radius_m, built.cell_m) == (15.0, 4.0)  # LineIndex.build's defaults, as built here
        and np.array_equal(built.ids, ids)
    )


def build_plans(city: City, segments: Sequence[tuple], stops: Sequence[tuple]) -> Plans:
    """Segments as (route_id, version, seq, segment_id, service); stops as (route_id, version,
    seq, stop_id, lon, lat). Non-service segments and streets not in the city are left out."""
    index = city.network.index()
    keys = sorted({(str(r[0]), int(r[1])) for r in segments} | {(str(r[0]), int(r[1])) for r in stops})
    route_ids = sorted({k[0] for k in keys})
    by_plan_seg: dict[tuple, list] = {k: [] for k in keys}
    for route, version, seq, seg, service in segments:
        if service and str(seg) in index:
            by_plan_seg[(str(route), int(version))].append((int(seq), index[str(seg)]))
    by_plan_stop: dict[tuple, list] = {k: [] for k in keys}
    for route, version, seq, stop_id, lon, lat in stops:
        by_plan_stop[(str(route), int(version))].append((int(seq), str(stop_id), float(lon), float(lat)))
    seg_lists = [[s for _, s in sorted(by_plan_seg[k])] for k in keys]
    stop_lists = [sorted(by_plan_stop[k]) for k in keys]
    all_stops = [s for lst in stop_lists for s in lst]
    lon = np.array([s[2] for s in all_stops], dtype=np.float64)
    lat = np.array([s[3] for s in all_stops], dtype=np.float64)
    sx, sy = city.frame.to_xy(lon, lat)
    return Plans(
        route_ids=np.array(route_ids),
        plan_route=np.array([route_ids.index(k[0]) for k in keys], dtype=np.int32),
        plan_version=np.array([k[1] for k in keys], dtype=np.int32),
        seg_offsets=np.concatenate([[0], np.cumsum([len(s) for s in seg_lists])]).astype(np.int64),
        seg=np.array([s for lst in seg_lists for s in lst], dtype=np.int32),
        stop_offsets=np.concatenate([[0], np.cumsum([len(s) for s in stop_lists])]).astype(np.int64),
        stop_ids=np.array([s[1] for s in all_stops]),
        stop_seq=np.array([s[0] for s in all_stops], dtype=np.int32),
        stop_x=np.asarray(sx),
        stop_y=np.asarray(sy),
    )


def plan_index(plans: Plans, route_id: str | None, version: int | None) -> int:
    """Index of the plan (route, version), or -1."""
    if route_id is None or version is None:
        return -1
    hit = np.flatnonzero((plans.route_ids[plans.plan_route] == route_id) & (plans.plan_version == version))
    return int(hit[0]) if hit.size else -1


def prepare_shift(
    city: City, plans: Plans, plan: int, fixes: Fixes, events: DeviceEvents, params: LegParams = LegParams()
) -> tuple[ShiftLegs, np.ndarray, np.ndarray]:
    """Legs and stop visits (plan-global stop index, UTC s) of one shift's fixes and events."""
    if city.streets is None:
        raise ValueError("preparing legs needs the city built with its matching index")
    track = build_track(fixes, city.frame)
    service = np.zeros(city.network.size, dtype=bool)
    if plan >= 0:
        service[plans.segments_of(plan)] = True
    legs = legs_of_shift(track, city.streets, service, city.geofences, events.t, events.kind, params)
    if plan < 0:
        return legs, np.zeros(0, dtype=np.int64), np.zeros(0)
    stops = plans.stops_of(plan)
    local, t = stop_visits_of_shift(track, plans.stop_x[stops], plans.stop_y[stops], params)
    return legs, local + stops.start, t


@dataclass(frozen=True)
class ShiftRecord:
    shift_id: str
    vehicle_id: str
    route_id: str | None
    route_version: int | None
    start_utc_s: float
    end_utc_s: float
    crew: tuple[str, ...]  # opaque person keys; only counted, never shown


def build_history(
    city: City,
    plans: Plans,
    shifts: Sequence[ShiftRecord],
    legs: Sequence[ShiftLegs],
    visits: Sequence[tuple[np.ndarray, np.ndarray]],
    tz: str = "UTC",
    period: tuple[int, int] | None = None,
) -> History:
    """A History from per-shift legs and visits (UTC) listed in the same order as ``shifts``."""
    vehicle_ids = np.array(sorted({s.vehicle_id for s in shifts}))
    route_pos = {str(r): i for i, r in enumerate(plans.route_ids)}
    people, person_of = np.unique([p for s in shifts for p in s.crew] or [""], return_inverse=True)
    starts = np.array([s.start_utc_s for s in shifts], dtype=np.float64)
    ends = np.array([s.end_utc_s for s in shifts], dtype=np.float64)
    sizes = np.array([len(s.crew) for s in shifts], dtype=np.int64)
    shift_cols = Shifts(
        shift_ids=np.array([s.shift_id for s in shifts]),
        vehicle_ids=vehicle_ids,
        vehicle=np.searchsorted(vehicle_ids, [s.vehicle_id for s in shifts]).astype(np.int32),
        route=np.array([route_pos.get(str(s.route_id), -1) for s in shifts], dtype=np.int32),
        plan=np.array([plan_index(plans, s.route_id, s.route_version) for s in shifts], dtype=np.int32),
        start_t=starts + utc_offset_s(starts, tz),
        end_t=ends + utc_offset_s(ends, tz),
        crew_offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
        crew_person=person_of[: int(sizes.sum())].astype(np.int32),
    )
    counts = np.array([len(leg) for leg in legs], dtype=np.int64)
    cols = {
        name: (np.concatenate([getattr(leg, name) for leg in legs]) if legs else np.zeros(0)) for name in LEG_COLUMNS
    }
    events = np.concatenate([leg.events for leg in legs]) if legs else np.zeros((0, len(EVENT_KINDS)), dtype=np.int32)
    t0 = cols.pop("t0")
    leg_cols = Legs(
        shift=np.repeat(np.arange(len(shifts)), counts).astype(np.int32),
        t0=t0 + utc_offset_s(t0, tz),
        events=events,
        **dict(cols.items()),
    )
    v_shift = np.repeat(np.arange(len(visits)), [len(v[0]) for v in visits]).astype(np.int32)
    v_t = np.concatenate([v[1] for v in visits]) if visits else np.zeros(0)
    visit_cols = StopVisits(
        shift=v_shift,
        stop=(np.concatenate([v[0] for v in visits]) if visits else np.zeros(0)).astype(np.int32),
        t=v_t + utc_offset_s(v_t, tz),
    )
    return History(
        frame=city.frame,
        network=city.network,
        facilities=city.facilities,
        plans=plans,
        shifts=shift_cols,
        legs=leg_cols,
        visits=visit_cols,
        period=period,
    )


def history_from_documents(
    city_geojson: dict,
    routes_geojson: dict,
    roster: dict,
    fixes: dict,
    events: dict,
    vehicle_ids: Sequence[str],
    event_kinds: Sequence[str],
    tz: str = "UTC",
) -> History:
    """A History straight from the simulator's documents and columns (no database).

    ``fixes``/``events`` are columns with integer ``vehicle`` codes into ``vehicle_ids`` and
    epoch-ms ``t``; event ``kind`` codes index ``event_kinds``. Every roster shift gets the
    fixes inside its window, as the ingest would store them.
    """
    feats = city_geojson["features"]
    city = build_city(
        [
            (
                f["properties"]["segment_id"],
                f["properties"]["road_class"],
                f["properties"]["speed_limit_kmh"],
                f["geometry"]["coordinates"],
            )
            for f in feats
            if f["properties"]["kind"] == "street"
        ],
        [
            (f["properties"]["facility_id"], f["properties"]["facility_type"], f["geometry"]["coordinates"])
            for f in feats
            if f["properties"]["kind"] == "facility"
        ],
    )
    rfeats = routes_geojson["features"]
    plans = build_plans(
        city,
        [
            (
                f["properties"]["route_id"],
                1,
                f["properties"]["seq"],
                f["properties"]["segment_id"],
                f["properties"].get("service", True),
            )
            for f in rfeats
            if f["properties"]["feature_type"] == "segment"
        ],
        [
            (
                f["properties"]["route_id"],
                1,
                f["properties"]["seq"],
                f["properties"]["stop_id"],
                *f["geometry"]["coordinates"][:2],
            )
            for f in rfeats
            if f["properties"]["feature_type"] == "stop"
        ],
    )
    code = {v: i for i, v in enumerate(vehicle_ids)}
    kinds = np.asarray(event_kinds)
    records, all_legs, all_visits = [], [], []
    for s in roster["shifts"]:
        start = datetime.fromisoformat(s["start"].replace("Z", "+00:00")).timestamp()
        end = datetime.fromisoformat(s["end"].replace("Z", "+00:00")).timestamp()
        v = code[s["vehicle_id"]]
        fsel = (fixes["vehicle"] == v) & (fixes["t"] >= start * 1000) & (fixes["t"] < end * 1000)
        esel = (events["vehicle"] == v) & (events["t"] >= start * 1000) & (events["t"] < end * 1000)
        shift_fixes = Fixes.from_columns(
            {k: fixes[k][fsel] for k in ("vehicle", "t", "lon", "lat", "speed", "heading", "hdop")}
        )
        kind = events["kind"][esel]
        shift_events = DeviceEvents.from_columns(
            {
                "vehicle": events["vehicle"][esel],
                "t": events["t"][esel],
                "kind": kinds[kind] if kind.dtype.kind in "iu" else kind,
            }
        )
        plan = plan_index(plans, s.get("route_id"), 1)
        legs, stop, t = prepare_shift(city, plans, plan, shift_fixes, shift_events)
        records.append(
            ShiftRecord(
                s["shift_id"],
                s["vehicle_id"],
                s.get("route_id"),
                1 if plan >= 0 else None,
                start,
                end,
                tuple(s.get("crew", ())),
            )
        )
        all_legs.append(legs)
        all_visits.append((stop, t))
    return build_history(city, plans, records, all_legs, all_visits, tz)
