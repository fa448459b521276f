"""One shift's fixes and device events summarised as legs (see ``history``), and its stop visits.

Built on the analytics primitives: ``segmentation.build_track`` (cleaned positions, speed,
odometer-like distance per step), ``matching.LineIndex`` (nearest street per fix),
``activity.Geofences`` (facility per fix) and ``stops.detect_stops`` (stay points).

A fix owns the time and distance of the step to the next fix; a step that breaks the trip
(the unit was off, > ``SegmentationParams.trip_gap_s``) becomes a *gap* leg. Each fix is in
one state — a facility, a street segment, or off the network — and a leg is a run of one
state. Runs shorter than ``min_run_s`` (map-matching flicker at intersections) take the
state of the run before them. A street leg is *collection* when the street is one of the
shift's planned service segments and the leg shows work: a bin lift, or — when the leg gets
into the street (one of its fixes lies farther than ``LegParams.junction_m`` from both of
the street's ends) — standing still for a bin stop's minimum dwell or collection pace (mean
moving speed at most ``CoverageParams.service_max_speed_mps``, as coverage uses); otherwise
it is travel. Within the match radius of a junction a fix is as near the cross street as this
one, so slow driving there (a truck turning the corner, or turning round in the mouth of a
street it found blocked) says nothing about work on the street; where streets meet at angles
other than 90° (curved streets, real networks) such legs last long enough to pass the
flicker filter. A bin lift is work wherever it is seen (a leg of one fix before a dropout
has no other evidence).
Times stay UTC epoch seconds here; the history loader moves them to local time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from fleetpilot.analytics.activity import Geofences
from fleetpilot.analytics.coverage import CoverageParams
from fleetpilot.analytics.matching import LineIndex
from fleetpilot.analytics.segmentation import Track
from fleetpilot.analytics.stops import StopParams, detect_stops
from fleetpilot.analytics.whatif.history import (
    EVENT_KINDS,
    LEG_FACILITY,
    LEG_GAP,
    LEG_OFFNET,
    LEG_SERVICE,
    LEG_TRAVEL,
    MOVING_MPS,
)
from fleetpilot.event_kinds import BIN_LIFT


@dataclass(frozen=True)
class LegParams:
    min_run_s: float = 3.0
    service_max_speed_mps: float = CoverageParams().service_max_speed_mps
    min_stop_s: float = StopParams().min_dwell_s  # this much standing still on a street is a bin stop
    stop_match_m: float = 25.0  # a detected stop this close to a planned stop serves it
    # A leg is collection only if a fix of it is farther than this from both ends of its street
    # (the match radius of matching.LineIndex); a third of the street's length on short streets.
    junction_m: float = 15.0


@dataclass(frozen=True)
class ShiftLegs:
    """Leg columns of one shift (UTC epoch seconds); ``forward``: along the segment's drawing order."""

    kind: np.ndarray
    segment: np.ndarray
    facility: np.ndarray
    t0: np.ndarray
    duration_s: np.ndarray
    moving_s: np.ndarray
    length_m: np.ndarray
    max_speed_mps: np.ndarray
    forward: np.ndarray
    events: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)


def _states(track: Track, streets: LineIndex, geofences: Geofences) -> tuple[np.ndarray, np.ndarray]:
    """Per fix: facility k as -2-k, street segment as its index, -1 off the network; and
    metres along the matched street."""
    facility = geofences.locate(track.x, track.y)
    street, along = streets.match(track.x, track.y)
    return np.where(facility >= 0, -2 - facility.astype(np.int64), street.astype(np.int64)), along


def _smooth(state: np.ndarray, owned_s: np.ndarray, new_trip: np.ndarray, min_run_s: float) -> np.ndarray:
    """Give runs shorter than ``min_run_s`` the state of the run before them (same trip only)."""
    change = np.r_[True, (state[1:] != state[:-1]) | new_trip[1:]]
    start = np.flatnonzero(change)
    run_of = np.cumsum(change) - 1
    run_s = np.bincount(run_of, weights=owned_s, minlength=len(start))
    short = (run_s < min_run_s) & ~new_trip[start]
    short[0] = False
    # A run inherits from the nearest earlier run that is kept (chains of short runs collapse).
    keeper = np.where(short, 0, np.arange(len(start)))
    keeper = np.maximum.accumulate(keeper)
    return state[start][keeper][run_of]


