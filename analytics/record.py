"""The crew's record of a shift: breaks taken, facility visits with their queue time, the
longest stretch of work without a break, and the stop list for the map.

It exists for the crew (docs/analytics.md, "Crew record"): evidence of the breaks they took
and of the time lost in facility queues, which was not their doing. Pure functions over the
arrays the other stages computed; times are int64 epoch ms until ``shift_details`` turns
them into ISO 8601 UTC strings for storage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activity import BREAK, ActivityParams, ActivitySplit, Geofences, Visits
from .columns import runs_split, segment_reduce
from .segmentation import Track
from .stops import Stops

# Visits recorded with a queue time: the sites where trucks wait their turn to tip. Depot
# time is the start and end of the day; break-room time is in the breaks.
QUEUE_SITES = ("transfer_station", "landfill")
_TRACK_SHIFT = 42  # key = track << 42 | epoch ms: ms stay below 2**42 until the year 2109


@dataclass(frozen=True)
class Breaks:
    """Breaks, one row each in (track, time) order: track · t_start, t_end: epoch ms of the
    first and last fix of the break · facility: index into Geofences of a break room the
    break was taken in, or -1 (a long stop elsewhere)."""

    track: np.ndarray
    t_start: np.ndarray
    t_end: np.ndarray
    facility: np.ndarray

    def __len__(self) -> int:
        return len(self.track)


@dataclass(frozen=True)
class CrewRecord:
    """breaks · queue_s: per facility visit (``ActivitySplit.visits`` order), s waiting in
    the queue (see ``visit_queues``) · longest_s: per track, the longest stretch of work
    without a rest (s, ``safety.longest_stretch_s``)."""

    breaks: Breaks
    queue_s: np.ndarray
    longest_s: np.ndarray


def break_intervals(track: Track, split: ActivitySplit, params: ActivityParams = ActivityParams()) -> Breaks:
    """Runs of break-class fixes (activity: in a break room, or in a stop of ``rest_min_s``),
    joined across interruptions up to ``visit_bridge_s`` (GPS noise at the break room's
    fence), kept when at least ``min_visit_s`` long (driving past a break room is no break).
    So the breaks listed can add up to slightly less than ``break_s``."""
    t = track.fixes.t
    cut = np.zeros(len(t), dtype=bool)
    cut[track.starts] = True
    first, stop = runs_split(split.classes == BREAK, cut)
    if len(first) == 0:
        z = np.zeros(0, dtype=np.int64)
        return Breaks(z, z, z, z)
    tr = np.searchsorted(track.starts, first, side="right") - 1
    t_in, t_out = t[first], t[stop - 1]
    # A break room fix anywhere in the run names the room (-1 elsewhere, indexes are ≥ 0).
    room = segment_reduce(np.maximum, split.facility, first, stop - 1)
    join = (tr[1:] == tr[:-1]) & ((t_in[1:] - t_out[:-1]) * 1e-3 <= params.visit_bridge_s)
    head = np.flatnonzero(np.concatenate(([True], ~join)))
    tail = np.append(head[1:], len(first)) - 1
    room = np.maximum.reduceat(room, head)
    t_in, t_out, tr = t_in[head], t_out[tail], tr[head]
    keep = (t_out - t_in) * 1e-3 >= params.min_visit_s
    return Breaks(tr[keep], t_in[keep], t_out[keep], room[keep].astype(np.int64))


def visit_queues(track: Track, visits: Visits, site_stops: Stops, stop_site: np.ndarray) -> np.ndarray:
    """Per facility visit, the time (s) spent waiting in the queue.

    site_stops: stops (stay points) whose centre is inside a geofence, and stop_site the
    geofence of each. A visit's stops are those in its geofence whose first stationary fix
    falls within the visit; its last stop is where it was served (tipping). Queue time =
    from the first stationary fix of its first stop (it joined the queue) to the last of its
    last stop but one (it left its last place in the line); 0 with a single stop. Driving from the gate to
    the end of the queue, and from the head of the queue onto the tip, is not waiting.
    """
    n = len(visits)
    if n == 0 or len(site_stops) == 0:
        return np.zeros(n)
    t_seen = track.fixes.t[site_stops.first]
    visit_key = (visits.track.astype(np.int64) << _TRACK_SHIFT) + visits.t_arrive
    stop_key = (site_stops.track.astype(np.int64) << _TRACK_SHIFT) + t_seen
    v = np.searchsorted(visit_key, stop_key, side="right") - 1
    vc = np.maximum(v, 0)
    ok = (
        (v >= 0)
        & (visits.track[vc] == site_stops.track)
        & (t_seen <= visits.t_depart[vc])
        & (visits.facility[vc] == stop_site)
    )
    # Stops and visits are both in (track, time) order, so v is sorted: each visit's stops
    # are one slice of it. The wait is timed between stationary fixes seen, not from the
    # edges a stop is given across a dropout (Stops.t_start/t_end): those assume the truck
    # kept its last seen speed, but a truck reaching a queue has slowed inside the gap (off an
    # 80 km/h road onto a 20 km/h access road: 25.5 s too early on the irregular city), so
    # they could make the queue longer than it was; seen fixes keep it a lower bound.
    t = track.fixes.t
    v, start, end = v[ok], t[site_stops.first[ok]], t[site_stops.last[ok]]
    lo = np.searchsorted(v, np.arange(n), side="left")
    hi = np.searchsorted(v, np.arange(n), side="right")
    queued = hi - lo >= 2
    wait = (end[np.maximum(hi - 2, 0)] - start[np.minimum(lo, len(v) - 1)]) * 1e-3 if len(v) else np.zeros(n)
    return np.where(queued, wait, 0.0)


def iso_utc(ms: np.ndarray) -> list[str]:
    """Epoch ms → ISO 8601 UTC strings to the second ('2026-11-20T06:00:00Z')."""
    stamps = np.asarray(ms, dtype=np.int64).astype("datetime64[ms]")
    return np.datetime_as_string(stamps, unit="s", timezone="UTC").tolist()


def shift_details(record: CrewRecord, visits: Visits, geofences: Geofences, n_tracks: int) -> list[dict]:
    """Per track, the crew record as stored in shift_metrics.metrics: ``breaks`` [{starts_at,
    ends_at, facility_id}], ``facility_visits`` [{facility_id, facility_type, arrived_at,
    departed_at, queue_s}] at QUEUE_SITES, ``longest_without_break_s``. Times ISO 8601 UTC,
    durations s (0.1 s)."""
    b = record.breaks
    room = [None if k < 0 else str(geofences.ids[k]) for k in b.facility.tolist()]
    breaks = [
        {"starts_at": s, "ends_at": e, "facility_id": f} for s, e, f in zip(iso_utc(b.t_start), iso_utc(b.t_end), room)
    ]
    sel = np.flatnonzero(np.isin(geofences.types[visits.facility], QUEUE_SITES))
    fac = visits.facility[sel]
    stays = [
        {"facility_id": str(i), "facility_type": str(k), "arrived_at": a, "departed_at": d, "queue_s": q}
        for i, k, a, d, q in zip(
            geofences.ids[fac].tolist(),
            geofences.types[fac].tolist(),
            iso_utc(visits.t_arrive[sel]),
            iso_utc(visits.t_depart[sel]),
            np.round(record.queue_s[sel], 1).tolist(),
        )
    ]
    break_rows = _split_by_track(breaks, b.track, n_tracks)
    visit_rows = _split_by_track(stays, visits.track[sel], n_tracks)
    longest = np.round(record.longest_s, 1).tolist()
    return [
        {"breaks": break_rows[i], "facility_visits": visit_rows[i], "longest_without_break_s": longest[i]}
        for i in range(n_tracks)
    ]


def stop_points(stops: Stops, n_tracks: int) -> list[list[dict]]:
    """Per track, its stops as stored and sent: {lon, lat, arrived_at, dwell_s} with positions
    to 1e-5° (~1 m, below the GPS noise), arrival ISO 8601 UTC to the second, dwell to 0.1 s.
    Stored in the shape the shift view sends, so each read embeds it as it is."""
    rows = [
        {"lon": lon, "lat": lat, "arrived_at": at, "dwell_s": dwell}
        for lon, lat, at, dwell in zip(
            np.round(stops.lon.astype(np.float64), 5).tolist(),
            np.round(stops.lat.astype(np.float64), 5).tolist(),
            iso_utc(stops.t_start),
            np.round(stops.dwell_s, 1).tolist(),
        )
    ]
    return _split_by_track(rows, stops.track, n_tracks)


def _split_by_track(items: list, track: np.ndarray, n_tracks: int) -> list[list]:
    """Items sorted by track → one list per track (empty where it has none)."""
    bounds = np.searchsorted(track, np.arange(n_tracks + 1)).tolist()
    return [items[bounds[i] : bounds[i + 1]] for i in range(n_tracks)]
