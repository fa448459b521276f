"""Privacy before storage: what of a valid message may be written, and in what form.

Rules (docs/protocol.md "Private mode and duty", ARCHITECTURE privacy model 1):

1. A fix or event outside every on-duty shift window ``[starts_at, ends_at)`` of its
   vehicle is dropped and counted as ``off_duty``.
2. Otherwise, a message flagged ``"priv": true`` (device private mode) is dropped and
   counted as ``private_mode``.
3. Otherwise, a fix or event inside a privacy zone is generalised (policy ``snap``: the
   position becomes the zone centre, the heading is dropped, the row is marked
   ``generalised``) or dropped (policy ``drop``); either way it counts as ``privacy_zone``
   (its exact position was not stored).

Dropped rows are never written anywhere, not even to a staging table: only the counts
per (vehicle, UTC day, reason) leave this module. Pure functions, no I/O; times are epoch
milliseconds, distances metres.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from fleetpilot.ingest.validate import Events, Telemetry

DAY_MS = 86_400_000
EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG = math.pi * EARTH_RADIUS_M / 180.0

# (vehicle_id, epoch day, reason) -> [fixes, events]
DropCounts = dict[tuple[str, int, str], list[int]]


class ShiftWindows:
    """One vehicle's on-duty windows, merged and sorted, as epoch-ms [start, end) pairs."""

    __slots__ = ("starts", "ends")

    def __init__(self, windows: Iterable[tuple[int, int]]):
        starts: list[int] = []
        ends: list[int] = []
        for start, end in sorted(w for w in windows if w[1] > w[0]):
            if ends and start <= ends[-1]:  # overlapping or touching shifts: one window
                ends[-1] = max(ends[-1], end)
            else:
                starts.append(start)
                ends.append(end)
        self.starts = starts
        self.ends = ends

    def covers(self, t: int) -> bool:
        i = bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.ends[i]

    def covers_span(self, t_min: int, t_max: int) -> bool:
        """True when one window holds all of [t_min, t_max] (the usual message)."""
        i = bisect_right(self.starts, t_min) - 1
        return i >= 0 and t_max < self.ends[i]

    def __len__(self) -> int:
        return len(self.starts)


NO_SHIFTS = ShiftWindows(())


@dataclass(frozen=True)
class Zone:
    lon: float
    lat: float
    radius_m: float


class ZoneSet:
    """Privacy zones (circles) and the policy for positions inside them.

    Distances use the equirectangular approximation around each zone's centre: for radii
    up to the 5 km the schema allows, its error is far below GPS noise.
    """

    def __init__(self, zones: Iterable[Zone] = (), policy: str = "snap"):
        if policy not in ("snap", "drop"):
            raise ValueError(f"zone policy must be snap or drop, not {policy!r}")
        self.zones = list(zones)
        self.policy = policy
        self._kx = [math.cos(math.radians(z.lat)) * M_PER_DEG for z in self.zones]
        self._r2 = [z.radius_m**2 for z in self.zones]
        if self.zones:  # bounding box of all zones, to skip the exact test for most positions
            self._lon_lo = min(z.lon - z.radius_m / k for z, k in zip(self.zones, self._kx))
            self._lon_hi = max(z.lon + z.radius_m / k for z, k in zip(self.zones, self._kx))
            self._lat_lo = min(z.lat - z.radius_m / M_PER_DEG for z in self.zones)
            self._lat_hi = max(z.lat + z.radius_m / M_PER_DEG for z in self.zones)

    def __bool__(self) -> bool:
        return bool(self.zones)

    def locate(self, lon: float, lat: float) -> Zone | None:
        """The first zone holding (lon, lat), or None."""
        if not (self._lon_lo <= lon <= self._lon_hi and self._lat_lo <= lat <= self._lat_hi):
            return None
        for zone, kx, r2 in zip(self.zones, self._kx, self._r2):
            dx = (lon - zone.lon) * kx
            dy = (lat - zone.lat) * M_PER_DEG
            if dx * dx + dy * dy <= r2:
                return zone
        return None


NO_ZONES = ZoneSet()


def _count(counts: DropCounts | None, vid: str, t: int, reason: str, column: int) -> None:
    if counts is not None:
        key = (vid, t // DAY_MS, reason)
        slot = counts.get(key)
        if slot is None:
            counts[key] = slot = [0, 0]
        slot[column] += 1


def filter_fixes(msg: Telemetry, windows: ShiftWindows, zones: ZoneSet, counts: DropCounts | None) -> list[list]:
    """The fixes of `msg` that may be stored, each with its `generalised` flag appended.

    Fixes are the validator's lists, changed in place. Drops are added to `counts`
    (None: do not count, e.g. for a message already seen).
    """
    fixes = msg.fixes
    vid = msg.vid
    if windows.covers_span(msg.t_min, msg.t_max):
        on_duty = fixes
    else:
        on_duty = []
        for f in fixes:
            if windows.covers(f[0]):
                on_duty.append(f)
            else:
                _count(counts, vid, f[0], "off_duty", 0)
    if msg.priv:
        for f in on_duty:
            _count(counts, vid, f[0], "private_mode", 0)
        return []
    if not zones:
        for f in on_duty:
            f.append(False)
        return on_duty
    kept = []
    for f in on_duty:
        zone = zones.locate(f[1], f[2])
        if zone is None:
            f.append(False)
            kept.append(f)
            continue
        _count(counts, vid, f[0], "privacy_zone", 0)
        if zones.policy == "snap":
            f[1], f[2], f[4] = zone.lon, zone.lat, None
            f.append(True)
            kept.append(f)
    return kept


def filter_events(msg: Events, windows: ShiftWindows, zones: ZoneSet, counts: DropCounts | None) -> list[list]:
    """The events of `msg` that may be stored, as [t, kind, lon, lat, mag, spd, generalised]."""
    vid = msg.vid
    kept = []
    whole = windows.covers_span(msg.t_min, msg.t_max)
    for e in msg.events:
        t = e["t"]
        if not whole and not windows.covers(t):
            _count(counts, vid, t, "off_duty", 1)
            continue
        if msg.priv:
            _count(counts, vid, t, "private_mode", 1)
            continue
        lon, lat, generalised = e["lon"], e["lat"], False
        if zones:
            zone = zones.locate(lon, lat)
            if zone is not None:
                _count(counts, vid, t, "privacy_zone", 1)
                if zones.policy == "drop":
                    continue
                lon, lat, generalised = zone.lon, zone.lat, True
        kept.append([t, e["k"], lon, lat, e["mag"], e.get("spd"), generalised])
    return kept
