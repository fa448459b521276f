"""The route driven, simplified for the crew's map of a shift (Douglas–Peucker).

A 10 h shift at 1 Hz is 36,000 fixes; the map needs the shape of the route, not every
fix. Reading and thinning the raw fixes on each view cost ~21 ms of database CPU per request
(`fleetpilot bench api`, 3 Dec), so the rollup stores each shift's line simplified once
(rollup job → shift_tracks) and the view serves it as it is. Douglas–Peucker keeps the
corners and drops the fixes along straight streets: every fix of the shift lies within
``tolerance_m`` of the simplified line (shapely's ``simplify`` without topology
preservation, which is plain Douglas–Peucker), unlike a fix every N seconds, which cuts
corners at speed and piles points up at stops.

Positions are the segmentation's local metres (multipath jumps already replaced, so a jump
does not become a spike of the line), turned back into degrees and rounded to 1e-5° (~1 m).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from .segmentation import Track
from .stops import Stops


@dataclass(frozen=True)
class SimplifyParams:
    """tolerance_m: how far any fix may lie from the simplified line, in metres. 10 m is about
    two standard deviations of a consumer GPS's noise (σ 3–5 m) and less than a pixel of the
    shift map on a phone (a route of a few km across 375 px): the line keeps every corner of
    the streets driven, while the noise along a straight street no longer adds vertices. On a
    simulated 5-truck day (35,000 fixes a shift) 10 m kept ~300 vertices per shift, 5 m ~1,600
    and 2 m ~6,000; the raw track it replaces sent a fix every 18 s (up to ~150 m apart).
    decimals: of the stored degrees (1e-5° ≈ 1.1 m)."""

    tolerance_m: float = 10.0
    decimals: int = 5


def simplified_tracks(
    track: Track, stops: Stops | None = None, params: SimplifyParams = SimplifyParams()
) -> list[np.ndarray]:
    """Per track (in track order), the (n, 2) [lon, lat] degrees of its simplified line, first
    and last fix included; a track of one fix gives that fix. ``stops``: the fixes of each
    stop (first..last) are drawn at its centre, so a truck standing at a bin is one vertex,
    not a scribble of GPS jitter (a third of a simulated shift's vertices at 10 m without)."""
    n_tracks = len(track.starts)
    if n_tracks == 0 or len(track) == 0:
        return []
    x, y = track.x.astype(np.float64), track.y.astype(np.float64)
    if stops is not None and len(stops):
        stop = np.zeros(len(track) + 1, dtype=np.int64)  # stop number + 1 on its fixes, 0 elsewhere
        np.add.at(stop, stops.first, np.arange(1, len(stops) + 1))
        np.add.at(stop, stops.last + 1, -np.arange(1, len(stops) + 1))
        stop = np.cumsum(stop)[:-1]
        at = stop > 0
        x[at], y[at] = stops.x[stop[at] - 1], stops.y[stop[at] - 1]
    sizes = np.diff(np.append(track.starts, len(track)))
    lines = sizes >= 2  # a linestring needs two points; one fix stays a single position
    out: list[np.ndarray] = [np.zeros((0, 2))] * n_tracks
    if lines.any():
        owner = np.repeat(np.arange(n_tracks), sizes)
        rows = lines[owner]
        # A fix where the one before it (same track) stands adds nothing to the line: a stop's
        # fixes, all drawn at its centre, are ~40 % of a collection shift's. Dropped before
        # GEOS copies and simplifies them; the simplified line is the same (a repeated point
        # lies on every chord through it, so Douglas–Peucker keeps none of them).
        same = np.zeros(len(x), dtype=bool)
        same[1:] = (x[1:] == x[:-1]) & (y[1:] == y[:-1]) & (owner[1:] == owner[:-1])
        keep = rows & ~same
        last = track.starts + sizes - 1  # each line keeps its last fix: a line of one point is none
        keep[last[lines]] = True
        geoms = shapely.linestrings(x[keep], y[keep], indices=owner[keep])
        simple = shapely.simplify(geoms, params.tolerance_m, preserve_topology=False)
        xy, part = shapely.get_coordinates(simple, return_index=True)
        lon, lat = track.frame.to_lonlat(xy[:, 0], xy[:, 1])
        lonlat = np.round(np.column_stack([lon, lat]), params.decimals)
        # shapely.linestrings(indices=...) makes one line per distinct index, in sorted order.
        line_tracks = np.flatnonzero(lines)
        bounds = np.searchsorted(part, np.arange(len(line_tracks) + 1))
        for k, i in enumerate(line_tracks.tolist()):
            out[i] = lonlat[bounds[k] : bounds[k + 1]]
    for i in np.flatnonzero(sizes == 1).tolist():
        a = int(track.starts[i])
        lon, lat = track.frame.to_lonlat(x[a : a + 1], y[a : a + 1])
        out[i] = np.round(np.column_stack([lon, lat]), params.decimals)
    return out
