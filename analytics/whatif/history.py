"""The history a what-if answer is computed from: a pilot period as numpy columns.

A shift's telemetry is summarised as *legs*: maximal runs of fixes in one state — on one
street segment (collecting on a service segment of the shift's own route, or travelling),
inside one facility geofence, off the street network, or a gap without fixes. Legs are
keyed by shift, never by person; the only trace of people is a pseudonymous, per-history
numbering of each shift's crew, used solely to count distinct people for k-anonymity.

Conventions (all arrays are numpy):
- times are *local wall-clock seconds* since 1970-01-01 (UTC seconds + the city's UTC
  offset at that instant), so ``hour_of_day`` and ``day_number`` are the city's clock;
- positions are metres in ``History.frame`` (a local metric frame of the city);
- lengths in metres, durations in seconds, speeds in metres per second;
- an index of -1 means "none" (no segment, no facility, no route).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fleetpilot.analytics.geo import LocalFrame
from fleetpilot.event_kinds import HARSH, LEG

LEG_SERVICE, LEG_TRAVEL, LEG_FACILITY, LEG_OFFNET, LEG_GAP = range(5)
LEG_KINDS = ("service", "travel", "facility", "offnet", "gap")
EVENT_KINDS = LEG
HARSH_KINDS = HARSH
FACILITY_TYPES = ("depot", "transfer_station", "landfill", "break")
SECONDS_PER_DAY = 86_400
MOVING_MPS = 0.5  # below this a fix counts as stationary (GPS jitter at standstill stays below it)


def hour_of_day(t: np.ndarray) -> np.ndarray:
    """Local hour 0..23 of local-seconds timestamps."""
    return ((np.asarray(t) // 3600) % 24).astype(np.int64)


def day_number(t: np.ndarray) -> np.ndarray:
    """Local day number (days since 1970-01-01) of local-seconds timestamps."""
    return (np.asarray(t) // SECONDS_PER_DAY).astype(np.int64)


def weekday(day: np.ndarray) -> np.ndarray:
    """Monday = 0 … Sunday = 6 for day numbers (1970-01-01 was a Thursday)."""
    return (np.asarray(day) + 3) % 7


def csr_rows(offsets: np.ndarray) -> np.ndarray:
    """Row number of every element of a CSR layout given its offsets."""
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


@dataclass(frozen=True)
class Network:
    """Street segments (the city's network) as straight chords between their end points."""

    segment_ids: np.ndarray
    road_class: np.ndarray
    speed_limit_mps: np.ndarray
    length_m: np.ndarray
    x0: np.ndarray
    y0: np.ndarray
    x1: np.ndarray
    y1: np.ndarray

    @property
    def size(self) -> int:
        return len(self.segment_ids)

    @property
    def mid_x(self) -> np.ndarray:
        return (self.x0 + self.x1) / 2

    @property
    def mid_y(self) -> np.ndarray:
        return (self.y0 + self.y1) / 2

    def index(self) -> dict[str, int]:
        return {str(s): i for i, s in enumerate(self.segment_ids)}


@dataclass(frozen=True)
class Facilities:
    """Depots, transfer stations, landfills and break places by their centroid."""

    facility_ids: np.ndarray
    facility_types: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def size(self) -> int:
        return len(self.facility_ids)

    def index(self) -> dict[str, int]:
        return {str(f): i for i, f in enumerate(self.facility_ids)}


@dataclass(frozen=True)
class Plans:
    """Route plans, one per route version: service segments and stops in planned order (CSR)."""

    route_ids: np.ndarray
    plan_route: np.ndarray
    plan_version: np.ndarray
    seg_offsets: np.ndarray
    seg: np.ndarray
    stop_offsets: np.ndarray
    stop_ids: np.ndarray
    stop_seq: np.ndarray
    stop_x: np.ndarray
    stop_y: np.ndarray

    @property
    def size(self) -> int:
        return len(self.plan_route)

    def segments_of(self, plan: int) -> np.ndarray:
        return self.seg[self.seg_offsets[plan] : self.seg_offsets[plan + 1]]

    def stops_of(self, plan: int) -> slice:
        return slice(int(self.stop_offsets[plan]), int(self.stop_offsets[plan + 1]))


@dataclass(frozen=True)
class Shifts:
    """On-duty windows: vehicle, route, plan (route version), crew as pseudonymous numbers."""

    shift_ids: np.ndarray
    vehicle_ids: np.ndarray
    vehicle: np.ndarray
    route: np.ndarray
    plan: np.ndarray
    start_t: np.ndarray
    end_t: np.ndarray
    crew_offsets: np.ndarray
    crew_person: np.ndarray

    @property
    def size(self) -> int:
        return len(self.shift_ids)

    @property
    def day(self) -> np.ndarray:
        return day_number(self.start_t)


@dataclass(frozen=True)
class Legs:
    """Legs sorted by shift then start time. ``events`` has one column per EVENT_KINDS;
    ``forward``: a street leg ran from the segment's first to its last vertex. Legs hold no
    coordinates: where a leg starts and ends follows from its segment or facility."""

    shift: np.ndarray
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

    @property
    def size(self) -> int:
        return len(self.shift)

    @property
    def t1(self) -> np.ndarray:
        return self.t0 + self.duration_s

    def event(self, kind: str) -> np.ndarray:
        return self.events[:, EVENT_KINDS.index(kind)]

    @property
    def harsh(self) -> np.ndarray:
        """Harsh braking + acceleration + cornering per leg."""
        return self.events[:, :3].sum(axis=1)

    def take(self, index: np.ndarray) -> Legs:
        return Legs(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})