def legs_of_shift(
    track: Track,
    streets: LineIndex,
    service: np.ndarray,
    geofences: Geofences,
    event_t_ms: np.ndarray,
    event_kind: np.ndarray,
    params: LegParams = LegParams(),
) -> ShiftLegs:
    """Legs of one track (one shift). ``service``: bool per street index of ``streets``."""
    n = len(track.fixes)
    if n == 0:
        z = np.zeros(0)
        return ShiftLegs(
            z.astype(np.int8),
            z.astype(np.int32),
            z.astype(np.int32),
            z,
            z,
            z,
            z,
            z,
            z.astype(bool),
            np.zeros((0, len(EVENT_KINDS)), dtype=np.int32),
        )
    t_s = track.fixes.t / 1000.0
    owned = np.append(np.where(track.trip_break, 0.0, track.dt), 0.0)
    dist = np.append(np.where(track.trip_break, 0.0, track.travelled_m), 0.0)
    new_trip = np.r_[True, track.trip_break]
    raw_state, along = _states(track, streets, geofences)
    state = _smooth(raw_state, owned, new_trip, params.min_run_s)
    start = np.flatnonzero(np.r_[True, (state[1:] != state[:-1]) | new_trip[1:]])
    stop = np.r_[start[1:], n]  # exclusive
    last = stop - 1
    duration = np.add.reduceat(owned, start)
    moving = np.add.reduceat(np.where(track.speed >= MOVING_MPS, owned, 0.0), start)
    length = np.add.reduceat(dist, start)
    max_speed = np.maximum.reduceat(track.speed, start)
    st = state[start]
    facility = np.where(st <= -2, -2 - st, -1)
    segment = np.where(st >= 0, st, -1)
    # Direction: compare the position along the street at the leg's first and last matched fix.
    matched = raw_state == state
    first_along = np.where(matched[start], along[start], np.nan)
    last_along = np.where(matched[last], along[last], np.nan)
    forward = ~(last_along < first_along)
    # How far into its street a leg gets: its matched fix farthest from both street ends.
    length_of = streets.length_m[np.maximum(state, 0)]
    inside = np.where(matched & (state >= 0), np.minimum(along, length_of - along), -np.inf)
    inner = np.maximum.reduceat(inside, start) >= np.minimum(params.junction_m, length_of[start] / 3)

    # Trip breaks become gap legs placed right after the leg they interrupt.
    brk = np.flatnonzero(track.trip_break & track.linked)
    cols = {
        "kind": np.r_[
            np.where(facility >= 0, LEG_FACILITY, np.where(segment >= 0, LEG_TRAVEL, LEG_OFFNET)),
            np.full(len(brk), LEG_GAP),
        ],
        "segment": np.r_[segment, np.full(len(brk), -1)],
        "facility": np.r_[facility, np.full(len(brk), -1)],
        "t0": np.r_[t_s[start], t_s[brk]],
        "duration_s": np.r_[duration, track.dt[brk]],
        "moving_s": np.r_[moving, np.zeros(len(brk))],
        "length_m": np.r_[length, np.zeros(len(brk))],
        "max_speed_mps": np.r_[max_speed, np.zeros(len(brk))],
        "forward": np.r_[forward, np.ones(len(brk), dtype=bool)],
        "inner": np.r_[inner, np.zeros(len(brk), dtype=bool)],
    }
    order = np.argsort(cols["t0"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    events = np.zeros((len(order), len(EVENT_KINDS)), dtype=np.int32)
    known = np.isin(event_kind, EVENT_KINDS)
    if known.any():
        at = np.searchsorted(cols["t0"], event_t_ms[known] / 1000.0, side="right") - 1
        kinds = np.array([EVENT_KINDS.index(k) for k in event_kind[known]], dtype=np.int64)
        ok = at >= 0
        np.add.at(events, (at[ok], kinds[ok]), 1)
    # Collection: a planned service street with bins lifted on it, or a leg into the street
    # with a bin stop or at collection pace.
    seg = cols["segment"]
    planned = (seg >= 0) & service[np.maximum(seg, 0)]
    pace = cols["length_m"] / np.maximum(cols["moving_s"], 1e-9)
    working = (events[:, EVENT_KINDS.index(BIN_LIFT)] > 0) | (
        cols["inner"]
        & ((cols["duration_s"] - cols["moving_s"] >= params.min_stop_s) | (pace <= params.service_max_speed_mps))
    )
    cols["kind"] = np.where(planned & working, LEG_SERVICE, cols["kind"])
    return ShiftLegs(
        kind=cols["kind"].astype(np.int8),
        segment=cols["segment"].astype(np.int32),
        facility=cols["facility"].astype(np.int32),
        t0=cols["t0"],
        duration_s=cols["duration_s"],
        moving_s=cols["moving_s"],
        length_m=cols["length_m"],
        max_speed_mps=cols["max_speed_mps"],
        forward=cols["forward"].astype(bool),
        events=events,
    )


def stop_visits_of_shift(
    track: Track,
    stop_x: np.ndarray,
    stop_y: np.ndarray,
    params: LegParams = LegParams(),
    stop_params: StopParams = StopParams(),
) -> tuple[np.ndarray, np.ndarray]:
    """(planned stop index, UTC epoch s first served) for every planned stop the shift served.

    A planned stop is served by a detected stay point (stops.detect_stops) whose centre is
    within ``stop_match_m`` of it; the nearest planned stop takes the stay point.
    """
    if len(track.fixes) == 0 or len(stop_x) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    stays = detect_stops(track, stop_params)
    if len(stays.t_start) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    distance, nearest = cKDTree(np.column_stack([stop_x, stop_y])).query(
        np.column_stack([stays.x, stays.y]), distance_upper_bound=params.stop_match_m
    )
    ok = np.isfinite(distance)
    first = np.full(len(stop_x), np.inf)
    np.minimum.at(first, nearest[ok], stays.t_start[ok] / 1000.0)
    served = np.flatnonzero(np.isfinite(first))
    return served, first[served]
