"""All analytics of many vehicle-shifts in one call: what the rollup job and the benchmark run.

``analyse`` takes the fixes of any number of tracks (one per vehicle-shift; a single shift
is just one track) and returns plain arrays and records per track. Tracks are independent:
the result for a shift does not depend on which other shifts were in the call, so the
rollup job can recompute only the shifts a late batch touched. Stage timings are recorded
for the benchmark.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from numpy.typing import ArrayLike

from .activity import FACILITY_TYPES, ActivityParams, ActivitySplit, Geofences, rest_mask, split_activity, turnaround
from .columns import DeviceEvents, Fixes
from .coverage import CoverageParams, Matched, RouteCoverage, data_gaps, match_track, on_route, route_coverage
from .geo import LocalFrame
from .hotspots import Grid, events_per_cell, passes_per_cell, passes_per_segment
from .matching import RADIUS_M, LineIndex
from .record import CrewRecord, break_intervals, shift_details, stop_points, visit_queues
from .safety import (
    SafetyEvents,
    SafetyParams,
    concat,
    device_events,
    harsh_cornering,
    harsh_longitudinal,
    long_stretches,
    longest_stretch_s,
    merge,
    speeding,
)
from .segmentation import SegmentationParams, Track, build_track, trip_ids
from .stops import StopParams, Stops, at_rest, detect_stops, stops_per_track


@dataclass(frozen=True)
class City:
    """The static context of a city, built once and reused for every shift: its frame, the
    street index with speed limits (m/s), facility geofences and the hotspot grid."""

    frame: LocalFrame
    streets: LineIndex
    limit_mps: np.ndarray
    geofences: Geofences
    grid: Grid

    @classmethod
    def build(
        cls,
        street_ids: ArrayLike,
        street_lines: ArrayLike,
        speed_limit_kmh: ArrayLike,
        facility_ids: Sequence[str],
        facility_types: Sequence[str],
        facility_polygons: ArrayLike,
        frame: LocalFrame | None = None,
        cell_m: float = 50.0,
        match_radius_m: float = RADIUS_M,
        street_index: LineIndex | None = None,
    ) -> City:
        """Lines and polygons are shapely geometries in lon/lat degrees. ``street_index``: the
        index of these lines in ``frame`` at ``match_radius_m``, built earlier (else built here)."""
        street_lines = np.asarray(street_lines, dtype=object)
        if frame is None:
            coords = shapely.get_coordinates(street_lines)
            frame = LocalFrame.around(coords[:, 0], coords[:, 1])
        streets = street_index or LineIndex.build(street_ids, street_lines, frame, radius_m=match_radius_m)
        geofences = Geofences.build(facility_ids, facility_types, facility_polygons, frame)
        limit = np.append(np.asarray(speed_limit_kmh, dtype=np.float64) / 3.6, np.nan)  # slot -1: unmatched
        return cls(frame, streets, limit, geofences, Grid(frame, cell_m))

    @classmethod
    def from_geojson(cls, city: dict[str, Any], frame: LocalFrame | None = None, **options: Any) -> City:
        """From a city.geojson FeatureCollection (docs/protocol.md): streets have properties
        kind='street', segment_id, speed_limit_kmh; facilities kind='facility',
        facility_id, facility_type."""
        streets = [f for f in city["features"] if f["properties"].get("kind") == "street"]
        sites = [
            f
            for f in city["features"]
            if f["properties"].get("kind") == "facility" and f["properties"].get("facility_type") in FACILITY_TYPES
        ]
        return cls.build(
            [f["properties"]["segment_id"] for f in streets],
            shapely.from_geojson([json.dumps(f["geometry"]) for f in streets]),
            [f["properties"]["speed_limit_kmh"] for f in streets],
            [f["properties"]["facility_id"] for f in sites],
            [f["properties"]["facility_type"] for f in sites],
            shapely.from_geojson([json.dumps(f["geometry"]) for f in sites]),
            frame=frame,
            **options,
        )


@dataclass(frozen=True)
class Params:
    segmentation: SegmentationParams = SegmentationParams()
    stops: StopParams = StopParams()
    coverage: CoverageParams = CoverageParams()
    activity: ActivityParams = ActivityParams()
    safety: SafetyParams = SafetyParams()


@dataclass
class Analysis:
    """Everything computed for the tracks of one call; see ``shift_metrics`` for the rows.

    cell_passes: (track, cell id, passes) · segment_passes: (track, street index, passes,
    mean speed m/s) — the exposure rows of cell_exposure and segment_exposure · record:
    the crew's breaks, facility queues and longest stretch without a break."""

    track: Track
    stops: Stops
    matched: Matched
    coverage: list[RouteCoverage | None]
    activity: ActivitySplit
    events: SafetyEvents
    cell_passes: tuple[np.ndarray, np.ndarray, np.ndarray]
    segment_passes: tuple[np.ndarray, ...]
    record: CrewRecord
    timings: dict[str, tuple[float, float]] = field(default_factory=dict)  # stage: (CPU s, wall s)

    def shift_metrics(self, city: City) -> list[dict]:
        """One record per track with the columns of the shift_metrics rollup table (the job
        adds shift_id, vehicle_id, route_id and day). Units: m, s, count."""
        tr = self.track
        n = len(tr.starts)
        distance = tr.per_track_sum(tr.travelled_m)
        on = _step_sum_where(tr, self.activity.classes == 0)
        counts = stops_per_track(tr, self.stops)
        dwell = np.bincount(self.stops.track, self.stops.dwell_s, minlength=n)
        turn = turnaround(self.activity, city.geofences, n)
        hours = (tr.fixes.t[tr.stops - 1] - tr.fixes.t[tr.starts]) / 3.6e6
        trip = trip_ids(tr)
        trips = trip[tr.stops - 1] - trip[tr.starts] + 1
        details = shift_details(self.record, self.activity.visits, city.geofences, n)
        points = stop_points(self.stops, n)
        rows = []
        for i in range(n):
            cov = self.coverage[i]
            seconds = self.activity.per_track(i)
            rows.append(
                {
                    "fixes": int(tr.stops[i] - tr.starts[i]),
                    "distance_m": float(distance[i]),
                    "on_route_m": float(on[i]),
                    "deadhead_m": float(distance[i] - on[i]),
                    "collection_s": seconds["collection"],
                    "deadhead_s": seconds["deadhead"],
                    "facility_s": seconds["facility"],
                    "break_s": seconds["break"],
                    "idle_s": seconds["idle"],
                    "stops": int(counts[i]),
                    "dwell_mean_s": float(dwell[i] / counts[i]) if counts[i] else None,
                    "turnaround_s": None if np.isnan(turn[i]) else float(turn[i]),
                    "coverage": None if cov is None else cov.coverage,
                    "missed_segments": [] if cov is None else [str(s) for s in cov.missed],
                    "no_data_segments": [] if cov is None else [str(s) for s in cov.no_data],
                    "metrics": {
                        "no_data_s": seconds["no_data"],
                        "trips": int(trips[i]),
                        "stops_per_hour": float(counts[i] / hours[i]) if hours[i] > 0 else None,
                        "coverage_by_length": None if cov is None else cov.coverage_by_length,
                        **details[i],
                    },
                    "stop_points": points[i],
                }
            )
        return rows


