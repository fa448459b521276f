"""Where a shift's time goes: collection, deadhead, facility, break, idle — and facility visits.

Every fix owns the time until the next fix of its track; that interval gets the fix's class.
Intervals that end a trip (the unit was off) and the parts of the shift window before the
first and after the last fix are "no data", so the classes always add up to the shift.
Definitions and thresholds: docs/analytics.md, "Activity".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import ArrayLike

from .columns import ramp, runs_split
from .geo import LocalFrame
from .segmentation import Track
from .stops import Stops

CLASSES = ("collection", "deadhead", "facility", "break", "idle", "no_data")
COLLECTION, DEADHEAD, FACILITY, BREAK, IDLE, NO_DATA = range(len(CLASSES))
FACILITY_TYPES = ("depot", "transfer_station", "landfill", "break")
DEPOT_SITE, TRANSFER_SITE, LANDFILL_SITE, BREAK_SITE = range(len(FACILITY_TYPES))


@dataclass(frozen=True)
class ActivityParams:
    """max_collection_stop_s: a stop on the route longer than this (s) is idling, not a bin
    stop (bin stops last 15–90 s) · rest_min_s: a stop this long (s) away from facilities
    is a break even outside a break-room geofence · visit_bridge_s: a facility visit
    continues across an exit shorter than this (s) — GPS noise at the fence, or the
    queue winding along it · min_visit_s: a shorter stay (s) inside a geofence is driving
    past, not a visit."""

    max_collection_stop_s: float = 180.0
    rest_min_s: float = 15 * 60.0
    visit_bridge_s: float = 120.0
    min_visit_s: float = 60.0


_INSIDE, _OUTSIDE, _EDGE = 1, 0, 2


def project_polygons(polygons_lonlat: ArrayLike, frame: LocalFrame) -> np.ndarray:
    """Polygons in lon/lat degrees → the same in ``frame`` metres."""
    return shapely.transform(
        np.asarray(polygons_lonlat, dtype=object),
        lambda c: np.column_stack(frame.to_xy(c[:, 0], c[:, 1])).astype(np.float64),
    )


@dataclass(frozen=True)
class Geofences:
    """Facility polygons in a local frame, each with a raster of ``cell_m`` cells that are
    wholly inside, wholly outside, or on its edge.

    types: one of FACILITY_TYPES per polygon; type_code: its index in FACILITY_TYPES, with
    an extra last entry -1 so that indexing with a "no facility" -1 answers -1. A parked
    truck sends thousands of fixes from inside a depot; the raster answers those with one
    lookup, and the exact point-in-polygon test runs only for fixes in edge cells.
    """

    ids: np.ndarray
    types: np.ndarray
    type_code: np.ndarray
    polygons: np.ndarray  # shapely Polygons in frame metres
    bounds: np.ndarray  # (n, 4) xmin, ymin, xmax, ymax
    rasters: tuple[np.ndarray, ...]  # per polygon (ny, nx) int8: _INSIDE, _OUTSIDE or _EDGE
    cell_m: float

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        types: Sequence[str],
        polygons_lonlat: ArrayLike,
        frame: LocalFrame,
        cell_m: float = 2.0,
    ) -> Geofences:
        unknown = set(types) - set(FACILITY_TYPES)
        if unknown:
            raise ValueError(f"unknown facility types: {sorted(unknown)}")
        polys = project_polygons(polygons_lonlat, frame)
        shapely.prepare(polys)
        bounds = shapely.bounds(polys).reshape(-1, 4)
        rasters = []
        for poly, (x0, y0, x1, y1) in zip(polys, bounds):  # a handful of facilities
            nx, ny = int(np.ceil((x1 - x0) / cell_m)) + 1, int(np.ceil((y1 - y0) / cell_m)) + 1
            gx, gy = np.meshgrid(x0 + cell_m * np.arange(nx), y0 + cell_m * np.arange(ny))
            boxes = shapely.box(gx, gy, gx + cell_m, gy + cell_m)
            state = np.full(boxes.shape, _EDGE, dtype=np.int8)
            state[shapely.contains_properly(poly, boxes)] = _INSIDE
            state[shapely.disjoint(poly, boxes)] = _OUTSIDE
            rasters.append(state)
        code = np.array([FACILITY_TYPES.index(t) for t in types] + [-1], dtype=np.int8)
        return cls(np.asarray(ids), np.asarray(types), code, polys, bounds, tuple(rasters), cell_m)

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per point (frame metres): index of the geofence containing it, or -1."""
        where = np.full(len(x), -1, dtype=np.int32)
        inv = np.float32(1.0 / self.cell_m)
        for k, (x0, y0, x1, y1) in enumerate(self.bounds):
            near = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
            raster = self.rasters[k]
            ix = np.minimum(((x[near] - np.float32(x0)) * inv).astype(np.int64), raster.shape[1] - 1)
            iy = np.minimum(((y[near] - np.float32(y0)) * inv).astype(np.int64), raster.shape[0] - 1)
            state = raster[iy, ix]
            edge = near[state == _EDGE]
            where[near[state == _INSIDE]] = k
            where[edge[shapely.contains_xy(self.polygons[k], x[edge], y[edge])]] = k
        return where


@dataclass(frozen=True)
class Visits:
    """Facility visits: track, facility (index into Geofences), t_arrive / t_depart (epoch
    ms, first and last fix inside), duration_s."""

    track: np.ndarray
    facility: np.ndarray
    t_arrive: np.ndarray
    t_depart: np.ndarray
    duration_s: np.ndarray

    def __len__(self) -> int:
        return len(self.track)