def leg_ends(history: History) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x0, y0, x1, y1) of every leg: a street leg's segment ends in driving order, a
    facility's centroid, NaN for legs off the network and gaps."""
    legs, net, fac = history.legs, history.network, history.facilities
    seg = np.maximum(legs.segment, 0)
    on_street = legs.segment >= 0
    fwd = legs.forward.astype(bool)
    x0 = np.where(fwd, net.x0[seg], net.x1[seg]) if net.size else np.zeros(legs.size)
    y0 = np.where(fwd, net.y0[seg], net.y1[seg]) if net.size else np.zeros(legs.size)
    x1 = np.where(fwd, net.x1[seg], net.x0[seg]) if net.size else np.zeros(legs.size)
    y1 = np.where(fwd, net.y1[seg], net.y0[seg]) if net.size else np.zeros(legs.size)
    at = legs.facility >= 0
    f = np.maximum(legs.facility, 0)
    fx = fac.x[f] if fac.size else np.zeros(legs.size)
    fy = fac.y[f] if fac.size else np.zeros(legs.size)
    out = []
    for street_value, facility_value in ((x0, fx), (y0, fy), (x1, fx), (y1, fy)):
        out.append(np.where(on_street, street_value, np.where(at, facility_value, np.nan)))
    return out[0], out[1], out[2], out[3]


@dataclass(frozen=True)
class StopVisits:
    """When each planned stop was first served on a shift (the driven order)."""

    shift: np.ndarray
    stop: np.ndarray
    t: np.ndarray

    @property
    def size(self) -> int:
        return len(self.shift)


@dataclass(frozen=True)
class History:
    frame: LocalFrame
    network: Network
    facilities: Facilities
    plans: Plans
    shifts: Shifts
    legs: Legs
    visits: StopVisits
    period: tuple[int, int] | None = None  # (first, last) local day numbers asked about; None: the shifts' days

    def __post_init__(self) -> None:
        if self.legs.size and np.any(np.diff(self.legs.shift) < 0):
            raise ValueError("legs must be sorted by shift")
        n = self.shifts.size
        if self.legs.size and (self.legs.shift.min() < 0 or self.legs.shift.max() >= n):
            raise ValueError("a leg points at a shift outside the history")

    def select_shifts(self, keep: np.ndarray) -> History:
        """The history restricted to shifts where ``keep`` is true (legs and visits follow)."""
        keep = np.asarray(keep, dtype=bool)
        new_index = np.cumsum(keep) - 1
        s = self.shifts
        crew_rows = csr_rows(s.crew_offsets)
        crew_keep = keep[crew_rows]
        shifts = Shifts(
            shift_ids=s.shift_ids[keep],
            vehicle_ids=s.vehicle_ids,
            vehicle=s.vehicle[keep],
            route=s.route[keep],
            plan=s.plan[keep],
            start_t=s.start_t[keep],
            end_t=s.end_t[keep],
            crew_offsets=np.concatenate([[0], np.cumsum(np.diff(s.crew_offsets)[keep])]).astype(np.int64),
            crew_person=s.crew_person[crew_keep],
        )
        leg_keep = keep[self.legs.shift]
        legs = self.legs.take(leg_keep)
        legs = replace(legs, shift=new_index[legs.shift].astype(np.int32))
        visit_keep = keep[self.visits.shift]
        visits = StopVisits(
            shift=new_index[self.visits.shift[visit_keep]].astype(np.int32),
            stop=self.visits.stop[visit_keep],
            t=self.visits.t[visit_keep],
        )
        return replace(self, shifts=shifts, legs=legs, visits=visits)

    def calendar_days(self) -> int:
        """Days in the period asked about (or spanned by the shifts)."""
        if self.period is not None:
            return self.period[1] - self.period[0] + 1
        days = self.shifts.day
        return int(days.max() - days.min() + 1) if days.size else 0

    def shift_days(self) -> tuple[np.ndarray, np.ndarray]:
        """(distinct local days in order, day position of every shift)."""
        days, position = np.unique(self.shifts.day, return_inverse=True)
        return days, position