def analyse(
    fixes: Fixes,
    city: City,
    planned: Sequence[Sequence[str] | None],
    windows: np.ndarray | None = None,
    device: DeviceEvents | None = None,
    params: Params = Params(),
) -> Analysis:
    """Run every stage over all tracks of ``fixes``.

    planned: per track (in track order), the planned service segment ids of its route, or
    None for a shift without a route. windows: optional (tracks, 2) shift windows in epoch
    ms. device: the units' own events, vehicle codes as in ``fixes``.
    """
    timings: dict[str, tuple[float, float]] = {}
    clock = (time.process_time(), time.perf_counter())

    def lap(stage: str) -> None:
        nonlocal clock
        now = (time.process_time(), time.perf_counter())
        timings[stage] = (now[0] - clock[0], now[1] - clock[1])
        clock = now

    track = build_track(fixes, city.frame, params.segmentation)
    lap("segmentation")
    found = detect_stops(track, params.stops)
    track = at_rest(track, found)
    site = city.geofences.locate(found.x, found.y)
    stops = found.select(site < 0)  # queueing at a facility is not a collection stop
    lap("stops")
    matched = match_track(city.streets, track, params.coverage)
    serving = np.zeros(len(fixes), dtype=bool)
    coverage: list[RouteCoverage | None] = []
    for i, (a, b) in enumerate(zip(track.starts, track.stops)):  # one iteration per shift, arrays inside
        plan = planned[i]
        if plan is None:
            coverage.append(None)
            continue
        lines = city.streets.positions(plan)
        serving[a:b] = on_route(city.streets, lines, matched.line[a:b], matched.speed[a:b], params.coverage)
        gaps = data_gaps(track.fixes.t[a:b], None if windows is None else tuple(windows[i]), params.coverage)
        coverage.append(
            route_coverage(city.streets, lines, *matched.rows(a, b), params.coverage, matched.times(a, b), gaps)
        )
    lap("coverage")
    activity = split_activity(track, stops, serving, city.geofences, windows, params.activity)
    lap("activity")
    derived = concat(
        [
            harsh_longitudinal(track, params.safety),
            harsh_cornering(track, params.safety),
            speeding(track, city.limit_mps[matched.line], params.safety),
        ]
    )
    reported = device_events(track, device, params=params.safety) if device is not None else concat([])
    resting = rest_mask(activity, city.geofences)
    events = concat([merge(derived, reported, params.safety), long_stretches(track, resting, params.safety)])
    lap("safety")
    record = CrewRecord(
        break_intervals(track, activity, params.activity),
        visit_queues(track, activity.visits, found.select(site >= 0), site[site >= 0]),
        longest_stretch_s(track, resting, params.safety),
    )
    lap("record")
    cell_passes = passes_per_cell(city.grid, track)
    segment_passes = passes_per_segment(track, matched.line)
    lap("exposure")
    return Analysis(track, stops, matched, coverage, activity, events, cell_passes, segment_passes, record, timings)