@dataclass(frozen=True)
class ActivitySplit:
    """classes: per fix, a CLASSES code · seconds: (tracks, len(CLASSES)) time per class ·
    visits: facility visits · facility: per fix, geofence index or -1."""

    classes: np.ndarray
    seconds: np.ndarray
    visits: Visits
    facility: np.ndarray

    def per_track(self, track_index: int) -> dict[str, float]:
        return {name: float(self.seconds[track_index, k]) for k, name in enumerate(CLASSES)}


def split_activity(
    track: Track,
    stops: Stops,
    on_route: np.ndarray,
    geofences: Geofences,
    windows: np.ndarray | None = None,
    params: ActivityParams = ActivityParams(),
) -> ActivitySplit:
    """Classify every fix and add up the time per class for each track.

    on_route: per fix, matched to one of the shift's planned service segments (coverage).
    windows: optional (tracks, 2) int64 epoch-ms shift windows; time outside the data but
    inside the window is "no data". Without it a track's span is first to last fix.
    Priority when several apply: facility (by geofence type: a break room counts as break)
    > break (a stop of ``rest_min_s`` or more) > idle (a stop longer than
    ``max_collection_stop_s``, or any stop off the route) > collection (on route) > deadhead.
    """
    n = len(track.fixes)
    facility = geofences.locate(track.x, track.y)
    stop_class = _stop_classes(track, stops, on_route, params)
    classes = np.where(on_route, COLLECTION, DEADHEAD).astype(np.int8)
    classes = np.where(stop_class >= 0, stop_class, classes).astype(np.int8)
    site = geofences.type_code[facility]
    classes[(site >= 0) & (site != BREAK_SITE)] = FACILITY
    classes[site == BREAK_SITE] = BREAK

    t = track.fixes.t
    step_s = np.where(track.trip_break, 0.0, track.dt)
    n_tracks = len(track.starts)
    tr = np.repeat(np.arange(n_tracks, dtype=np.int32), np.diff(np.append(track.starts, n)))
    seconds = np.bincount(tr[:-1] * len(CLASSES) + classes[:-1], step_s, minlength=n_tracks * len(CLASSES)).reshape(
        n_tracks, len(CLASSES)
    )
    seconds[:, NO_DATA] += track.per_track_sum(np.where(track.trip_break & track.linked, track.dt, 0.0))
    if windows is not None:
        first, last = t[track.starts], t[track.stops - 1]
        seconds[:, NO_DATA] += (np.maximum(first - windows[:, 0], 0) + np.maximum(windows[:, 1] - last, 0)) * 1e-3
    return ActivitySplit(classes, seconds, facility_visits(track, facility, params), facility)


def facility_visits(track: Track, facility: np.ndarray, params: ActivityParams = ActivityParams()) -> Visits:
    """Runs of fixes inside the same geofence, bridged across short exits, per track."""
    t = track.fixes.t
    cut = np.zeros(len(t), dtype=bool)
    cut[track.starts] = True
    cut[1:] |= facility[1:] != facility[:-1]
    first, stop = runs_split(facility >= 0, cut)
    if len(first) == 0:
        z = np.zeros(0, dtype=np.int64)
        return Visits(z, z, z, z, np.zeros(0))
    fac = facility[first]
    tr = np.searchsorted(track.starts, first, side="right") - 1
    t_in, t_out = t[first], t[stop - 1]
    # Join consecutive runs of one facility in one track when the exit between them is short.
    join = (fac[1:] == fac[:-1]) & (tr[1:] == tr[:-1]) & ((t_in[1:] - t_out[:-1]) * 1e-3 <= params.visit_bridge_s)
    head = np.concatenate(([True], ~join))
    last_of_group = np.append(np.flatnonzero(head)[1:], len(head)) - 1
    t_in, t_out = t_in[head], t_out[last_of_group]
    duration = (t_out - t_in) * 1e-3
    keep = duration >= params.min_visit_s
    return Visits(tr[head][keep], fac[head][keep], t_in[keep], t_out[keep], duration[keep])


def rest_mask(split: ActivitySplit, geofences: Geofences) -> np.ndarray:
    """Per fix: the crew is resting — on a break, or at the depot (before and after the day's
    work). Input to safety.long_stretches."""
    return (split.classes == BREAK) | (geofences.type_code[split.facility] == DEPOT_SITE)


def turnaround(
    split: ActivitySplit, geofences: Geofences, n_tracks: int, types: tuple[str, ...] = ("transfer_station", "landfill")
) -> np.ndarray:
    """Mean visit duration (s) per track at facilities of ``types`` (NaN if none)."""
    v = split.visits
    sel = np.isin(geofences.types[v.facility], types)
    total = np.bincount(v.track[sel], v.duration_s[sel], minlength=n_tracks)
    count = np.bincount(v.track[sel], minlength=n_tracks)
    return np.divide(total, count, out=np.full(n_tracks, np.nan), where=count > 0)


def _stop_classes(track: Track, stops: Stops, on_route: np.ndarray, params: ActivityParams) -> np.ndarray:
    """Per fix: BREAK / IDLE for fixes inside long or off-route stops, -1 elsewhere."""
    n = len(track.fixes)
    cls = np.full(len(stops), -1, dtype=np.int8)
    on = on_route[stops.first] | on_route[stops.last]
    cls[(stops.dwell_s > params.max_collection_stop_s) | ~on] = IDLE
    cls[stops.dwell_s >= params.rest_min_s] = BREAK
    mark = np.full(n, -1, dtype=np.int8)
    chosen = np.flatnonzero(cls >= 0)
    if len(chosen):
        size = stops.last[chosen] - stops.first[chosen] + 1
        rows = np.repeat(stops.first[chosen], size) + ramp(size)
        mark[rows] = np.repeat(cls[chosen], size)
    return mark