def cell_events(analysis: Analysis, city: City, kinds: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(track, cell, count) rows of the events of ``kinds``, for cell_exposure and hotspots."""
    ev = analysis.events.select(np.isin(analysis.events.kind, kinds))
    return events_per_cell(city.grid, ev.track, ev.lon, ev.lat)


def segment_events(analysis: Analysis, kinds: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(track, street index, count) rows of the events of ``kinds`` on matched streets, for
    segment_exposure; an event counts on the street its peak fix matched."""
    ev = analysis.events.select(np.isin(analysis.events.kind, kinds))
    line = analysis.matched.line[ev.row]
    on = line >= 0
    pairs = np.unique(np.column_stack([ev.track[on], line[on]]), axis=0, return_counts=True)
    return pairs[0][:, 0], pairs[0][:, 1], pairs[1]


def event_segments(analysis: Analysis, city: City) -> list[str | None]:
    """Per event (in ``analysis.events`` order) the id of the street its peak fix matched, or
    None off the street network (the same street ``segment_events`` counts it on)."""
    line = analysis.matched.line[analysis.events.row]
    ids = city.streets.ids
    return [str(ids[i]) if i >= 0 else None for i in line.tolist()]


def _step_sum_where(track: Track, fix_mask: np.ndarray) -> np.ndarray:
    """Metres travelled per track on steps that start at a fix where ``fix_mask`` holds."""
    return track.per_track_sum(np.where(fix_mask[:-1], track.travelled_m, 0.0))
